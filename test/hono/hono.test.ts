// keyward/hono on a real Hono app served by @hono/node-server (the shared suite in test/http/scenarios.ts).
import { createServer as createHttp2Server, type Http2Server } from "node:http2";
import { type AddressInfo, connect as connectTcp } from "node:net";
import vm from "node:vm";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { type HonoRouteOptions, type KeywardEnv, keywardHono } from "../../src/hono/index.js";
import { createSigner } from "../../src/client/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { describeHttp2 } from "../http/http2.js";
import { describeMiddleware, failingHooks, signedTraces, signingToken } from "../http/scenarios.js";

/** Promises of another realm, as an edge runtime's fetch and crypto.subtle answer with. */
const foreign = vm.runInNewContext("({ resolve: (v) => Promise.resolve(v), reject: (e) => Promise.reject(e) })") as {
  resolve<T>(value: T): Promise<T>;
  reject(err: unknown): Promise<never>;
};

/** GET /failing's options (see test/http/scenarios.ts). */
const failingRoute: HonoRouteOptions = {
  getToken: (c) => failingHooks(c.req.url).getToken(),
  onDenied: (_d, c) => failingHooks(c.req.url).onDenied(),
  onError: (err, c) => (failingHooks(c.req.url).answers ? c.text((err as Error).message, 599 as 500) : (undefined as never)),
};

describeMiddleware(
  "Hono",
  async (kw, options) => {
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw, options);
    // In front of every route of /vary-before, the preflight's among them.
    app.use("/vary-before", async (c, next) => {
      c.header("Vary", "Accept-Language");
      await next();
    });
    app.options("*", guard.preflight);
    app.get("/prices", guard.requireToken({ scope: "core:read" }), (c) => c.json({ token: c.get("keyward").tokenId }));
    app.post("/orders", guard.requireToken({ scope: "orders:write", cost: 2 }), async (c) =>
      c.json({ token: c.get("keyward").tokenId, body: await c.req.json() }),
    );
    app.get("/key", guard.requireToken({ getToken: (c) => c.req.header("x-api-key") }), (c) => c.json({ token: c.get("keyward").tokenId }));
    app.get("/custom", guard.requireToken({ onDenied: (d, c) => c.json({ denied: d.code }, 418) }), (c) => c.json({ token: c.get("keyward").tokenId }));
    app.get("/failing", guard.requireToken(failingRoute), (c) => c.text("never"));
    app.get("/vary", guard.requireToken(), (c) => {
      c.header("Vary", "Accept-Encoding");
      return c.json({ token: c.get("keyward").tokenId });
    });
    app.get("/vary-before", guard.requireToken(), (c) => c.json({ token: c.get("keyward").tokenId }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => { (server as import("node:http").Server).closeAllConnections(); server.close(() => resolve()); }),
    };
  },
  (kw, options) => keywardHono(kw).requireToken(options as never),
);

// The same suite with the handler form, requireToken(options, handler): no middleware chain.
describeMiddleware(
  "Hono, requireToken(options, handler)",
  async (kw, options) => {
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw, options);
    // In front of every route of /vary-before, the preflight's among them.
    app.use("/vary-before", async (c, next) => {
      c.header("Vary", "Accept-Language");
      await next();
    });
    app.options("*", guard.preflight);
    app.get("/prices", guard.requireToken({ scope: "core:read" }, (c) => c.json({ token: c.get("keyward").tokenId })));
    app.post(
      "/orders",
      guard.requireToken({ scope: "orders:write", cost: 2 }, async (c) => c.json({ token: c.get("keyward").tokenId, body: await c.req.json() })),
    );
    app.get("/key", guard.requireToken({ getToken: (c) => c.req.header("x-api-key") }, (c) => c.json({ token: c.get("keyward").tokenId })));
    app.get(
      "/custom",
      guard.requireToken({ onDenied: (d, c) => c.json({ denied: d.code }, 418) }, (c) => c.json({ token: c.get("keyward").tokenId })),
    );
    app.get("/failing", guard.requireToken(failingRoute, (c) => c.text("never")));
    app.get(
      "/vary",
      guard.requireToken({}, (c) => {
        c.header("Vary", "Accept-Encoding");
        return c.json({ token: c.get("keyward").tokenId });
      }),
    );
    app.get("/vary-before", guard.requireToken({}, (c) => c.json({ token: c.get("keyward").tokenId })));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => { (server as import("node:http").Server).closeAllConnections(); server.close(() => resolve()); }),
    };
  },
  (kw, options) => keywardHono(kw).requireToken(options as never, (c) => c.text("")),
);

