// keyward/fetch: Fetch handlers (as Next.js, Deno, Bun and workers call them) served by
// @hono/node-server's Fetch bridge on a real socket (the shared suite in test/http/scenarios.ts).
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import vm from "node:vm";
import { serve } from "@hono/node-server";
import { describe, expect, it } from "vitest";
import { keywardFetch } from "../../src/fetch/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { describeMiddleware, failingHooks } from "../http/scenarios.js";

type Env = [{ incoming: IncomingMessage }];

/** Promises of another realm, as an edge runtime's fetch and crypto.subtle answer with. */
const foreign = vm.runInNewContext("({ resolve: (v) => Promise.resolve(v), reject: (e) => Promise.reject(e) })") as {
  resolve<T>(value: T): Promise<T>;
  reject(err: unknown): Promise<never>;
};

describeMiddleware(
  "Fetch API",
  async (kw, options) => {
    // @hono/node-server passes { incoming } after the request, as Deno passes its ServeHandlerInfo.
    const guard = keywardFetch<Env>(kw, { ...options, getIp: (_req, env) => env.incoming.socket.remoteAddress });
    const routes: Record<string, (request: Request, ...rest: Env) => Response | Promise<Response>> = {
      "GET /prices": guard.requireToken({ scope: "core:read" }, (_req, d) => Response.json({ token: d.tokenId })),
      "POST /orders": guard.requireToken({ scope: "orders:write", cost: 2 }, async (req, d) => Response.json({ token: d.tokenId, body: await req.json() })),
      "GET /key": guard.requireToken({ getToken: (req) => req.headers.get("x-api-key") }, (_req, d) => Response.json({ token: d.tokenId })),
      "GET /custom": guard.requireToken({ onDenied: (d) => Response.json({ denied: d.code }, { status: 418 }) }, (_req, d) =>
        Response.json({ token: d.tokenId }),
      ),
      "GET /vary": guard.requireToken({}, (_req, d) => Response.json({ token: d.tokenId }, { headers: { vary: "Accept-Encoding" } })),
      "GET /vary-before": guard.requireToken({}, (_req, d) => Response.json({ token: d.tokenId }, { headers: { vary: "Accept-Language" } })),
      "GET /failing": guard.requireToken(
        {
          getToken: (req) => failingHooks(req.url).getToken(),
          onDenied: (_d, req) => failingHooks(req.url).onDenied(),
          onError: (err, req) => (failingHooks(req.url).answers ? new Response((err as Error).message, { status: 599 }) : (undefined as never)),
        },
        () => new Response("never"),
      ),
    };
    const fetchHandler = (request: Request, env: Env[0]) => {
      const pre = guard.preflight(request);
      if (pre !== null) return pre;
      // HEAD is routed as GET, as frameworks route it.
      const route = routes[`${request.method === "HEAD" ? "GET" : request.method} ${new URL(request.url).pathname}`];
      return route ? route(request, env) : new Response(null, { status: 404 });
    };
    const server = serve({ fetch: fetchHandler as never, port: 0, hostname: "127.0.0.1" }) as Server;
    await new Promise((resolve) => server.once("listening", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
  },
  (kw, options) => keywardFetch(kw).requireToken(options as never, () => new Response()),
);

describe("keyward/fetch answers at once when it can", () => {
  it("a warm check with a synchronous handler gives the Response itself; a cold one, errors and onDenied give promises", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
    const guard = keywardFetch(kw);
    const route = guard.requireToken({ scope: "core:read" }, (_req, d) => Response.json({ token: d.tokenId }));
    const request = () => new Request("https://api.example.com/prices", { headers: { authorization: `Bearer ${token}` } });
    // MemoryStore answers at once, so even the first lookup decides in this tick.
    const first = route(request());
    expect(first).toBeInstanceOf(Response);
    const warm = route(request());
    expect(warm).toBeInstanceOf(Response);
    expect(((await warm) as Response).status).toBe(200);
    // An asynchronous handler, an asynchronous onDenied: promises, as before.
    const asyncRoute = guard.requireToken({ scope: "core:read" }, async () => new Response("later"));
    expect(await (await asyncRoute(request())).text()).toBe("later");
    const denied = guard.requireToken({ scope: "admin:write", onDenied: async (d) => new Response(d.code, { status: 403 }) }, () => new Response());
    const answer = denied(request());
    expect(answer).toBeInstanceOf(Promise);
    expect(await (await answer).text()).toBe("SCOPE_DENIED");
  });

  it("errors stay rejections (or onError's answer), never a synchronous throw", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const boom = () => {
      throw new Error("boom");
    };
    const request = new Request("https://api.example.com/", { headers: { authorization: `Bearer ${token}` } });
    const guard = keywardFetch(kw);
    const throwingHandler = guard.requireToken({}, boom);
    let result: Response | Promise<Response> | undefined;
    expect(() => {
      result = throwingHandler(request);
    }).not.toThrow();
    await expect(result).rejects.toThrow("boom");
    await expect(guard.requireToken({ getToken: boom }, () => new Response())(request)).rejects.toThrow("boom");
    // An onError that answers nothing (it only logs): the error still goes to the runtime, synchronous or not.
    const logs = () => undefined as never;
    await expect(guard.requireToken({ getToken: boom, onError: logs }, () => new Response())(request)).rejects.toThrow("boom");
    await expect(guard.requireToken({ getToken: boom, onError: async () => logs() }, () => new Response())(request)).rejects.toThrow("boom");
    // One that returns what is no Response (a logger whose calls return it, false): it answered nothing either.
    const logger = { error: () => logger };
    await expect(guard.requireToken({ getToken: boom, onError: () => logger.error() as never }, () => new Response())(request)).rejects.toThrow("boom");
    await expect(guard.requireToken({ getToken: boom, onError: async () => false as never }, () => new Response())(request)).rejects.toThrow("boom");
    const rescued = guard.requireToken({ onError: () => new Response("rescued", { status: 500 }), onDenied: async () => boom() }, () => new Response());
    const noToken = new Request("https://api.example.com/");
    expect(await (await rescued(noToken)).text()).toBe("rescued");
  });
});

