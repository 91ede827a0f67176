// A small API server for the client tests: serves a page that loads the
// browser bundle of keyward/client, and an /api endpoint that turns the Node
// request into a Fetch API Request and verifies its signature.
//
// All checking goes through one function, `verify`: `keywardVerifier(kw)` is
// `kw.verify`, the way an application protects its API; `signatureVerifier`
// checks signatures alone with keyward/signing.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Keyward } from "../../src/index.js";
import { type VerifyRequestOptions, verifyRequest } from "../../src/signing/index.js";

/** What the API answers: `ok`, or a stable failure code. Shaped like keyward's Decision. */
export interface ApiVerdict {
  ok: boolean;
  code?: string;
  keyid?: string;
  alg?: string;
}

/** The one function the server calls on every /api request. */
export type VerifyApiRequest = (request: Request) => Promise<ApiVerdict>;

/** A logged /api call, as the server saw it. */
export interface ApiCall {
  method: string;
  url: string;
  body: string;
  /** The Referer field the request carried (null: none). */
  referer: string | null;
  verdict: ApiVerdict;
}

/** Every /api request goes through `kw.verify`; the verdict reports the decision's code and the token's algorithm. */
export function keywardVerifier(kw: Keyward): VerifyApiRequest {
  return async (request) => {
    const d = await kw.verify(request, { scope: "core:read" });
    if (!d.ok) return { ok: false, code: d.code };
    return { ok: true, keyid: d.tokenId ?? "", alg: d.token?.signing?.alg ?? "" };
  };
}

/**
 * Verifies with keyward/signing alone (no tokens): the client's full coverage
 * required, nonces remembered until they expire.
 */
export function signatureVerifier(resolveKey: VerifyRequestOptions["resolveKey"]): VerifyApiRequest {
  const seen = new Map<string, number>();
  return async (request) => {
    const required = ["@method", "@target-uri", "created", "expires", "nonce", "keyid", "alg"];
    if (request.body !== null) required.push("content-digest"); // toFetchRequest: null when empty
    const result = await verifyRequest(request, {
      resolveKey,
      required,
      requireNonce: true,
      nonce: (nonce, expiresAtMs) => {
        const now = Date.now();
        for (const [n, exp] of seen) if (exp < now) seen.delete(n);
        if (seen.has(nonce)) return false;
        seen.set(nonce, expiresAtMs);
        return true;
      },
    });
    return result.ok ? { ok: true, keyid: result.keyid, alg: result.alg } : { ok: false, code: result.code };
  };
}

/** Converts a Node request to a Fetch API Request (absolute URL from Host, raw headers, buffered body or none). */
export async function toFetchRequest(req: IncomingMessage): Promise<Request> {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`);
  const method = req.method ?? "GET";
  if (method === "GET" || method === "HEAD") return new Request(url, { method, headers });
  const chunks: Uint8Array[] = [];
  for await (const chunk of req) chunks.push(chunk as Uint8Array);
  const body = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    body.set(c, offset);
    offset += c.byteLength;
  }
  // No bytes: no body (Fetch clients send none for a bodiless DELETE; Node cannot tell).
  return new Request(url, { method, headers, body: body.length === 0 ? null : body });
}

export interface ApiServer {
  /** Base URL, e.g. http://127.0.0.1:43210 */
  url: string;
  /** Every /api call, in order. */
  calls: ApiCall[];
  close(): Promise<void>;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>keyward/client</title></head>
<body><script type="module">
import * as keyward from "/client.js";
globalThis.keyward = keyward;
document.title = "ready";
</script></body></html>`;

/** Starts the server on 127.0.0.1, on a random port. `bundle` is served as /client.js. */
export async function startApiServer(options: { verify: VerifyApiRequest; bundle?: string }): Promise<ApiServer> {
  const calls: ApiCall[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (req.method === "GET" && path === "/") return send(res, 200, "text/html; charset=utf-8", PAGE);
    if (path === "/favicon.ico") return send(res, 204, "image/x-icon", "");
    if (req.method === "GET" && path === "/client.js" && options.bundle !== undefined) {
      return send(res, 200, "text/javascript; charset=utf-8", options.bundle);
    }
    // /redirect/<path>: a 307 to <path> on this origin.
    if (path.startsWith("/redirect/")) {
      res.writeHead(307, { location: path.slice("/redirect".length), "cache-control": "no-store" });
      return void res.end();
    }
    if (path.startsWith("/api/")) {
      const request = await toFetchRequest(req);
      const body = request.body === null ? "" : await request.clone().text();
      const verdict = await options.verify(request);
      calls.push({ method: request.method, url: request.url, body, referer: request.headers.get("referer"), verdict });
      const status = verdict.ok ? 200 : 401;
      return send(res, status, "application/json", JSON.stringify({ ...verdict, method: request.method, url: request.url, body }));
    }
    return send(res, 404, "text/plain", "not found");
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => send(res, 500, "text/plain", String(err)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}
