// The Node side of the Express and Fastify adapters: a Node request seen as
// an EdgeRequest. Type-only imports of node:http: nothing Node-specific runs
// at import time.
import type { IncomingMessage } from "node:http";
import type { EdgeRequest } from "./core.js";

/** A Node request that may carry the raw body captured before a parser read it. */
export type WithRawBody = IncomingMessage & { rawBody?: Uint8Array | undefined };

/** A Node request of either protocol: an HTTP/2 one (node:http2's compatibility API) has the stream it came on. */
type NodeRequest = IncomingMessage & { stream?: { endAfterHeaders?: boolean } };

/**
 * Whether a request has a body: RFC 9112 §6.3 (Transfer-Encoding, or a
 * non-zero Content-Length); over HTTP/2, a body needs neither, and there is
 * none when the HEADERS frame ended the stream (RFC 9113 §8.1).
 */
export function hasBody(req: NodeRequest): boolean {
  if (req.stream !== undefined) return req.stream.endAfterHeaders !== true && req.headers["content-length"] !== "0";
  return req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0";
}

/**
 * Reads the body of a Node request, stopping at the first chunk that takes
 * it past `maxBytes` (so at most one chunk more is buffered); keyward then
 * refuses the body as too large. Rejects when the client aborts mid-body.
 */
export async function readNodeBody(req: AsyncIterable<unknown>, maxBytes: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of req) {
    const c = chunk as Uint8Array;
    chunks.push(c);
    total += c.byteLength;
    if (total > maxBytes) break;
  }
  const joined = Buffer.concat(chunks, total);
  // A plain Uint8Array view: keyward hands out no Buffers.
  return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
}

/**
 * The raw body of a signed request: the bytes a parser captured, or the
 * stream read now (and kept as `rawBody`, so the application reads it too);
 * null when a body parser consumed the stream without capturing the bytes.
 */
export async function rawBodyOf(req: WithRawBody, maxBytes: number): Promise<Uint8Array | undefined | null> {
  if (req.rawBody !== undefined) return req.rawBody;
  if (!hasBody(req)) return undefined;
  if (req.readableEnded || req.readableDidRead) return null;
  req.rawBody = await readNodeBody(req, maxBytes);
  return req.rawBody;
}

/**
 * A Fetch `Request` whose body was read, as the Node request's was by a body
 * parser that kept no copy: `kw.verify` answers it as it answers any such
 * request, `BODY_ALREADY_READ` (500) once the signature verified.
 */
async function consumed(url: string, method: string, headers: Headers): Promise<Request> {
  const request = new Request(url, { method, headers, body: new Uint8Array(0) });
  await request.arrayBuffer();
  return request;
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
      if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === name) value = value === null ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
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
 * @param path the path and query as the client sent them (Express rewrites `req.url` in routers)
 */
export function nodeEdgeRequest<Req>(raw: Req, req: WithRawBody, path: string): EdgeRequest<Req> {
  return new NodeEdgeRequest(raw, req, path);
}

/** A class, not an object literal with a getter and closures: one is built per request. */
class NodeEdgeRequest<Req> implements EdgeRequest<Req> {
  readonly method: string;
  readonly ip: string | null;

  constructor(
    readonly raw: Req,
    private readonly req: WithRawBody,
    private readonly path: string,
  ) {
    this.method = req.method ?? "GET";
    this.ip = req.socket.remoteAddress ?? null;
  }

  // As received, not parsed here: the bearer path only searches it (and
  // parses the origin once per origin); the signed path checks it parses.
  get url(): string {
    const scheme = (this.req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
    // HTTP/2 names the target's authority in `:authority`, which wins over a Host field (RFC 9113 §8.3.1).
    const headers = this.req.headers;
    return `${scheme}://${headers[":authority"] ?? headers.host ?? "localhost"}${this.path}`;
  }

  header(name: string): string | null {
    return headerOf(this.req, name);
  }

  async toRequest(url: string, maxBytes: number): Promise<{ request: Request; body: Uint8Array | undefined }> {
    const req = this.req;
    const headers = new Headers();
    const raw = req.rawHeaders;
    // HTTP/2's pseudo-header fields (`:method`, `:path`, …) are no header fields of a Fetch Request.
    for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.charCodeAt(0) !== 58) headers.append(raw[i]!, raw[i + 1]!);
    const method = this.method;
    const body = method === "GET" || method === "HEAD" ? undefined : await rawBodyOf(req, maxBytes);
    if (body === null) return { request: await consumed(url, method, headers), body: undefined };
    const request = new Request(url, { method, headers, body: body && body.length > 0 ? (body as Uint8Array<ArrayBuffer>) : null });
    return { request, body };
  }
}
