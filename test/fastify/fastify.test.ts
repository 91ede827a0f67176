// keyward/fastify on a real Fastify 5 server (the shared suite in test/http/scenarios.ts).
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { keywardFastify } from "../../src/fastify/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { ed25519KeyPair } from "../client/helpers.js";
import { describeHttp2 } from "../http/http2.js";
import { describeMiddleware, failingHooks, stalledSignedUpload } from "../http/scenarios.js";

describeMiddleware(
  "Fastify 5",
  async (kw, options) => {
    const app = Fastify();
    const guard = keywardFastify(kw, options);
    await app.register(guard.plugin);
    app.get("/prices", { preHandler: guard.requireToken({ scope: "core:read" }) }, async (request) => ({ token: request.keyward?.tokenId }));
    app.post("/orders", { preHandler: guard.requireToken({ scope: "orders:write", cost: 2 }) }, async (request) => ({
      token: request.keyward?.tokenId,
      body: request.body,
    }));
    const getToken = (request: { headers: Record<string, unknown> }) => request.headers["x-api-key"] as string | undefined;
    app.get("/key", { preHandler: guard.requireToken({ getToken }) }, async (request) => ({ token: request.keyward?.tokenId }));
    const onDenied = (d: { code: string }, _request: unknown, reply: { code(n: number): { send(b: unknown): unknown } }) => reply.code(418).send({ denied: d.code });
    app.get("/custom", { preHandler: guard.requireToken({ onDenied }) }, async (request) => ({ token: request.keyward?.tokenId }));
    app.get(
      "/failing",
      {
        preHandler: guard.requireToken({
          getToken: (request) => failingHooks(request.url).getToken(),
          onDenied: (_d, request) => failingHooks(request.url).onDenied(),
          onError: (err, _request, reply) => reply.code(599).send((err as Error).message),
        }),
      },
      async () => "never",
    );
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    return { url, close: () => app.close() };
  },
  (kw, options) => keywardFastify(kw).requireToken(options as never),
);

describeHttp2("Fastify 5", async (kw) => {
  const app = Fastify({ http2: true });
  const guard = keywardFastify(kw);
  await app.register(guard.plugin);
  app.get("/prices", { preHandler: guard.requireToken({ scope: "core:read" }) }, async (request) => ({ token: request.keyward?.tokenId }));
  app.post("/orders", { preHandler: guard.requireToken({ scope: "orders:write" }) }, async (request) => ({ token: request.keyward?.tokenId, body: request.body }));
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return { url, close: () => app.close() };
});

describe("keyward/fastify reading a signed body", () => {
  it("a signed upload whose body stops coming: 408 BODY_TIMEOUT at signatures.bodyTimeoutMs, from the plugin's read", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { bodyTimeoutMs: 100 } });
    const pair = ed25519KeyPair();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: pair.publicKey } });
    const app = Fastify();
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.post("/orders", { preHandler: guard.requireToken() }, async () => "never");
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const r = await stalledSignedUpload(`${url}/orders`, record.id, pair.seed);
      expect(r).toMatchObject({ status: 408, json: { code: "BODY_TIMEOUT", type: "urn:keyward:problem:body-timeout" } });
    } finally {
      await app.close();
    }
  });
});
