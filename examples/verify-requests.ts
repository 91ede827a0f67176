// Checking requests: a bearer token against what a route needs.
// Run with `node examples/verify-requests.ts` after `npm run build`.
import { Keyward, MemoryStore } from "keyward";

const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
const { token } = await kw.tokens.create({
  owner: "acct_1",
  kind: "secret",
  scopes: ["core:read", "datasets/prices:read"],
  ips: ["203.0.113.0/24"],
  credits: { limit: 100 },
  rateLimit: { limit: 10, windowMs: 1_000 },
});

// What a server does with each request (any Fetch API server; pass the socket address as ip).
async function handle(request: Request, ip: string): Promise<Response> {
  const d = await kw.verify(request, { scope: "datasets/prices:read", cost: 5, ip });
  if (!d.ok) {
    console.log("denied", d.status, d.code); // the code is for logs
    return d.toResponse(); // RFC 9457 problem+json, with the challenge and rate-limit fields
  }
  return Response.json({ prices: [] }, { headers: d.headers });
}

const request = (t: string) =>
  new Request("https://api.example.com/v1/prices", { headers: { authorization: `Bearer ${t}` } });

const ok = await handle(request(token), "203.0.113.7");
console.log("allowed", ok.status, "limits left", ok.headers.get("ratelimit"));
await handle(request(token), "198.51.100.1"); // outside the IP allowlist
const typo = `${token.slice(0, -1)}${token.endsWith("x") ? "y" : "x"}`; // the last character changed
await handle(request(typo), "203.0.113.7"); // rejected offline by the checksum
await kw.flush(); // write buffered usage before exit
