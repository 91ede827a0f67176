// The shared core of the framework middleware: options checked once at setup,
// one request path to `kw.verify` / `kw.check`, and the answer's parts
// (problem+json, rate-limit fields, CORS). Each adapter only converts its
// framework's request and response.
import { DEFAULT_SIGNED_BODY_BYTES } from "../config.js";
import { ConfigError } from "../errors.js";
import { decideNow, type Keyward, type SignedBodyLimits, signedBodyLimits } from "../keyward.js";
import { checkConfigFields, optionNames } from "../lib/options.js";
import { isPoolName } from "../model/pools.js";
import { type RequiredScopes, requiredScopesProblem } from "../policy/scope.js";
import type { Decision } from "../verify/decision.js";
import { type CheckOptions, checkedRouteOptions, isRouteCost, ROUTE_COST_RULE } from "../verify/options.js";
import { fieldsFor } from "./head.js";
import { type AnswerOptions, problemDetails, problemHeaders } from "./problem.js";

/** Options shared by every route of one middleware instance. */
export interface EdgeOptions extends AnswerOptions {
  /**
   * The origin clients call, with an optional path prefix, when the server
   * sits behind a TLS-terminating proxy or a path-rewriting gateway, e.g.
   * `"https://api.example.com"` or `"https://example.com/api"`. Signed
   * requests are verified against this URL joined with the path and query
   * the server received (`@target-uri`, `@authority`, `@scheme`, `@path`).
   * Default: the URL the server received. Only signatures read it: how the
   * request arrived (`requireHttps`) is always read from the URL the server
   * received, or a trusted proxy's forwarding header.
   */
  publicOrigin?: string | undefined;
  /**
   * Answer CORS preflights (`preflight`) and add `Access-Control-Allow-Origin`
   * to answers of requests with an `Origin` (default false). Which pages may
   * use a token is decided by its allowed domains on the real request.
   * `{ allowHeaders }` also lets pages send those request headers (a token
   * header of your own `getToken`, such as `x-api-key`), besides
   * Authorization, Content-Type and the signature fields.
   */
  cors?: boolean | { allowHeaders: readonly string[] } | undefined;
  /**
   * @deprecated The middleware reads a signed request's body up to the
   * Keyward instance's `signatures.maxBodyBytes`, the one limit: set it
   * there. A value here must equal it (`INVALID_CONFIG` otherwise: a lower
   * one used to cut honest bodies short on Express and Fastify, answered as
   * `DIGEST_MISMATCH`). It is used only with an instance of another copy of
   * the package, which does not tell its limit.
   */
  maxBodyBytes?: number | undefined;
}

/** What a route needs, checked once when the route is set up. */
export interface RouteOptions<Req> {
  /** Scope(s) the route needs: a string or an array (all of them), `{ allOf: [...] }` or `{ anyOf: [...] }`. A malformed scope throws here. */
  scope?: RequiredScopes | undefined;
  /** Credits a call costs, an integer from 0 to 10^15 (default 1 when the token has a credit limit). */
  cost?: number | undefined;
  /**
   * The credit pool the route draws from (default `"default"`: the token's
   * `credits`), e.g. `"premium"`. A malformed name throws here; a token that
   * holds pools but not this one is denied with `POOL_UNKNOWN` (403).
   */
  pool?: string | undefined;
  /**
   * Where the token is, when not in `Authorization: Bearer` (e.g.
   * `(req) => req.headers["x-api-key"]`). Returning nothing falls back to
   * the Authorization header and signatures.
   */
  getToken?: ((req: Req) => string | null | undefined) | undefined;
}

/** The parsed options of one route. */
export interface Route<Req> {
  readonly check: CheckOptions;
  readonly getToken: ((req: Req) => string | null | undefined) | undefined;
}

/** Options of one middleware instance, parsed. */
export interface Edge {
  readonly kw: Keyward;
  readonly answer: AnswerOptions;
  /** The public origin and path prefix, without a trailing slash; null when not set. */
  readonly publicOrigin: string | null;
  readonly cors: boolean;
  /** `Access-Control-Allow-Headers` of a preflight's answer. */
  readonly allowHeaders: string;
  /** How much of a signed body an adapter keeps a copy of for the verifier (Fastify's plugin): the instance's `signatures.maxBodyBytes`. */
  readonly body: SignedBodyLimits;
}

