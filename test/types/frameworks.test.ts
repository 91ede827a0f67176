// Type-level tests of the framework entry points: the decision is typed where each framework puts it.
import type { Http2Server, Http2ServerRequest } from "node:http2";
import Fastify from "fastify";
import { type Context, Hono } from "hono";
import type { AllowedDecision, DeniedDecision, DenyCode, TokenRecord } from "keyward";
import { Keyward, MemoryStore } from "keyward";
import { keywardExpress } from "keyward/express";
import { keywardFastify } from "keyward/fastify";
import { keywardFetch } from "keyward/fetch";
import { type HonoRouteOptions, type KeywardEnv, keywardHono } from "keyward/hono";
import { describe, expectTypeOf, it } from "vitest";

describe("framework types", () => {
  it("attach a typed, allowed Decision: its token is set", () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = new Hono<KeywardEnv>();
    app.get("/", keywardHono(kw).requireToken({ scope: "core:read" }), (c) => {
      expectTypeOf(c.get("keyward")).toEqualTypeOf<AllowedDecision>();
      expectTypeOf(c.get("keyward").token).toEqualTypeOf<TokenRecord>();
      return c.text("ok");
    });
    keywardExpress(kw).requireToken({ onDenied: (_d, req) => expectTypeOf(req.keyward).toEqualTypeOf<AllowedDecision | undefined>() });
    keywardFastify(kw).requireToken({ onDenied: (_d, request) => expectTypeOf(request.keyward).toEqualTypeOf<AllowedDecision | null>() });
    keywardFetch(kw).requireToken({}, (_request, decision) => {
      expectTypeOf(decision).toEqualTypeOf<AllowedDecision>();
      expectTypeOf(decision.token.id).toEqualTypeOf<string>();
      return new Response();
    });
    // On an HTTP/2 app, the hooks see its requests (the server type comes from where the preHandler is used).
    const h2 = Fastify({ http2: true });
    h2.get("/", {
      preHandler: keywardFastify(kw).requireToken({
        onDenied: (_d, request) => expectTypeOf(request.raw).toEqualTypeOf<Http2ServerRequest>(),
      }),
    }, async () => "ok");
    // Made apart from its route, it names the server type.
    const apart = keywardFastify(kw).requireToken<Http2Server>({ scope: "core:read" });
    h2.get("/apart", { preHandler: apart }, async () => "ok");
    // onDenied is called with denied decisions only: typed so, a hook needs no check of `ok` to use a DenyCode.
    keywardHono(kw).requireToken({
      onDenied: (d) => {
        expectTypeOf(d).toEqualTypeOf<DeniedDecision>();
        return d.toResponse();
      },
    });
    keywardExpress(kw).requireToken({ onDenied: (d) => expectTypeOf(d.code).toEqualTypeOf<DenyCode>() });
    keywardFastify(kw).requireToken({ onDenied: (d) => expectTypeOf(d).toEqualTypeOf<DeniedDecision>() });
    keywardFetch(kw).requireToken({
      onDenied: (d) => {
        expectTypeOf(d).toEqualTypeOf<DeniedDecision>();
        return d.toResponse();
      },
    }, () => new Response());
    // The handler form on an app with an environment of its own (Bindings, Variables): named once, the handler sees
    // it with the decision, as a handler after the middleware form does.
    type AppEnv = { Bindings: { DB: { prepare(sql: string): unknown } }; Variables: { requestId: string } };
    const withEnv = new Hono<AppEnv>();
    withEnv.get("/h", keywardHono(kw).requireToken<AppEnv>({ scope: "core:read" }, (c) => {
      expectTypeOf(c.env.DB.prepare).toEqualTypeOf<(sql: string) => unknown>();
      expectTypeOf(c.get("requestId")).toEqualTypeOf<string>();
      expectTypeOf(c.get("keyward")).toEqualTypeOf<AllowedDecision>();
      return c.text("ok");
    }));
    withEnv.get("/p/:id", keywardHono(kw).requireToken({}, (c) => c.text(c.req.param("id") ?? "")));
    type HonoGetToken = NonNullable<HonoRouteOptions["getToken"]>;
    expectTypeOf<Parameters<HonoGetToken>[0]>().toEqualTypeOf<Context>();
  });

  it("keyward/hono's hooks see the app's environment, named as for the handler: getIp, getToken, onDenied, onError", () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    type AppEnv = { Bindings: { CLIENT_IP: string }; Variables: { requestId: string } };
    const app = new Hono<AppEnv>();
    // The instance's getIp, in the app's environment named once.
    const guard = keywardHono<AppEnv>(kw, {
      getIp: (c) => {
        expectTypeOf(c).toEqualTypeOf<Context<AppEnv>>();
        expectTypeOf(c.env.CLIENT_IP).toEqualTypeOf<string>();
        return c.env.CLIENT_IP;
      },
    });
    // The handler form: the E named for the handler types the route's hooks too.
    app.get(
      "/h",
      guard.requireToken<AppEnv>(
        {
          getToken: (c) => {
            expectTypeOf(c).toEqualTypeOf<Context<AppEnv>>();
            return c.req.header("x-api-key");
          },
          onDenied: (d, c) => {
            expectTypeOf(c.get("requestId")).toEqualTypeOf<string>();
            return c.json({ code: d.code, requestId: c.get("requestId") }, 401);
          },
          onError: (_err, c) => {
            expectTypeOf(c.env.CLIENT_IP).toEqualTypeOf<string>();
            return c.text("unavailable", 503);
          },
        },
        (c) => c.text(c.get("requestId")),
      ),
    );
    // The middleware form: named as for the handler form.
    app.use(
      "/m/*",
      guard.requireToken<AppEnv>({
        onDenied: (d, c) => c.json({ code: d.code, requestId: c.get("requestId") }, 401),
        onError: (_err, c) => {
          expectTypeOf(c).toEqualTypeOf<Context<AppEnv>>();
          return c.text("unavailable", 503);
        },
      }),
    );
    // A hook that reads what the environment does not have is refused.
    // @ts-expect-error Bindings of AppEnv have no DB
    guard.requireToken<AppEnv>({ onError: (_err, c) => c.json(c.env.DB) });
    // @ts-expect-error Bindings of AppEnv have no DB
    keywardHono<AppEnv>(kw, { getIp: (c) => c.env.DB });
    // Unnamed, the hooks take any Context, as before.
    keywardHono(kw, { getIp: (c: Context) => c.req.header("x-real-ip") }).requireToken({ onDenied: (d, c: Context) => c.json({ code: d.code }, 401) });
  });
});
