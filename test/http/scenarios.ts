// One behaviour suite for every framework adapter: a real server of the
// framework on 127.0.0.1, called with Node's fetch (undici), keyward's
// signedFetch and node:http. Each adapter's test file starts its server with
// the same routes:
//   GET  /prices           requireToken({ scope: "core:read" })           → { token }
//   POST /orders           requireToken({ scope: "orders:write", cost: 2 }) → { token, body } (the framework's JSON parser)
//   GET  /key              requireToken({ getToken: x-api-key })          → { token }
//   GET  /custom           requireToken({ onDenied: 418 + code })         → { token }
//   GET  /failing?mode=…   requireToken({ getToken, onDenied: failingHooks(url), onError: 599 + message })
//   GET  /vary             requireToken()                                 → { token }, with Vary: Accept-Encoding set by the handler
//   GET  /vary-before      requireToken()                                 → { token }, with Vary: Accept-Language set before the guard
//                          and before the preflight answer (a middleware or hook in front; the Fetch wrapper's handler,
//                          which has none in front)
// An allowed handler answers the decision's token id as seen through the framework's typed attachment.
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { connect as connectTcp } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSigner, signedFetch } from "../../src/client/index.js";
import type { EdgeOptions } from "../../src/http/core.js";
import { ConfigError, Keyward, MemoryStore, type TokenRecord } from "../../src/index.js";
import { signatureHeaders } from "../../src/signing/index.js";
import { ed25519KeyPair } from "../client/helpers.js";

export interface Started {
  url: string;
  close(): Promise<void>;
}

/** Starts the framework's server with the routes above; `setup` lets the suite check setup-time errors. */
export type StartServer = (kw: Keyward, options: EdgeOptions) => Promise<Started>;
/** Calls the adapter's requireToken with the given route options (to check they are validated at setup). */
export type MakeRoute = (kw: Keyward, options: { scope?: unknown; cost?: unknown }) => unknown;

const MAX_BODY = 1024;

/**
 * The hooks of GET /failing, by its `mode` query parameter: getToken throws
 * ("token") or, against its type, returns a promise that rejects
 * ("async"), or (no token, so a denial) onDenied throws ("throw") or
 * rejects ("reject"). The route's onError answers 599 with the message,
 * unless `answers` is false ("quiet-token", "quiet-reject": getToken
 * throws, onDenied rejects, and onError only logs, answering nothing).
 */
export function failingHooks(url: string) {
  const mode = new URL(url, "http://localhost").searchParams.get("mode");
  return {
    answers: !mode?.startsWith("quiet-"),
    getToken(): undefined {
      if (mode === "token" || mode === "quiet-token") throw new Error("getToken failed");
      if (mode === "async") return Promise.reject(new Error("getToken rejected")) as never;
      return undefined;
    },
    onDenied(): Promise<never> {
      if (mode === "reject" || mode === "quiet-reject") return Promise.reject(new Error("onDenied rejected"));
      throw new Error("onDenied threw");
    },
  };
}

/** A secret token of `kw` that signs with a fresh Ed25519 key pair: its record and the pair. */
export async function signingToken(kw: Keyward): Promise<{ pair: ReturnType<typeof ed25519KeyPair>; record: TokenRecord }> {
  const pair = ed25519KeyPair();
  const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: pair.publicKey } });
  return { pair, record };
}

/**
 * Signed TRACE requests (a method no Fetch Request can have, which Node hands
 * to the application) to `url`, a route that answers 200 when allowed: one
 * signed for a GET of the URL (`signedUrl`, the public one behind
 * `publicOrigin`), then one signed for TRACE itself. Their
 * statuses and problem codes (or token ids): verified against the method
 * sent, never an error of the application.
 */
export async function signedTraces(kw: Keyward, url: string, signedUrl = url): Promise<{ status: number; json: Record<string, unknown> }[]> {
  const { pair, record } = await signingToken(kw);
  const key = { alg: "ed25519", privateKey: pair.seed } as const;
  const replies: { status: number; json: Record<string, unknown> }[] = [];
  for (const signedAs of ["GET", "TRACE"]) {
    // signatureHeaders takes a Request: one that shows TRACE as its method.
    const request = new Request(signedUrl);
    if (signedAs === "TRACE") Object.defineProperty(request, "method", { value: "TRACE" });
    const fields = await signatureHeaders(request, { key, keyid: record.id, nonce: true });
    const reply = await rawRequest(url, Object.entries(fields), "TRACE");
    replies.push({ status: reply.status, json: reply.json });
  }
  return replies;
}

/**
 * Requests signed for `GET /admin/stats` of the server at `base`, each sent
 * once (its own nonce) with a request target, or a Host, that a URL reads
 * as that path (dot segments, `%2e`, backslashes; a Host that carries a
 * path, `api.example.com/admin/stats#`), which a framework that routes the
 * target as received serves at `/files/*`; one whose Host or absolute-form
 * target carries userinfo, which a Fetch Request refuses; then honest
 * signed GETs of `/admin/stats` in absolute form with the scheme in
 * capitals, `/files/a.txt` and `/admin/stats`. Each case and its
 * answer's status and text: a signature holds only for the request served,
 * and a malformed request is a denial, never a 500.
 */
export async function signedForAnotherRoute(kw: Keyward, base: string): Promise<[string, number, string][]> {
  const { pair, record } = await signingToken(kw);
  const key = { alg: "ed25519", privateKey: pair.seed } as const;
  const { hostname, port, host: here } = new URL(base);
  const elsewhere = "http://api.example.com/admin/stats";
  // [target, Host, the URL the request was signed for]
  const sent: [string, string, string][] = [
    ["/files/../admin/stats", here, `${base}/admin/stats`],
    ["/files/%2e%2E/admin/stats", here, `${base}/admin/stats`],
    ["/files/./../admin/stats?x=1", here, `${base}/admin/stats?x=1`],
    ["/files/..\\admin\\stats", here, `${base}/admin/stats`],
    ["/files/x", "api.example.com/admin/stats#", elsewhere],
    ["/files/x", "api.example.com\\admin\\stats#", elsewhere],
    ["/files/x", "", "http://files/x"],
    ["/files/x", "u@api.example.com/admin/stats#", elsewhere],
    ["http://u@api.example.com/admin/stats", "api.example.com", elsewhere],
    [`HTTP://${here}/files/../admin/stats`, here, `${base}/admin/stats`],
    // An absolute-form target's scheme in capitals (RFC 9110 §4.2.3: case-insensitive) names the same URL.
    [`HTTP://${here}/admin/stats`, here, `${base}/admin/stats`],
    // A "#", which no request target holds (RFC 9112 §3.2): the URL parser drops what follows as a
    // fragment, where Fastify reads query parameters (`x?admin`, `&admin=1`) and Express a path.
    ["/admin/stats#x?admin=1", here, `${base}/admin/stats`],
    ["/admin/stats?x=1#&admin=1", here, `${base}/admin/stats?x=1`],
    ["/files/a.txt", here, `${base}/files/a.txt`],
    ["/admin/stats", here, `${base}/admin/stats`],
  ];
  const replies: [string, number, string][] = [];
  for (const [target, host, signedUrl] of sent) {
    const fields = await signatureHeaders(new Request(signedUrl), { key, keyid: record.id, nonce: true });
    // node:http sends the target and the Host as given, unnormalised.
    const reply = await new Promise<[number, string]>((resolve, reject) => {
      const req = httpRequest({ hostname, port, path: target, headers: { ...fields, host } }, (res) => {
        textOf(res).then((text) => resolve([res.statusCode ?? 0, text]), reject);
      });
      req.on("error", reject);
      req.end();
    });
    replies.push([`${target.replace(here, "the server")} (Host: ${host === here ? "the server" : host})`, ...reply]);
  }
  return replies;
}