/** The options every middleware takes; an adapter adds its own (Hono's and Fetch's `getIp`). */
const EDGE_OPTIONS = optionNames<EdgeOptions>({ realm: true, problemTypeBase: true, publicOrigin: true, cors: true, maxBodyBytes: true });

/**
 * Checks the options of a middleware instance: those of every adapter, and
 * the adapter's own `adapterOptions` (which it reads itself). Any other name
 * is refused: a misspelt `publicOrigin` or `cors` would be ignored.
 *
 * @throws {ConfigError} `INVALID_CONFIG` naming the bad option, or an unknown one (an option of the Keyward
 *   instance given here, such as `requireHttps` or `trustedProxies`, would otherwise do nothing)
 */
export function createEdge(kw: Keyward, options: EdgeOptions = {}, adapterOptions: readonly string[] = []): Edge {
  if (kw === null || typeof kw !== "object" || typeof (kw as Keyward).verify !== "function") {
    throw new ConfigError("keyward", "must be a Keyward instance");
  }
  if (options === null || typeof options !== "object") throw new ConfigError("", "options must be an object");
  // A Keyward option given here (`requireHttps: "all"`, `trustedProxies`) or a misspelt one must not be ignored in silence.
  checkConfigFields(options, [...EDGE_OPTIONS, ...adapterOptions], "a middleware option (those of the Keyward instance, such as requireHttps or trustedProxies, go to new Keyward)");
  const { realm, problemTypeBase, publicOrigin, cors = false } = options;
  const given = options.maxBodyBytes;
  if (given !== undefined && (!Number.isSafeInteger(given) || given < 0)) throw new ConfigError("maxBodyBytes", "must be a non-negative integer");
  // An instance of another copy of the package does not tell its limit: the option (or the default) stands in.
  const limits = signedBodyLimits(kw);
  const known = limits?.maxBytes;
  const maxBodyBytes = known ?? given ?? DEFAULT_SIGNED_BODY_BYTES;
  // RFC 9110 §5.6.4 qdtext: a realm is printable ASCII.
  if (realm !== undefined && (typeof realm !== "string" || !/^[\x20-\x7e]{1,128}$/.test(realm))) {
    throw new ConfigError("realm", "must be 1 to 128 printable ASCII characters");
  }
  if (problemTypeBase !== undefined && (typeof problemTypeBase !== "string" || !URL.canParse(`${problemTypeBase}x`))) {
    throw new ConfigError("problemTypeBase", "must be the start of an absolute URI");
  }
  const allowHeaders = corsAllowHeaders(cors);
  if (known !== undefined && given !== undefined && given !== known) {
    throw new ConfigError(
      "maxBodyBytes",
      `must equal the Keyward instance's signatures.maxBodyBytes (${maxBodyBytes}), the one limit of signed bodies: set it there and leave this out`,
    );
  }
  return Object.freeze({
    kw,
    answer: Object.freeze({ ...(realm !== undefined && { realm }), ...(problemTypeBase !== undefined && { problemTypeBase }) }),
    publicOrigin: publicOrigin === undefined ? null : parsePublicOrigin(publicOrigin),
    cors: cors !== false,
    allowHeaders,
    body: limits ?? Object.freeze({ maxBytes: maxBodyBytes }),
  });
}

/** The request headers a preflight allows: keyward's, and those `cors.allowHeaders` adds (RFC 9110 field names). */
function corsAllowHeaders(cors: unknown): string {
  if (typeof cors === "boolean") return ALLOWED_HEADERS;
  const extra = (cors as { allowHeaders?: unknown } | null)?.allowHeaders;
  const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
  if (!Array.isArray(extra) || extra.length > 32 || !extra.every((h) => typeof h === "string" && token.test(h))) {
    throw new ConfigError("cors", 'must be a boolean or { allowHeaders: [...] } with up to 32 header names, e.g. { allowHeaders: ["x-api-key"] }');
  }
  const names = new Set(ALLOWED_HEADERS.split(", "));
  for (const h of extra) names.add(h.toLowerCase());
  return [...names].join(", ");
}

function parsePublicOrigin(value: unknown): string {
  const hint = 'must be an http(s) origin with an optional path prefix, e.g. "https://api.example.com"';
  if (typeof value !== "string" || !URL.canParse(value)) throw new ConfigError("publicOrigin", hint);
  const url = new URL(value);
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.search !== "" || url.hash !== "" || url.username !== "") {
    throw new ConfigError("publicOrigin", hint);
  }
  return url.origin + url.pathname.replace(/\/+$/, "");
}

