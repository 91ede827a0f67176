
import { Transform } from "node:stream";
import { createGunzip, gzipSync } from "node:zlib";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { describe, expect, it } from "vitest";
import { createSigner, signedFetch } from "../../src/client/index.js";
import { type KeywardFastify, keywardFastify } from "../../src/fastify/index.js";
import { type Decision, Keyward, MemoryStore } from "../../src/index.js";
import { ed25519KeyPair } from "../client/helpers.js";
import { describeHttp2 } from "../http/http2.js";
import {
  abortedSignedUpload,
  describeMiddleware,
  failingHooks,
  oversizedSignedUploadLetThrough,
  SIGNED_FOR_ANOTHER_ROUTE,
  signedForAnotherRoute,
  signedTraces,
  signedUploadOnOneConnection,
  signingToken,
  stalledSignedUpload,
  tokenInReshapedTarget,
} from "../http/scenarios.js";
import { statusLine } from "../support/slow-clients.js";

describeMiddleware(
  "Fastify 5",
  async (kw, options) => {
    const app = Fastify();
    const guard = keywardFastify(kw, options);
    // In front of /vary-before, its preflight's answer among them: a hook that runs before the plugin's.
    app.addHook("onRequest", async (request, reply) => void (request.url === "/vary-before" && reply.header("vary", "Accept-Language")));
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
    app.get("/vary", { preHandler: guard.requireToken() }, async (request, reply) => {
      reply.header("vary", "Accept-Encoding");
      return { token: request.keyward?.tokenId };
    });
    app.get("/vary-before", { preHandler: guard.requireToken() }, async (request) => ({ token: request.keyward?.tokenId }));
    app.get(
      "/failing",
      {
        preHandler: guard.requireToken({
          getToken: (request) => failingHooks(request.url).getToken(),
          onDenied: (_d, request) => failingHooks(request.url).onDenied(),
          onError: (err, request, reply) => (failingHooks(request.url).answers ? reply.code(599).send((err as Error).message) : undefined),
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

/** A Fastify app with the plugin, listening on 127.0.0.1 once `routes` added its routes. */
async function listen(kw: Keyward, routes: (app: FastifyInstance, guard: KeywardFastify) => void): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify();
  const guard = keywardFastify(kw);
  await app.register(guard.plugin);
  routes(app, guard);
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return { url, close: () => app.close() };
}

describe("keyward/fastify reading a signed body", () => {
  it("a route's requireToken runs before Fastify reads the body: a forged signed upload whose body never comes is refused at once, unread", async () => {
    // The deadline is far beyond the test's own timeout: an answer means nothing waited for the body.
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { bodyTimeoutMs: 60_000 } });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: ed25519KeyPair().publicKey } });
    const seen: { code: string; bodyRead: boolean }[] = [];
    const server = await listen(kw, (app, guard) => {
      const onDenied = (d: Decision, request: FastifyRequest, reply: FastifyReply) => {
        seen.push({ code: d.code, bodyRead: request.raw.readableDidRead });
        return reply.code(d.status).send({ code: d.code });
      };
      app.post("/orders", { preHandler: guard.requireToken({ onDenied }) }, async () => "never");
    });
    try {
      // Signed with a key that is not the token's.
      const r = await stalledSignedUpload(`${server.url}/orders`, record.id, ed25519KeyPair().seed);
      expect(r).toMatchObject({ status: 401, json: { code: "SIGNATURE_INVALID" } });
      expect(seen).toEqual([{ code: "SIGNATURE_INVALID", bodyRead: false }]);
    } finally {
      await server.close();
    }
  });

  it("a request without a valid token is answered before its body is parsed: 401, not the parser's 400", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const server = await listen(kw, (app, guard) => {
      app.post("/orders", { preHandler: guard.requireToken() }, async (request) => ({ body: request.body, token: request.keyward?.tokenId }));
    });
    try {
      const post = (headers: Record<string, string>, body: string) =>
        fetch(`${server.url}/orders`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
      const denied = await post({}, "{not json");
      expect(denied.status).toBe(401);
      expect(await denied.json()).toMatchObject({ code: "TOKEN_MISSING" });
      // With a valid token, Fastify parses as before: 400 for the bad JSON, the object for good JSON.
      expect((await post({ authorization: `Bearer ${token}` }, "{not json")).status).toBe(400);
      const ok = await post({ authorization: `Bearer ${token}` }, '{"qty":2}');
      expect(await ok.json()).toEqual({ body: { qty: 2 }, token: expect.stringMatching(/^tok_/) });
    } finally {
      await server.close();
    }
  });

  it("a route's own preParsing hooks run after the guard, and an app-wide guard still checks a signed body (the plugin reads it first)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { pair, record } = await signingToken(kw);
    const order: string[] = [];
    const server = await listen(kw, (app, guard) => {
      app.post(
        "/route",
        {
          preParsing: async (request, _reply, payload) => {
            order.push(request.keyward === null ? "route hook, no decision yet" : "route hook, after the guard");
            return payload;
          },
          preHandler: guard.requireToken(),
        },
        async (request) => ({ body: request.body, token: request.keyward?.tokenId }),
      );
      app.register(async (child) => {
        child.addHook("preHandler", guard.requireToken());
        child.post("/app-wide", async (request) => ({ body: request.body, token: request.keyward?.tokenId }));
      });
    });
    try {
      const send = signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }));
      for (const path of ["/route", "/app-wide"]) {
        const res = await send(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"qty":2}' });
        expect({ path, status: res.status, json: await res.json() }).toEqual({ path, status: 200, json: { body: { qty: 2 }, token: record.id } });
      }
      expect(order).toEqual(["route hook, after the guard"]);
    } finally {
      await server.close();
    }
  });

  it("a route keyward does not guard, and a 404: a Signature-Input header makes keyward read nothing of the body, and Fastify answers as without it", async () => {
    // The deadline is far beyond the test's own timeout: an answer means nothing waited for the body.
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { bodyTimeoutMs: 60_000 } });
    // What keyward had read of each body when the app's own preParsing hook (after the plugin's) ran.
    const seen: { url: string; bodyRead: boolean; kept: number | null }[] = [];
    const server = await listen(kw, (app, guard) => {
      app.addHook("preParsing", async (request, _reply, payload) => {
        const raw = request.raw as typeof request.raw & { rawBody?: Uint8Array };
        seen.push({ url: request.url, bodyRead: raw.readableDidRead, kept: raw.rawBody?.byteLength ?? null });
        return payload;
      });
      app.post("/guarded", { preHandler: guard.requireToken() }, async () => "never");
      app.post("/public", async () => "public");
    });
    const { port } = new URL(server.url);
    /** Sends the headers and 256 KiB of a 1 MiB body, then nothing more: the answer's status line, if one comes within 2 s. */
    const stalled = (path: string, contentType: string) =>
      statusLine(Number(port), [`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: ${contentType}\r\ncontent-length: ${1 << 20}\r\nsignature-input: x\r\n\r\n`, Buffer.alloc(256 * 1024, 120)], { waitMs: 2000 });
    try {
      // A route without requireToken, which Fastify has no parser for, and no route at all.
      expect(await stalled("/public", "application/x-unknown")).toBe("HTTP/1.1 415 Unsupported Media Type");
      expect(await stalled("/nowhere", "application/x-unknown")).toBe("HTTP/1.1 404 Not Found");
      expect(seen).toEqual([
        { url: "/public", bodyRead: false, kept: null },
        { url: "/nowhere", bodyRead: false, kept: null },
      ]);
    } finally {
      await server.close();
    }
  });

  it("an app-wide guard, after Fastify parsed: the bytes Fastify read are verified; past signatures.maxBodyBytes, 413 BODY_TOO_LARGE", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { maxBodyBytes: 1000 } });
    const { pair, record } = await signingToken(kw);
    const server = await listen(kw, (app, guard) => {
      app.register(async (child) => {
        child.addHook("preHandler", guard.requireToken());
        child.post("/app-wide", async (request) => ({ length: (request.body as string).length, token: request.keyward?.tokenId }));
      });
    });
    try {
      const send = signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }));
      const post = (body: string) => send(`${server.url}/app-wide`, { method: "POST", headers: { "content-type": "text/plain" }, body });
      const small = await post("a".repeat(1000));
      expect({ status: small.status, json: await small.json() }).toEqual({ status: 200, json: { length: 1000, token: record.id } });
      const large = await post("a".repeat(1001));
      expect({ status: large.status, code: (await large.json()).code }).toEqual({ status: 413, code: "BODY_TOO_LARGE" });
    } finally {
      await server.close();
    }
  });

  it("an app-wide guard on a route whose parser hands the payload stream on unread: the guard verifies the body, and the handler still reads it whole", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { pair, record } = await signingToken(kw);
    const server = await listen(kw, (app, guard) => {
      // A streaming parser: the handler reads the body (request.body is the payload stream).
      app.addContentTypeParser("application/x-ndjson", (_request, payload, done) => done(null, payload));
      app.register(async (child) => {
        child.addHook("preHandler", guard.requireToken());
        child.post("/stream", async (request) => {
          const chunks: Buffer[] = [];
          for await (const chunk of request.body as AsyncIterable<Buffer>) chunks.push(chunk);
          return { body: Buffer.concat(chunks).toString(), token: request.keyward?.tokenId };
        });
      });
    });
    try {
      const send = signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }));
      const body = '{"qty":1}\n{"qty":2}\n';
      const res = await send(`${server.url}/stream`, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body });
      expect({ status: res.status, json: await res.json() }).toEqual({ status: 200, json: { body, token: record.id } });
    } finally {
      await server.close();
    }
  });

  it("a route keyward does not guard, behind an app-wide preParsing stream registered before the plugin: Signature-Input changes nothing (the stream's encoded length stands)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = Fastify();
    // A decoding stream as Fastify's docs ask of one: it tells the encoded length it read.
    app.addHook("preParsing", async (_request, _reply, payload) => {
      const decoded = Object.assign(
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            decoded.receivedEncodedLength += chunk.byteLength;
            callback(null, Buffer.concat([chunk, chunk]));
          },
        }),
        { receivedEncodedLength: 0 },
      );
      return payload.pipe(decoded);
    });
    await app.register(keywardFastify(kw).plugin);
    app.post("/public", async (request) => ({ body: request.body }));
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const variants: Record<string, string>[] = [{}, { "signature-input": 'sig1=("@method");keyid="tok_x"', signature: "sig1=:AAAA:" }];
      for (const headers of variants) {
        const res = await fetch(`${url}/public`, { method: "POST", headers: { "content-type": "text/plain", ...headers }, body: "ab" });
        expect({ headers, status: res.status, json: await res.json() }).toEqual({ headers, status: 200, json: { body: "abab" } });
      }
    } finally {
      await app.close();
    }
  });

  it("a guard in an onRequest hook (route or app-wide) or in preValidation: a signed body is verified once, and Fastify parses the same bytes", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { pair, record } = await signingToken(kw);
    const answer = async (request: FastifyRequest) => ({
      body: request.body,
      raw: Buffer.from((request.raw as { rawBody?: Uint8Array }).rawBody ?? []).toString(),
      token: request.keyward?.tokenId,
    });
    const server = await listen(kw, (app, guard) => {
      app.post("/route-on-request", { onRequest: guard.requireToken() }, answer);
      app.register(async (child) => {
        child.addHook("onRequest", guard.requireToken());
        child.post("/app-on-request", answer);
      });
      app.register(async (child) => {
        child.addHook("preValidation", guard.requireToken());
        child.post("/app-pre-validation", answer);
      });
    });
    try {
      const send = signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }));
      for (const path of ["/route-on-request", "/app-on-request", "/app-pre-validation"]) {
        const res = await send(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"qty":2}' });
        expect({ path, status: res.status, json: await res.json() }).toEqual({ path, status: 200, json: { body: { qty: 2 }, raw: '{"qty":2}', token: record.id } });
        // A tampered body is still refused there.
        const signed = await createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }).sign(
          new Request(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"qty":2}' }),
        );
        const tampered = await fetch(signed.url, { method: "POST", headers: signed.headers, body: '{"qty":9}' });
        expect({ path, status: tampered.status, code: (await tampered.json()).code }).toEqual({ path, status: 401, code: "DIGEST_MISMATCH" });
      }
    } finally {
      await server.close();
    }
  });

  it("a validly signed upload aborted mid-body: a denial (SIGNATURE_INVALID), never an allow or an error", async () => {
    const outcomes = await abortedSignedUpload("/orders", (kw, seen) =>
      listen(kw, (app, guard) => {
        const answer = (outcome: string, reply: FastifyReply) => {
          seen(outcome);
          return reply.code(500).send();
        };
        const onDenied = (d: Decision, _request: FastifyRequest, reply: FastifyReply) => answer(`denied ${d.code}`, reply);
        const onError = (err: unknown, _request: FastifyRequest, reply: FastifyReply) => answer(`error ${String(err)}`, reply);
        app.post("/orders", { preHandler: guard.requireToken({ onDenied, onError }) }, async (_request, reply) => answer("allowed", reply));
        app.setErrorHandler((err, _request, reply) => answer(`Fastify's error handler: ${String(err)}`, reply));
      }),
    );
    expect(outcomes).toEqual(["denied SIGNATURE_INVALID"]);
  });

  it("a signed upload past the limit: 413 with Connection: close, and the connection closed, not held with the rest unread", async () => {
    const seen = await signedUploadOnOneConnection("/uploads", (kw) =>
      listen(kw, (app, guard) => {
        app.post("/uploads", { preHandler: guard.requireToken() }, async () => "never");
      }),
    );
    expect(seen).toEqual({ statuses: ["413"], connection: "close", closed: true });
  });

  it("a signed upload whose signature does not hold: keyward reads none of its body, and Node discards it as any unread body, the connection kept for the next request", async () => {
    const seen = await signedUploadOnOneConnection("/uploads", (kw) =>
      listen(kw, (app, guard) => {
        app.post("/uploads", { preHandler: guard.requireToken() }, async () => "never");
      }), { forged: true });
    // The pipelined GET is read as a request of its own: no route answers it.
    expect(seen).toEqual({ statuses: ["401", "404"], connection: "keep-alive", closed: false });
  });

  it("an onDenied that answers nothing (it only logs) lets nothing through: the default answer goes out, early guard or late, and the handler never runs", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const logged: string[] = [];
    let ran = 0;
    const server = await listen(kw, (app, guard) => {
      const onDenied = async (d: Decision) => {
        await new Promise((r) => setTimeout(r, 5));
        logged.push(d.code);
      };
      app.get("/early", { preHandler: guard.requireToken({ onDenied }) }, async () => ({ secret: ++ran }));
      app.register(async (child) => {
        child.addHook("preHandler", guard.requireToken({ onDenied: (d) => void logged.push(d.code) }));
        child.get("/late", async () => ({ secret: ++ran }));
      });
    });
    try {
      for (const path of ["/early", "/late"]) {
        const res = await fetch(`${server.url}${path}`);
        expect([path, res.status, res.headers.get("content-type")]).toEqual([path, 401, "application/problem+json"]);
        expect(await res.json()).toMatchObject({ code: "TOKEN_MISSING" });
      }
      expect(logged).toEqual(["TOKEN_MISSING", "TOKEN_MISSING"]);
      expect(ran).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("an onDenied that sends its reply without returning it is answered once, though an async onSend hook has not ended the response when it returns", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const warned: string[] = [];
    let ran = 0;
    const app = Fastify({ logger: { level: "warn", stream: { write: (line: string) => void warned.push(line) } } });
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    // Any async onSend (compression, a header from a store): the send ends the response a few ticks later.
    app.addHook("onSend", async (_request, _reply, payload) => {
      await new Promise((r) => setTimeout(r, 5));
      return payload;
    });
    const onDenied = (d: Decision, _request: FastifyRequest, reply: FastifyReply) => {
      reply.code(418).send({ denied: d.code });
    };
    app.get("/early", { preHandler: guard.requireToken({ onDenied }) }, async () => ({ secret: ++ran }));
    app.register(async (child) => {
      child.addHook("preHandler", guard.requireToken({ onDenied }));
      child.get("/late", async () => ({ secret: ++ran }));
    });
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      for (const path of ["/early", "/late"]) {
        const res = await fetch(`${url}${path}`);
        expect([path, res.status, await res.json()]).toEqual([path, 418, { denied: "TOKEN_MISSING" }]);
      }
      await new Promise((r) => setTimeout(r, 50));
      expect(warned).toEqual([]);
      expect(ran).toBe(0);
    } finally {
      await app.close();
    }
  });

  it("a signed upload past the limit that onDenied lets through reaches Fastify's parser whole: what the verifier read is put back", async () => {
    const seen = await oversizedSignedUploadLetThrough("/uploads", (kw, denied) =>
      listen(kw, (app, guard) => {
        const onDenied = (d: Decision, _request: unknown, _reply: unknown, proceed: () => void) => {
          denied(d.code);
          proceed();
        };
        app.post("/uploads", { preHandler: guard.requireToken({ onDenied }) }, async (request) => ({
          length: (request.body as string).length,
          start: (request.body as string).slice(0, 5),
        }));
      }),
    );
    expect(seen).toEqual({ status: 200, body: JSON.stringify({ length: 2405, start: "HEAD-" }), denials: ["BODY_TOO_LARGE"] });
  });

  it("a denial waits for the app's onSend hooks (async or with a callback): the handler never runs, and nothing is sent twice", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const ran: string[] = [];
    const later = <T>(value: T) => new Promise<T>((resolve) => setTimeout(resolve, 20, value));
    const server = await listen(kw, (app, guard) => {
      // Each route guarded by its own requireToken, unless an app-wide one guards them all.
      const routes = (child: FastifyInstance, prefix: string, own = true) => {
        const preHandler = own ? guard.requireToken() : [];
        child.get(`${prefix}/get`, { preHandler }, async () => {
          ran.push(`${prefix}/get`);
          return { secret: "s" };
        });
        child.post(`${prefix}/post`, { preHandler }, async (request) => {
          ran.push(`${prefix}/post`);
          return { body: request.body };
        });
      };
      app.register(async (child) => {
        child.addHook("onSend", async (_request, _reply, payload) => later(payload));
        routes(child, "/async");
      });
      app.register(async (child) => {
        child.addHook("onSend", (_request, _reply, payload, done) => void later(payload).then((p) => done(null, p)));
        routes(child, "/callback");
      });
      app.register(async (child) => {
        child.addHook("onSend", async (_request, _reply, payload) => later(payload));
        child.addHook("preHandler", guard.requireToken());
        routes(child, "/app-wide", false);
      });
    });
    try {
      for (const prefix of ["/async", "/callback", "/app-wide"]) {
        for (const method of ["GET", "POST"]) {
          const init = method === "GET" ? {} : { method, headers: { "content-type": "application/json" }, body: '{"qty":1}' };
          const res = await fetch(`${server.url}${prefix}/${method.toLowerCase()}`, init);
          expect({ prefix, method, status: res.status, json: await res.json() }).toMatchObject({ prefix, method, status: 401, json: { code: "TOKEN_MISSING" } });
        }
      }
      await later(null);
      expect(ran).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it("a signed TRACE (a method no Fetch Request has) is verified against the method sent: a GET's signature is refused, TRACE's holds; never a 500", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = Fastify();
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.route({ method: "TRACE", url: "/trace", preHandler: guard.requireToken(), handler: async (request) => ({ token: request.keyward?.tokenId }) });
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const [asGet, asTrace] = await signedTraces(kw, `${url}/trace`);
      expect(asGet).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
      expect(asTrace).toMatchObject({ status: 200, json: { token: expect.stringMatching(/^tok_/) } });
    } finally {
      await app.close();
    }
  });

  it("a signed upload whose body stops coming: 408 BODY_TIMEOUT at signatures.bodyTimeoutMs", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { bodyTimeoutMs: 100 } });
    const { pair, record } = await signingToken(kw);
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

