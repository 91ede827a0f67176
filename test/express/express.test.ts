// keyward/express on a real Express 5 server (the shared suite in test/http/scenarios.ts).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import vm from "node:vm";
import { gunzipSync, gzipSync } from "node:zlib";
import express from "express";
import { describe, expect, it } from "vitest";
import { createSigner, signedFetch } from "../../src/client/index.js";
import { keywardExpress } from "../../src/express/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { computeContentDigest, signRequest } from "../../src/signing/index.js";
import { ed25519KeyPair } from "../client/helpers.js";
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

/** The app listening on 127.0.0.1: its base URL, and a close that drops open connections. */
async function listen(app: express.Express): Promise<{ url: string; close(): Promise<void> }> {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describeMiddleware(
  "Express 5",
  async (kw, options) => {
    const app = express();
    const guard = keywardExpress(kw, options);
    app.use(express.json({ verify: guard.rawBody }));
    // In front of every route of /vary-before, the preflight's among them.
    app.use("/vary-before", (_req, res, next) => {
      res.setHeader("Vary", "Accept-Language");
      next();
    });
    app.options("/{*any}", guard.preflight);
    app.get("/prices", guard.requireToken({ scope: "core:read" }), (req, res) => {
      res.json({ token: req.keyward?.tokenId });
    });
    app.post("/orders", guard.requireToken({ scope: "orders:write", cost: 2 }), (req, res) => {
      res.json({ token: req.keyward?.tokenId, body: req.body });
    });
    app.get("/key", guard.requireToken({ getToken: (req) => req.get("x-api-key") }), (req, res) => {
      res.json({ token: req.keyward?.tokenId });
    });
    const onDenied = (d: { code: string }, _req: unknown, res: express.Response) => void res.status(418).json({ denied: d.code });
    app.get("/custom", guard.requireToken({ onDenied }), (req, res) => {
      res.json({ token: req.keyward?.tokenId });
    });
    app.get("/vary", guard.requireToken(), (req, res) => {
      res.set("Vary", "Accept-Encoding").json({ token: req.keyward?.tokenId });
    });
    app.get("/vary-before", guard.requireToken(), (req, res) => {
      res.json({ token: req.keyward?.tokenId });
    });
    app.get(
      "/failing",
      guard.requireToken({
        getToken: (req) => failingHooks(req.originalUrl).getToken(),
        onDenied: (_d, req) => failingHooks(req.originalUrl).onDenied(),
        onError: (err, req, res) => void (failingHooks(req.originalUrl).answers && res.status(599).send((err as Error).message)),
      }),
      (_req, res) => res.send("never"),
    );
    const server = await listen(app);
    return server;
  },
  (kw, options) => keywardExpress(kw).requireToken(options as never),
);

describe("keyward/express: errors of the hooks reach onError or Express, never an unhandled rejection", () => {
  it("an onDenied that rejects, or a getToken that throws, reaches onError (or Express's error handler) over real HTTP", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = express();
    const guard = keywardExpress(kw);
    const onError = (err: unknown, _req: unknown, res: express.Response) => void res.status(599).send(String((err as Error).message));
    app.get("/denied", guard.requireToken({ onDenied: async () => Promise.reject(new Error("denied handler failed")), onError }), (_req, res) => {
      res.send("never");
    });
    app.get("/token", guard.requireToken({ getToken: () => { throw new Error("getToken failed"); } }), (_req, res) => {
      res.send("never");
    });
    // An onError that fails itself: Express's error handler answers, on the
    // path decided at once (bearer) and on the one that waits (signed).
    const failing = {
      onDenied: () => {
        throw new Error("onDenied failed");
      },
      onError: async (err: unknown) => Promise.reject(new Error(`onError failed after ${(err as Error).message}`)),
    };
    app.get("/failing", guard.requireToken(failing), (_req, res) => {
      res.send("never");
    });
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(598).send(err.message));
    const server = await listen(app);
    const base = server.url;
    try {
      const denied = await fetch(`${base}/denied`);
      expect([denied.status, await denied.text()]).toEqual([599, "denied handler failed"]);
      const token = await fetch(`${base}/token`);
      expect([token.status, await token.text()]).toEqual([598, "getToken failed"]);
      const bearer = await fetch(`${base}/failing`);
      expect([bearer.status, await bearer.text()]).toEqual([598, "onError failed after onDenied failed"]);
      const signedHeaders = { "signature-input": 'sig1=("@method");created=1;keyid="tok_x"', signature: "sig1=:AA==:" };
      const signed = await fetch(`${base}/failing`, { headers: signedHeaders, signal: AbortSignal.timeout(5_000) });
      expect([signed.status, await signed.text()]).toEqual([598, "onError failed after onDenied failed"]);
    } finally {
      await server.close();
    }
  });
});