/** A copy the caller cannot change after setup. */
function frozenScopes(scope: RequiredScopes): RequiredScopes {
  if (typeof scope === "string") return scope;
  if (Array.isArray(scope)) return Object.freeze([...(scope as readonly string[])]);
  return "anyOf" in scope ? Object.freeze({ anyOf: Object.freeze([...scope.anyOf]) }) : Object.freeze({ allOf: Object.freeze([...(scope as { allOf: readonly string[] }).allOf]) });
}

/** The options of `requireToken` on every adapter. */
const ROUTE_OPTIONS: readonly string[] = [...optionNames<RouteOptions<unknown>>({ scope: true, cost: true, pool: true, getToken: true }), "onDenied", "onError"];

/**
 * Checks a route's options once, at setup.
 *
 * @throws {ConfigError} `INVALID_CONFIG` for an unknown option (or a request given as the options), a malformed scope, a bad
 *   cost, a malformed pool name, or a `getToken`, `onDenied` or `onError` that is not a function
 */
export function createRoute<Req>(options: RouteOptions<Req> = {}): Route<Req> {
  if (options === null || typeof options !== "object") throw new ConfigError("", "requireToken options must be an object");
  // `app.get(path, guard.requireToken, …)`: the framework calls it with its request.
  if ("headers" in options || "req" in options || "raw" in options) {
    throw new ConfigError("", "requireToken was given a request: call it where the route is set up, as requireToken() or requireToken({ scope })");
  }
  // A misspelt option (`scopes`) must not leave a route open to any token.
  checkConfigFields(options, ROUTE_OPTIONS, "a route option");
  const { scope, cost, pool, getToken } = options;
  for (const hook of ["onDenied", "onError"] as const) {
    const given = (options as Record<string, unknown>)[hook];
    if (given !== undefined && typeof given !== "function") throw new ConfigError(hook, "must be a function");
  }
  const problem = scope === undefined ? null : requiredScopesProblem(scope);
  if (problem) throw new ConfigError(`scope${problem.path}`, problem.message);
  if (cost !== undefined && !isRouteCost(cost)) throw new ConfigError("cost", ROUTE_COST_RULE);
  if (pool !== undefined && !isPoolName(pool)) {
    throw new ConfigError("pool", "must be a pool name: a lowercase letter, then up to 31 of a-z, 0-9, _ or -");
  }
  if (getToken !== undefined && typeof getToken !== "function") throw new ConfigError("getToken", "must be a function");
  const check: CheckOptions = {};
  if (pool !== undefined) check.pool = pool;
  if (scope !== undefined) check.scope = frozenScopes(scope);
  if (cost !== undefined) check.cost = cost;
  return Object.freeze({ check: checkedRouteOptions(check), getToken });
}

/** The request as an adapter shows it to the core. */
export interface EdgeRequest<Req> {
  /** The framework's request, handed to `getToken`. */
  readonly raw: Req;
  readonly method: string;
  /** The absolute URL the server received. */
  readonly url: string;
  /** A header's value (repeated ones joined with ", "), or null. */
  header(name: string): string | null;
  /** The socket address (forwarding headers are read by keyward behind `trustedProxies` only). */
  readonly ip: string | null;
  /** Whether the request has a body (not read): asked only to answer SIGNATURE_REQUIRED. */
  hasBody(): boolean;
  /** The Fetch `Request` itself, when the framework has one: verified as it is when nothing needs rewriting. */
  readonly request?: Request;
  /**
   * The request as a Fetch `Request` at `url`, with its body: a stream that
   * the verifier reads only once the signature verified, within the
   * instance's limits; or bytes already read (by a parser), which are also
   * passed as `body`. A GET or HEAD, whose Fetch Request carries none, has
   * its body (bytes or stream) in `body` only. Called only for signed
   * requests. `release`, called once the verifier decided, gives back what
   * it read of a body it did not read to the end.
   */
  toRequest(url: string): Promise<{ request: Request; body: Uint8Array | ReadableStream<Uint8Array> | undefined; release?: () => void }>;
}

