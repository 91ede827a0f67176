// Accounts, usage recording and telemetry on the request path (MemoryStore):
// a check charged to the token and its account's pool with usage recording
// on, next to a plain warm check; and a warm check with OpenTelemetry
// metrics and spans (the SDK, no exporter) next to the same check without.
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider } from "@opentelemetry/sdk-trace-base";
import { Keyward, MemoryStore } from "../dist/index.js";
import { runGroup } from "./harness.js";

export async function benchAccounts({ ms }) {
  const store = new MemoryStore();
  const plain = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
  const { token } = await plain.tokens.create({ owner: "acct_plain", kind: "secret", scopes: ["core:read"] });

  const metered = new Keyward({ store, prefix: "acme" });
  await metered.accounts.set("acct_1", { credits: { limit: 1e15 - 1 }, rateLimit: { limit: 1e12, windowMs: 1000 } });
  const { token: charged } = await metered.tokens.create({
    owner: "acct_1",
    kind: "secret",
    scopes: ["core:read"],
    credits: { limit: Number.MAX_SAFE_INTEGER },
  });

  const rows = await runGroup(
    "Accounts: a check charged to the token and its account, with usage recording (MemoryStore)",
    [
      { name: "kw.check({ token, scope }), warm, plain (no limits, usage off)", fn: () => plain.check({ token, scope: "core:read" }) },
      {
        name: "kw.check charged to token credits + account pool and rate limit, usage recorded",
        fn: () => metered.check({ token: charged, scope: "core:read", cost: 1 }),
      },
    ],
    { ms },
  );
  for (const [kw, t] of [
    [plain, token],
    [metered, charged],
  ]) {
    const d = await kw.check({ token: t, scope: "core:read" });
    if (!d.ok) throw new Error(`benchmark token was denied: ${d.code}`);
  }
  await metered.close();

  const meter = new MeterProvider().getMeter("keyward");
  const tracer = new BasicTracerProvider().getTracer("keyward");
  const bare = new Keyward({ store, prefix: "acme" });
  const measured = new Keyward({ store, prefix: "acme", telemetry: { meter } });
  const observed = new Keyward({ store, prefix: "acme", telemetry: { meter, tracer } });
  rows.push(
    ...(await runGroup(
      "Telemetry overhead: a warm check with OpenTelemetry metrics and spans (SDK, no exporter)",
      [
        { name: "kw.check({ token, scope }), warm, no telemetry", fn: () => bare.check({ token, scope: "core:read" }) },
        { name: "kw.check({ token, scope }), warm, metrics", fn: () => measured.check({ token, scope: "core:read" }) },
        { name: "kw.check({ token, scope }), warm, metrics + spans", fn: () => observed.check({ token, scope: "core:read" }) },
      ],
      { ms },
    )),
  );
  await bare.close();
  await measured.close();
  await observed.close();
  return rows;
}