describe("keyward/hono, handler form: answers at once when it can; errors reach Hono", () => {
  it("a warm check with a synchronous handler is answered in the same tick; a throw reaches app.onError", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw);
    app.get("/prices", guard.requireToken({ scope: "core:read" }, (c) => c.text(c.get("keyward").tokenId ?? "")));
    app.get("/boom", guard.requireToken({ getToken: () => { throw new Error("getToken failed"); } }, (c) => c.text("never")));
    app.onError((err, c) => c.text(err.message, 500));
    const headers = { authorization: `Bearer ${token}` };
    const answer = app.fetch(new Request("http://localhost/prices", { headers }));
    expect(answer).toBeInstanceOf(Response);
    expect(await (answer as Response).text()).toMatch(/^tok_/);
    const boom = await app.fetch(new Request("http://localhost/boom", { headers }));
    expect([boom.status, await boom.text()]).toEqual([500, "getToken failed"]);
  });
});

describe("keyward/hono: an onDenied that answers nothing", () => {
  it("(it only logs, or returns what is no Response: a logger, false) lets nothing through, in both forms, sync or async: the default answer goes out over HTTP, the handler never runs", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const logged: string[] = [];
    let ran = 0;
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw);
    const sync = (d: { code: string }) => void logged.push(d.code);
    const later = async (d: { code: string }) => {
      await new Promise((r) => setTimeout(r, 5));
      logged.push(d.code);
    };
    app.get("/middleware", guard.requireToken({ onDenied: sync }), (c) => c.json({ secret: ++ran }));
    app.get("/middleware-async", guard.requireToken({ onDenied: later }), (c) => c.json({ secret: ++ran }));
    app.get("/handler", guard.requireToken({ onDenied: sync }, (c) => c.json({ secret: ++ran })));
    app.get("/handler-async", guard.requireToken({ onDenied: later }, (c) => c.json({ secret: ++ran })));
    // A logger whose calls return the logger (winston's), or a flag: no Response, nothing answered.
    const logger = {
      warn(message: string) {
        logged.push(message);
        return this;
      },
    };
    const returning = (d: { code: string }) => logger.warn(d.code) as never;
    app.get("/middleware-logger", guard.requireToken({ onDenied: returning }), (c) => c.json({ secret: ++ran }));
    app.get("/middleware-false", guard.requireToken({ onDenied: (d) => (logged.push(d.code) < 0) as never }), (c) => c.json({ secret: ++ran }));
    app.get("/handler-logger", guard.requireToken({ onDenied: async (d) => returning(d) }, (c) => c.json({ secret: ++ran })));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const paths = ["/middleware", "/middleware-async", "/handler", "/handler-async", "/middleware-logger", "/middleware-false", "/handler-logger"];
      for (const path of paths) {
        const res = await fetch(`${url}${path}`);
        expect([path, res.status, res.headers.get("content-type")]).toEqual([path, 401, "application/problem+json"]);
        expect(await res.json()).toMatchObject({ code: "TOKEN_MISSING" });
      }
      expect(logged).toEqual(Array(paths.length).fill("TOKEN_MISSING"));
      expect(ran).toBe(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("keyward/hono and hooks answering with another realm's Promise", () => {
  it("a handler's promise (an edge runtime's fetch) gets the allowed request's fields; onDenied's rejection reaches the route's onError", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", rateLimit: { limit: 100, windowMs: 60_000 } });
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw);
    app.get("/proxied", guard.requireToken({}, () => foreign.resolve(new Response("upstream"))));
    const onError = (err: unknown) => new Response((err as Error).message, { status: 599 });
    app.get("/denied", guard.requireToken({ scope: "admin:write", onDenied: () => foreign.reject(new Error("onDenied failed")), onError }, (c) => c.text("never")));
    app.onError((err, c) => c.text(`app.onError: ${err.message}`, 500));
    const headers = { authorization: `Bearer ${token}` };
    const answer = await app.fetch(new Request("http://localhost/proxied", { headers }));
    expect([answer.status, await answer.text(), answer.headers.has("ratelimit")]).toEqual([200, "upstream", true]);
    const refused = await app.fetch(new Request("http://localhost/denied", { headers }));
    expect([refused.status, await refused.text()]).toEqual([599, "onDenied failed"]);
  });
});

describeHttp2("Hono on @hono/node-server", async (kw) => {
  const app = new Hono<KeywardEnv>();
  const guard = keywardHono(kw);
  app.get("/prices", guard.requireToken({ scope: "core:read" }), (c) => c.json({ token: c.get("keyward").tokenId }));
  app.post("/orders", guard.requireToken({ scope: "orders:write" }), async (c) => c.json({ token: c.get("keyward").tokenId, body: await c.req.json() }));
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1", createServer: createHttp2Server }) as Http2Server;
  await new Promise((resolve) => server.once("listening", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});

describe("keyward/hono on @hono/node-server: the scheme is the connection's", () => {
  it("an absolute-form request target claiming https over plain HTTP/1.1 is plain http: a live secret token is INSECURE_TRANSPORT", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", env: "live" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const app = new Hono<KeywardEnv>();
    app.get("/prices", keywardHono(kw).requireToken(), (c) => c.json({ token: c.get("keyward").tokenId }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connectTcp((server.address() as AddressInfo).port, "127.0.0.1", () => {
          socket.write(`GET https://api.example.com/prices HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
        });
        let text = "";
        socket.on("data", (c: Buffer) => {
          text += c.toString();
        });
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 403 /);
      expect(answer).toContain('"code":"INSECURE_TRANSPORT"');
    } finally {
      server.close();
    }
  });
});

describe("keyward/hono on @hono/node-server: a request the app makes and serves itself (app.fetch(new Request(…), c.env))", () => {
  it("is checked on its own headers, not those of the request it was made in: a sub-request without a token, or with a revoked one, is denied (before: allowed as the outer request's token)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const outer = await kw.tokens.create({ owner: "service", kind: "secret" });
    const revoked = await kw.tokens.create({ owner: "user", kind: "secret" });
    await kw.tokens.revoke(revoked.record.id);
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw);
    app.get("/items", guard.requireToken(), (c) => c.json({ owner: c.get("keyward").token.owner }));
    // A batch route, itself guarded: each sub-request carries the token it was given (or none).
    app.post("/batch", guard.requireToken(), async (c) => {
      const tokens = (await c.req.json()) as (string | null)[];
      const answers = [];
      for (const token of tokens) {
        const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
        const res = await app.fetch(new Request(new URL("/items", c.req.url), { headers }), c.env);
        answers.push([res.status, ((await res.json()) as { owner?: string; code?: string }).owner ?? "denied"]);
      }
      return c.json(answers);
    });
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${outer.token}`, "content-type": "application/json" },
        body: JSON.stringify([null, revoked.token, outer.token]),
      });
      expect(await res.json()).toEqual([
        [401, "denied"],
        [401, "denied"],
        [200, "service"],
      ]);
    } finally {
      server.close();
    }
  });
});

describe("keyward/hono on @hono/node-server: a sub-request made with a Request subclass", () => {
  it("is checked on its own headers too (before: a subclass's Request was read as @hono/node-server's own, on the outer request's token)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const outer = await kw.tokens.create({ owner: "service", kind: "secret" });
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw);
    // An application's own Request class (tracing, a framework's request type): not @hono/node-server's request of the message.
    class AppRequest extends Request {}
    app.get("/items", guard.requireToken(), (c) => c.json({ owner: c.get("keyward").token.owner }));
    let built: string[] = [];
    app.post("/batch", guard.requireToken(), async (c) => {
      // The outer request, @hono/node-server's own, was checked on the Node message: its Fetch headers are not built.
      built = Object.getOwnPropertySymbols(c.req.raw).map((s) => s.description ?? "");
      const res = await app.fetch(new AppRequest(new URL("/items", c.req.url)), c.env);
      return c.json([res.status, ((await res.json()) as { owner?: string }).owner ?? "denied"]);
    });
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      // Twice: keyward learns where @hono/node-server keeps a request's fields on the first request it sees.
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/batch`, {
          method: "POST",
          headers: { authorization: `Bearer ${outer.token}` },
        });
        expect(await res.json()).toEqual([401, "denied"]);
      }
      expect(built).toContain("incomingKey");
      expect(built).not.toContain("headersKey");
    } finally {
      server.close();
    }
  });
});

describe("keyward/hono on @hono/node-server: header fields a middleware changed before the guard", () => {
  it("are the ones checked, as on any other runtime: a token set from a cookie is seen, one removed is not", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "service", kind: "secret" });
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw);
    // A session cookie becomes the bearer token; an Authorization sent from outside is dropped.
    app.use("/from-cookie", async (c, next) => {
      const cookie = /(?:^|; )tok=([^;]+)/.exec(c.req.header("cookie") ?? "")?.[1];
      if (cookie) c.req.raw.headers.set("authorization", `Bearer ${cookie}`);
      await next();
    });
    app.use("/internal", async (c, next) => {
      c.req.raw.headers.delete("authorization");
      await next();
    });
    app.get("/from-cookie", guard.requireToken(), (c) => c.text("ok"));
    app.get("/internal", guard.requireToken(), (c) => c.text("ok"));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect((await fetch(`${base}/from-cookie`, { headers: { cookie: `tok=${token}` } })).status).toBe(200);
      expect((await fetch(`${base}/internal`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    } finally {
      server.close();
    }
  });
});

describe("keyward/hono on @hono/node-server: a signed TRACE", () => {
  it("verified at its public URL (publicOrigin), against the method sent: a GET's signature is refused, TRACE's holds; never a 500", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = new Hono<KeywardEnv>();
    app.on("TRACE", "/trace", keywardHono(kw, { publicOrigin: "https://api.example.com" }).requireToken(), (c) => c.json({ token: c.get("keyward").tokenId }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/trace`;
      const [asGet, asTrace] = await signedTraces(kw, url, "https://api.example.com/trace");
      expect(asGet).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
      expect(asTrace).toMatchObject({ status: 200, json: { token: expect.stringMatching(/^tok_/) } });
    } finally {
      server.close();
    }
  });
});