/** Methods a Fetch Request refuses (Fetch's forbidden methods), of which Node hands TRACE to the application. */
const FORBIDDEN_METHODS: ReadonlySet<string> = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * A Fetch `Request` of the method the client sent. One that a Request
 * refuses (TRACE) is built as a POST (which may carry the body) that shows
 * the method sent, as @hono/node-server shows it, so that a signature is
 * verified against it (`@method`) instead of the constructor's TypeError
 * escaping as an error of the application.
 */
export function requestOf(url: string, method: string, init: RequestInit): Request {
  if (!FORBIDDEN_METHODS.has(method)) return new Request(url, { ...init, method });
  const request = new Request(url, { ...init, method: "POST" });
  Object.defineProperty(request, "method", { value: method, enumerable: true });
  return request;
}

/** What a URL that does not parse (a client's bad Host or path) is verified as: it matches no signature. */
const UNPARSEABLE = "http://invalid.invalid/";

/** The URL the request is verified at: the public origin and prefix joined with the path and query received. */
export function publicUrl(edge: Edge, url: string): string {
  if (edge.publicOrigin === null) return url;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return UNPARSEABLE;
  }
  return edge.publicOrigin + u.pathname + u.search;
}

/**
 * The decision on a request, always through `kw.verify` (so trusted proxies,
 * browser signals and query tokens apply alike): a signed request as a full
 * Fetch `Request` at its public URL, with its body and the URL received
 * (`receivedUrl`, for the transport); any other through a view of its
 * headers, at the URL received, without copying the request. A token from `getToken` is
 * presented as the bearer token. The decision comes at once when the warm
 * path made it without the store (no promise step per request), else as a
 * promise; a throw is the application's mistake (a bad `getToken`).
 */
export function decide<Req>(edge: Edge, route: Route<Req>, req: EdgeRequest<Req>): Decision | Promise<Decision> {
  // The route's options, checked once (createRoute), as they are: the address beside them.
  const { check } = route;
  const ip = req.ip ?? undefined;
  if (req.request !== undefined && edge.publicOrigin === null && route.getToken === undefined) return decideNow(edge.kw, req.request, check, ip, true);
  if (req.header("signature-input") !== null) {
    const url = publicUrl(edge, req.url);
    return req.toRequest(URL.canParse(url) ? url : UNPARSEABLE).then(({ request, body, release }) => {
      // The URL received goes as verify's public option: an instance of
      // another copy of the package reads the transport from it too.
      const decided = Promise.resolve(decideNow(edge.kw, request, { ...check, receivedUrl: req.url, ...(body !== undefined && { body }) }, ip));
      return release === undefined ? decided : decided.finally(release);
    });
  }
  const token: unknown = route.getToken?.(req.raw);
  if (typeof (token as PromiseLike<unknown> | null)?.then === "function") {
    Promise.resolve(token).catch(() => {});
    throw new ConfigError("getToken", "must return the token (a string, or null or undefined), not a promise");
  }
  return decideNow(edge.kw, new RequestView(req, typeof token === "string" && token !== "" ? token : null) as unknown as Request, check, ip, true);
}

/**
 * The part of a Fetch `Request` the bearer path of `kw.verify` reads:
 * headers, and the URL the server received (for query tokens, and how the
 * request arrived: never the public origin). A class, not an object literal
 * with a getter: this is built on every request.
 */
class RequestView<Req> {
  readonly #req: EdgeRequest<Req>;
  /** The token `getToken` found, presented as the bearer token (null: the request's own Authorization). */
  readonly #token: string | null;

  constructor(req: EdgeRequest<Req>, token: string | null) {
    this.#req = req;
    this.#token = token;
  }
  /** The view is its own header source: no object per request for it. */
  get headers(): { get(name: string): string | null } {
    return this;
  }
  get(name: string): string | null {
    return this.#token !== null && name === "authorization" ? `Bearer ${this.#token}` : this.#req.header(name);
  }
  get method(): string {
    return this.#req.method;
  }
  get url(): string {
    return this.#req.url;
  }
  /** Non-null when the request has a body, which the bearer path does not read: only whether there is one. */
  get body(): object | null {
    return this.#req.hasBody() ? BODY_NOT_READ : null;
  }
}

/** What {@link RequestView} shows as the body of a request that has one. */
const BODY_NOT_READ = Object.freeze({});

/**
 * CORS fields for an answer (Fetch §3.2.3), when enabled: to a request with
 * an `Origin`, the echoed origin; to any, `Vary: Origin`, which the echo
 * depends on. Without it on the answer to a request without `Origin`, a
 * cache (the browser's) could serve that answer, which allows no origin,
 * to a page's CORS request for the same URL (Fetch §3.2.5, "CORS protocol
 * and HTTP caches").
 */
