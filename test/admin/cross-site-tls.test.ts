// toNodeHandler on a server with its own TLS (node:https, node:http2's secure
// server), no proxy and no publicOrigin: the request URL's origin is https,
// the page's, so a browser that sends no Sec-Fetch-Site (Safari before 16.4,
// a proxy that strips it) is served its changes from the console's own page,
// as before the Origin check; another scheme's Origin is refused.
import { readFileSync } from "node:fs";
import { connect, createSecureServer } from "node:http2";
import { createServer, request } from "node:https";
import type { AddressInfo, Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminHandler, toNodeHandler } from "../../src/admin/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";

const tls = { key: readFileSync(new URL("../http/fixtures/tls-key.pem", import.meta.url)), cert: readFileSync(new URL("../http/fixtures/tls-cert.pem", import.meta.url)) };
const OWNER = "acct_tls";

let kw: Keyward;
beforeAll(() => {
  kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
});
afterAll(() => kw.close());

const handler = () => createAdminHandler({ keyward: kw, basePath: "/t", authorize: () => OWNER });

async function listening(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A POST /t/tokens over HTTPS/1.1 as a browser without Fetch Metadata sends it: its status. */
function postHttps(port: number, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, servername: "localhost", ca: tls.cert, method: "POST", path: "/t/tokens", headers: { host: `localhost:${port}`, origin, "content-type": "application/json" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end('{"kind":"publishable"}');
  });
}

/** The same over HTTP/2 with TLS. */
function postH2(port: number, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = connect(`https://localhost:${port}`, { ca: tls.cert, host: "127.0.0.1" });
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": "/t/tokens", ":authority": `localhost:${port}`, origin, "content-type": "application/json" });
    let status = 0;
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.resume();
    stream.on("end", () => {
      session.close();
      resolve(status);
    });
    stream.on("error", reject);
    stream.end('{"kind":"publishable"}');
  });
}

describe("toNodeHandler with its own TLS: the request URL is https", () => {
  it("node:https: the page's own https origin is served; http on the same host and port refused", async () => {
    const server = createServer(tls, toNodeHandler(handler()));
    const port = await listening(server);
    try {
      expect(await postHttps(port, `https://localhost:${port}`)).toBe(201);
      expect(await postHttps(port, `http://localhost:${port}`)).toBe(403);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("node:http2 secure server: the same", async () => {
    const server = createSecureServer(tls, toNodeHandler(handler()));
    const port = await listening(server as unknown as Server);
    try {
      expect(await postH2(port, `https://localhost:${port}`)).toBe(201);
      expect(await postH2(port, `http://localhost:${port}`)).toBe(403);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
