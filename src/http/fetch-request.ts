// A Fetch API Request as the core sees it: the Hono adapter and the Fetch
// wrapper. Runtime-agnostic.
import type { IncomingMessage } from "node:http";
import { type EdgeRequest, requestOf } from "./core.js";
import { type BodyFields, conflictingHosts, consumed, hasBody, headerOf, INVALID_HOST } from "./node.js";

/** The header fields of a Node request, and its connection (and HTTP/2 stream). */
type NodeFields = Pick<IncomingMessage, "headers" | "rawHeaders" | "socket"> & BodyFields;

/**
 * The Node request when the runtime is @hono/node-server (its
 * `env.incoming`): there, `request.headers` builds a whole Fetch `Headers`
 * (and Request) on first access, which a warm bearer check never needs; and
 * the URL's scheme may be the client's word (below).
 */
export function incomingHeaders(env: unknown): NodeFields | null {
  const incoming = (env as { incoming?: Partial<NodeFields> } | null | undefined)?.incoming;
  return incoming && typeof incoming.headers === "object" && Array.isArray(incoming.rawHeaders) ? (incoming as NodeFields) : null;
}

/**
 * @param raw the framework's request, for `getToken`
 * @param request the Fetch request
 * @param ip the client's socket address, when the runtime tells it
 * @param node the same request as Node holds it ({@link incomingHeaders}), whose headers are read instead of `request.headers` while they are the request's (see readsMessage)
 */
export function fetchEdgeRequest<Req>(raw: Req, request: Request, ip: string | null, node: NodeFields | null = null): EdgeRequest<Req> {
  return new FetchEdgeRequest(raw, request, ip, node);
}

/** A class, not an object literal with closures: one is built per request. */
class FetchEdgeRequest<Req> implements EdgeRequest<Req> {
  readonly method: string;
  readonly url: string;
  /** Without it the core reads the headers (and builds a Request only for a signed body). */
  readonly request: Request | undefined;

  constructor(
    readonly raw: Req,
    private readonly fetchRequest: Request,
    readonly ip: string | null,
    node: NodeFields | null,
  ) {
    this.method = fetchRequest.method;
    this.url = node === null ? fetchRequest.url : onConnection(fetchRequest.url, node);
    this.request = node === null ? fetchRequest : undefined;
    this.fields = node !== null && readsMessage(fetchRequest, node) ? node : null;
  }

  /**
   * The Node request whose fields are the Fetch request's: when it is
   * @hono/node-server's own request of it, which holds it. Not a Request the
   * application made, of any class (`app.fetch(new Request(…), c.env)`: a
   * sub-request, Hono's `methodOverride` and `app.mount`), which comes with the same `env` and
   * fields of its own: it is checked on those, never on the token of the
   * request it was made in. (Its URL still takes the connection's scheme.)
   * Nor once its Fetch fields are built, which a middleware may have changed.
   */
  private readonly fields: NodeFields | null;

  header(name: string): string | null {
    return this.fields === null ? this.fetchRequest.headers.get(name) : headerOf(this.fields, name);
  }

  hasBody(): boolean {
    // The Node request says it without building the Fetch one (whose body @hono/node-server sets for every POST).
    return this.fields === null ? this.fetchRequest.body !== null : hasBody(this.fields);
  }

  async toRequest(url: string): Promise<{ request: Request; body: undefined }> {
    const request = this.fetchRequest;
    // Same URL: keyward reads a clone of the body, the application the original.
    if (url === request.url) return { request, body: undefined };
    // Read before the guard (a middleware's `c.req.json()`): answered as at the same URL, BODY_ALREADY_READ, not clone()'s TypeError.
    if (request.bodyUsed || request.body?.locked === true) return { request: await consumed(url, request.method, request.headers), body: undefined };
    const body = request.body === null ? null : request.clone().body;
    return { request: requestOf(url, request.method, { headers: request.headers, body, duplex: "half" } as RequestInit), body: undefined };
  }
}

/**
 * Whether the header fields of `request` are those of the Node message
 * `node`: it is @hono/node-server's request of that message (it holds it, in
 * a field under a symbol of its own) and its Fetch `Headers`, which a
 * middleware may have changed (`c.req.raw.headers.set(…)`), are not built.
 * Any other Request, whatever its class (the global one, a subclass, another
 * copy of undici's), does not hold the message, and is read on its own fields.
 */
function readsMessage(request: Request, node: NodeFields): boolean {
  const fields = request as unknown as Record<symbol, unknown>;
  if (keys === undefined) {
    const message = ownSymbolHolding(request, (value) => value === node);
    if (message === undefined) return false;
    // Built once, on the first such request, to learn where they are kept.
    void request.headers;
    keys = { message, headers: ownSymbolHolding(request, (value) => value instanceof Headers) };
  }
  // Where the Headers are kept is not known (another layout): they are read, always right.
  return fields[keys.message] === node && keys.headers !== undefined && fields[keys.headers] === undefined;
}

/** The symbols under which @hono/node-server's request holds its Node message and its built Headers: learnt from the first one. */
let keys: { message: symbol; headers: symbol | undefined } | undefined;

/** The symbol of an own data field of `request` whose value passes `test` (no getter of an unknown class is called). */
function ownSymbolHolding(request: Request, test: (value: unknown) => boolean): symbol | undefined {
  return Object.getOwnPropertySymbols(request).find((key) => test(Object.getOwnPropertyDescriptor(request, key)?.value));
}

/**
 * The URL with the scheme of the connection the request came on, as the
 * Node adapters read it. @hono/node-server takes an HTTP/2 request's scheme
 * from the client's `:scheme`, and an absolute-form request target's from
 * the client too: a client on a cleartext connection could claim `https`,
 * for `requireHttps` and for the `@scheme` it signed. A request naming two
 * hosts is verified at none ({@link conflictingHosts}).
 */
function onConnection(url: string, node: NodeFields): string {
  const scheme = (node.socket as { encrypted?: boolean } | undefined)?.encrypted ? "https:" : "http:";
  if (conflictingHosts(node.headers)) {
    const { pathname, search } = new URL(url);
    return `${scheme}//${INVALID_HOST}${pathname}${search}`;
  }
  return url.startsWith(scheme) ? url : scheme + url.slice(url.indexOf(":") + 1);
}
