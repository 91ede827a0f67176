// Every adapter behind its own TLS (no proxy): the scheme is the socket's.
// A Keyward with env "live" requires HTTPS for secret tokens by default, and
// signatures cover the scheme and the authority the client sent (a Host
// field over HTTP/1.1, `:authority` over HTTP/2). Called with node:https and
// node:http2, trusting the self-signed test certificate in fixtures/.
import { readFileSync } from "node:fs";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import { connect } from "node:http2";
import type { AddressInfo, Server } from "node:net";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSigner } from "../../src/client/index.js";
import { keywardExpress } from "../../src/express/index.js";
import { keywardFastify } from "../../src/fastify/index.js";
import { keywardFetch } from "../../src/fetch/index.js";
import { type KeywardEnv, keywardHono } from "../../src/hono/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { ed25519KeyPair } from "../client/helpers.js";
import { send } from "./http2.js";

const tls = { key: readFileSync(new URL("fixtures/tls-key.pem", import.meta.url)), cert: readFileSync(new URL("fixtures/tls-cert.pem", import.meta.url)) };
const HOST = "api.example.com";

interface Running {
  port: number;
  http2: boolean;
  close(): Promise<void>;
}

/** Each server answers GET /prices with the allowed token's id. */
const servers: Record<string, (kw: Keyward) => Promise<Running>> = {
  async express(kw) {
    const app = express();
    const guard = keywardExpress(kw);
    app.get("/prices", guard.requireToken(), (req, res) => res.json({ token: req.keyward?.tokenId }));
    return nodeServer(createHttpsServer(tls, app), false);
  },
  async fastify(kw) {
    const app = Fastify({ https: tls });
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.get("/prices", { preHandler: guard.requireToken() }, async (request) => ({ token: request.keyward?.tokenId }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    return { port: (app.server.address() as AddressInfo).port, http2: false, close: () => app.close() };
  },
  async "fastify, HTTP/2"(kw) {
    const app = Fastify({ http2: true, https: tls });
    const guard = keywardFastify(kw);
    await app.register(guard.plugin);
    app.get("/prices", { preHandler: guard.requireToken() }, async (request) => ({ token: request.keyward?.tokenId }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    return { port: (app.server.address() as AddressInfo).port, http2: true, close: () => app.close() };
  },
  async "hono (@hono/node-server)"(kw) {
    const app = new Hono<KeywardEnv>();
    app.get("/prices", keywardHono(kw).requireToken(), (c) => c.json({ token: c.get("keyward").tokenId }));
    return nodeServer(serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1", createServer: createHttpsServer, serverOptions: tls }), false, true);
  },
  async "keyward/fetch (@hono/node-server)"(kw) {
    const handler = keywardFetch(kw).requireToken({}, (_request, decision) => Response.json({ token: decision.tokenId }));
    return nodeServer(serve({ fetch: handler, port: 0, hostname: "127.0.0.1", createServer: createHttpsServer, serverOptions: tls }), false, true);
  },
};

async function nodeServer(server: Server & { closeAllConnections?(): void }, http2: boolean, listening = false): Promise<Running> {
  if (!listening) server.listen(0, "127.0.0.1");
  if (!server.listening) await new Promise((resolve) => server.once("listening", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    http2,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** GET /prices over TLS with `Host: api.example.com` (`:authority` over HTTP/2): status and body. */
async function get(server: Running, headers: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  if (server.http2) {
    const session = connect(`https://127.0.0.1:${server.port}`, { ca: tls.cert });
    try {
      const { status, json } = await send(session, { ":path": "/prices", ":authority": HOST, ...headers });
      return { status, json };
    } finally {
      session.close();
    }
  }
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port: server.port, path: "/prices", ca: tls.cert, servername: HOST, headers: { host: HOST, ...headers } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe.each(Object.keys(servers))("%s behind its own TLS", (name) => {
  // env "live": HTTPS is required for secret tokens (requireHttps defaults to "secret").
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", env: "live" });
  const pair = ed25519KeyPair();
  let server: Running;
  let token: string;
  let keyId: string;

  beforeAll(async () => {
    server = await servers[name]!(kw);
    const created = await kw.tokens.create({ owner: "acct_1", kind: "secret", signing: { alg: "ed25519", publicKey: new Uint8Array(pair.publicKey) } });
    token = created.token;
    keyId = created.record.id;
  });
  afterAll(() => server.close());

  const signed = async (url: string, components: string[]) => {
    const request = await createSigner({ keyId, alg: "ed25519", privateKey: pair.seed, components }).sign(new Request(url));
    return Object.fromEntries(request.headers);
  };

  it("a live secret token is allowed: the request came over TLS, though not from the loopback's own name", async () => {
    expect(await get(server, { authorization: `Bearer ${token}` })).toEqual({ status: 200, json: { token: keyId } });
  });

  it("signatures cover https and the authority the client sent; one made for http:// does not hold", async () => {
    for (const components of [["@method", "@target-uri"], ["@method", "@scheme", "@authority", "@path"]]) {
      expect(await get(server, await signed(`https://${HOST}/prices`, components))).toEqual({ status: 200, json: { token: keyId } });
      const plain = await get(server, await signed(`http://${HOST}/prices`, components));
      expect([plain.status, plain.json.type]).toEqual([401, "urn:keyward:problem:invalid-token"]);
    }
  });
});
