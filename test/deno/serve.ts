// Run by Deno (test/deno/deno.test.ts), bundled: keyward's server core on
// Deno's own server, as docs/frameworks.md and docs/console.md show it:
// Keyward over a node:sqlite file that keyward opens itself (the path given
// as the first argument), keyward/fetch guarding a Deno.serve route (the
// client IP from info.remoteAddr), called over 127.0.0.1 by Deno's fetch
// with a bearer token, with none, after a revocation, from an IP outside a
// token's allowlist, and signed by keyward/client's signedFetch (ed25519 from
// generateKeyPair, hmac-sha256 from the token, ed25519 from signerFromEnv
// under Deno's per-variable env permission); a Hono app guarded by
// keyward/hono as Deno.serve(app.fetch) (the IP from c.env, which is Deno's
// info); the admin handler as Deno.serve(admin); the GitHub secret scanning
// receiver of keyward/leaks, sent an alert signed with a P-256 key made
// here. Prints one JSON line of what it saw.
import { generateKeyPairSync, sign } from "node:crypto";
import { Hono } from "hono";
import { createAdminHandler } from "../../src/admin/index.js";
import { createSigner, generateKeyPair, signedFetch, signerFromEnv } from "../../src/client/index.js";
import { keywardFetch } from "../../src/fetch/index.js";
import { type KeywardEnv, keywardHono } from "../../src/hono/index.js";
import { Keyward } from "../../src/index.js";
import { createLeakReceiver } from "../../src/leaks/index.js";
import { sqliteStore } from "../../src/sqlite/index.js";

/** The part of Deno's global this file calls (Deno's types are not a dependency of this project). */
interface ServeHandlerInfo {
  remoteAddr: { hostname: string };
}
interface DenoServer {
  addr: { port: number };
  shutdown(): Promise<void>;
}
declare const Deno: {
  args: string[];
  env: { set(name: string, value: string): void; delete(name: string): void };
  serve(options: { hostname: string; port: number; onListen(): void }, handler: (request: Request, info: ServeHandlerInfo) => Response | Promise<Response>): DenoServer;
};

const store = sqliteStore(Deno.args[0]!);
const kw = new Keyward({ store, prefix: "acme", sealingKey: "k".repeat(43) });
const scopes = ["core:read"];
const bearer = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes, ips: ["127.0.0.1"] });
const elsewhere = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes, ips: ["203.0.113.0/24"] });
const pair = await generateKeyPair();
const ed25519 = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes, requireSignedRequests: true, signing: { alg: "ed25519", publicKey: pair.publicKey } });
const hmac = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes, requireSignedRequests: true, signing: { alg: "hmac-sha256" } });

const guard = keywardFetch<[ServeHandlerInfo]>(kw, { getIp: (_request, info) => info.remoteAddr.hostname });
const quiet = { hostname: "127.0.0.1", port: 0, onListen() {} };
const server = Deno.serve(
  quiet,
  guard.requireToken({ scope: "core:read" }, async (request, decision) => Response.json({ token: decision.tokenId, body: await request.text() })),
);
const url = `http://127.0.0.1:${server.addr.port}/v1/prices`;
const answer = async (res: Response) => ({ status: res.status, type: res.headers.get("content-type"), challenge: res.headers.get("www-authenticate"), body: await res.json() });
const withBearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

// signerFromEnv reads only KEYWARD_KEY_ID, KEYWARD_ALG and KEYWARD_PRIVATE_KEY for ed25519 (docs/signed-requests.md).
Deno.env.set("KEYWARD_KEY_ID", ed25519.record.id);
Deno.env.set("KEYWARD_ALG", "ed25519");
Deno.env.set("KEYWARD_PRIVATE_KEY", pair.privateKeyBase64url());
const fromEnv = signedFetch(signerFromEnv());
// Without KEYWARD_ALG it reads KEYWARD_TOKEN too, which this process may not read: a ConfigError naming it.
Deno.env.delete("KEYWARD_ALG");
const refused = (() => {
  try {
    signerFromEnv();
    return null;
  } catch (err) {
    return { name: (err as Error).name, code: (err as { code?: string }).code, field: (err as { field?: string }).field };
  }
})();

// docs/frameworks.md: keyward/hono reads the client IP from Deno's info (c.env.remoteAddr) by itself.
const app = new Hono<KeywardEnv>();
app.get("/v1/prices", keywardHono(kw).requireToken({ scope: "core:read" }), (c) => c.json({ token: c.get("keyward").tokenId }));
const hono = Deno.serve(quiet, app.fetch);
const honoUrl = `http://127.0.0.1:${hono.addr.port}/v1/prices`;