describe("keyward/fastify behind Fastify's rewriteUrl", () => {
  it("a signed request is verified at the URL the client sent, not the one rewriteUrl routed it by; a token in the rewritten-away query is still seen", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", requireHttps: false });
    // The app serves its old paths (/v2/…) under the new ones (/v1/…), and drops the query it no longer reads.
    const app = Fastify({ rewriteUrl: (req) => (req.url ?? "/").replace(/^\/v2\//, "/v1/").replace(/\?.*$/, "") });
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.get("/v1/prices", { preHandler: guard.requireToken() }, async (request) => ({ token: request.keyward?.tokenId, url: request.url }));
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { pair, record } = await signingToken(kw);
      const signed = signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }));
      for (const path of ["/v1/prices", "/v2/prices?symbol=X"]) {
        const res = await signed(`${base}${path}`);
        expect([path, res.status]).toEqual([path, 200]);
        expect(await res.json()).toEqual({ token: record.id, url: "/v1/prices" });
      }
      const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
      const leaked = await fetch(`${base}/v2/prices?api_key=${token}`, { headers: { authorization: `Bearer ${token}` } });
      expect(leaked.status).toBe(400);
      expect((await leaked.json()).code).toBe("TOKEN_IN_URL");
    } finally {
      await app.close();
    }
  });
});

