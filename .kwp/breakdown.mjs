import { signRequest, verifyRequest } from "/work/main/dist/signing.js";
import { runGroup } from "/work/main/bench/harness.js";
import { randomBytes } from "node:crypto";
const hmacKey = { alg: "hmac-sha256", secret: randomBytes(32) };
const created = Math.floor(Date.now() / 1000);
const sign = (request, components) => signRequest(request, { keyid: "k1", key: hmacKey, components, created });
const queryComponents = (n) => Array.from({ length: n }, (_, i) => `@query-param;name="q${i}"`);
const keyComponents = (n, field) => Array.from({ length: n }, (_, i) => `${field};key="k${i}"`);
const dictionary = (n) => Array.from({ length: n }, (_, i) => `k${i}=${i};a=1;b="x"`).join(", ");
let query = "";
for (let i = 0; `https://api.example.com/p?${query}&q${i}=1`.length <= 8 * 1024; i++) query += `${query ? "&" : ""}q${i}=1`;
const half = dictionary(200).slice(0, 511).replace(/,[^,]*$/, "");
const headers = { "x-a": half, "x-b": half.replace("k0=", "k00=") };
const long = `https://api.example.com/p?${query}`;
const base = ["@method", "@target-uri"];
const dicts = [...keyComponents(2, "x-a"), 'x-b;key="k1"'];
const cases = [
  ["ordinary", "https://api.example.com/v1/prices?symbol=X", {}, base],
  ["8KiB url", long, {}, base],
  ["8KiB q1", long, {}, [...base, ...queryComponents(1)]],
  ["8KiB q27", long, {}, [...base, ...queryComponents(27)]],
  ["short url 27 q", "https://api.example.com/p?" + query.slice(0, 200), {}, [...base, ...queryComponents(27)]],
  ["dicts only", "https://api.example.com/v1/prices?symbol=X", headers, [...base, ...dicts]],
  ["worst", long, headers, [...base, ...queryComponents(27), ...dicts]],
];
const opts = { resolveKey: () => hmacKey };
const rows = [];
for (const [name, url, h, comps] of cases) {
  const r = await sign(new Request(url, { headers: h }), comps);
  const v = await verifyRequest(r, opts); if (!v.ok) throw new Error(name + JSON.stringify(v));
  rows.push({ name, fn: () => verifyRequest(r, opts) });
}
await runGroup("breakdown", rows, { ms: Number(process.env.MS ?? 400) });
