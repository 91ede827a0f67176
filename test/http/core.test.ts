// The shared middleware core and the answers, without a server.
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { keywardExpress } from "../../src/express/index.js";
import { keywardFastify } from "../../src/fastify/index.js";
import { keywardFetch } from "../../src/fetch/index.js";
import { keywardHono } from "../../src/hono/index.js";
import { createEdge, createRoute, publicUrl, withHeaders } from "../../src/http/core.js";
import { limitFields } from "../../src/http/fields.js";
import { problemResponse } from "../../src/http/problem.js";
import { ConfigError, Keyward, MemoryStore } from "../../src/index.js";

const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });

describe("middleware options, checked at setup", () => {
  it("refuses bad options with INVALID_CONFIG naming them", () => {
    const bad: [Parameters<typeof createEdge>[1], string][] = [
      [{ publicOrigin: "api.example.com" }, "publicOrigin"],
      [{ publicOrigin: "ftp://api.example.com" }, "publicOrigin"],
      [{ publicOrigin: "https://api.example.com/?x=1" }, "publicOrigin"],
      [{ realm: 'a"\n' }, "realm"],
      [{ maxBodyBytes: -1 }, "maxBodyBytes"],
      [{ cors: "yes" as unknown as boolean }, "cors"],
      [{ cors: { allowHeaders: ["x api key"] } }, "cors"],
      [{ cors: { allowHeaders: "x-api-key" as unknown as string[] } }, "cors"],
      [{ cors: null as unknown as boolean }, "cors"],
      // An option of the Keyward instance given to the middleware, or a misspelt one, would do nothing: requireHttps "all" would stay off.
      [{ requireHttps: "all" } as never, "requireHttps"],
      [{ trustedProxies: ["10.0.0.0/8"] } as never, "trustedProxies"],
      [{ publicOrign: "https://api.example.com" } as never, "publicOrign"],
    ];
    for (const [options, field] of bad) {
      expect(() => createEdge(kw, options), field).toThrow(ConfigError);
      expect(() => createEdge(kw, options)).toThrow(field);
    }
    expect(() => createEdge({} as Keyward)).toThrow(ConfigError);
    // One limit of signed bodies, the instance's: a middleware value can only repeat it.
    const small = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { maxBodyBytes: 200_000 } });
    expect(createEdge(small).body).toEqual({ maxBytes: 200_000 });
    expect(createEdge(small, { maxBodyBytes: 200_000 }).body.maxBytes).toBe(200_000);
    expect(() => createEdge(small, { maxBodyBytes: 100 })).toThrow(/signatures\.maxBodyBytes \(200000\)/);
    expect(createEdge(kw).body).toEqual({ maxBytes: 1 << 20 });
    // An instance of another copy of the package does not tell its limit: the option (or the default) stands in.
    const foreign = { verify: kw.verify.bind(kw) } as unknown as Keyward;
    expect(createEdge(foreign, { maxBodyBytes: 4096 }).body).toEqual({ maxBytes: 4096 });
    expect(createEdge(foreign).body.maxBytes).toBe(1 << 20);
    expect(() => createRoute({ getToken: "x-api-key" as never })).toThrow(/getToken/);
  });

  it("an option of another name is refused by every adapter (a misspelt publicOrigin or cors would be ignored)", () => {
    for (const make of [keywardHono, keywardFetch, keywardExpress, keywardFastify] as ((k: Keyward, o?: unknown) => unknown)[]) {
      for (const misspelt of ["publicOrgin", "cros", "relm", "problemTypebase"]) {
        expect(() => make(kw, { [misspelt]: "https://api.example.com" })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: misspelt }));
      }
      expect(() => make(kw, { realm: "api", problemTypeBase: "https://docs.example.com/e#", publicOrigin: "https://api.example.com", cors: true })).not.toThrow();
    }
    // getIp is Hono's and the Fetch wrapper's own option, and only theirs.
    expect(() => keywardHono(kw, { getIp: () => null })).not.toThrow();
    expect(() => keywardFetch(kw, { getIp: () => null })).not.toThrow();
    expect(() => keywardExpress(kw, { getIp: () => null } as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "getIp" }));
  });

  it("route scopes: anyOf / allOf are checked at setup, naming the position, and copied frozen", () => {
    expect(() => createRoute({ scope: { anyOf: ["core:read", "x"] } })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "scope.anyOf[1]" }));
    expect(() => createRoute({ scope: { allOf: [] } })).toThrow(expect.objectContaining({ field: "scope.allOf" }));
    expect(() => createRoute({ scope: { oneOf: ["core:read"] } as never })).toThrow(expect.objectContaining({ field: "scope" }));
    const anyOf = ["premium:read", "core:read"];
    const route = createRoute({ scope: { anyOf } });
    anyOf.push("*:*");
    expect(route.check.scope).toEqual({ anyOf: ["premium:read", "core:read"] });
    expect(Object.isFrozen((route.check.scope as { anyOf: string[] }).anyOf)).toBe(true);
  });

  it("route options: an unknown one (a misspelt scope would open the route), a hook that is no function, a request given as options", () => {
    expect(() => createRoute({ scopes: ["admin:write"] } as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "scopes" }));
    expect(() => createRoute({ onDenied: "x" } as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "onDenied" }));
    expect(() => createRoute({ onError: 5 } as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "onError" }));
    // `app.get(path, guard.requireToken, …)`: the framework calls it with its request.
    for (const request of [new Request("http://localhost/"), { headers: {}, method: "GET" }, { req: {}, env: {} }, { raw: {}, headers: {} }]) {
      expect(() => createRoute(request as never)).toThrow(/requireToken was given a request: call it/);
    }
    expect(createRoute({ scope: "core:read", cost: 2, pool: "default", getToken: () => null, onDenied: () => {}, onError: () => {} } as never).check).toEqual({
      scope: "core:read",
      cost: 2,
      pool: "default",
    });
    // The Fetch wrapper and Hono check their own arguments as Express and Fastify do.
    for (const make of [keywardHono, keywardFetch] as ((k: Keyward, o?: unknown) => unknown)[]) {
      expect(() => make(kw, null)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
      expect(() => make(kw, "realm")).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
      expect(() => make(kw, { getIp: "x-real-ip" })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "getIp" }));
      expect(() => make(kw, { requireHttps: "all" })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "requireHttps" }));
    }
    // Express and Fastify take the socket address from Node: a getIp given to them would be ignored.
    expect(() => keywardExpress(kw, { getIp: () => "1.2.3.4" } as never)).toThrow(expect.objectContaining({ field: "getIp" }));
    expect(() => keywardFastify(kw, { getIp: () => "1.2.3.4" } as never)).toThrow(expect.objectContaining({ field: "getIp" }));
    expect(() => keywardFetch(kw).requireToken({}, undefined as never)).toThrow(expect.objectContaining({ field: "handler" }));
    expect(() => keywardHono(kw).requireToken({}, "x" as never)).toThrow(expect.objectContaining({ field: "handler" }));
  });

  it("withHeaders: adds the fields a handler's response lacks, keeps those it set, merges Vary, copies an immutable response", () => {
    const fields = { ratelimit: '"requests";r=9', "access-control-allow-origin": "https://app.example", vary: "Origin" };
    const own = new Response("ok", { headers: { ratelimit: "mine", vary: "Accept-Encoding" } });
    const res = withHeaders(own, fields);
    expect(res).toBe(own);
    expect(Object.fromEntries(res.headers)).toMatchObject({ ratelimit: "mine", "access-control-allow-origin": "https://app.example", vary: "Accept-Encoding, Origin" });
    expect(withHeaders(new Response(null, { headers: { vary: "*" } }), fields).headers.get("vary")).toBe("*");
    expect(withHeaders(new Response(null, { headers: { vary: "origin" } }), fields).headers.get("vary")).toBe("origin");
    // Response.redirect's headers are immutable: a copy, with the status and Location kept.
    const redirect = Response.redirect("https://app.example/next", 302);
    const copied = withHeaders(redirect, fields);
    expect(copied).not.toBe(redirect);
    expect([copied.status, copied.headers.get("location"), copied.headers.get("ratelimit")]).toEqual([302, "https://app.example/next", '"requests";r=9']);
  });

  it("publicOrigin: origin and prefix joined with the path and query received", () => {
    const edge = createEdge(kw, { publicOrigin: "https://api.example.com/v2/" });
    expect(publicUrl(edge, "http://10.0.0.5:8080/prices?symbol=X")).toBe("https://api.example.com/v2/prices?symbol=X");
    expect(publicUrl(createEdge(kw), "http://10.0.0.5:8080/prices")).toBe("http://10.0.0.5:8080/prices");
  });
});