describe("keyward/fastify and request targets the URL parser reshapes", () => {
  it("a signature for /admin/stats does not hold at /files/../admin/stats (or %2e, ./, backslashes, a Host carrying a path), which Fastify routes to /files/*; userinfo is a denial, not a 500", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", requireHttps: false });
    const app = Fastify();
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.get("/files/*", { preHandler: guard.requireToken() }, async () => "files");
    app.get("/admin/stats", { preHandler: guard.requireToken() }, async () => "admin");
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const replies = await signedForAnotherRoute(kw, base);
      expect(replies.map(([target, status]) => [target, status])).toEqual(SIGNED_FOR_ANOTHER_ROUTE);
      expect(replies.slice(-2).map(([, , text]) => text)).toEqual(["files", "admin"]);
    } finally {
      await app.close();
    }
  });

  it("a token in the query of a target whose path the URL parser reshapes is still refused as TOKEN_IN_URL (read from the URL received, not the one verified)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", requireHttps: false });
    const app = Fastify();
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.get("/files/*", { preHandler: guard.requireToken() }, async () => "files");
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      expect(await tokenInReshapedTarget(kw, base)).toEqual([
        [400, "TOKEN_IN_URL"],
        [400, "TOKEN_IN_URL"],
      ]);
    } finally {
      await app.close();
    }
  });
});