describe("keyward/hono: a handler's own Response keeps the allowed request's fields", () => {
  it("RateLimit, RateLimit-Policy and CORS fields on new Response(...), Response.redirect(...) and an upstream's fetch() answer, in both forms, over HTTP", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "publishable", domains: ["app.example"], rateLimit: { limit: 100, windowMs: 60_000 } });
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw, { cors: true });
    app.get("/own", guard.requireToken(), () => new Response("ok", { headers: { vary: "Accept-Encoding" } }));
    app.get("/redirect", guard.requireToken(), () => Response.redirect("https://app.example/next", 302));
    app.get("/handler", guard.requireToken({}, () => new Response("ok")));
    app.get("/handler-redirect", guard.requireToken({}, async () => Response.redirect("https://app.example/next", 302)));
    // An upstream's answer passed on as it is (immutable headers, a Vary of its own), in both forms.
    app.get("/upstream", () => new Response("up", { headers: { vary: "Accept-Encoding" } }));
    app.get("/proxied", guard.requireToken(), () => fetch(`${base}/upstream`));
    app.get("/handler-proxied", guard.requireToken({}, () => fetch(`${base}/upstream`)));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const path of ["/own", "/redirect", "/handler", "/handler-redirect", "/proxied", "/handler-proxied"]) {
        const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, origin: "https://app.example" }, redirect: "manual" });
        expect(res.status, path).toBe(path.includes("redirect") ? 302 : 200);
        expect(res.headers.get("ratelimit"), path).toMatch(/^"requests";r=\d+/);
        expect(res.headers.get("ratelimit-policy"), path).toMatch(/q=100;w=60/);
        expect(res.headers.get("access-control-allow-origin"), path).toBe("https://app.example");
        expect(res.headers.get("vary"), path).toMatch(/Origin/);
      }
      for (const path of ["/own", "/proxied", "/handler-proxied"]) {
        const own = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, origin: "https://app.example" } });
        expect(own.headers.get("vary"), path).toBe("Accept-Encoding, Origin");
      }
    } finally {
      (server as import("node:http").Server).closeAllConnections();
      server.close();
    }
  });
});

