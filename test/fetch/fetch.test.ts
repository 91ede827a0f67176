// keyward/fetch: Fetch handlers (as Next.js, Deno, Bun and workers call them) served by
// @hono/node-server's Fetch bridge on a real socket (the shared suite in test/http/scenarios.ts).
import type { IncomingMessage, Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { keywardFetch } from "../../src/fetch/index.js";
import { describeMiddleware } from "../http/scenarios.js";

type Env = [{ incoming: IncomingMessage }];

describeMiddleware(
  "Fetch API",
  async (kw, options) => {
    // @hono/node-server passes { incoming } after the request, as Deno passes its ServeHandlerInfo.
    const guard = keywardFetch<Env>(kw, { ...options, getIp: (_req, env) => env.incoming.socket.remoteAddress });
    const routes: Record<string, (request: Request, ...rest: Env) => Promise<Response>> = {
      "GET /prices": guard.requireToken({ scope: "core:read" }, (_req, d) => Response.json({ token: d.tokenId })),
      "POST /orders": guard.requireToken({ scope: "orders:write", cost: 2 }, async (req, d) => Response.json({ token: d.tokenId, body: await req.json() })),
      "GET /key": guard.requireToken({ getToken: (req) => req.headers.get("x-api-key") }, (_req, d) => Response.json({ token: d.tokenId })),
      "GET /custom": guard.requireToken({ onDenied: (d) => Response.json({ denied: d.code }, { status: 418 }) }, (_req, d) =>
        Response.json({ token: d.tokenId }),
      ),
    };
    const fetchHandler = (request: Request, env: Env[0]) => {
      const pre = guard.preflight(request);
      if (pre !== null) return pre;
      const route = routes[`${request.method} ${new URL(request.url).pathname}`];
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