describe("keyward/fastify and an app-wide preParsing hook that decodes the body", () => {
  it("registered after the plugin (as @fastify/compress decompresses uploads), it runs after a route's guard: a signed gzip upload is checked as sent, then decoded and parsed", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", requireHttps: false });
    const app = Fastify();
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.addHook("preParsing", async (request, _reply, payload) => {
      if (request.headers["content-encoding"] !== "gzip") return payload;
      // Fastify compares the encoded length a decoding stream counts with Content-Length.
      let encoded = 0;
      payload.on("data", (chunk: Buffer) => {
        encoded += chunk.byteLength;
      });
      return Object.defineProperty(payload.pipe(createGunzip()), "receivedEncodedLength", { get: () => encoded });
    });
    app.post("/orders", { preHandler: guard.requireToken() }, async (request) => ({ token: request.keyward?.tokenId, body: request.body }));
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { pair, record } = await signingToken(kw);
      const signer = createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed });
      const upload = (body: Uint8Array<ArrayBuffer>) =>
        signer.sign(new Request(`${base}/orders`, { method: "POST", headers: { "content-type": "application/json", "content-encoding": "gzip" }, body }));
      const res = await fetch(await upload(gzipSync('{"qty":1}')));
      expect([res.status, await res.json()]).toEqual([200, { token: record.id, body: { qty: 1 } }]);
      // The digest covers the bytes as sent: other bytes than those signed are still refused.
      const signed = await upload(gzipSync('{"qty":1}'));
      const tampered = await fetch(new Request(signed, { body: gzipSync('{"qty":9}') }));
      expect([tampered.status, (await tampered.json()).code]).toEqual([401, "DIGEST_MISMATCH"]);
    } finally {
      await app.close();
    }
  });
});
