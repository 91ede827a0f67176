// Run by Bun (test/bun/bun.test.ts): keyward's server core on Bun's own
// server, as a Bun application uses it: Keyward over a bun:sqlite database,
// keyward/fetch guarding a Bun.serve route (the client IP from
// server.requestIP), called over 127.0.0.1 by Bun's fetch with a bearer token,
// with none, after a revocation, and signed by keyward/client's signedFetch
// (ed25519). Prints one JSON line of what it saw.
import { Database } from "bun:sqlite";
import { createSigner, generateKeyPair, signedFetch } from "../../src/client/index.js";
import { keywardFetch } from "../../src/fetch/index.js";
import { Keyward } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite/index.js";

/** The part of Bun's global this file calls (Bun's types are not a dependency of this project). */
interface BunServer {
  readonly port: number;
  requestIP(request: Request): { address: string } | null;
  stop(closeActiveConnections?: boolean): void;
}
const Bun = (globalThis as unknown as { Bun: { serve(options: { hostname: string; port: number; fetch: (request: Request, server: BunServer) => Response | Promise<Response> }): BunServer } }).Bun;

const kw = new Keyward({ store: sqliteStore(new Database(":memory:")), prefix: "acme" });
const bearer = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
const pair = await generateKeyPair();
const signing = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"], signing: { alg: "ed25519", publicKey: pair.publicKey } });

const guard = keywardFetch<[BunServer]>(kw, { getIp: (request, server) => server.requestIP(request)?.address });
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: guard.requireToken({ scope: "core:read" }, (_request, decision) => Response.json({ token: decision.tokenId })),
});
const url = `http://127.0.0.1:${server.port}/v1/prices`;
const answer = async (res: Response) => ({ status: res.status, type: res.headers.get("content-type"), body: await res.json() });

const seen = {
  bearer: await answer(await fetch(url, { headers: { authorization: `Bearer ${bearer.token}` } })),
  none: await answer(await fetch(url)),
  signed: await answer(await signedFetch(createSigner({ keyId: signing.record.id, alg: "ed25519", privateKey: pair.privateKey }))(url)),
  revoked: await (async () => {
    await kw.tokens.revoke(bearer.record.id);
    return answer(await fetch(url, { headers: { authorization: `Bearer ${bearer.token}` } }));
  })(),
  ids: { bearer: bearer.record.id, signing: signing.record.id },
};
await kw.flush();
const usage = await kw.usage.get(bearer.record.id, { from: Date.now() - 3_600_000, to: Date.now() + 3_600_000 });
server.stop(true);
await kw.close();
console.log(JSON.stringify({ ...seen, usage: usage.map((b) => ({ allowed: b.allowed, denied: b.denied })) }));
