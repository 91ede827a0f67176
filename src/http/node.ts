// The Node side of the Express and Fastify adapters: a Node request seen as
// an EdgeRequest. Type-only imports of node:http: nothing Node-specific runs
// at import time.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import type { DeniedDecision } from "../verify/decision.js";
import { type EdgeRequest, mergedVary, requestOf } from "./core.js";

/** A Node request that may carry the raw body captured before a parser read it. */
export type WithRawBody = IncomingMessage & { rawBody?: Uint8Array | undefined };

/** What tells whether a Node request of either protocol has a body: an HTTP/2 one (node:http2's compatibility API) has the stream it came on. */
export type BodyFields = Pick<IncomingMessage, "headers"> & { stream?: { endAfterHeaders?: boolean } };

/**
 * Whether a request has a body: RFC 9112 §6.3 (Transfer-Encoding, or a
 * non-zero Content-Length); over HTTP/2, a body needs neither, and there is
 * none when the HEADERS frame ended the stream (RFC 9113 §8.1).
 */
export function hasBody(req: BodyFields): boolean {
  if (req.stream !== undefined) return req.stream.endAfterHeaders !== true;
  return req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0";
}

/**
 * A Node request's body (`source`: the request, or Fastify's payload
 * stream) as a Fetch body stream, pulled only when the verifier reads it:
 * after the signature verified, and within the instance's
 * `signatures.maxBodyBytes` and `signatures.bodyTimeoutMs`. Once it has
 * ended, the bytes are kept as `rawBody` of `req` for the application,
 * whose stream keyward has read. `release`, once the verifier decided,
 * puts what it read of a body it stopped reading (past the limit, or late)
 * back in front of the rest, and leaves the stream to the application: an
 * `onDenied` that lets the request through hands the whole body on.
 */
function bodyStream(source: Readable, req: WithRawBody): { stream: ReadableStream<Uint8Array>; release: () => void } {
  const kept: Buffer[] = [];
  let listening = false;
  let released = false;
  let failed: unknown = null;
  /** The pull waiting for the source, if any. */
  let wake: (() => void) | null = null;
  const onChange = () => {
    const pending = wake;
    wake = null;
    pending?.();
  };
  const onError = (err: unknown) => {
    failed ??= err;
    onChange();
  };
  // Closed before its end: the client aborted mid-body.
  const onClose = () => onError(source.readableEnded ? null : new Error("aborted"));
  const stopListening = () => {
    source.off("readable", onChange).off("end", onChange).off("error", onError).off("close", onClose);
  };
  // A high-water mark of 0: nothing is pulled before the verifier reads (the
  // default, 1, pulls a chunk as the stream is made), so the body of a
  // request refused before its body (a forged signature) is left as it came.
  const stream = new ReadableStream<Uint8Array>(
    {
    pull(controller) {
      if (!listening) {
        listening = true;
        source.on("readable", onChange).on("end", onChange).on("error", onError).on("close", onClose);
      }
      return new Promise<void>((resolve, reject) => {
        const step = () => {
          if (released) return resolve();
          const read = source.read() as Buffer | string | null;
          if (read !== null) {
            // A string once the application set an encoding (req.setEncoding): its bytes again.
            const chunk = typeof read === "string" ? Buffer.from(read, source.readableEncoding ?? "utf8") : read;
            kept.push(chunk);
            controller.enqueue(chunk);
            return resolve();
          }
          // A rejection errors the stream, and the verifier's read of it.
          if (failed !== null) return reject(failed);
          if (!source.readableEnded) {
            wake = step;
            return;
          }
          stopListening();
          req.rawBody = joined(kept);
          controller.close();
          resolve();
        };
        step();
      });
    },
  },
    { highWaterMark: 0 },
  );
  const release = () => {
    if (released || !listening || req.rawBody !== undefined) return;
    released = true;
    stopListening();
    onChange();
    if (source.readableEnded || source.destroyed) return;
    for (let i = kept.length - 1; i >= 0; i--) source.unshift(kept[i]);
  };
  return { stream, release };
}