/**
 * A bearer request at a target whose path the URL parser reshapes, the live token in its query too:
 * [status, code] of each target, sent with node:http as given (`/files/../x?…`, `/files/%2e%2e/x?…`).
 * The request is verified at a URL no signature holds for; the URL received is still read for tokens.
 */
export async function tokenInReshapedTarget(kw: Keyward, base: string): Promise<[number, string][]> {
  const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
  const { hostname, port } = new URL(base);
  const replies: [number, string][] = [];
  for (const target of [`/files/../x?api_key=${token}`, `/files/%2e%2e/x?api_key=${token}`]) {
    replies.push(
      await new Promise<[number, string]>((resolve, reject) => {
        const req = httpRequest({ hostname, port, path: target, headers: { authorization: `Bearer ${token}` } }, (res) => {
          textOf(res).then((text) => resolve([res.statusCode ?? 0, (JSON.parse(text) as { code: string }).code]), reject);
        });
        req.on("error", reject);
        req.end();
      }),
    );
  }
  return replies;
}

/** What {@link signedForAnotherRoute} must answer: only the honest requests reach a handler. */
export const SIGNED_FOR_ANOTHER_ROUTE = [
  ["/files/../admin/stats (Host: the server)", 401],
  ["/files/%2e%2E/admin/stats (Host: the server)", 401],
  ["/files/./../admin/stats?x=1 (Host: the server)", 401],
  ["/files/..\\admin\\stats (Host: the server)", 401],
  ["/files/x (Host: api.example.com/admin/stats#)", 401],
  ["/files/x (Host: api.example.com\\admin\\stats#)", 401],
  ["/files/x (Host: )", 401],
  ["/files/x (Host: u@api.example.com/admin/stats#)", 401],
  ["http://u@api.example.com/admin/stats (Host: api.example.com)", 401],
  ["HTTP://the server/files/../admin/stats (Host: the server)", 401],
  ["HTTP://the server/admin/stats (Host: the server)", 200],
  ["/admin/stats#x?admin=1 (Host: the server)", 401],
  ["/admin/stats?x=1#&admin=1 (Host: the server)", 401],
  ["/files/a.txt (Host: the server)", 200],
  ["/admin/stats (Host: the server)", 200],
] as const;

/** A fresh Keyward behind a proxy on 127.0.0.1, reading at most 1 KiB of signed bodies. */
export function makeKeyward(): Keyward {
  return new Keyward({
    store: new MemoryStore(),
    prefix: "acme",
    trustedProxies: ["127.0.0.1"],
    signatures: { maxBodyBytes: MAX_BODY },
  });
}

/** A store whose lookups fail, as a database that cannot be reached. */
class DownStore extends MemoryStore {
  override findByHash(): Promise<never> {
    return Promise.reject(new Error("connection refused"));
  }
}

interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function read(res: Response): Promise<Reply> {
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** The whole text of a node:http response. */
async function textOf(res: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of res) text += String(chunk);
  return text;
}

/** A raw node:http request (repeated headers as given). */
function rawRequest(url: string, headers: [string, string][], method = "GET", body?: string, host = new URL(url).host): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // A raw header list is sent as is: Host included.
    const raw = [["host", host], ...headers].flat();
    const req = httpRequest(url, { method, headers: raw as unknown as Record<string, string> }, (res) => {
      textOf(res).then((text) => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
        const json = text === "" || !(res.headers["content-type"] ?? "").includes("json") ? {} : (JSON.parse(text) as Record<string, unknown>);
        resolve({ status: res.statusCode ?? 0, headers: h, json });
      }, reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * A GET of `target` (any request-target form, as written) sent over a raw
 * TCP connection to the server at `url`, with these header lines: the
 * status and the JSON body of the answer.
 */
function rawGet(url: string, target: string, lines: [string, string][]): Promise<{ status: number; json: Record<string, unknown> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), hostname, () => {
      socket.write(`GET ${target} HTTP/1.1\r\n${lines.map(([name, value]) => `${name}: ${value}\r\n`).join("")}Connection: close\r\n\r\n`);
    });
    let text = "";
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on("end", () => {
      const [head = "", ...rest] = text.split("\r\n\r\n");
      const body = rest.join("\r\n\r\n");
      // A chunked body (Express, Hono) arrives as size lines around the JSON.
      const json = body.slice(body.indexOf("{"), body.lastIndexOf("}") + 1);
      resolve({ status: Number(head.split(" ")[1]), json: json === "" ? {} : (JSON.parse(json) as Record<string, unknown>) });
    });
    socket.on("error", reject);
  });
}

/**
 * A signed JSON upload of 64 bytes whose body never comes: its fields, then
 * nothing. Resolves with the server's answer, then closes the connection.
 */
export async function stalledSignedUpload(url: string, keyId: string, seed: Uint8Array): Promise<{ status: number; json: Record<string, unknown> }> {
  const body = JSON.stringify({ pad: "x".repeat(52) });
  const signed = await createSigner({ keyId, alg: "ed25519", privateKey: seed }).sign(
    new Request(url, { method: "POST", headers: { "content-type": "application/json" }, body }),
  );
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: "POST", headers: { ...Object.fromEntries(signed.headers), "content-length": String(body.length) } }, (res) => {
      textOf(res).then((text) => {
        resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> });
        req.destroy();
      }, reject);
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

/**
 * A validly signed upload of 2 KB to `path`, whose client aborts after
 * sending 500 bytes, on a server that `start` builds over a fresh Keyward
 * and whose route reports each outcome to `seen`. Resolves with the
 * outcomes once the first came.
 */
export async function abortedSignedUpload(path: string, start: (kw: Keyward, seen: (outcome: string) => void) => Promise<Started>): Promise<string[]> {
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
  const { pair, record } = await signingToken(kw);
  const outcomes: string[] = [];
  let done = () => {};
  const first = new Promise<void>((resolve) => {
    done = resolve;
  });
  const server = await start(kw, (outcome) => {
    outcomes.push(outcome);
    done();
  });
  try {
    const url = `${server.url}${path}`;
    const body = JSON.stringify({ pad: "x".repeat(2000) });
    const signed = await createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }).sign(
      new Request(url, { method: "POST", headers: { "content-type": "application/json" }, body }),
    );
    const req = httpRequest(url, { method: "POST", headers: { ...Object.fromEntries(signed.headers), "content-length": String(body.length) } });
    req.on("error", () => {});
    req.write(body.slice(0, 500));
    setTimeout(() => req.destroy(), 50);
    await first;
    return outcomes;
  } finally {
    await server.close();
  }
}

/**
 * A validly signed text upload of 2405 bytes to `path`, sent chunked in two
 * parts, past the 1000 bytes of signed body the instance reads: the route's
 * `onDenied` lets the request through (as a monitoring rollout may), and
 * its handler answers the body the framework's parser gave it. Resolves
 * with what the handler saw and the denials.
 */
