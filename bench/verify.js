// Bearer verification on MemoryStore: warm cache and cold path (cache miss),
// next to the floor measured in the same run: one SHA-256 of the token string
// with hex output (node's one-shot crypto.hash) plus one Map.get.
import { hash } from "node:crypto";
import { Keyward, MemoryStore } from "../dist/index.js";
import { runGroup } from "./harness.js";
import { betterAuthVerifier } from "./peers/better-auth.js";

export async function benchVerify({ ms }) {
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
  const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
  const request = new Request("https://api.example.com/v1/prices", { headers: { authorization: `Bearer ${token}` } });

  // Cold: caching off, so every call looks the token up in the store.
  const cold = new Keyward({ store, prefix: "acme", cache: { maxEntries: 0 }, usage: { enabled: false } });
  const metered = new Keyward({ store, prefix: "acme" });
  const { token: limited } = await metered.tokens.create({
    owner: "acct_1",
    kind: "secret",
    credits: { limit: Number.MAX_SAFE_INTEGER },
    rateLimit: { limit: 1e12, windowMs: 1000 },
  });

  const peer = await betterAuthVerifier();

  const floorMap = new Map([[hash("sha256", token, "hex"), { id: "tok_x" }]]);
  let sink = 0;
  const rows = await runGroup(
    "Bearer verification (MemoryStore)",
    [
      {
        name: "floor: crypto.hash sha256 hex + Map.get",
        fn: () => {
          if (floorMap.get(hash("sha256", token, "hex"))) sink++;
        },
      },
      { name: "kw.check({ token, scope }), warm cache", fn: () => kw.check({ token, scope: "core:read" }) },
      { name: "kw.verify(request, { scope }), warm cache", fn: () => kw.verify(request, { scope: "core:read" }) },
      { name: "kw.check, cold (store lookup every call)", fn: () => cold.check({ token, scope: "core:read" }) },
      { name: "kw.check + rate limit + credits + usage", fn: () => metered.check({ token: limited, cost: 1 }) },
      { name: "peer: better-auth api-key verifyApiKey (memory adapter)", fn: peer.verify },
    ],
    { ms },
  );
  if (sink === -1) console.log(sink); // keeps the floor's work observable
  const d = await kw.check({ token, scope: "core:read" });
  if (!d.ok) throw new Error(`benchmark token was denied: ${d.code}`);
  return rows;
}