describe("keyward/express: Vary of an allowed CORS answer", () => {
  it("gains Origin when the handler gives its own Vary to res.writeHead (an object, or a flat array of names and values)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "publishable", domains: ["app.example"] });
    const app = express();
    const guard = keywardExpress(kw, { cors: true });
    app.get("/object", guard.requireToken(), (_req, res) => void res.writeHead(200, { Vary: "Accept-Encoding", "content-type": "text/plain" }).end("ok"));
    app.get("/message", guard.requireToken(), (_req, res) => void res.writeHead(200, "Fine", { vary: "Accept-Language" }).end("ok"));
    app.get("/array", guard.requireToken(), (_req, res) => void res.writeHead(200, ["content-type", "text/plain", "VARY", "Accept-Encoding"]).end("ok"));
    const server = await listen(app);
    try {
      const headers = { authorization: `Bearer ${token}`, origin: "https://app.example" };
      const varies: Record<string, string | null> = {};
      for (const path of ["/object", "/message", "/array"]) {
        const r = await fetch(`${server.url}${path}`, { headers });
        expect([r.status, r.headers.get("access-control-allow-origin")]).toEqual([200, "https://app.example"]);
        varies[path] = r.headers.get("vary");
      }
      expect(varies).toEqual({ "/object": "Accept-Encoding, Origin", "/message": "Accept-Language, Origin", "/array": "Accept-Encoding, Origin" });
    } finally {
      await server.close();
    }
  });
});

describe("keyward/express and hooks answering with another realm's Promise", () => {
  it("onDenied's rejection reaches onError, and onError's promise is waited for before Express's error handler", async () => {
    const foreign = vm.runInNewContext("({ resolve: (v) => Promise.resolve(v), reject: (e) => Promise.reject(e) })") as {
      resolve<T>(value: T): Promise<T>;
      reject(err: unknown): Promise<never>;
    };
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = express();
    const guard = keywardExpress(kw);
    const onError = (err: unknown, _req: unknown, res: express.Response) => foreign.resolve(null).then(() => void res.status(599).send((err as Error).message));
    app.get("/denied", guard.requireToken({ onDenied: () => foreign.reject(new Error("onDenied failed")), onError }), (_req, res) => {
      res.send("never");
    });
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(598).send(err.message));
    const server = await listen(app);
    try {
      const denied = await fetch(`${server.url}/denied`, { signal: AbortSignal.timeout(5_000) });
      expect([denied.status, await denied.text()]).toEqual([599, "onDenied failed"]);
    } finally {
      await server.close();
    }
  });
});