export async function oversizedSignedUploadLetThrough(
  path: string,
  start: (kw: Keyward, denied: (code: string) => void) => Promise<Started>,
): Promise<{ status: number; body: string; denials: string[] }> {
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { maxBodyBytes: 1000 } });
  const { pair, record } = await signingToken(kw);
  const denials: string[] = [];
  const server = await start(kw, (code) => denials.push(code));
  try {
    const url = `${server.url}${path}`;
    const body = `HEAD-${"a".repeat(1200)}${"b".repeat(1200)}`;
    const signed = await createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.seed }).sign(
      new Request(url, { method: "POST", headers: { "content-type": "text/plain" }, body }),
    );
    const headers = { ...Object.fromEntries(signed.headers), "transfer-encoding": "chunked" };
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(url, { method: "POST", headers }, (res) => {
        textOf(res).then((text) => resolve({ status: res.statusCode ?? 0, body: text }), reject);
      });
      req.on("error", reject);
      req.write(body.slice(0, 1205));
      setTimeout(() => req.end(body.slice(1205)), 50);
    });
    return { ...answer, denials };
  } finally {
    await server.close();
  }
}

/**
 * A signed upload of 4 MiB to `path`, past the 1000 bytes of signed body the
 * instance reads, sent whole on one raw connection with a request pipelined
 * after it, to a server that `start` builds over a fresh Keyward; signed
 * with the token's key, or with another (`forged`). Resolves with the
 * answers' status lines, the first one's Connection field, and whether the
 * server closed the connection within 2 s (else it still held it).
 */
export async function signedUploadOnOneConnection(
  path: string,
  start: (kw: Keyward) => Promise<Started>,
  { forged = false }: { forged?: boolean } = {},
): Promise<{ statuses: string[]; connection: string | undefined; closed: boolean }> {
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { maxBodyBytes: 1000 } });
  const { pair, record } = await signingToken(kw);
  const server = await start(kw);
  try {
    const url = new URL(path, server.url);
    const body = Buffer.alloc(4 << 20, 97);
    const signed = await createSigner({ keyId: record.id, alg: "ed25519", privateKey: forged ? ed25519KeyPair().seed : pair.seed }).sign(
      new Request(url, { method: "POST", headers: { "content-type": "text/plain" }, body }),
      { body },
    );
    let head = `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-length: ${body.length}\r\n`;
    for (const [name, value] of signed.headers) if (name !== "content-length") head += `${name}: ${value}\r\n`;
    return await new Promise((resolve) => {
      const socket = connectTcp(Number(url.port), url.hostname);
      let text = "";
      const done = (closed: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]!);
        resolve({ statuses, connection: /^connection: *(\S+)/im.exec(text)?.[1]?.toLowerCase(), closed });
      };
      const timer = setTimeout(() => done(false), 2000);
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
      });
      socket.on("close", () => done(true));
      socket.on("error", () => {});
      socket.write(`${head}\r\n`);
      socket.write(body);
      socket.write(`GET ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\n\r\n`);
    });
  } finally {
    await server.close();
  }
}