describe("keyward/fetch: an onDenied that answers nothing", () => {
  it("(it only logs, or returns what is no Response: a logger, false) lets nothing through, sync or async: the default answer goes out over HTTP, the handler never runs", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const logged: string[] = [];
    let ran = 0;
    const guard = keywardFetch(kw);
    const handler = () => Response.json({ secret: ++ran });
    const routes: Record<string, (request: Request) => Response | Promise<Response>> = {
      "/sync": guard.requireToken({ onDenied: (d) => void logged.push(d.code) }, handler),
      "/async": guard.requireToken({
        onDenied: async (d) => {
          await new Promise((r) => setTimeout(r, 5));
          logged.push(d.code);
        },
      }, handler),
      // A logger whose calls return the logger (winston's), or a flag: no Response, nothing answered.
      "/logger": guard.requireToken({ onDenied: (d) => logger.warn(d.code) as never }, handler),
      "/logger-async": guard.requireToken({ onDenied: async (d) => logger.warn(d.code) as never }, handler),
      "/false": guard.requireToken({ onDenied: (d) => (logged.push(d.code) < 0) as never }, handler),
    };
    const logger = {
      warn(message: string) {
        logged.push(message);
        return this;
      },
    };
    const server = serve({ fetch: (request) => routes[new URL(request.url).pathname]!(request), port: 0, hostname: "127.0.0.1" }) as Server;
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const path of ["/sync", "/async", "/logger", "/logger-async", "/false"]) {
        const res = await fetch(`${url}${path}`);
        expect([path, res.status, res.headers.get("content-type")]).toEqual([path, 401, "application/problem+json"]);
        expect(await res.json()).toMatchObject({ code: "TOKEN_MISSING" });
      }
      expect(logged).toEqual(Array(5).fill("TOKEN_MISSING"));
      expect(ran).toBe(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("keyward/fetch and hooks answering with another realm's Promise", () => {
  it("a handler's promise (an edge runtime's fetch) gets the allowed request's fields; onDenied's rejection reaches onError", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", rateLimit: { limit: 100, windowMs: 60_000 } });
    expect(foreign.resolve(1)).not.toBeInstanceOf(Promise);
    const guard = keywardFetch(kw);
    const request = () => new Request("https://api.example.com/prices", { headers: { authorization: `Bearer ${token}` } });
    const proxied = guard.requireToken({}, () => foreign.resolve(new Response("upstream")));
    const answer = await proxied(request());
    expect([answer.status, await answer.text(), answer.headers.has("ratelimit")]).toEqual([200, "upstream", true]);
    const onError = (err: unknown) => new Response((err as Error).message, { status: 599 });
    const denied = guard.requireToken({ scope: "admin:write", onDenied: () => foreign.reject(new Error("onDenied failed")), onError }, () => new Response());
    const refused = await denied(request());
    expect([refused.status, await refused.text()]).toEqual([599, "onDenied failed"]);
  });
});

describe("keyward/fetch answers HEAD without content (RFC 9110 §9.3.2), as Deno.serve, Bun.serve and workers call it", () => {
  it("a denial keeps its status and fields (Content-Type, WWW-Authenticate, RateLimit, Retry-After, CORS) and has no body", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", rateLimit: { limit: 1, windowMs: 60_000 } });
    const guard = keywardFetch(kw, { realm: "api", cors: true });
    const route = guard.requireToken({}, () => new Response("allowed"));
    const head = (headers: Record<string, string>) => new Request("https://api.example.com/prices", { method: "HEAD", headers });
    const missing = await route(head({ origin: "https://app.example.com" }));
    expect([missing.status, missing.headers.get("content-type"), missing.headers.get("www-authenticate"), missing.headers.get("access-control-allow-origin")]).toEqual([
      401,
      "application/problem+json",
      'Bearer realm="api"',
      "https://app.example.com",
    ]);
    expect(await missing.text()).toBe("");
    const auth = { authorization: `Bearer ${token}` };
    expect((await route(head(auth))).status).toBe(200);
    const limited = await route(head(auth));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("content-type")).toBe("application/problem+json");
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(limited.headers.get("ratelimit")).toContain("r=0");
    expect(limited.headers.get("ratelimit-policy")).not.toBeNull();
    expect(await limited.text()).toBe("");
    // A GET's denial still carries its problem+json.
    const get = await route(new Request("https://api.example.com/prices"));
    expect((await get.json()) as { code: string }).toMatchObject({ code: "TOKEN_MISSING" });
  });

  it("the preflight answer has no body either, and a HEAD is no preflight", async () => {
    const guard = keywardFetch(new Keyward({ store: new MemoryStore(), prefix: "acme" }), { cors: true });
    const pre = guard.preflight(new Request("https://api.example.com/prices", { method: "OPTIONS", headers: { origin: "https://app.example.com", "access-control-request-method": "HEAD" } }));
    expect([pre?.status, await pre?.text()]).toEqual([204, ""]);
    expect(guard.preflight(new Request("https://api.example.com/prices", { method: "HEAD", headers: { origin: "https://app.example.com" } }))).toBeNull();
  });
});