describe("keyward/express and a body parser that keeps no copy of the body", () => {
  it("a signed JSON body express.json() consumed first: 500 problem+json BODY_ALREADY_READ, as kw.verify answers it", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { pair, record } = await signingToken(kw);
    const app = express();
    const guard = keywardExpress(kw);
    app.use(express.json()); // without `verify: guard.rawBody`
    app.post("/orders", guard.requireToken(), (_req, res) => res.send("never"));
    const server = await listen(app);
    const base = server.url;
    try {
      const send = signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }));
      const r = await send(`${base}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"symbol":"X"}' });
      expect(r.status).toBe(500);
      expect(r.headers.get("content-type")).toBe("application/problem+json");
      expect(await r.json()).toMatchObject({ code: "BODY_ALREADY_READ", status: 500 });
      // A forged signature is refused before the body matters.
      const forged = await signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: ed25519KeyPair().seed }))(`${base}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(forged.status).toBe(401);
    } finally {
      await server.close();
    }
  });

  it("a compressed signed body (Content-Encoding: gzip): the parser decodes it before the hook, so BODY_ALREADY_READ, not the client's DIGEST_MISMATCH; requireToken before the parser checks the bytes as sent", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { pair, record } = await signingToken(kw);
    const app = express();
    const guard = keywardExpress(kw);
    app.post("/orders", express.json({ verify: guard.rawBody }), guard.requireToken(), (req, res) => res.json(req.body));
    // The way for compressed uploads: keyward reads the body as sent, the route decodes it.
    app.post("/uploads", guard.requireToken(), (req, res) => res.json(JSON.parse(gunzipSync(req.rawBody!).toString())));
    const server = await listen(app);
    const base = server.url;
    try {
      const send = signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }));
      const gzipped = { method: "POST", headers: { "content-type": "application/json", "content-encoding": "gzip" }, body: gzipSync('{"symbol":"X"}') };
      const r = await send(`${base}/orders`, gzipped);
      expect([r.status, (await r.json()).code]).toEqual([500, "BODY_ALREADY_READ"]);
      const plain = await send(`${base}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"symbol":"X"}' });
      expect([plain.status, await plain.json()]).toEqual([200, { symbol: "X" }]);
      const upload = await send(`${base}/uploads`, gzipped);
      expect([upload.status, await upload.json()]).toEqual([200, { symbol: "X" }]);
    } finally {
      await server.close();
    }
  });

  it("a signed GET with a body, parsed by express.json() in front or read by the route itself: a body the signature does not cover is refused, one it covers is checked", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { pair, record } = await signingToken(kw);
    const app = express();
    const guard = keywardExpress(kw);
    // No parser in front: keyward reads the body once the signature verified, and keeps it as rawBody.
    app.get("/search", guard.requireToken(), (req, res) => res.json({ body: req.rawBody ? JSON.parse(Buffer.from(req.rawBody).toString()) : null }));
    app.use(express.json({ verify: guard.rawBody }));
    app.get("/orders", guard.requireToken(), (req, res) => res.json({ body: req.body ?? null }));
    const server = await listen(app);
    const signer = createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed });
    // node:http sends a GET with a body, as a client (or anything on the way) may.
    const get = (path: string, headers: Headers, body: string) =>
      new Promise<{ status: number; json: unknown }>((resolve, reject) => {
        const req = request(`${server.url}${path}`, { method: "GET", headers: { ...Object.fromEntries(headers), "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } }, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (chunk) => (text += chunk)).on("end", () => resolve({ status: res.statusCode!, json: text === "" ? null : JSON.parse(text) }));
        });
        req.on("error", reject).end(body);
      });
    // A signature that covers the body's Content-Digest holds for that body only.
    const body = '{"amount":1}';
    const coverDigest = (path: string) =>
      signRequest(new Request(`${server.url}${path}`, { headers: { "content-digest": computeContentDigest(body) } }), {
        keyId: record.id,
        key: { alg: "ed25519", privateKey: pair.seed },
        components: ["@method", "@target-uri", "content-digest"],
        nonce: true,
      });
    try {
      for (const path of ["/orders", "/search"]) {
        const bodiless = await signedFetch(signer)(`${server.url}${path}`);
        expect([bodiless.status, await bodiless.json()]).toEqual([200, { body: null }]);
        // The signature of a GET without a body, a body added on the way.
        const plain = await signer.sign(new Request(`${server.url}${path}`));
        expect(await get(path, plain.headers, '{"amount":1000000}')).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
        expect(await get(path, (await coverDigest(path)).headers, body)).toEqual({ status: 200, json: { body: { amount: 1 } } });
        expect(await get(path, (await coverDigest(path)).headers, '{"amount":2}')).toMatchObject({ status: 401, json: { code: "DIGEST_MISMATCH" } });
      }
    } finally {
      await server.close();
    }
  });

  it("a signed TRACE (a method no Fetch Request has) is verified against the method sent: a GET's signature is refused, TRACE's holds; never a 500", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = express();
    app.all("/trace", keywardExpress(kw).requireToken(), (req, res) => {
      res.json({ token: req.keyward?.tokenId });
    });
    const server = await listen(app);
    try {
      const [asGet, asTrace] = await signedTraces(kw, `${server.url}/trace`);
      expect(asGet).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
      expect(asTrace).toMatchObject({ status: 200, json: { token: expect.stringMatching(/^tok_/) } });
    } finally {
      await server.close();
    }
  });

  it("a signed upload whose body stops coming, on a route that reads it itself: 408 BODY_TIMEOUT at signatures.bodyTimeoutMs", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { bodyTimeoutMs: 100 } });
    const { pair, record } = await signingToken(kw);
    const app = express();
    app.post("/uploads", keywardExpress(kw).requireToken(), (_req, res) => res.send("never"));
    const server = await listen(app);
    try {
      const r = await stalledSignedUpload(`${server.url}/uploads`, record.id, pair.seed);
      expect(r).toMatchObject({ status: 408, json: { code: "BODY_TIMEOUT", type: "urn:keyward:problem:body-timeout" } });
    } finally {
      await server.close();
    }
  });

  it("a signed upload whose signature does not hold is refused before its body is read: the stalled body is not waited for", async () => {
    // The deadline is far beyond the test's own timeout: an answer means nothing waited for the body.
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { bodyTimeoutMs: 60_000 } });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: ed25519KeyPair().publicKey } });
    const seen: { code: string; bodyRead: boolean }[] = [];
    const app = express();
    app.post(
      "/uploads",
      keywardExpress(kw).requireToken({
        onDenied: (d, req, res) => {
          seen.push({ code: d.code, bodyRead: req.readableDidRead });
          res.status(d.status).json({ code: d.code });
        },
      }),
      (_req, res) => res.send("never"),
    );
    const server = await listen(app);
    try {
      // Signed with a key that is not the token's.
      const r = await stalledSignedUpload(`${server.url}/uploads`, record.id, ed25519KeyPair().seed);
      expect(r).toMatchObject({ status: 401, json: { code: "SIGNATURE_INVALID" } });
      expect(seen).toEqual([{ code: "SIGNATURE_INVALID", bodyRead: false }]);
    } finally {
      await server.close();
    }
  });

  it("requireToken given uncalled (app.get(path, guard.requireToken, …)): each request is answered 500 naming the mistake, never left hanging", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = express();
    app.get("/x", keywardExpress(kw).requireToken as never, (_req, res) => res.send("never"));
    app.use((err: Error & { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ code: err.code, message: err.message });
    });
    const server = await listen(app);
    try {
      const res = await fetch(`${server.url}/x`, { signal: AbortSignal.timeout(5000) });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ code: "INVALID_CONFIG", message: expect.stringMatching(/requireToken was given a request: call it/) });
    } finally {
      await server.close();
    }
  });

  it("a validly signed upload aborted mid-body, on a route that reads it itself: a denial, never an allow or an error", async () => {
    const outcomes = await abortedSignedUpload("/uploads", (kw, seen) => {
      const app = express();
      app.post(
        "/uploads",
        keywardExpress(kw).requireToken({
          onDenied: (d, _req, res) => {
            seen(`denied ${d.code}`);
            res.status(d.status).end();
          },
          onError: (err, _req, res) => {
            seen(`error ${String(err)}`);
            res.status(500).end();
          },
        }),
        (_req, res) => {
          seen("allowed");
          res.end();
        },
      );
      return listen(app);
    });
    expect(outcomes).toEqual(["denied SIGNATURE_INVALID"]);
  });

  it("a signed upload past the limit, on a route that reads it itself: 413 with Connection: close, and the connection closed, not held with the rest unread", async () => {
    const seen = await signedUploadOnOneConnection("/uploads", (kw) => {
      const app = express();
      app.post("/uploads", keywardExpress(kw).requireToken(), (_req, res) => res.send("never"));
      return listen(app);
    });
    expect(seen).toEqual({ statuses: ["413"], connection: "close", closed: true });
  });

  it("a signed upload whose signature does not hold: keyward reads none of its body, and Node discards it as any unread body, the connection kept for the next request", async () => {
    const seen = await signedUploadOnOneConnection("/uploads", (kw) => {
      const app = express();
      app.post("/uploads", keywardExpress(kw).requireToken(), (_req, res) => res.send("never"));
      return listen(app);
    }, { forged: true });
    // The pipelined GET is read as a request of its own: no route answers it.
    expect(seen).toEqual({ statuses: ["401", "404"], connection: "keep-alive", closed: false });
  });

  it("an onDenied that answers later (a callback, res.render) is answered by it alone: no default answer first, no throw of its late answer", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    let ran = 0;
    const app = express();
    const views = mkdtempSync(join(tmpdir(), "kw-views-"));
    writeFileSync(join(views, "denied.txt"), "");
    app.set("views", views);
    app.engine("txt", (_path: string, options: object, done: (err: unknown, out?: string) => void) =>
      setTimeout(() => done(null, `rendered ${(options as { code: string }).code}`), 20),
    );
    const guard = keywardExpress(kw);
    const later = (d: { code: string }, _req: unknown, res: express.Response) => {
      setTimeout(() => res.status(403).json({ denied: d.code }), 20);
    };
    app.get("/callback", guard.requireToken({ onDenied: later }), (_req, res) => res.json({ secret: ++ran }));
    app.get("/render", guard.requireToken({ onDenied: (d, _req, res) => res.status(403).render("denied.txt", { code: d.code }) }), (_req, res) =>
      res.json({ secret: ++ran }),
    );
    const thrown: unknown[] = [];
    const onThrow = (err: unknown) => thrown.push(err);
    process.on("uncaughtException", onThrow);
    const server = await listen(app);
    try {
      const callback = await fetch(`${server.url}/callback`);
      expect([callback.status, await callback.json()]).toEqual([403, { denied: "TOKEN_MISSING" }]);
      const render = await fetch(`${server.url}/render`);
      expect([render.status, await render.text()]).toEqual([403, "rendered TOKEN_MISSING"]);
      await new Promise((r) => setTimeout(r, 50));
      expect(thrown).toEqual([]);
      expect(ran).toBe(0);
    } finally {
      process.off("uncaughtException", onThrow);
      await server.close();
      rmSync(views, { recursive: true });
    }
  });

  it("a signed upload past the limit that onDenied lets through reaches the parser whole: what the verifier read is put back", async () => {
    const seen = await oversizedSignedUploadLetThrough("/uploads", (kw, denied) => {
      const app = express();
      const onDenied = (d: { code: string }, _req: unknown, _res: unknown, next: () => void) => {
        denied(d.code);
        next();
      };
      app.post("/uploads", keywardExpress(kw).requireToken({ onDenied }), express.text(), (req, res) => {
        res.json({ length: (req.body as string).length, start: (req.body as string).slice(0, 5) });
      });
      return listen(app);
    });
    expect(seen).toEqual({ status: 200, body: JSON.stringify({ length: 2405, start: "HEAD-" }), denials: ["BODY_TOO_LARGE"] });
  });

  it("a middleware in front set the request's encoding (req.setEncoding): the signed body is checked as its bytes, kept as rawBody, never a crash of the server", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { pair, record } = await signingToken(kw);
    const app = express();
    app.use((req, _res, next) => {
      req.setEncoding("utf8");
      next();
    });
    app.post("/orders", keywardExpress(kw).requireToken(), (req, res) => res.json({ raw: Buffer.from(req.rawBody!).toString() }));
    const server = await listen(app);
    try {
      const send = signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }));
      const body = '{"symbol":"Zürich €"}';
      const res = await send(`${server.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expect([res.status, await res.json()]).toEqual([200, { raw: body }]);
    } finally {
      await server.close();
    }
  });
});