describe("keyward/hono: a signed body a middleware read before the guard", () => {
  it("is answered 500 BODY_ALREADY_READ problem+json, with publicOrigin as without, in both forms (before: clone()'s TypeError reached app.onError)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { maxBodyBytes: 1024 } });
    const { pair, record } = await signingToken(kw);
    const signer = createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed });
    for (const publicOrigin of [undefined, "https://api.example.com"]) {
      const app = new Hono<KeywardEnv>();
      app.onError((err, c) => c.text(`app.onError: ${(err as Error).message}`, 500));
      const guard = keywardHono(kw, publicOrigin === undefined ? {} : { publicOrigin });
      // A middleware in front reads the body (a validator, a logger): Hono reads c.req.raw's.
      app.use("*", async (c, next) => {
        await c.req.json();
        await next();
      });
      app.post("/orders", guard.requireToken(), async (c) => c.json({ token: c.get("keyward").tokenId }));
      app.post("/handler", guard.requireToken({}, async (c) => c.json({ token: c.get("keyward").tokenId })));
      const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
      await new Promise((resolve) => server.once("listening", resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        for (const path of ["/orders", "/handler"]) {
          const signed = await signer.sign(new Request(`${publicOrigin ?? base}${path}`, { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } }));
          const res = await fetch(`${base}${path}`, { method: "POST", headers: signed.headers, body: '{"a":1}' });
          expect(res.headers.get("content-type"), `${publicOrigin} ${path}`).toBe("application/problem+json");
          expect({ status: res.status, json: await res.json() }, `${publicOrigin} ${path}`).toMatchObject({ status: 500, json: { code: "BODY_ALREADY_READ" } });
        }
      } finally {
        (server as import("node:http").Server).closeAllConnections();
        server.close();
      }
    }
  });
});
