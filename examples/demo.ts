// `npm run demo`: every feature of keyward in one run. An example API on
// SQLite, served by node:http on 127.0.0.1, checked with real HTTP requests.
// Everything is written in one temp folder, removed at the end.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, request as httpRequest, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Decision, Keyward } from "keyward";
import { createSigner, generateKeyPair } from "keyward/client";
import { sqliteStore } from "keyward/sqlite";

const dir = mkdtempSync(join(tmpdir(), "keyward-demo-"));
const store = sqliteStore(join(dir, "demo.db"));
// A short revocation bound so the permission change below takes effect in a blink.
const kw = new Keyward({ store, prefix: "demo", revocationBoundMs: 300 });

// The example API: each route names the scope it needs and what a call costs.
const ROUTES: Record<string, { scope: string; cost: number }> = {
  "GET /v1/prices": { scope: "core:read", cost: 1 },
  "GET /v1/premium": { scope: "premium:read", cost: 1 },
};
let last: Decision | undefined;

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const route = ROUTES[`${req.method} ${req.url?.split("?")[0]}`];
  if (!route) return void res.writeHead(404).end();
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
  const request = new Request(`http://${req.headers.host}${req.url}`, { method: req.method ?? "GET", headers });
  const d = await kw.verify(request, { ...route, ip: req.socket.remoteAddress ?? "" });
  last = d;
  res.writeHead(d.status, d.headers).end(d.ok ? '{"price":42}' : "");
}

const server = createServer((req, res) => void handle(req, res).catch((err) => {
    console.error(err);
    res.writeHead(500).end();
  }));
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

let step = 0;
/** One call, and the server's decision as a readable line. */
async function call(what: string, path: string, init: { headers?: Record<string, string> } = {}): Promise<void> {
  last = undefined;
  const res = await send(path, init.headers ?? {});
  const d = last as Decision | undefined;
  const verdict = d?.ok ? "allowed" : `denied ${d?.code ?? res.status}`;
  const extra = d?.ok && d.remaining !== undefined ? `, ${d.remaining} credit(s) left` : d?.retryAfterMs ? `, retry after ${Math.ceil(d.retryAfterMs / 1000)} s` : "";
  console.log(`${String(++step).padStart(2)}. ${what.padEnd(56)} → ${res.status} ${verdict}${extra}`);
}
/**
 * A GET with node:http, as a backend would. (Node's fetch marks every request
 * `Sec-Fetch-Mode: cors`, which keyward reads as a browser context.)
 */
function send(path: string, headers: Record<string, string>): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { headers }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on("error", reject);
    req.end();
  });
}
const bearer = (token: string, more: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...more } });

// 1. A publishable token for a web page, locked to its domain.
const web = await kw.tokens.create({ owner: "acct_demo", kind: "publishable", name: "website", domains: ["shop.example"] });
console.log(`issued publishable ${web.record.id} (${web.record.start}…) for shop.example`);
await call("publishable token from https://shop.example", "/v1/prices", bearer(web.token, { origin: "https://shop.example" }));
await call("the same token from https://evil.example", "/v1/prices", bearer(web.token, { origin: "https://evil.example" }));
await call("publishable token asks for premium data", "/v1/premium", bearer(web.token, { origin: "https://shop.example" }));

// 2. A secret token for a backend: 3 credits, 2 requests per minute at most per token.
const backend = await kw.tokens.create({ owner: "acct_demo", kind: "secret", name: "backend", credits: { limit: 3 } });
console.log(`issued secret ${backend.record.id} (${backend.record.start}…) with 3 credits`);
for (let i = 0; i < 3; i++) await call(`secret token, call ${i + 1} of 3`, "/v1/prices", bearer(backend.token));
await call("secret token, credits exhausted", "/v1/prices", bearer(backend.token));

const limited = await kw.tokens.create({ owner: "acct_demo", kind: "secret", rateLimit: { limit: 2, windowMs: 60_000 } });
for (let i = 0; i < 2; i++) await call(`rate limit 2/min, call ${i + 1}`, "/v1/prices", bearer(limited.token));
await call("rate limit 2/min, call 3", "/v1/prices", bearer(limited.token));

const office = await kw.tokens.create({ owner: "acct_demo", kind: "secret", ips: ["203.0.113.0/24"] });
await call("token allowed from 203.0.113.0/24, call from 127.0.0.1", "/v1/prices", bearer(office.token));

// 3. Signed requests (RFC 9421): the private key stays with the client.
const pair = await generateKeyPair();
const signedToken = await kw.tokens.create({
  owner: "acct_demo",
  kind: "secret",
  requireSignedRequests: true,
  signing: { alg: "ed25519", publicKey: pair.publicKey },
});
const signer = createSigner({ keyId: signedToken.record.id, alg: "ed25519", privateKey: pair.privateKey });
const signed = await signer.sign(new Request(`${base}/v1/prices`));
const signedInit = { headers: Object.fromEntries(signed.headers) };
await call("signed request (ed25519)", "/v1/prices", signedInit);
await call("the same signed request, replayed", "/v1/prices", signedInit);

// 4. A permission change scheduled for a time; every server switches then.
const effectiveAt = Date.now() + 400;
await kw.tokens.update(backend.record.id, { scopes: ["core:read", "premium:read"], credits: null }, { effectiveAt });
await call("premium data, before the change's effective time", "/v1/premium", bearer(backend.token));
await new Promise((r) => setTimeout(r, Math.max(0, effectiveAt - Date.now()) + 20));
await call("premium data, after its effective time", "/v1/premium", bearer(backend.token));

// 5. Revocation: refused at once here, everywhere within revocationBoundMs.
await kw.tokens.revoke(backend.record.id);
await call("the secret token after revocation", "/v1/prices", bearer(backend.token));

await new Promise<void>((resolve) => server.close(() => resolve()));
await kw.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
console.log("done: server stopped, temp folder removed");