describe("keyward/express and request targets the URL parser reshapes", () => {
  it("a signature for /admin/stats does not hold at /files/../admin/stats (or %2e, ./, backslashes, a Host carrying a path), which Express routes to /files/*; userinfo is a denial, not a 500", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", requireHttps: false });
    const app = express();
    const guard = keywardExpress(kw);
    app.get("/files/{*path}", guard.requireToken(), (_req, res) => void res.send("files"));
    app.get("/admin/stats", guard.requireToken(), (_req, res) => void res.send("admin"));
    const server = await listen(app);
    try {
      const replies = await signedForAnotherRoute(kw, server.url);
      expect(replies.map(([target, status]) => [target, status])).toEqual(SIGNED_FOR_ANOTHER_ROUTE);
      expect(replies.slice(-2).map(([, , text]) => text)).toEqual(["files", "admin"]);
    } finally {
      await server.close();
    }
  });

  it("a token in the query of a target whose path the URL parser reshapes is still refused as TOKEN_IN_URL (read from the URL received, not the one verified)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", requireHttps: false });
    const app = express();
    const guard = keywardExpress(kw);
    app.get("/files/{*path}", guard.requireToken(), (_req, res) => void res.send("files"));
    const server = await listen(app);
    try {
      expect(await tokenInReshapedTarget(kw, server.url)).toEqual([
        [400, "TOKEN_IN_URL"],
        [400, "TOKEN_IN_URL"],
      ]);
    } finally {
      await server.close();
    }
  });
});

