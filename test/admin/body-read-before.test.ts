// A body parser mounted before the handler (express.json(), Fastify's own
// parsers) reads the request's body and keeps no copy: the handler must not
// take the stream it left, already ended, for an empty body (`{}`), which
// would regenerate a token at once (graceMs 0) and without the compare-and-set
// its client asked for. It is the server's mistake: 500 BODY_ALREADY_READ,
// nothing done, as for a Fetch Request whose body was read (client-closed.test.ts).
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { createAdminHandler, toNodeHandler } from "../../src/admin/index.js";
import { keywardExpress } from "../../src/express/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { errorsSeen, noConsoleErrors } from "./server.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});
noConsoleErrors();

function setup() {
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
  const { onError, seen } = errorsSeen();
  const admin = createAdminHandler({ keyward: kw, basePath: "/account/tokens", authorize: () => "acct_1", onError });
  return { kw, admin, seen };
}

/** What the operator is told of the one 500: the handler's own answer, for the regeneration. */
const READ_BEFORE = [["AdminAnswer", { operation: "tokens.regenerate", method: "POST", status: 500, code: "BODY_ALREADY_READ" }]];

/** Asks for a regeneration that keeps the old token a day, at a stale revision (409 if read), and checks nothing was done. */
async function regenerateAfterParser(kw: Keyward, base: string): Promise<void> {
  const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
  const res = await fetch(`${base}/tokens/${record.id}/regenerate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ expectedRevision: 99, graceMs: 86_400_000 }),
  });
  const body = (await res.json()) as { code: string; detail: string };
  expect([res.status, res.headers.get("content-type"), body.code]).toEqual([500, "application/problem+json", "BODY_ALREADY_READ"]);
  expect(body.detail).toBe("The server read this request's body before the admin handler could: nothing was done.");
  expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
  expect(await kw.tokens.get(record.id)).toMatchObject({ revision: record.revision, graceUntil: null });
  // A read, which has no body, is served as ever.
  expect((await fetch(`${base}/tokens/${record.id}`)).status).toBe(200);
}

describe("a body parser before the admin handler", () => {
  it("Express: express.json() first, then toNodeHandler: 500 BODY_ALREADY_READ, not an empty body", async () => {
    const { kw, admin, seen } = setup();
    const app = express();
    app.use(express.json());
    app.use("/account/tokens", toNodeHandler(admin));
    const server = app.listen(0, "127.0.0.1");
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    await new Promise((resolve) => server.once("listening", resolve));
    await regenerateAfterParser(kw, `http://127.0.0.1:${(server.address() as AddressInfo).port}/account/tokens`);
    expect(seen).toEqual(READ_BEFORE);
  });

  it("Express: express.json({ verify: guard.rawBody }) first (docs/frameworks.md), then toNodeHandler: the bytes it kept are the body", async () => {
    const { kw, admin } = setup();
    const app = express();
    app.use(express.json({ verify: keywardExpress(kw).rawBody }));
    app.use("/account/tokens", toNodeHandler(admin));
    const server = app.listen(0, "127.0.0.1");
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    await new Promise((resolve) => server.once("listening", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/account/tokens`;
    const post = (path: string, json: unknown) => fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(json) });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const stale = await post(`/tokens/${record.id}/regenerate`, { expectedRevision: 99, graceMs: 86_400_000 });
    expect([stale.status, ((await stale.json()) as { code: string }).code]).toEqual([409, "REVISION_CONFLICT"]);
    expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    const rotated = await post(`/tokens/${record.id}/regenerate`, { expectedRevision: record.revision, graceMs: 86_400_000 });
    expect(rotated.status).toBe(200);
    expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    const created = await post("/tokens", { kind: "publishable", name: "kept" });
    expect([created.status, ((await created.json()) as { record: { name: string } }).record.name]).toEqual([201, "kept"]);
  });

  it("Fastify: its JSON parser kept, the raw request hijacked: 500 BODY_ALREADY_READ", async () => {
    const { kw, admin, seen } = setup();
    const node = toNodeHandler(admin);
    const app = Fastify();
    closers.push(() => app.close());
    const handle = async (request: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      await node(request.raw, reply.raw);
    };
    app.all("/account/tokens/*", handle);
    await regenerateAfterParser(kw, `${await app.listen({ port: 0, host: "127.0.0.1" })}/account/tokens`);
    expect(seen).toEqual(READ_BEFORE);
  });

});
