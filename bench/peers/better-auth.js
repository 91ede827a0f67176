// Peer for the verification benchmark: better-auth's API-key plugin, server-side
// `auth.api.verifyApiKey` on the in-memory adapter. Rate limiting, sessions from
// API keys, telemetry and logging are off, so it measures verification only
// (the plugin still writes `lastRequest`/`updatedAt` to the key row each call).
import { apiKey } from "@better-auth/api-key";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";

export async function betterAuthVerifier() {
  process.env.BETTER_AUTH_TELEMETRY = "0"; // read when betterAuth() initialises
  const db = { user: [], session: [], account: [], verification: [], apikey: [] };
  const auth = betterAuth({
    database: memoryAdapter(db),
    secret: "keyward-bench-secret-0123456789abcdef",
    baseURL: "http://localhost:3000",
    telemetry: { enabled: false },
    logger: { disabled: true },
    rateLimit: { enabled: false },
    plugins: [apiKey({ rateLimit: { enabled: false }, enableSessionForAPIKeys: false })],
  });
  const ctx = await auth.$context;
  const user = await ctx.internalAdapter.createUser({ email: "bench@example.com", name: "bench" });
  const { key } = await auth.api.createApiKey({ body: { userId: user.id } });

  const verify = () => auth.api.verifyApiKey({ body: { key } });
  const first = await verify();
  if (!first.valid) throw new Error(`better-auth rejected the benchmark key: ${first.error?.code}`);
  return { verify, name: "better-auth api-key verifyApiKey" };
}
