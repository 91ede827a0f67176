// One framework's server for the HTTP benchmark, run as a child process so
// the load generator does not share its event loop. Two routes with the same
// answer: /bare (no check) and /guarded (requireToken, a warm bearer check).
// Prints { port, token } as one JSON line on stdout once listening.
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { Keyward, MemoryStore } from "../dist/index.js";
import { keywardExpress } from "../dist/express.js";
import { keywardFastify } from "../dist/fastify.js";
import { keywardFetch } from "../dist/fetch.js";
import { keywardHono } from "../dist/hono.js";

const framework = process.argv[2];
// Default options, usage metering included: each guarded request reads the
// client's socket address and queues its usage event, as in production.
const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
const body = { ok: true };

// A middleware of each framework's shape that does nothing but pass the
// request on (and, like requireToken, attach a value): what any middleware
// costs there, so that the guarded route can be read against it too.
const noop = {
  hono: async (c, next) => {
    c.set("keyward", body);
    await next();
  },
  express: (req, _res, next) => {
    req.keyward = body;
    next();
  },
  fastify: async (request) => {
    request.keyward = body;
  },
  fetch: (handler) => async (request, env) => handler(request, body, env),
};

const listeners = {
  async hono() {
    const app = new Hono();
    const guard = keywardHono(kw);
    app.get("/bare", (c) => c.json(body));
    app.get("/bare-async", async (c) => c.json(body));
    app.get("/guarded", guard.requireToken({ scope: "core:read" }), (c) => c.json(body));
    app.get("/noop", noop.hono, (c) => c.json(body));
    return listenNode(serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }));
  },
  // The handler form, requireToken(options, handler): no middleware chain.
  async "hono-handler"() {
    const app = new Hono();
    const guard = keywardHono(kw);
    app.get("/bare", (c) => c.json(body));
    app.get("/bare-async", async (c) => c.json(body));
    app.get("/guarded", guard.requireToken({ scope: "core:read" }, (c) => c.json(body)));
    app.get("/noop", (c) => {
      c.set("keyward", body);
      return c.json(body);
    });
    return listenNode(serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }));
  },
  async express() {
    const app = express();
    const guard = keywardExpress(kw);
    app.get("/bare", (_req, res) => res.json(body));
    app.get("/bare-async", async (_req, res) => res.json(body));
    app.get("/guarded", guard.requireToken({ scope: "core:read" }), (_req, res) => res.json(body));
    app.get("/noop", noop.express, (_req, res) => res.json(body));
    return listenNode(app.listen(0, "127.0.0.1"));
  },
  async fastify() {
    const app = Fastify();
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.get("/bare", (_request, reply) => reply.send(body));
    app.get("/bare-async", async () => body);
    app.get("/guarded", { preHandler: guard.requireToken({ scope: "core:read" }) }, async () => body);
    app.get("/noop", { preHandler: noop.fastify }, async () => body);
    await app.listen({ port: 0, host: "127.0.0.1" });
    return app.server.address().port;
  },
  async fetch() {
    const guard = keywardFetch(kw);
    const routes = {
      "/bare": () => Response.json(body),
      "/bare-async": async () => Response.json(body),
      "/guarded": guard.requireToken({ scope: "core:read" }, () => Response.json(body)),
      "/noop": noop.fetch(() => Response.json(body)),
    };
    // The runtime's second argument (@hono/node-server: the Node request) goes on to each route, as serve({ fetch: route }) would give it.
    const handler = (request, env) => routes[new URL(request.url).pathname](request, env);
    return listenNode(serve({ fetch: handler, port: 0, hostname: "127.0.0.1" }));
  },
};

function listenNode(server) {
  return new Promise((resolve) => {
    if (server.listening) resolve(server.address().port);
    else server.once("listening", () => resolve(server.address().port));
  });
}

const port = await listeners[framework]();
console.log(JSON.stringify({ port, token }));
