// keyward/hono on a real Hono app served by @hono/node-server (the shared suite in test/http/scenarios.ts).
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { type KeywardEnv, keywardHono } from "../../src/hono/index.js";
import { describeMiddleware } from "../http/scenarios.js";

describeMiddleware(
  "Hono",
  async (kw, options) => {
    const app = new Hono<KeywardEnv>();
    const guard = keywardHono(kw, options);
    app.options("*", guard.preflight);
    app.get("/prices", guard.requireToken({ scope: "core:read" }), (c) => c.json({ token: c.get("keyward").tokenId }));
    app.post("/orders", guard.requireToken({ scope: "orders:write", cost: 2 }), async (c) =>
      c.json({ token: c.get("keyward").tokenId, body: await c.req.json() }),
    );
    app.get("/key", guard.requireToken({ getToken: (c) => c.req.header("x-api-key") }), (c) => c.json({ token: c.get("keyward").tokenId }));
    app.get("/custom", guard.requireToken({ onDenied: (d, c) => c.json({ denied: d.code }, 418) }), (c) => c.json({ token: c.get("keyward").tokenId }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
    await new Promise((resolve) => server.once("listening", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => { (server as import("node:http").Server).closeAllConnections(); server.close(() => resolve()); }),
    };
  },
  (kw, options) => keywardHono(kw).requireToken(options as never),
);