/** A Node request of either protocol whose denial may leave its body unread; over HTTP/2, with the stream it came on. */
type UnreadBody = Pick<IncomingMessage, "httpVersionMajor" | "readableDidRead" | "readableEnded"> & {
  resume(): unknown;
  stream?: { close(code?: number): void; once(event: "finish", listener: () => void): unknown };
};

/**
 * Ends what the denial of a request leaves of its body, when the body is
 * not read to its end and keyward either began reading it (a signed body
 * that stopped coming, or ran past `signatures.maxBodyBytes` without a
 * Content-Length saying so) or refused it for its size (`BODY_TOO_LARGE`).
 * Node reads on (and discards) or closes only a body nobody read: the rest
 * of one read in part would stay, and discarding a body refused for its
 * size would read it all the same. Over HTTP/1 the answer closes the
 * connection (`setHeader("connection", "close")`), as Fastify answers its
 * own errors of a body read in part: else a request pipelined after it is
 * never answered. Over HTTP/2, which has no such field (RFC 9113 §8.2.2),
 * the stream is closed once the answer is sent, with RST_STREAM NO_ERROR
 * (RFC 9113 §8.1: the client stops sending, the answer stands), and what
 * came before it (at most a flow-control window) is discarded, which lets
 * Node release the stream: else it stays open, with what it buffered, for
 * as long as the session does, and the client's upload never ends. Not
 * when the application read the body by then (an `onDenied` that let the
 * request through).
 */
export function closeUnreadBody(req: UnreadBody, decision: DeniedDecision, setHeader: (name: "connection", value: "close") => void): void {
  if (req.readableEnded || !(req.readableDidRead || decision.code === "BODY_TOO_LARGE")) return;
  endAfterAnswer(req, setHeader);
}

/**
 * Ends the rest of a body left unread, once the answer is sent: over HTTP/1
 * the answer closes the connection; over HTTP/2 the stream is closed with
 * RST_STREAM NO_ERROR and what came of the body is discarded (see
 * {@link closeUnreadBody}, and keyward/admin's `toNodeHandler`).
 */
export function endAfterAnswer(req: UnreadBody, setHeader: (name: "connection", value: "close") => void): void {
  if (req.httpVersionMajor === 1) {
    setHeader("connection", "close");
    return;
  }
  const stream = req.stream;
  stream?.once("finish", () => {
    if (req.readableEnded) return;
    // 0: NGHTTP2_NO_ERROR (node:http2 is not imported here).
    stream.close(0);
    req.resume();
  });
}

/** A Node response's Vary (as `getHeader` gives it: absent, a value or a list) with the names of `add` it lacks. */
export function varyOf(present: number | string | readonly string[] | undefined, add: string): string {
  return present === undefined ? add : mergedVary(Array.isArray(present) ? present.join(", ") : String(present), add);
}

/** Chunks as one plain Uint8Array view: keyward hands out no Buffers. */
export function joined(chunks: Buffer[]): Uint8Array {
  const all = Buffer.concat(chunks);
  return new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
}

/** The body stream of a GET or HEAD something consumed unseen: the verifier answers `BODY_ALREADY_READ`. */
function lockedStream(): ReadableStream<Uint8Array> {
  const stream = new ReadableStream<Uint8Array>();
  stream.getReader();
  return stream;
}

/**
 * A Fetch `Request` whose body was read, as the Node request's was by a body
 * parser that kept no copy: `kw.verify` answers it as it answers any such
 * request, `BODY_ALREADY_READ` (500) once the signature verified, and so
 * does keyward/admin's handler.
 */
export async function consumed(url: string, method: string, headers: Headers): Promise<Request> {
  const request = requestOf(url, method, { headers, body: new Uint8Array(0) });
  await request.arrayBuffer();
  return request;
}

/**
 * Whether a request names two different hosts, in `:authority` (HTTP/2) and
 * in a Host field: a malformed request (RFC 9113 §8.3.1), which the
 * framework may route by either.
 */