const seen = {
  hono: {
    bearer: await answer(await fetch(honoUrl, withBearer(bearer.token))),
    elsewhere: await answer(await fetch(honoUrl, withBearer(elsewhere.token))),
  },
  bearer: await answer(await fetch(url, withBearer(bearer.token))),
  none: await answer(await fetch(url)),
  elsewhere: await answer(await fetch(url, withBearer(elsewhere.token))),
  unsigned: await answer(await fetch(url, withBearer(ed25519.token))),
  ed25519: await answer(await signedFetch(createSigner({ keyId: ed25519.record.id, alg: "ed25519", privateKey: pair.privateKey }))(url, { method: "POST", body: '{"q":"é"}' })),
  hmac: await answer(await signedFetch(createSigner({ keyId: hmac.record.id, alg: "hmac-sha256", token: hmac.token }))(url)),
  fromEnv: await answer(await fromEnv(url)),
  refused,
  revoked: await (async () => {
    await kw.tokens.revoke(bearer.record.id);
    return answer(await fetch(url, withBearer(bearer.token)));
  })(),
  ids: { bearer: bearer.record.id, ed25519: ed25519.record.id, hmac: hmac.record.id },
};
await kw.flush();
const day = { from: Date.now() - 3_600_000, to: Date.now() + 3_600_000 };
const usage = async (id: string) => (await kw.usage.get(id, day)).map((b) => ({ allowed: b.allowed, denied: b.denied }));

// docs/console.md: "Deno, Bun and workers take the handler as it is: Deno.serve(admin)".
const admin = Deno.serve(quiet, createAdminHandler({ keyward: kw, authorize: (request) => (request.headers.get("x-owner") === "acct_1" ? "acct_1" : null) }));
const base = `http://127.0.0.1:${admin.addr.port}`;
const owner = { "x-owner": "acct_1", "content-type": "application/json" };
const created = await fetch(`${base}/tokens`, { method: "POST", headers: owner, body: JSON.stringify({ kind: "publishable", name: "website" }) });
const made = (await created.json()) as { token: string; record: { id: string } };
const listed = (await (await fetch(`${base}/tokens`, { headers: owner })).json()) as { items: { id: string }[] };
const adminSeen = {
  created: created.status,
  listed: listed.items.map((t) => t.id).includes(made.record.id),
  anonymous: (await fetch(`${base}/tokens`)).status,
  page: (await fetch(`${base}/`)).headers.get("content-type"),
  check: (await kw.check({ token: made.token })).ok,
};

// docs/leaks.md: the receiver runs in any Fetch runtime. An alert as GitHub sends it: the body signed with
// ECDSA P-256 / SHA-256, DER, base64.
const github = generateKeyPairSync("ec", { namedCurve: "P-256" });
const keyId = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const publicKeys = [{ key_identifier: keyId, key: github.publicKey.export({ type: "spki", format: "pem" }).toString() }];
const leaks = Deno.serve(quiet, createLeakReceiver({ keyward: kw, publicKeys }));
const leaked = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes });
const alertOf = (body: string, signature: string) => ({
  method: "POST",
  headers: { "content-type": "application/json", "github-public-key-identifier": keyId, "github-public-key-signature": signature },
  body,
});
const body = JSON.stringify([{ token: leaked.token, type: "acme_secret_token", url: "https://github.com/octocat/hello/blob/main/.env", source: "commit" }]);
const signature = sign("sha256", new TextEncoder().encode(body), github.privateKey).toString("base64");
const forged = (await fetch(`http://127.0.0.1:${leaks.addr.port}/`, alertOf(body.replace("main", "dev"), signature))).status;
const leaksSeen = {
  forged,
  checkAfterForged: (await kw.check({ token: leaked.token })).code,
  alerted: (await fetch(`http://127.0.0.1:${leaks.addr.port}/`, alertOf(body, signature))).status,
  check: (await kw.check({ token: leaked.token })).code,
};

await Promise.all([server.shutdown(), hono.shutdown(), admin.shutdown(), leaks.shutdown()]);
console.log(JSON.stringify({ ...seen, usage: { bearer: await usage(bearer.record.id), ed25519: await usage(ed25519.record.id), hmac: await usage(hmac.record.id) }, admin: adminSeen, leaks: leaksSeen }));
await kw.close();
await store.close();