export function corsHeaders(edge: Edge, origin: string | null): Record<string, string> {
  if (!edge.cors) return {};
  if (origin === null) return NO_ORIGIN;
  return {
    "access-control-allow-origin": origin,
    "access-control-expose-headers": "ratelimit, ratelimit-policy, retry-after, www-authenticate, accept-signature",
    vary: CORS_VARY,
  };
}

/** What an answer with CORS fields varies on: the Allow-Origin echoes the request's Origin. */
export const CORS_VARY = "Origin";

/** The CORS fields of an answer to a request without `Origin`. */
const NO_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ vary: CORS_VARY });

/** Request headers a page may send to a keyward-protected route. */
const ALLOWED_HEADERS = "authorization, content-type, content-digest, signature, signature-input";

/**
 * The answer to a CORS preflight (an OPTIONS request with `Origin` and
 * `Access-Control-Request-Method`), or null when it is not one or CORS is
 * off. A preflight carries no credentials (Fetch §3.2.2), so it cannot be
 * checked against a token: the real request is.
 */
export function preflightAnswer(edge: Edge, method: string, header: (name: string) => string | null): { status: 204; headers: Record<string, string> } | null {
  if (!edge.cors || method !== "OPTIONS") return null;
  const origin = header("origin");
  const asked = header("access-control-request-method");
  if (origin === null || asked === null) return null;
  return {
    status: 204,
    headers: {
      "access-control-allow-origin": origin,
      "access-control-allow-methods": asked.slice(0, 64),
      "access-control-allow-headers": edge.allowHeaders,
      "access-control-max-age": "600",
      vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    },
  };
}

/**
 * The parts of a denial's answer to a request of `method`: status, headers
 * (with CORS, and a HEAD's `Content-Length`: see {@link fieldsFor}) and the
 * problem+json body text, which the adapter or the server leaves out of a HEAD's answer.
 */
export function denialParts(edge: Edge, decision: Decision, origin: string | null, method: string): { status: number; headers: Record<string, string>; body: string } {
  const body = JSON.stringify(problemDetails(decision, edge.answer));
  return { status: decision.status, headers: fieldsFor(method, body, { ...problemHeaders(decision, edge.answer), ...corsHeaders(edge, origin) }), body };
}

/** Headers to add to an allowed request's answer: rate-limit fields and CORS. */
export function allowHeaders(edge: Edge, decision: Decision, origin: string | null): Record<string, string> {
  if (!edge.cors) return decision.headers;
  return { ...decision.headers, ...corsHeaders(edge, origin) };
}

/**
 * Whether a hook's return value (`onDenied`, `onError`) is an answer: a
 * `Response`, of any realm or copy of undici (a status and headers). What
 * else it returns (a logger's call gives the logger, a flag) answered
 * nothing, as `undefined` does: never handed to the runtime as a Response.
 */
export function isAnswer(value: unknown): value is Response {
  return value instanceof Response || (typeof value === "object" && value !== null && typeof (value as Response).status === "number" && typeof (value as Response).headers === "object");
}

/**
 * Adds an allowed request's fields ({@link allowHeaders}) to the response a
 * handler built, copying it when its headers are immutable
 * (`Response.redirect`, a `fetch()` response). A field the handler set
 * stays as it is, except `Vary`, which gains the names it lacks.
 */
export function withHeaders(res: Response, headers: Record<string, string>): Response {
  let target = res;
  for (const name in headers) {
    const present = target.headers.get(name);
    const value = present === null ? headers[name]! : name === "vary" ? mergedVary(present, headers[name]!) : present;
    if (value === present) continue;
    try {
      target.headers.set(name, value);
    } catch {
      target = new Response(target.body, target);
      target.headers.set(name, value);
    }
  }
  return target;
}

/** A Vary value with the names of `add` it lacks (RFC 9110 §12.5.5; `*` already varies on everything). */
export function mergedVary(present: string, add: string): string {
  const have = present.split(",").map((n) => n.trim().toLowerCase());
  if (have.includes("*")) return present;
  const missing = add.split(",").map((n) => n.trim()).filter((n) => !have.includes(n.toLowerCase()));
  return missing.length === 0 ? present : `${present}, ${missing.join(", ")}`;
}