export function describeMiddleware(name: string, start: StartServer, makeRoute: MakeRoute): void {
  describe(`${name} middleware on a real server`, () => {
    const kw = makeKeyward();
    const pair = ed25519KeyPair();
    let server: Started;
    let proxied: Started;
    let corsServer: Started;
    /** publicOrigin with an instance of another copy of the package (a stand-in: only its verify). */
    let foreignProxied: Started;
    let secret: string;
    let publishable: string;
    let signedId: string;
    let tokenId: string;
    beforeAll(async () => {
      const s = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "orders:write"] });
      secret = s.token;
      tokenId = s.record.id;
      publishable = (await kw.tokens.create({ owner: "acct_1", kind: "publishable", domains: ["app.example"] })).token;
      const signed = await kw.tokens.create({
        owner: "acct_1",
        kind: "secret",
        scopes: ["core:read", "orders:write"],
        requireSignedRequests: true,
        signing: { alg: "ed25519", publicKey: new Uint8Array(pair.publicKey) },
      });
      signedId = signed.record.id;
      server = await start(kw, { realm: "prices" });
      proxied = await start(kw, { publicOrigin: "https://api.example.com/v2" });
      corsServer = await start(kw, { cors: { allowHeaders: ["X-Api-Key"] } });
      const foreign = { verify: (request: Request, options: object) => kw.verify(request, options) } as unknown as Keyward;
      foreignProxied = await start(foreign, { publicOrigin: "https://api.example.com/v2" });
    });
    afterAll(async () => {
      await Promise.all([server?.close(), proxied?.close(), corsServer?.close(), foreignProxied?.close()]);
    });

    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const signer = () => signedFetch(createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed }));

    it("a malformed scope or cost throws at setup, not per request", () => {
      expect(() => makeRoute(kw, { scope: "core" })).toThrow(ConfigError);
      expect(() => makeRoute(kw, { scope: ["core:read", "a b:read"] })).toThrow(/scope\[1\]/);
      expect(() => makeRoute(kw, { cost: -1 })).toThrow(ConfigError);
      expect(() => makeRoute(kw, { scope: "datasets/prices:read", cost: 2 })).not.toThrow();
    });

    it("allows a bearer token through undici fetch and node:http; the handler sees the typed decision", async () => {
      const viaFetch = await read(await fetch(`${server.url}/prices`, { headers: bearer(secret) }));
      expect(viaFetch).toMatchObject({ status: 200, json: { token: tokenId } });
      const viaHttp = await rawRequest(`${server.url}/prices`, [["authorization", `Bearer ${secret}`]]);
      expect(viaHttp).toMatchObject({ status: 200, json: { token: tokenId } });
    });

    it("no credential: 401 problem+json, an RFC 6750 challenge without error, the configured realm", async () => {
      const r = await read(await fetch(`${server.url}/prices`));
      // Another scheme's credential is no bearer credential either (RFC 6750 §3.1).
      const basic = await read(await fetch(`${server.url}/prices`, { headers: { authorization: "Basic dXNlcjpwYXNz" } }));
      expect([basic.status, basic.headers.get("www-authenticate"), basic.json]).toEqual([r.status, r.headers.get("www-authenticate"), r.json]);
      expect(r.status).toBe(401);
      // The same on every adapter: JSON is UTF-8 (RFC 8259 §8.1), no charset parameter.
      expect(r.headers.get("content-type")).toBe("application/problem+json");
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="prices"');
      expect(r.json).toEqual({
        type: "urn:keyward:problem:token-missing",
        title: "Token required",
        status: 401,
        detail: "Send a token in the Authorization header as a Bearer token, or sign the request.",
        code: "TOKEN_MISSING",
      });
    });

    it("a denied HEAD is answered as its GET without content: the next request on the keep-alive connection is read as sent (node:http, and the bytes on the wire)", async () => {
      const { hostname, port } = new URL(server.url);
      // node:http with one kept-alive connection: a body after the HEAD's fields would be read as the next answer.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const ask = (method: string, headers: Record<string, string> = {}) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpRequest(`${server.url}/prices`, { method, headers, agent }, (res) => {
            let body = "";
            res.on("data", (c: Buffer) => {
              body += c.toString();
            });
            res.on("end", () => resolve({ status: res.statusCode!, body }));
          });
          req.on("error", reject);
          req.end();
        });
      try {
        const head = await ask("HEAD");
        const get = await ask("GET", bearer(secret));
        expect([head.status, head.body]).toEqual([401, ""]);
        expect([get.status, JSON.parse(get.body)]).toEqual([200, { token: tokenId }]);
      } finally {
        agent.destroy();
      }
      // On the wire: the HEAD's answer ends with its fields; the next bytes are the GET's status line.
      const wire = await new Promise<string>((resolve, reject) => {
        const socket = connectTcp(Number(port), hostname, () => {
          socket.write(`HEAD /prices HTTP/1.1\r\nHost: ${hostname}\r\n\r\nGET /prices HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${secret}\r\nConnection: close\r\n\r\n`);
        });
        let text = "";
        socket.on("data", (c: Buffer) => {
          text += c.toString("latin1");
        });
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
      });
      const [headFields = "", afterHead = ""] = wire.split(/\r\n\r\n(.*)/s);
      expect(headFields).toMatch(/^HTTP\/1\.1 401 /);
      expect(headFields.toLowerCase()).toContain("content-type: application/problem+json");
      expect(afterHead).toMatch(/^HTTP\/1\.1 200 /);
    });

    it("every denial answers a HEAD with its GET's status and fields, Content-Length included, and no content (node:http)", async () => {
      const scoped = (await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["orders:write"] })).token;
      const limited = (await kw.tokens.create({ owner: "acct_1", kind: "secret", rateLimit: { limit: 1, windowMs: 60_000 } })).token;
      const spent = (await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 1, refill: { amount: 1, intervalMs: 3_600_000 } } })).token;
      for (const token of [limited, spent]) expect((await rawRequest(`${server.url}/prices`, [["authorization", `Bearer ${token}`]])).status).toBe(200);
      const down = await start(new Keyward({ store: new DownStore(), prefix: "acme" }), {});
      /** Status, fields (but the connection's, and a wait that may tick between the two) and content length. */
      const answer = (url: string, method: string, headers: [string, string][]) =>
        new Promise<[number, Record<string, unknown>, number]>((resolve, reject) => {
          const req = httpRequest(url, { method, headers: Object.fromEntries(headers) }, (res) => {
            textOf(res).then((text) => {
              const { date: _d, connection: _c, "keep-alive": _k, ...fields } = res.headers;
              for (const name of ["retry-after", "ratelimit"]) if (typeof fields[name] === "string") fields[name] = (fields[name] as string).replace(/\d+$/, "N");
              resolve([res.statusCode ?? 0, fields, Buffer.byteLength(text)]);
            }, reject);
          });
          req.on("error", reject);
          req.end();
        });
      const cases: [number, string, [string, string][]][] = [
        [401, `${server.url}/prices`, []],
        [401, `${server.url}/prices`, [["authorization", `Bearer ${secret}x`]]],
        [403, `${server.url}/prices`, [["authorization", `Bearer ${scoped}`]]],
        [429, `${server.url}/prices`, [["authorization", `Bearer ${limited}`]]],
        [402, `${server.url}/prices`, [["authorization", `Bearer ${spent}`]]],
        [403, `${corsServer.url}/prices`, [["authorization", `Bearer ${publishable}`], ["origin", "https://evil.example"]]],
        [503, `${down.url}/prices`, [["authorization", `Bearer ${secret}`]]],
      ];
      try {
        for (const [status, url, headers] of cases) {
          const [getStatus, getFields, length] = await answer(url, "GET", headers);
          const head = await answer(url, "HEAD", headers);
          expect([getStatus, getFields["content-type"], getFields["cache-control"], getFields["content-length"]]).toEqual([status, "application/problem+json", "no-store", String(length)]);
          // Before: Express's HEAD answers had no Content-Length.
          expect(head).toEqual([getStatus, getFields, 0]);
        }
      } finally {
        await down.close();
      }
    });

    it("credential failures are indistinguishable; no secret in the answer", async () => {
      const unknown = `${secret.slice(0, 20)}${"A".repeat(secret.length - 20)}`;
      const revoked = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
      await kw.tokens.revoke(revoked.record.id);
      const answers = [];
      for (const token of ["garbage", unknown, `${secret}x`, revoked.token]) {
        const r = await read(await fetch(`${server.url}/prices`, { headers: bearer(token) }));
        answers.push({ status: r.status, challenge: r.headers.get("www-authenticate"), json: r.json });
        expect(JSON.stringify(r.json)).not.toContain(token);
      }
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect(answers[0]).toMatchObject({ status: 401, challenge: 'Bearer realm="prices", error="invalid_token"', json: { type: "urn:keyward:problem:invalid-token" } });
      expect(answers[0]!.json).not.toHaveProperty("code");
    });

    it("duplicated Authorization headers are refused (Node would keep only the first)", async () => {
      const r = await rawRequest(`${server.url}/prices`, [
        ["authorization", `Bearer ${secret}`],
        ["authorization", `Bearer ${secret}`],
      ]);
      expect(r.status).toBe(401);
    });

    it("oversized and garbage headers: a coded 401, never an allow or a 500", async () => {
      const cases: [string, string][][] = [
        [["authorization", `Bearer ${secret}${"A".repeat(2000)}`]], // past the 1 KiB cap on Authorization
        [["authorization", `Bearer ${"x".repeat(15 * 1024)}`]], // just within Node's 16 KiB of headers
        [["authorization", "Basic dXNlcjpwYXNz"]],
        [["authorization", `Bearer ${secret}, Bearer ${secret}`]],
        [["authorization", "Bearer \u00ff\u00fe"]],
        [["signature-input", "sig1=(".repeat(200)], ["signature", "sig1=:AA==:"]],
      ];
      for (const headers of cases) {
        const r = await rawRequest(`${server.url}/prices`, headers);
        expect(r.status, headers[0]![1].slice(0, 40)).toBe(401);
        expect(r.headers.get("content-type"), headers[0]![1].slice(0, 40)).toMatch(/^application\/problem\+json/);
      }
    });

    it("a missing scope: 403 with the scope and an insufficient_scope challenge", async () => {
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
      const r = await read(await fetch(`${server.url}/orders`, { method: "POST", headers: { ...bearer(token), "content-type": "application/json" }, body: "{}" }));
      expect(r).toMatchObject({ status: 403, json: { code: "SCOPE_DENIED", scope: "orders:write", type: "urn:keyward:problem:scope-denied" } });
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="prices", error="insufficient_scope"');
    });

    it("HTTPS only: a secret token over plain http (as the trusted proxy says) is 403 INSECURE_TRANSPORT; the loopback is exempt", async () => {
      const over = async (proto: string | null, token = secret) =>
        read(await fetch(`${server.url}/prices`, { headers: { ...bearer(token), ...(proto === null ? {} : { "x-forwarded-proto": proto }) } }));
      const r = await over("http");
      expect(r).toMatchObject({ status: 403, json: { code: "INSECURE_TRANSPORT", type: "urn:keyward:problem:insecure-transport" } });
      expect(JSON.stringify(r.json)).not.toContain(secret);
      // A client writing its own "https" before the proxy's "http" gains nothing.
      expect((await over("https, http")).status).toBe(403);
      expect((await over("https")).status).toBe(200);
      expect((await over(null)).status).toBe(200); // http://127.0.0.1 from 127.0.0.1: development
      expect((await over("http", publishable)).json.code).not.toBe("INSECURE_TRANSPORT"); // publishable: only with requireHttps "all"
    });

    it("HTTPS only, behind the trusted loopback proxy: the loopback exemption is the forwarded client's, whatever the Host", async () => {
      // The socket (127.0.0.1) is the trusted proxy; it forwards plain http and sends no X-Forwarded-Proto.
      const via = (host: string, xff: string | null) =>
        rawRequest(`${server.url}/prices`, [["authorization", `Bearer ${secret}`], ...(xff === null ? [] : [["x-forwarded-for", xff] as [string, string]])], "GET", undefined, host);
      for (const host of ["localhost", "localhost:3000", "127.0.0.1"]) {
        expect(await via(host, "203.0.113.9"), host).toMatchObject({ status: 403, json: { code: "INSECURE_TRANSPORT" } });
        expect((await via(host, "127.0.0.1")).status, host).toBe(200); // a client on the proxy's machine
        expect((await via(host, null)).status, host).toBe(200); // no forwarded client: the proxy's own request
      }
    });

    it("HTTPS only, behind a proxy on this machine not listed in trustedProxies: a proxied request is never exempt", async () => {
      // nginx's default proxy_pass http://127.0.0.1:PORT: Host 127.0.0.1:PORT, from the loopback, for a remote client.
      const direct = new Keyward({ store: new MemoryStore(), prefix: "acme" });
      const { token } = await direct.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
      const app = await start(direct, {});
      try {
        const via = (headers: [string, string][]) => rawRequest(`${app.url}/prices`, [["authorization", `Bearer ${token}`], ...headers]);
        for (const header of [
          ["x-forwarded-for", "203.0.113.9"],
          ["forwarded", "for=203.0.113.9;proto=http"],
          ["x-forwarded-proto", "https"],
          ["x-forwarded-host", "api.example.com"],
          ["x-real-ip", "203.0.113.9"],
        ] as [string, string][]) {
          expect(await via([header]), header[0]).toMatchObject({ status: 403, json: { code: "INSECURE_TRANSPORT" } });
        }
        expect((await via([])).status).toBe(200); // no proxy: development on this machine
      } finally {
        await app.close();
      }
    });

    it("HTTPS only, behind a trusted proxy that appends Forwarded without proto=: a client's own proto=https left of it is not believed", async () => {
      const behind = new Keyward({ store: new MemoryStore(), prefix: "acme", trustedProxies: ["127.0.0.1"], forwardedHeader: "forwarded" });
      const { token } = await behind.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
      const app = await start(behind, {});
      try {
        const via = (forwarded: string) => rawRequest(`${app.url}/prices`, [["authorization", `Bearer ${token}`], ["forwarded", forwarded]]);
        // The client wrote the first element (as one line, or a line of its own); the proxy appended its client's.
        expect(await via("for=10.0.0.7;proto=https, for=203.0.113.9")).toMatchObject({ status: 403, json: { code: "INSECURE_TRANSPORT" } });
        expect(await via("proto=https, for=203.0.113.9")).toMatchObject({ status: 403, json: { code: "INSECURE_TRANSPORT" } });
        expect((await via("for=203.0.113.9;proto=https")).status).toBe(200); // the proxy's own proto=
      } finally {
        await app.close();
      }
    });

    it("credits: 402 with the balance and the refill time; RateLimit fields on allowed and denied answers", async () => {
      const { token } = await kw.tokens.create({
        owner: "acct_1",
        kind: "secret",
        scopes: ["orders:write"],
        credits: { limit: 3, refill: { amount: 3, intervalMs: 3_600_000 } },
        rateLimit: { limit: 100, windowMs: 60_000 },
      });
      const post = () => fetch(`${server.url}/orders`, { method: "POST", headers: { ...bearer(token), "content-type": "application/json" }, body: '{"qty":1}' }).then(read);
      const ok = await post();
      expect(ok).toMatchObject({ status: 200, json: { body: { qty: 1 } } });
      expect(ok.headers.get("ratelimit-policy")).toBe('"requests";q=100;w=60, "credits";q=3;w=3600');
      expect(ok.headers.get("ratelimit")).toBe('"requests";r=99, "credits";r=1');
      const denied = await post();
      expect(denied).toMatchObject({ status: 402, json: { code: "CREDITS_EXHAUSTED", remaining: 1, type: "urn:keyward:problem:credits-exhausted" } });
      expect(Date.parse(denied.json.refillAt as string)).toBeGreaterThan(Date.now());
      expect(denied.headers.get("ratelimit")).toMatch(/"credits";r=1;t=\d+$/);
      expect(Number(denied.headers.get("retry-after"))).toBeGreaterThan(0);
    });

    it("rate limited: 429 with Retry-After and RateLimit r=0", async () => {
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", rateLimit: { limit: 1, windowMs: 60_000 } });
      expect((await fetch(`${server.url}/prices`, { headers: bearer(token) }).then(read)).status).toBe(200);
      const r = await read(await fetch(`${server.url}/prices`, { headers: bearer(token) }));
      expect(r).toMatchObject({ status: 429, json: { code: "RATE_LIMITED" } });
      expect(r.headers.get("ratelimit")).toBe(`"requests";r=0;t=${r.headers.get("retry-after")}`);
    });

    it("an account's limits: 429 and 402 name the account's policy in RateLimit fields, with the wait of Retry-After", async () => {
      await kw.accounts.set("acct_limited", { rateLimit: { limit: 1, windowMs: 60_000 } });
      await kw.accounts.set("acct_pool", { credits: { limit: 2, reset: "day", overage: 0 } });
      const limited = (await kw.tokens.create({ owner: "acct_limited", kind: "secret", scopes: ["core:read"] })).token;
      const pooled = (await kw.tokens.create({ owner: "acct_pool", kind: "secret", scopes: ["orders:write"] })).token;
      const ok = await read(await fetch(`${server.url}/prices`, { headers: bearer(limited) }));
      expect(ok.status).toBe(200);
      expect(ok.headers.get("ratelimit-policy")).toBe('"account-requests";q=1;w=60');
      expect(ok.headers.get("ratelimit")).toBe('"account-requests";r=0');
      const r = await read(await fetch(`${server.url}/prices`, { headers: bearer(limited) }));
      expect(r).toMatchObject({ status: 429, json: { code: "RATE_LIMITED", retryAfter: Number(r.headers.get("retry-after")) } });
      expect(r.headers.get("ratelimit-policy")).toBe('"account-requests";q=1;w=60');
      expect(r.headers.get("ratelimit")).toBe(`"account-requests";r=0;t=${r.headers.get("retry-after")}`);
      const post = () => fetch(`${server.url}/orders`, { method: "POST", headers: { ...bearer(pooled), "content-type": "application/json" }, body: "{}" }).then(read);
      expect((await post()).status).toBe(200);
      const denied = await post();
      expect(denied).toMatchObject({ status: 402, json: { code: "CREDITS_EXHAUSTED", remaining: 0 } });
      expect(denied.headers.get("ratelimit-policy")).toBe('"account-credits";q=2;w=86400');
      expect(denied.headers.get("ratelimit")).toBe(`"account-credits";r=0;t=${denied.headers.get("retry-after")}`);
    });

    it("a suspended account: 403 ACCOUNT_SUSPENDED problem+json, no challenge, never the operator's reason; lifted, allowed again", async () => {
      const reason = "abuse ticket 4711: internal note";
      const { token } = await kw.tokens.create({ owner: "acct_suspended", kind: "secret", scopes: ["core:read"] });
      await kw.accounts.set("acct_suspended", { suspended: { reason } });
      const r = await read(await fetch(`${server.url}/prices`, { headers: bearer(token) }));
      expect(r).toMatchObject({
        status: 403,
        json: { type: "urn:keyward:problem:account-suspended", title: "Account suspended", status: 403, code: "ACCOUNT_SUSPENDED" },
      });
      expect(r.headers.get("content-type")).toBe("application/problem+json");
      expect(r.headers.get("www-authenticate")).toBeNull();
      expect(JSON.stringify(r.json)).not.toContain("4711");
      const viaHttp = await rawRequest(`${server.url}/prices`, [["authorization", `Bearer ${token}`]]);
      expect(viaHttp).toMatchObject({ status: 403, json: { code: "ACCOUNT_SUSPENDED" } });
      await kw.accounts.set("acct_suspended", { suspended: null });
      expect((await read(await fetch(`${server.url}/prices`, { headers: bearer(token) }))).status).toBe(200);
    });

    it("the store down: 503 with Retry-After, and the same wait as retryAfter in the problem body", async () => {
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
      const down = await start(new Keyward({ store: new DownStore(), prefix: "acme" }), {});
      try {
        const r = await read(await fetch(`${down.url}/prices`, { headers: bearer(token) }));
        expect(r).toMatchObject({ status: 503, json: { code: "STORE_UNAVAILABLE", retryAfter: 1 } });
        expect(r.headers.get("retry-after")).toBe("1");
      } finally {
        await down.close();
      }
    });

    it("signed requests: signedFetch GET and JSON POST verify (the framework still parses the body); a tampered body does not", async () => {
      const api = signer();
      expect(await read(await api(`${server.url}/prices?symbol=X`))).toMatchObject({ status: 200, json: { token: signedId } });
      const body = JSON.stringify({ symbol: "X", qty: 3 });
      const post = await read(await api(`${server.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body }));
      expect(post).toMatchObject({ status: 200, json: { token: signedId, body: { symbol: "X", qty: 3 } } });
      const signed = await createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed }).sign(
        new Request(`${server.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body }),
      );
      const tampered = await read(await fetch(`${server.url}/orders`, { method: "POST", headers: signed.headers, body: body.replace("3", "4") }));
      expect(tampered).toMatchObject({ status: 401, json: { code: "DIGEST_MISMATCH" } });
      // The same label twice, the first behind a Display String holding a backslash: refused, not verified.
      const get = await createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed }).sign(new Request(`${server.url}/prices`));
      const repeated = new Headers(get.headers);
      repeated.set("signature-input", `sig1=%"\\";x, ${get.headers.get("signature-input")}`);
      expect(await read(await fetch(`${server.url}/prices`, { headers: get.headers }))).toMatchObject({ status: 200 });
      expect(await read(await fetch(`${server.url}/prices`, { headers: repeated }))).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
      // Labels beyond maxLabels (8) behind such a value: over the limit, not verified.
      const hidden = new Headers(get.headers);
      const labels = Array.from({ length: 11 }, (_, i) => `l${i}`).join(", ");
      hidden.set("signature-input", `x=%"\\", ${labels}, ${get.headers.get("signature-input")}`);
      expect(await read(await fetch(`${server.url}/prices`, { headers: hidden }))).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
      // A signature made with another key naming a real token id, and one naming no token: the same answer,
      // so a caller cannot probe which token ids exist.
      const stranger = ed25519KeyPair();
      const forge = async (keyId: string) => {
        const forged = await createSigner({ keyId, alg: "ed25519", privateKey: stranger.seed }).sign(new Request(`${server.url}/prices`));
        const reply = await read(await fetch(forged));
        return { status: reply.status, body: reply.json, challenge: reply.headers.get("www-authenticate") };
      };
      const [real, unknown] = [await forge(signedId), await forge("tok_AAAAAAAAAAAAAAAAAAAAAA")];
      expect(real).toEqual(unknown);
      expect(real).toMatchObject({ status: 401, body: { type: "urn:keyward:problem:invalid-token" } });
    });

    it("a validly signed body that is not JSON: never answered by keyward; the framework's or the handler's parser refuses it, and the server goes on", async () => {
      const api = signer();
      const r = await api(`${server.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"symbol": "X",' });
      // Express and Fastify parse before keyward runs (400); on Hono and keyward/fetch keyward allows
      // the authentic request and the handler's own parse fails (this test app lets that be a 500).
      const text = await r.text();
      expect(r.status, text.slice(0, 80)).toBe(/Express|Fastify/.test(name) ? 400 : 500);
      expect(text).not.toContain("urn:keyward:problem");
      expect((await read(await api(`${server.url}/prices`))).status).toBe(200);
    });

    it("a signed body over the instance's signatures.maxBodyBytes is refused with 413, not read whole", async () => {
      // The middleware reads up to the Keyward instance's limit, the only one.
      const body = JSON.stringify({ pad: "x".repeat(MAX_BODY) });
      const r = await read(await signer()(`${server.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body }));
      expect(r).toMatchObject({ status: 413, json: { code: "BODY_TOO_LARGE" } });
      const within = JSON.stringify({ symbol: "X", pad: "x".repeat(MAX_BODY - 40) });
      expect(within.length).toBeLessThanOrEqual(MAX_BODY);
      const ok = await read(await signer()(`${server.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body: within }));
      expect(ok.status).toBe(200);
    });

    it("a token that requires signatures, sent as a bearer token: 401 with Accept-Signature (RFC 9421 §5.1)", async () => {
      const { token } = await kw.tokens.create({
        owner: "acct_1",
        kind: "secret",
        requireSignedRequests: true,
        signing: { alg: "ed25519", publicKey: new Uint8Array(pair.publicKey) },
      });
      const r = await read(await fetch(`${server.url}/prices`, { headers: bearer(token) }));
      expect(r).toMatchObject({ status: 401, json: { code: "SIGNATURE_REQUIRED" } });
      expect(r.headers.get("accept-signature")).toMatch(/^sig1=\("@method" "@target-uri"\);created;expires;nonce;keyid="tok_\w+";alg="ed25519"$/);
      // With a body, the digest the verifier requires is asked for too.
      const post = await fetch(`${server.url}/orders`, { method: "POST", headers: { ...bearer(token), "content-type": "application/json" }, body: "{}" });
      expect(post.status).toBe(401);
      expect(post.headers.get("accept-signature")).toMatch(/^sig1=\("@method" "@target-uri" "content-digest"\);created;/);
    });

    it("behind a path-rewriting TLS proxy: verifies against publicOrigin, and only with it", async () => {
      // The client signs https://api.example.com/v2/prices; the gateway forwards /prices over plain HTTP.
      const sign = (url: string) => createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed }).sign(new Request(url));
      const forward = async (base: string) => {
        const signed = await sign("https://api.example.com/v2/prices?symbol=X");
        return read(await fetch(`${base}/prices?symbol=X`, { headers: signed.headers }));
      };
      expect(await forward(proxied.url)).toMatchObject({ status: 200, json: { token: signedId } });
      expect(await forward(server.url)).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
      // Every component derived from the URL, on the same rewritten request
      // (with @method and @target-uri, which the instance requires).
      for (const components of [["@authority", "@scheme"], ["@path", "@query"], ["@request-target"]]) {
        const signer = createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed, components: ["@method", "@target-uri", ...components] });
        const signed = await signer.sign(new Request("https://api.example.com/v2/prices?symbol=X"));
        const r = await read(await fetch(`${proxied.url}/prices?symbol=X`, { headers: signed.headers }));
        expect(r, components.join(" ")).toMatchObject({ status: 200, json: { token: signedId } });
      }
    });

    it("publicOrigin changes only the URL signatures are checked against: plain http stays plain http, with any copy of keyward", async () => {
      // Host: api.example.com, so the loopback exemption cannot apply; the socket (127.0.0.1) is the trusted proxy.
      const host = "api.example.com";
      const signed = async () => {
        const r = await createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed }).sign(new Request("https://api.example.com/v2/prices?symbol=X"));
        return [...r.headers] as [string, string][];
      };
      // The instance of this copy, and one of another copy (the middleware reaches it only through kw.verify).
      for (const target of [proxied, foreignProxied]) {
        const send = (headers: [string, string][]) => rawRequest(`${target.url}/prices?symbol=X`, headers, "GET", undefined, host);
        for (const [label, credential] of [["bearer", async () => [["authorization", `Bearer ${secret}`]] as [string, string][]], ["signed", signed]] as const) {
          const what = `${target === proxied ? "this copy" : "another copy"}, ${label}`;
          // The proxy says nothing of the scheme: the URL the server received (http) decides, not publicOrigin's https.
          expect(await send(await credential()), what).toMatchObject({ status: 403, json: { code: "INSECURE_TRANSPORT" } });
          expect(await send([...(await credential()), ["x-forwarded-proto", "http"]]), what).toMatchObject({ status: 403, json: { code: "INSECURE_TRANSPORT" } });
          expect((await send([...(await credential()), ["x-forwarded-proto", "https"]])).status, what).toBe(200);
        }
      }
    });

    it("an absolute-form request target (RFC 9112 §3.2.2): its authority instead of Host, the connection's scheme", async () => {
      const { host, port } = new URL(server.url);
      const sign = async (url: string) => {
        const signed = await createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed }).sign(new Request(url));
        return [...signed.headers] as [string, string][];
      };
      const at = `http://${host}/prices?symbol=X`;
      // The loopback exemption holds as for the origin form (the socket is the trusted proxy, which forwards nothing).
      expect(await rawGet(server.url, at, [["Host", host], ["Authorization", `Bearer ${secret}`]])).toMatchObject({ status: 200, json: { token: tokenId } });
      expect(await rawGet(server.url, at, [["Host", host], ...(await sign(at))])).toMatchObject({ status: 200, json: { token: signedId } });
      // The target names localhost, Host the loopback address: the target's authority is the one signed.
      const local = `http://localhost:${port}/prices`;
      expect(await rawGet(server.url, local, [["Host", host], ...(await sign(local))])).toMatchObject({ status: 200, json: { token: signedId } });
      expect(await rawGet(server.url, local, [["Host", host], ...(await sign(`http://${host}/prices`))])).toMatchObject({ status: 401 });
      // A target claiming https over cleartext: the scheme is the connection's, so a signature over https does not hold.
      const claimed = `https://${host}/prices`;
      expect(await rawGet(server.url, claimed, [["Host", host], ...(await sign(claimed))])).toMatchObject({
        status: 401,
        json: { type: "urn:keyward:problem:invalid-token" },
      });
    });

    it("client IP from the socket, and from X-Forwarded-For only behind trustedProxies", async () => {
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", ips: ["203.0.113.0/24"] });
      // The trusted proxy (the socket) ends TLS: a remote client's request is no loopback one.
      const via = (xff?: string) =>
        fetch(`${server.url}/prices`, { headers: { ...bearer(token), ...(xff ? { "x-forwarded-for": xff, "x-forwarded-proto": "https" } : {}) } }).then(read);
      expect((await via()).json).toMatchObject({ code: "IP_DENIED" });
      expect((await via("203.0.113.7")).status).toBe(200);
    });

    it("a getToken or onDenied that throws or rejects reaches the route's onError", async () => {
      for (const [mode, message] of [
        ["token", "getToken failed"],
        // A promise is no token: a ConfigError, and the promise's rejection is not left unhandled.
        ["async", "getToken: must return the token (a string, or null or undefined), not a promise"],
        ["throw", "onDenied threw"],
        ["reject", "onDenied rejected"],
      ]) {
        const r = await fetch(`${server.url}/failing?mode=${mode}`);
        expect([r.status, await r.text()], mode).toEqual([599, message]);
      }
    });

    it("an onError that answers nothing (it only logs) lets nothing through: the error reaches the framework's error handler, never the route's handler", async () => {
      for (const mode of ["quiet-token", "quiet-reject"]) {
        const r = await fetch(`${server.url}/failing?mode=${mode}`, { signal: AbortSignal.timeout(5_000) });
        const text = await r.text();
        expect(r.status, `${mode}: ${text.slice(0, 80)}`).toBe(500);
        expect(text, mode).not.toContain("never");
      }
    });

    it("concurrent requests, each its own: origin, token, decision and headers (bearer, signed, denied, cold and warm)", async () => {
      const tokens = await Promise.all(
        // Token j is for the origins of the requests i with i % 3 === j: a request given another's origin is denied.
        [0, 1, 2].map((j) =>
          kw.tokens.create({
            owner: `acct_c${j}`,
            kind: "publishable",
            domains: Array.from({ length: 8 }, (_, k) => `c${3 * k + j}.example`),
          }),
        ),
      );
      const sign = signer();
      const round = () =>
        Promise.all(
          Array.from({ length: 24 }, async (_, i) => {
            const origin = `https://c${i}.example`;
            const kind = i % 4;
            const url = `${corsServer.url}/prices`;
            const res =
              kind === 0
                ? await fetch(url, { headers: { ...bearer(tokens[i % 3]!.token), origin } })
                : kind === 1
                  ? await sign(url) // A secret token: from no browser, so with no Origin.
                  : kind === 2
                    ? await fetch(url, { headers: { ...bearer(`${tokens[i % 3]!.token}x`), origin } })
                    : await fetch(url, { headers: { origin } });
            const got = await read(res);
            const want = kind === 0 ? [200, tokens[i % 3]!.record.id] : kind === 1 ? [200, signedId] : [401, undefined];
            expect([got.status, got.json.token, got.headers.get("access-control-allow-origin")], `request ${i}: ${JSON.stringify(got.json)}`).toEqual([
              ...want,
              kind === 1 ? null : origin,
            ]);
          }),
        );
      // Cold (the tokens not cached yet), then warm (decided at once).
      await round();
      await round();
    });

    it("getToken reads another header (x-api-key); onDenied answers instead of the default", async () => {
      expect(await read(await fetch(`${server.url}/key`, { headers: { "x-api-key": secret } }))).toMatchObject({ status: 200, json: { token: tokenId } });
      expect((await read(await fetch(`${server.url}/key`, { headers: { "x-api-key": "nope" } }))).status).toBe(401);
      expect(await read(await fetch(`${server.url}/custom`))).toMatchObject({ status: 418, json: { denied: "TOKEN_MISSING" } });
    });

    it("CORS, when enabled: preflights answered; answers carry Access-Control-Allow-Origin; domains still decide", async () => {
      const pre = await fetch(`${corsServer.url}/prices`, {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example");
      // keyward's request fields, and the one the options add (a getToken header of one's own).
      expect(pre.headers.get("access-control-allow-headers")).toBe("authorization, content-type, content-digest, signature, signature-input, x-api-key");
      const ok = await fetch(`${corsServer.url}/prices`, { headers: { ...bearer(publishable), origin: "https://app.example" } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
      const other = await read(await fetch(`${corsServer.url}/prices`, { headers: { ...bearer(publishable), origin: "https://evil.example" } }));
      expect(other).toMatchObject({ status: 403, json: { code: "DOMAIN_DENIED" } });
      expect(other.headers.get("access-control-allow-origin")).toBe("https://evil.example");
      // A handler that sets its own Vary: Origin is kept in it, since Allow-Origin echoes the origin (RFC 9110 §12.5.5).
      const vary = await fetch(`${corsServer.url}/vary`, { headers: { ...bearer(publishable), origin: "https://app.example" } });
      expect([vary.status, vary.headers.get("vary"), vary.headers.get("access-control-allow-origin")]).toEqual([200, "Accept-Encoding, Origin", "https://app.example"]);
      // So is a Vary set before the guard (a middleware in front): Origin joins it, never replaces it.
      const before = await fetch(`${corsServer.url}/vary-before`, { headers: { ...bearer(publishable), origin: "https://app.example" } });
      expect([before.status, before.headers.get("vary")]).toEqual([200, "Accept-Language, Origin"]);
      // A denial keeps it as well, as the allowed answer does (the Fetch wrapper has nothing in front: Origin alone).
      const refused = await fetch(`${corsServer.url}/vary-before`, { headers: { origin: "https://app.example" } });
      expect([refused.status, refused.headers.get("vary")]).toEqual([401, name === "Fetch API" ? "Origin" : "Accept-Language, Origin"]);
      const refusedNoCors = await fetch(`${server.url}/vary-before`);
      expect([refusedNoCors.status, refusedNoCors.headers.get("vary")]).toEqual([401, name === "Fetch API" ? null : "Accept-Language"]);
      // And so does a preflight's answer: its names join the Vary set before it.
      const preBefore = await fetch(`${corsServer.url}/vary-before`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "GET" } });
      const preflightVary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
      expect([preBefore.status, preBefore.headers.get("vary")]).toEqual([204, name === "Fetch API" ? preflightVary : `Accept-Language, ${preflightVary}`]);
      // Without cors: no preflight answer from keyward.
      const none = await fetch(`${server.url}/prices`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "GET" } });
      expect(none.headers.get("access-control-allow-origin")).toBeNull();
    });

    it("CORS, when enabled: answers to requests without Origin vary on Origin too, so no cache serves one to a page (Fetch §3.2.5)", async () => {
      // Before: no Vary on these, while the same URL asked with an Origin gets Access-Control-Allow-Origin.
      const ok = await fetch(`${corsServer.url}/prices`, { headers: bearer(secret) });
      expect([ok.status, ok.headers.get("vary"), ok.headers.get("access-control-allow-origin")]).toEqual([200, "Origin", null]);
      const vary = await fetch(`${corsServer.url}/vary`, { headers: bearer(secret) });
      expect([vary.status, vary.headers.get("vary")]).toEqual([200, "Accept-Encoding, Origin"]);
      const denied = await fetch(`${corsServer.url}/prices`);
      expect([denied.status, denied.headers.get("vary"), denied.headers.get("access-control-allow-origin")]).toEqual([401, "Origin", null]);
      // Without cors, no Vary of keyward's.
      expect((await fetch(`${server.url}/prices`, { headers: bearer(secret) })).headers.get("vary")).toBeNull();
    });

    it("a Host that does not make a URL: decided (or refused by the framework), never a 500, never an allow", async () => {
      const host = "exa mple";
      const viaBearer = await rawRequest(`${server.url}/prices`, [["authorization", `Bearer ${secret}`]], "GET", undefined, host);
      // Plain http from a Host that is no loopback name: the secret token's transport is insecure.
      expect([400, 403]).toContain(viaBearer.status);
      if (viaBearer.status === 403) expect(viaBearer.json.code).toBe("INSECURE_TRANSPORT");
      const signed = [
        ["signature-input", `sig1=("@method" "@target-uri");created=${Math.floor(Date.now() / 1000)};keyid="${signedId}";alg="ed25519"`],
        ["signature", "sig1=:AAAA:"],
      ] as [string, string][];
      for (const target of [server, proxied]) {
        const viaSigned = await rawRequest(`${target.url}/prices`, signed, "GET", undefined, host);
        expect([400, 401]).toContain(viaSigned.status);
        if (viaSigned.status === 401) expect(viaSigned.json.type).toBe("urn:keyward:problem:invalid-token");
      }
    });

    it("a request aborted mid-body neither crashes the server nor allows", async () => {
      await new Promise<void>((resolve) => {
        const req = httpRequest(`${server.url}/orders`, {
          method: "POST",
          headers: { "content-type": "application/json", "content-length": "500", "signature-input": 'sig1=("@method");keyid="tok_x"', signature: "sig1=:AA==:" },
        });
        req.on("error", () => resolve());
        req.write('{"qty":');
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 50);
      });
      expect((await read(await fetch(`${server.url}/prices`, { headers: bearer(secret) }))).status).toBe(200);
    });

    it("a validly signed request aborted mid-body is never allowed, and leaves no unhandled rejection", async () => {
      const rejections: unknown[] = [];
      const onRejection = (reason: unknown) => rejections.push(reason);
      process.on("unhandledRejection", onRejection);
      try {
        const allowed = async () => {
          await kw.flush();
          return (await kw.usage.get(signedId)).reduce((n, b) => n + b.allowed, 0);
        };
        const before = await allowed();
        const body = JSON.stringify({ symbol: "X", qty: 3, pad: "x".repeat(400) });
        const signed = await createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed }).sign(
          new Request(`${server.url}/orders`, { method: "POST", headers: { "content-type": "application/json" }, body }),
        );
        await new Promise<void>((resolve) => {
          const req = httpRequest(`${server.url}/orders`, { method: "POST", headers: { ...Object.fromEntries(signed.headers), "content-length": String(body.length) } });
          req.on("error", () => resolve());
          req.on("response", () => resolve());
          req.write(body.slice(0, 100));
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 50);
        });
        await new Promise((r) => setTimeout(r, 50));
        expect(await allowed()).toBe(before);
        expect(rejections).toEqual([]);
      } finally {
        process.off("unhandledRejection", onRejection);
      }
    });
  });
}
