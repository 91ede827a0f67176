// The admin handler on a Node server (node:http, Express, Fastify, Koa): a
// Node request as a Fetch `Request`, the `Response` written back. Only
// structural types: nothing Node-specific runs at import time.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { ConfigError } from "../errors.js";
import { requestOf } from "../http/core.js";
import { consumed, endAfterAnswer, hasBody, INVALID_HOST, reshapedPath, type WithRawBody } from "../http/node.js";
import type { AdminHandler } from "./handler.js";

/** A URL the handler serves nothing at, whatever its base path: an empty path segment, which no base path holds (404 NOT_FOUND). */
const NOWHERE = `http://${INVALID_HOST}//`;

/** Options of {@link toNodeHandler}. */
export interface NodeHandlerOptions {
  /**
   * The origin the browser sees, when the server sits behind a TLS-terminating
   * proxy (e.g. `"https://example.com"`); default `http://` (`https://` on a
   * server with its own TLS) + the Host header (`http://invalid.invalid`
   * when a client's Host makes no URL). It is the request URL's origin: the
   * one a browser's `Origin` must be when it sends no `Sec-Fetch-Site` (or
   * one of `allowedOrigins`), else a change is refused 403
   * `CROSS_SITE_REQUEST`. Named
   * as the middleware's option, but an origin only, without the path prefix
   * the middleware's takes: `basePath` is the path the browser sees.
   */
  publicOrigin?: string | undefined;
  /** @deprecated Use `publicOrigin`, the same value (when both are given they must be equal). */
  origin?: string | undefined;
}

/** The public origin of the options, checked once. */
function publicOriginOf(options: NodeHandlerOptions): string | undefined {
  const { publicOrigin, origin } = options;
  if (publicOrigin !== undefined && origin !== undefined && publicOrigin !== origin) {
    throw new ConfigError("publicOrigin", "and its deprecated alias origin differ: give publicOrigin only");
  }
  const value = publicOrigin ?? origin;
  if (value === undefined) return undefined;
  const url = typeof value === "string" && URL.canParse(value) ? new URL(value) : null;
  const bare = url !== null && url.pathname === "/" && url.search === "" && url.hash === "" && url.username === "" && url.password === "";
  if (!bare || (url.protocol !== "https:" && url.protocol !== "http:")) {
    throw new ConfigError("publicOrigin", 'must be an http(s) origin without a path, e.g. "https://example.com"');
  }
  return url.origin;
}

/**
 * Wraps a Fetch handler for Node's `(req, res)`: Express `app.use(path, …)`
 * (the original URL is used, so the handler's `basePath` is the full mount
 * path), Fastify's `reply.hijack()` (over HTTP/2 too), `http.createServer`
 * or `http2.createServer`. Mount it before any body parser: it reads the
 * body itself, up to `maxBodyBytes` (a body a parser read first is the
 * bytes it kept on `req.rawBody`, as keyward/express's `guard.rawBody` keeps
 * them, or else answered 500 `BODY_ALREADY_READ`, nothing done).
 *
 * @param handler the admin handler
 * @param options the public origin
 * @returns a Node request listener; it never rejects (errors become a 500)
 * @throws {ConfigError} `INVALID_CONFIG` for a `publicOrigin` that is not an http(s) origin
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { Keyward, MemoryStore } from "keyward";
 * import { createAdminHandler, toNodeHandler } from "keyward/admin";
 *
 * const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
 * const server = createServer(toNodeHandler(createAdminHandler({ keyward: kw, authorize: () => null })));
 * ```
 */