export function conflictingHosts(headers: IncomingHttpHeaders): boolean {
  const { host, ":authority": authority } = headers as { host?: string; ":authority"?: string };
  return host !== undefined && authority !== undefined && host.toLowerCase() !== authority.toLowerCase();
}

/**
 * The host of a request whose host is malformed (two different ones, see
 * {@link conflictingHosts}, or one that makes no URL): it is verified, or
 * served, at this reserved name (RFC 2606), for which no signature holds.
 */
export const INVALID_HOST = "invalid.invalid";

/**
 * A path segment the URL parser removes or merges (RFC 3986 §5.2.4 dot
 * segments, `%2e` among them) and the backslash WHATWG URL reads as a slash.
 */
const RESHAPED_PATH = /\\|(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/** An absolute-form target's start (RFC 9112 §3.2.2): the scheme in any case (RFC 9110 §4.2.3), as Express and Fastify route it. */
const ABSOLUTE_FORM = /^https?:\/\//i;

/** What a Host (or `:authority`) that is a host and port holds none of (RFC 3986 §3.2): it is empty, or ends its authority early. */
const NO_AUTHORITY = /^$|[/\\?#@%\s]/;

/**
 * Whether the URL parser would reshape the path of a request target
 * (`/files/../admin`, `/files/%2e%2e/admin`, `/files/..\\admin` → `/admin`).
 * Express and Fastify route such a target as received, while a Fetch
 * Request at it shows the verifier the reshaped path: the signature of a
 * request for `/admin` would hold at the route `/files/*`. A client that
 * signs what it sends sends no such target (Fetch reshapes it before), so
 * none is verified.
 */
export function reshapedPath(target: string): boolean {
  const query = target.indexOf("?");
  return RESHAPED_PATH.test(query === -1 ? target : target.slice(0, query));
}

/**
 * Whether a Fetch Request at a request target would show the verifier
 * another target than the framework serves: a path the URL parser reshapes
 * ({@link reshapedPath}), or a "#", which no request target holds (RFC 9112
 * §3.2) and Node lets through: the URL parser drops what follows it as a
 * fragment, where Fastify reads it as query parameters (`/a?x#&admin=1`
 * has `admin`) and other routers as path.
 */
function unverifiableTarget(target: string): boolean {
  return target.includes("#") || reshapedPath(target);
}

/**
 * Whether a raw header name is `Authorization`, in any case: its two usual
 * spellings compared as they are, any other name of its length lowercased
 * only when it starts with an `a` (no string made per request for
 * `Authorization`, nor for `Cache-Control`).
 */
function isAuthorization(name: string): boolean {
  if (name.length !== 13) return false;
  if (name === "authorization" || name === "Authorization") return true;
  return (name.charCodeAt(0) | 0x20) === 0x61 && name.toLowerCase() === "authorization";
}

/**
 * A header of a Node request. Node keeps only the first of repeated
 * `Authorization` lines; Fetch `Headers` join them with ", ", which keyward
 * refuses as ambiguous. Read from the raw lines so the answer is the same.
 */
export function headerOf(req: Pick<IncomingMessage, "headers" | "rawHeaders">, name: string): string | null {
  if (name === "authorization") {
    const raw = req.rawHeaders;
    let value: string | null = null;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (isAuthorization(raw[i]!)) value = value === null ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
    }
    return value;
  }
  const v = req.headers[name];
  return v === undefined ? null : typeof v === "string" ? v : v.join(", ");
}

/**
 * A Node request as the core sees it.
 *
 * @param raw the framework's request, for `getToken`
 * @param req the Node request under it
 * @param path the request target as the client sent it, the path and query or an absolute URL (Express rewrites `req.url` in routers)
 * @param body the stream the body comes from, when not `req` itself (Fastify's payload)
 */
export function nodeEdgeRequest<Req>(raw: Req, req: WithRawBody, path: string, body: Readable = req): EdgeRequest<Req> {
  return new NodeEdgeRequest(raw, req, path, body);
}

/** A class, not an object literal with a getter and closures: one is built per request. */
class NodeEdgeRequest<Req> implements EdgeRequest<Req> {
  readonly method: string;
  readonly ip: string | null;

  constructor(
    readonly raw: Req,
    private readonly req: WithRawBody,
    private readonly path: string,
    private readonly body: Readable,
  ) {
    this.method = req.method ?? "GET";
    this.ip = req.socket.remoteAddress ?? null;
  }

  // As received, not parsed here: the bearer path only searches it (and
  // parses the origin once per origin); the signed path checks it parses.
  get url(): string {
    const scheme = (this.req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
    const path = this.path;
    // An absolute-form target (RFC 9112 §3.2.2) names the authority in place
    // of Host; the scheme stays the connection's, as on @hono/node-server.
    if (path.charCodeAt(0) !== 47 && ABSOLUTE_FORM.test(path) && URL.canParse(path)) {
      const { username, password, host, pathname, search } = new URL(path);
      // Userinfo (RFC 9110 §4.2.4 forbids it here), which a Fetch Request refuses: no authority.
      return `${scheme}://${username === "" && password === "" ? host : INVALID_HOST}${pathname}${search}`;
    }
    // HTTP/2 names the target's authority in `:authority`, before any Host field (RFC 9113 §8.3.1).
    const headers = this.req.headers;
    const given = conflictingHosts(headers) ? INVALID_HOST : (headers[":authority"] ?? headers.host ?? "localhost");
    // A Host that is no authority would move the path a URL reads (`api.example.com/admin#` + `/files/x`
    // reads `/admin`), or give it userinfo, which a Fetch Request refuses.
    const authority = typeof given === "string" && !NO_AUTHORITY.test(given) ? given : INVALID_HOST;
    return `${scheme}://${authority}${path}`;
  }

  header(name: string): string | null {
    return headerOf(this.req, name);
  }

  hasBody(): boolean {
    return hasBody(this.req);
  }

  async toRequest(at: string): Promise<{ request: Request; body: Uint8Array | ReadableStream<Uint8Array> | undefined; release?: () => void }> {
    const req = this.req;
    // Verified at a URL no signature holds for: the framework serves another target than the Request would show.
    const url = unverifiableTarget(this.path) ? `http://${INVALID_HOST}/` : at;
    const headers = new Headers();
    const raw = req.rawHeaders;
    // HTTP/2's pseudo-header fields (`:method`, `:path`, …) are no header fields of a Fetch Request.
    for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.charCodeAt(0) !== 58) headers.append(raw[i]!, raw[i + 1]!);
    const method = this.method;
    const bare = () => requestOf(url, method, { headers });
    if (!hasBody(req)) return { request: bare(), body: undefined };
    // A Fetch Request of a GET or HEAD has no body, but a parser (express.json() reads a GET's)
    // or the route may read it all the same: it is given to the verifier beside the Request.
    const bodiless = method === "GET" || method === "HEAD";
    // The bytes a parser captured (or Fastify's plugin read) are checked as they are.
    const captured = req.rawBody;
    if (captured !== undefined) {
      const body = bodiless || captured.length === 0 ? null : (captured as Uint8Array<ArrayBuffer>);
      return { request: requestOf(url, method, { headers, body }), body: captured };
    }
    // An HTTP/2 GET or HEAD whose stream the client left open, announcing no body (no Content-Length),
    // is answered without waiting for the end of its stream: not read.
    if (bodiless && req.headers["content-length"] === undefined && req.headers["transfer-encoding"] === undefined) {
      return { request: bare(), body: undefined };
    }
    const source = this.body;
    if (source.readableEnded || source.readableDidRead) {
      return bodiless ? { request: bare(), body: lockedStream() } : { request: await consumed(url, method, headers), body: undefined };
    }
    const { stream, release } = bodyStream(source, req);
    if (bodiless) return { request: bare(), body: stream, release };
    return { request: requestOf(url, method, { headers, body: stream, duplex: "half" } as RequestInit), body: undefined, release };
  }
}