describe("keyward/fetch under a node:http server of its own", () => {
  it("an onError that logs and rethrows synchronously: a rejection the server's .catch answers, never a throw out of its request listener", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const logged: string[] = [];
    const handler = keywardFetch(kw).requireToken(
      {
        onDenied: () => {
          throw new Error("onDenied failed");
        },
        onError: (err) => {
          logged.push((err as Error).message);
          throw err;
        },
      },
      () => new Response("never"),
    );
    // The usual bridge: the Fetch handler's promise, answered in .then / .catch; a synchronous throw would escape
    // the listener (an uncaught exception: the process ends). It is caught here only to tell it apart.
    const server = createServer((req, res) => {
      let answer: Response | Promise<Response>;
      try {
        answer = handler(new Request(`http://127.0.0.1${req.url}`, { headers: req.headers as Record<string, string> }));
      } catch {
        res.writeHead(599).end("thrown out of the listener");
        return;
      }
      Promise.resolve(answer).then(
        (r) => void r.text().then((text) => res.writeHead(r.status).end(text)),
        (err: Error) => void res.writeHead(500).end(err.message),
      );
    });
    server.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/prices`);
      expect([res.status, await res.text()]).toEqual([500, "onDenied failed"]);
      expect(logged).toEqual(["onDenied failed"]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("keyward/fetch given a Node request (mounted on node:http or Express by mistake)", () => {
  it("says what it expects, with cors as without (before: request.headers.get is not a function)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const errors: string[] = [];
    const guards = [keywardFetch(kw), keywardFetch(kw, { cors: true })];
    const server = createServer(async (req, res) => {
      const guard = guards[Number(req.url === "/cors")]!;
      for (const call of [() => guard.requireToken({}, () => new Response("ok"))(req as never), () => guard.preflight(req as never)]) {
        try {
          const answer = await call();
          errors.push(answer === null ? "null" : "answered");
        } catch (err) {
          errors.push(String(err));
        }
      }
      res.end();
    });
    server.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      for (const path of ["/", "/cors"]) {
        errors.length = 0;
        const requests = [await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}`, origin: "https://app.example" } })];
        requests.push(await fetch(`${url}${path}`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "GET" } }));
        expect(requests.map((r) => r.status)).toEqual([200, 200]);
        // requireToken rejects; preflight, which reads the request only with cors, throws or answers null.
        const expected = path === "/cors" ? 4 : 2;
        expect(errors.filter((e) => e !== "null").length, path).toBe(expected);
        for (const e of errors.filter((e) => e !== "null")) expect(e, path).toMatch(/^TypeError: .*expects a Fetch API Request/);
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