export function toNodeHandler(
  handler: AdminHandler,
  options: NodeHandlerOptions = {},
): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => Promise<void> {
  const publicOrigin = publicOriginOf(options);
  return async (req, res) => {
    // A client that goes before its body is in is answered 499 CLIENT_CLOSED_REQUEST once the handler reads that body;
    // a logger that reads the status as the connection closes (pino-http's res "close", morgan's on-finished) reads it
    // first, before the handler hears of it: the status is set then, before any listener a middleware added.
    res.prependListener("close", () => {
      if (!res.headersSent && bodyPending(req)) res.statusCode = 499;
    });
    try {
      const path = (req as { originalUrl?: string }).originalUrl ?? req.url ?? "/";
      // HTTP/2 names the authority in `:authority`, not in Host (RFC 9113 §8.3.1).
      // A server with its own TLS (node:https, http2.createSecureServer) is at https: the origin its pages are at, which the
      // handler compares a browser's Origin with when it sends no Sec-Fetch-Site.
      const scheme = (req.socket as { encrypted?: boolean } | undefined)?.encrypted ? "https" : "http";
      const received = publicOrigin ?? `${scheme}://${req.headers.host ?? req.headers[":authority"] ?? "localhost"}`;
      // A client's Host that makes no URL ("a b", a port over 65535) is served at a host that names none, not a 500.
      const origin = URL.canParse(received) ? received : `http://${INVALID_HOST}`;
      // A target whose path the URL parser reshapes (`/tokens/../members/x`, `%2e`, a backslash) is routed by Express and
      // Fastify as received, past any guard the application mounted on the path it becomes: served where nothing is (404).
      let url = reshapedPath(path) ? new URL(NOWHERE) : URL.canParse(path, origin) ? new URL(path, origin) : new URL("/", origin);
      // Userinfo (a Host `u@host`, or an absolute-form target's), which a Fetch Request refuses: served there too.
      if (url.username !== "" || url.password !== "") url = new URL(url.pathname + url.search, `http://${INVALID_HOST}`);
      const headers = new Headers();
      // HTTP/2's pseudo-header fields (`:method`, `:path`, …) are no header fields of a Fetch Request.
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.charCodeAt(0) !== 58) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
      const method = req.method ?? "GET";
      const request = await requestFor(req, url.href, method, headers);
      const response = await handler(request);
      res.statusCode = response.status;
      for (const [name, value] of response.headers) if (name !== "set-cookie") res.setHeader(name, value);
      const cookies = response.headers.getSetCookie();
      if (cookies.length > 0) res.setHeader("set-cookie", cookies);
      // A body refused unread (413, 415, 408) is still on the wire: over HTTP/1 the connection cannot carry another
      // request (RFC 9112 §9.6); HTTP/2 has no Connection field (setting one throws), its stream is closed instead.
      if (bodyPending(req)) endAfterAnswer(req, (name, value) => res.setHeader(name, value));
      if (method === "HEAD") res.end();
      else res.end(new Uint8Array(await response.arrayBuffer()));
    } catch {
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    }
  };
}

/**
 * The Fetch Request of a Node request. A body a parser mounted before the
 * handler read (express.json(), Fastify's own) is the bytes it kept on
 * `req.rawBody` (as keyward/express's `guard.rawBody` hook keeps them), or else a
 * body already read (500 BODY_ALREADY_READ): never an empty body, which would
 * regenerate a token at once without the compare-and-set asked for. A method
 * no Fetch Request may have (TRACE, which Node hands on) reaches the handler
 * too: 405.
 */
async function requestFor(req: IncomingMessage | Http2ServerRequest, url: string, method: string, headers: Headers): Promise<Request> {
  if (method === "GET" || method === "HEAD") return requestOf(url, method, { headers });
  if (!hasBody(req) || !(req.readableEnded || req.readableDidRead)) return requestOf(url, method, { headers, body: pullStream(req), duplex: "half" } as RequestInit);
  const kept = (req as WithRawBody).rawBody;
  return kept instanceof Uint8Array ? requestOf(url, method, { headers, body: kept as Uint8Array<ArrayBuffer> }) : consumed(url, method, headers);
}

/** Whether some of the request's body is still to come: over HTTP/1 until the message is complete, over HTTP/2 until its stream ends. */
function bodyPending(req: IncomingMessage | Http2ServerRequest): boolean {
  return req.httpVersionMajor === 1 ? !req.complete : hasBody(req) && !req.readableEnded;
}

/** A pull stream over a Node request: nothing is read before the handler asks, and cancelling stops the socket's reading. */
function pullStream(req: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const chunks = req[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await chunks.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await chunks.return?.();
    },
  });
}
