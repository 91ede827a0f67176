// node one.mjs <url> <n query comps> <iterations>
import { signRequest, verifyRequest } from "/work/main/dist/signing.js";
import { randomBytes } from "node:crypto";
const hmacKey = { alg: "hmac-sha256", secret: randomBytes(32) };
const created = Math.floor(Date.now() / 1000);
let query = ""; for (let i = 0; i < 30; i++) query += `${query ? "&" : ""}q${i}=1`;
const n = Number(process.argv[2] ?? 27);
const comps = ["@method", "@target-uri", ...Array.from({ length: n }, (_, i) => `@query-param;name="q${i}"`)];
const r = await signRequest(new Request("https://api.example.com/p?" + query), { keyid: "k1", key: hmacKey, components: comps, created });
const opts = { resolveKey: () => hmacKey };
const N = Number(process.argv[3] ?? 20000);
for (let i = 0; i < 2000; i++) await verifyRequest(r, opts);
const t = performance.now(); for (let i = 0; i < N; i++) await verifyRequest(r, opts);
console.log(n, ((performance.now() - t) / N * 1000).toFixed(1), "µs");