describe("answers", () => {
  it("kw.verify given a framework request says what it expects instead of failing inside", async () => {
    const nodeLike = { headers: { authorization: "Bearer x" }, url: "/" };
    await expect(kw.verify(nodeLike as unknown as Request)).rejects.toThrow(/expects a Fetch API Request/);
  });

  it("toResponse answers denials only; the body is problem+json", async () => {
    const { token } = await kw.tokens.create({ owner: "o", kind: "publishable" });
    const ok = await kw.verify(new Request("https://x.test/", { headers: { authorization: `Bearer ${token}` } }));
    expect(() => ok.toResponse()).toThrow(TypeError);
    const denied = await kw.verify(new Request("https://x.test/"));
    const res = denied.toResponse({ realm: 'say "hi"', problemTypeBase: "https://docs.example.com/errors#" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="say \\"hi\\""');
    expect(await res.json()).toMatchObject({ type: "https://docs.example.com/errors#token-missing", status: 401 });
    expect(problemResponse(denied).headers.get("content-type")).toBe("application/problem+json");
  });

  it("a HEAD's problem answer has the GET's status and fields, with the GET's Content-Length, and no content, as a Fetch handler served by a worker must answer", async () => {
    const request = new Request("https://x.test/", { method: "HEAD" });
    const denied = await kw.verify(request);
    const get = problemResponse(denied, { realm: "prices", method: "GET" });
    const length = (await get.clone().arrayBuffer()).byteLength;
    // The decision remembers the HEAD it was made on: no method to pass (before, these two had the body and no Content-Length).
    const answers = [denied.toResponse({ realm: "prices" }), problemResponse(denied, { realm: "prices" })];
    answers.push(problemResponse(denied, { realm: "prices", method: request.method }), denied.toResponse({ realm: "prices", method: "HEAD" }));
    for (const head of answers) {
      expect(head.body).toBeNull();
      expect(await head.text()).toBe("");
      expect([head.status, [...head.headers]]).toEqual([get.status, [...get.headers, ["content-length", String(length)]].sort()]);
    }
    // Decided after a store call (the promise path): remembered too.
    const down = new Keyward({ store: Object.assign(new MemoryStore(), { findByHash: () => new Promise((_, reject) => setTimeout(() => reject(new Error("down")), 5)) }), prefix: "acme" });
    const late = await down.verify(new Request("https://x.test/", { method: "HEAD", headers: { authorization: `Bearer ${(await kw.tokens.create({ owner: "o", kind: "secret" })).token}` } }));
    expect([late.code, late.toResponse().body, late.toResponse().headers.get("retry-after")]).toEqual(["STORE_UNAVAILABLE", null, "1"]);
    // The method given wins: a GET's answer, with its content.
    expect((await denied.toResponse({ method: "GET" }).json()).status).toBe(401);
    // A GET's decision, and kw.check's (which saw no request), answer with their content.
    expect((await (await kw.verify(new Request("https://x.test/"))).toResponse().json()).status).toBe(401);
    expect((await (await kw.check({ token: "nope" })).toResponse().json()).status).toBe(401);
  });

  it("the decision on a HEAD made by a plain node:http server (docs/verifying-requests.md) is answered with the GET's Content-Length and no content", async () => {
    const server = createServer(async (req, res) => {
      const d = await kw.verify(new Request(`http://${req.headers.host}${req.url}`, { method: req.method }));
      const answer = d.toResponse();
      res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(answer.body === null ? undefined : await answer.text());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prices`;
    const ask = (method: string) =>
      new Promise<[number, string | undefined, string]>((resolve, reject) => {
        const req = httpRequest(url, { method }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c.toString();
          });
          res.on("end", () => resolve([res.statusCode ?? 0, res.headers["content-length"], text]));
        });
        req.on("error", reject);
        req.end();
      });
    try {
      const [status, , text] = await ask("GET");
      expect(await ask("HEAD")).toEqual([status, String(Buffer.byteLength(text)), ""]);
    } finally {
      server.close();
    }
  });

  it("RateLimit fields: only the counters the request reached", () => {
    const rate = { limit: 10, windowMs: 500 };
    const credits = { limit: 5, refill: null };
    expect(limitFields(rate, credits, {})).toEqual({ "ratelimit-policy": '"requests";q=10;w=1, "credits";q=5' });
    expect(limitFields(rate, null, { rateRemaining: 4 })).toEqual({ "ratelimit-policy": '"requests";q=10;w=1', ratelimit: '"requests";r=4' });
    expect(limitFields(null, credits, { creditsRemaining: 0, denied: "credits" })).toEqual({
      "ratelimit-policy": '"credits";q=5',
      ratelimit: '"credits";r=0',
    });
  });
});

