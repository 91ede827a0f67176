// What a route asks of the verifier (`kw.check` / `kw.verify` options), and
// their validation: the application's input, so a mistake throws a coded
// error instead of deciding anything.
import { InvalidInputError } from "../errors.js";
import { isPoolName, MAX_CREDIT_BALANCE } from "../model/pools.js";
import { optionNames } from "../lib/options.js";
import { checkOptionFields } from "../model/schemas.js";
import { type RequiredScopes, requiredScopesProblem } from "../policy/scope.js";

/** What the route needs, for `kw.check` and `kw.verify`. */
export interface CheckOptions {
  /** Scope(s) the route needs: a string or an array (all of them), `{ allOf: [...] }` or `{ anyOf: [...] }`. */
  scope?: RequiredScopes | undefined;
  /** Credits the call costs, an integer from 0 to 10^15 (default 1 when the token has a credit limit; 0 reads without spending). */
  cost?: number | undefined;
  /**
   * The credit pool the route draws from (default `"default"`: the token's
   * and its account's `credits`). A token (or account) holding named pools
   * but not this one is denied with `POOL_UNKNOWN`; one with no pool at all
   * is unmetered, as ever.
   */
  pool?: string | undefined;
  /** The client's IP as the server saw it: the socket address, as Node's `socket.remoteAddress` gives it (absent, null or undefined: not known). */
  ip?: string | null | undefined;
  /**
   * The body of a signed request, when the application has already read it:
   * checked against Content-Digest instead of reading a clone of the stream.
   * For a GET or HEAD with a body nobody has read (a Fetch Request cannot
   * carry one), its stream: read only once the signature verified.
   */
  body?: Uint8Array | ReadableStream<Uint8Array> | undefined;
}

/** Options of `kw.verify`: what the route needs, and where the request arrived. */
export interface VerifyOptions extends CheckOptions {
  /**
   * The URL the server received, when `request` was rebuilt at another one
   * (its public URL, for signatures, behind a TLS-terminating proxy or a
   * path-rewriting gateway). How the request arrived (`requireHttps`) is
   * then read from this URL, not from the request's: an `https` public URL
   * does not make a request that came in over plain `http` secure. Absent:
   * the request's own URL.
   */
  receivedUrl?: string | undefined;
}

/** Input of `kw.check`: a token and what the request shows. */
export interface CheckInput extends CheckOptions {
  /** The token as presented (a string; anything else is `TOKEN_MALFORMED`). */
  token: unknown;
  /** The request's `Origin` header: for a token's allowed domains, and a sign of a browser (a secret token from one is `SECRET_IN_BROWSER`). */
  origin?: string | null | undefined;
  /** The request's `Referer` header: for allowed domains when there is no `Origin`. */
  referer?: string | null | undefined;
  /** The request's `Sec-Fetch-Site` header: a sign of a browser, like `origin`. */
  secFetchSite?: string | null | undefined;
  /**
   * @deprecated Ignored: `Sec-Fetch-Mode` is not a browser signal (Node's own
   * `fetch` sends `sec-fetch-mode: cors` on every request).
   */
  secFetchMode?: string | null | undefined;
  /**
   * The scheme the request arrived with (`"https"` or `"http"`, e.g. Express's
   * `req.protocol` behind `trust proxy`), for `requireHttps`. Absent: not
   * known, and `requireHttps` is not applied by `check` (`verify` reads the URL).
   */
  protocol?: "http" | "https" | undefined;
}

/** What a route charges: its cost and the pool it draws from. */
export type RouteCharge = Pick<CheckOptions, "cost" | "pool">;

/** What a route's `cost` must be. */
export const ROUTE_COST_RULE = `must be an integer from 0 to ${MAX_CREDIT_BALANCE}`;

/** Whether `cost` is a valid route cost: at most {@link MAX_CREDIT_BALANCE}, the largest limit and the most a top-up brings a balance to. */
export function isRouteCost(cost: unknown): cost is number {
  return Number.isSafeInteger(cost) && (cost as number) >= 0 && (cost as number) <= MAX_CREDIT_BALANCE;
}

const CHECK_OPTIONS = optionNames<CheckOptions>({ scope: true, cost: true, pool: true, ip: true, body: true });
const VERIFY_OPTIONS = [...CHECK_OPTIONS, ...optionNames<Omit<VerifyOptions, keyof CheckOptions>>({ receivedUrl: true })];
const CHECK_INPUT = [
  ...CHECK_OPTIONS,
  ...optionNames<Omit<CheckInput, keyof CheckOptions>>({ token: true, origin: true, referer: true, secFetchSite: true, secFetchMode: true, protocol: true }),
];

/**
 * Throws an {@link InvalidInputError} naming the first option that is not
 * valid: an option of another name too (`INVALID_INPUT` on `options`), since
 * a misspelt `scopes` would check no scope and allow any token.
 */
function checkOptions(options: CheckOptions, known: readonly string[]): void {
  checkOptionFields(options, known);
  const { cost, scope, body, pool } = options;
  if (pool !== undefined && !isPoolName(pool)) {
    throw new InvalidInputError("pool", "must be a pool name: a lowercase letter, then up to 31 of a-z, 0-9, _ or -");
  }
  if (body !== undefined && !(body instanceof Uint8Array) && !(body instanceof ReadableStream)) {
    throw new InvalidInputError("body", "must be a Uint8Array or a ReadableStream");
  }
  if (cost !== undefined && !isRouteCost(cost)) throw new InvalidInputError("cost", ROUTE_COST_RULE);
  if (scope !== undefined) checkRouteScope(scope);
}

/** {@link checkOptions}, plus the field only `kw.verify` takes. */
export function checkVerifyOptions(options: VerifyOptions): void {
  checkOptions(options, VERIFY_OPTIONS);
  if (options.receivedUrl !== undefined && typeof options.receivedUrl !== "string") {
    throw new InvalidInputError("receivedUrl", "must be a string: the URL the server received");
  }
}

/**
 * The options of a route, checked as {@link checkVerifyOptions} checks them
 * and frozen (a copy): the middleware passes them to the verifier as checked
 * (`decideNow`'s `routeChecked`), which then does not check them again on
 * each request.
 *
 * @throws {InvalidInputError} for bad options
 */
export function checkedRouteOptions(options: CheckOptions): Readonly<CheckOptions> {
  checkVerifyOptions(options);
  return Object.freeze({ ...options });
}

/** {@link checkOptions}, plus the fields only `kw.check` takes. */
export function checkInput(input: CheckInput): void {
  checkOptions(input, CHECK_INPUT);
  if (input.protocol !== undefined && input.protocol !== "http" && input.protocol !== "https") {
    throw new InvalidInputError("protocol", 'must be "http" or "https"');
  }
}

// Route scopes come from the application's code, so a few values recur:
// remember those already validated instead of parsing them per request.
const validScopes = new Set<string>();
const validScopeLists = new WeakSet<object>();

/**
 * A route's required scope is the application's input: an empty list, an
 * empty string or a malformed scope is a programming error, never an allow.
 */
function checkRouteScope(scope: RequiredScopes): void {
  if (typeof scope === "string" ? validScopes.has(scope) : typeof scope === "object" && scope !== null && validScopeLists.has(scope)) return;
  const problem = requiredScopesProblem(scope);
  if (problem) throw new InvalidInputError("scope", problem.path ? `${problem.path.replace(/^\./, "")}: ${problem.message}` : problem.message);
  if (typeof scope !== "string") validScopeLists.add(scope);
  else {
    if (validScopes.size >= 1024) validScopes.clear();
    validScopes.add(scope);
  }
}