/**
 * Method override as the `method-override` package (v3) does it: a request
 * whose method is in `methods` (the package's default: POST; null: any) is
 * served as the method its X-HTTP-Method-Override field names, the
 * original kept as `req.originalMethod`.
 */
function methodOverride(methods: readonly string[] | null = ["POST"]): express.RequestHandler {
  return (req, _res, next) => {
    const kept = req as { originalMethod?: string };
    kept.originalMethod ??= req.method;
    const original = kept.originalMethod;
    const named = req.get("x-http-method-override");
    if ((methods === null || methods.includes(original)) && named !== undefined && ["GET", "POST", "PUT", "PATCH", "DELETE"].includes(named.toUpperCase())) {
      req.method = named.toUpperCase();
    }
    next();
  };
}

describe("keyward/express and method override (X-HTTP-Method-Override)", () => {
  /** An app whose items answer the method served, behind `setup`'s guard and override. */
  async function itemsApp(setup: (app: express.Express, guard: ReturnType<typeof keywardExpress>) => express.RequestHandler[]) {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = express();
    const guarded = setup(app, keywardExpress(kw));
    for (const method of ["get", "post", "delete"] as const) app[method]("/items/1", ...guarded, (req, res) => void res.json({ served: req.method }));
    const { pair, record } = await signingToken(kw);
    const server = await listen(app);
    const sign = (components?: string[]) => signedFetch(createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed, ...(components && { components }) }));
    return { server, sign, url: `${server.url}/items/1` };
  }
  const answer = async (res: Response) => [res.status, ((await res.json()) as { served?: string; code?: string }).served ?? "denied"];

  it("the guard before the override: a signed GET or POST with the field added on the way is denied, never served as DELETE; covered by the signature, it is served as asked", async () => {
    const { server, sign, url } = await itemsApp((app, guard) => {
      app.use(guard.requireToken(), methodOverride(null));
      return [];
    });
    try {
      const signed = sign();
      // Before: 200 DELETE for both, the signatures verified over the method sent.
      expect(await answer(await signed(url, { headers: { "x-http-method-override": "DELETE" } }))).toEqual([401, "denied"]);
      expect(await answer(await signed(url, { method: "POST", headers: { "x-http-method-override": "DELETE" } }))).toEqual([401, "denied"]);
      expect(await answer(await signed(url))).toEqual([200, "GET"]);
      const covering = sign(["@method", "@target-uri", "x-http-method-override"]);
      expect(await answer(await covering(url, { method: "POST", headers: { "x-http-method-override": "DELETE" } }))).toEqual([200, "DELETE"]);
    } finally {
      await server.close();
    }
  });

  it("the override before the route's guard: the verifier sees the method served, which the client did not sign: denied (fails closed)", async () => {
    const { server, sign, url } = await itemsApp((app, guard) => {
      app.use(methodOverride());
      return [guard.requireToken()];
    });
    try {
      const signed = sign();
      expect(await answer(await signed(url, { method: "POST", headers: { "x-http-method-override": "DELETE" } }))).toEqual([401, "denied"]);
      expect(await answer(await signed(url, { method: "POST" }))).toEqual([200, "POST"]);
    } finally {
      await server.close();
    }
  });
});
