// The options of createAdminHandler, checked once at setup.
import { ConfigError } from "../errors.js";
import type { Keyward } from "../keyward.js";
import { checkConfigFields, optionNames } from "../lib/options.js";
import { MAX_TIMER_MS } from "../lib/timers.js";
import type { Role } from "../model/roles.js";
import { holdsToken, TOKEN_IN_TEXT } from "../model/schemas.js";
import { parseScope } from "../policy/scope.js";
import { DEFAULT_BODY_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES } from "./body.js";

/** What a request asks for: `authorize` may refuse some operations to some callers (a read-only role). */
export type AdminOperation =
  | "config"
  | "tokens.list"
  | "tokens.create"
  | "tokens.get"
  | "tokens.update"
  | "tokens.regenerate"
  | "tokens.revoke"
  | "tokens.disable"
  | "tokens.enable"
  | "tokens.delete"
  | "tokens.usage"
  | "tokens.audit"
  | "audit"
  | "members.list"
  | "members.set"
  | "members.remove";

/**
 * Who is calling: the owner whose tokens they manage, who they are for the
 * audit log (default: the owner), and their role in the account. Without
 * `role`, the role is the actor's in the account's members
 * (`kw.accounts.members`); an account without members treats its caller as
 * its owner.
 */
export interface AdminPrincipal {
  owner: string;
  actor?: string | undefined;
  role?: Role | undefined;
}

/**
 * What `authorize` answers: the owner (or a principal); `null` or
 * `undefined` when the request is not authenticated (401); `false` when it
 * is but may not do this (403); or a `Response` to send as it is (a
 * redirect to a login page).
 */
export type AuthorizeResult = AdminPrincipal | string | null | undefined | false | Response;

/**
 * What {@link AdminHandlerOptions.onError} is told besides the error: never
 * the request, whose cookies and `Authorization` header are the caller's
 * session.
 */
export interface AdminErrorContext {
  /** The operation asked for; null for a request that failed before it named one. */
  operation: AdminOperation | null;
  /** The request's method. */
  method: string;
  /** The answer's status: 500, 501 or 503. */
  status: number;
  /** The answer's `code`, e.g. `INTERNAL_ERROR`, `STORE_UNAVAILABLE`. */
  code: string;
  /**
   * True for the failure of a call given up on at `storeTimeoutMs` (`authorize`, or the store's), once it
   * came: the answer, its 503, was reported already with the timeout as the error.
   */
  late?: true;
}

/** Options of {@link createAdminHandler}. */
export interface AdminHandlerOptions {
  /** The Keyward instance whose tokens are managed. */
  keyward: Keyward;
  /**
   * Decides who the caller is, from the request (a session cookie, a bearer
   * token): the owner whose tokens they may manage. Called for every API
   * request, with the operation asked for. It must not trust anything the
   * client names (an owner in a header or the URL): one customer must never
   * reach another's tokens. Waited for `storeTimeoutMs` at most: then 503
   * `STORE_UNAVAILABLE` with `Retry-After`, nothing done.
   */
  authorize: (request: Request, context: { operation: AdminOperation }) => AuthorizeResult | Promise<AuthorizeResult>;
  /** The path the handler is mounted at, e.g. `"/account/api-tokens"` (default `""`: the root). */
  basePath?: string | undefined;
  /** Dataset names whose read / write / delete scopes (`datasets/<name>:read`) customers may grant (default none). */
  datasets?: readonly string[] | undefined;
  /**
   * Every scope a customer may put on a token (default `core:read`,
   * `premium:read` and the dataset scopes of `datasets`). Anything else is
   * refused with 403 `SCOPE_NOT_GRANTABLE`, unless a change keeps it: a
   * scope the token holds now and in every scheduled revision (one the
   * operator granted) may stay in the scopes of an update.
   */
  grantableScopes?: readonly string[] | undefined;
  /** Largest request body, bytes (default 131 072): a larger one is refused with 413 before it is read. */
  maxBodyBytes?: number | undefined;
  /** Longest wait for a request body to end, ms (default 10 000): a slower one is refused with 408 `BODY_TIMEOUT`. */
  bodyTimeoutMs?: number | undefined;
  /**
   * Longest wait for the store's answers to one request once its body is
   * in, ms (default 10 000): then 503 `STORE_UNAVAILABLE` with
   * `Retry-After`. The store's call goes on: a change may still be made
   * after that answer, which says so (reload before trying again).
   * `authorize` is waited for as long, before the body is read.
   */
  storeTimeoutMs?: number | undefined;
  /**
   * Called with the cause of every answer that is the server's failure, not
   * the client's: 500 (`authorize` threw or answered a principal keyward
   * refuses, a bug), 501 `STORE_UNSUPPORTED`, 503 `STORE_UNAVAILABLE` (the
   * store failed, or it or `authorize` did not answer within
   * `storeTimeoutMs`: then a `StoreUnavailableError` saying so). Never for
   * a 4xx. A throw, or a rejection of an async hook, is ignored: the answer
   * stays the same. Keyward's `telemetry.logger`, if any, is told too
   * (`admin.error`). Without either (default: `console.error`), each such
   * answer writes one console line. The record and the line name the
   * operation, the status and codes only (a token in an error's name or
   * code redacted), never an error's message (a driver's may quote stored
   * values, the application's a session).
   */
  onError?: ((error: unknown, context: AdminErrorContext) => void) | undefined;
  /**
   * Origins whose pages may send changes besides the request URL's own, e.g.
   * `["https://example.com"]`: the one the browser sees when the handler
   * runs behind a proxy its request URL does not show (with
   * `toNodeHandler`, its `publicOrigin` is the request URL's). Judged only
   * when a browser sends no `Sec-Fetch-Site`: another `Origin` is refused,
   * 403 `CROSS_SITE_REQUEST` (default none).
   */
  allowedOrigins?: readonly string[] | undefined;
  /** Prefix of the problem `type` URIs (default `"urn:keyward:problem:"`), as for the middleware. */
  problemTypeBase?: string | undefined;
  /** Serve the console page at the base path (default true); false serves the API only. */
  console?: boolean | undefined;
  /** The console page's title (default `"API tokens"`). */
  title?: string | undefined;
}

/** The options, parsed. */
export interface AdminConfig {
  readonly kw: Keyward;
  readonly authorize: AdminHandlerOptions["authorize"];
  readonly basePath: string;
  readonly datasets: readonly string[];
  readonly grantable: ReadonlySet<string>;
  readonly maxBodyBytes: number;
  readonly bodyTimeoutMs: number;
  readonly storeTimeoutMs: number;
  readonly onError: AdminHandlerOptions["onError"];
  readonly allowedOrigins: ReadonlySet<string>;
  readonly problemTypeBase: string | undefined;
  readonly console: boolean;
  readonly title: string;
}

/** The default of {@link AdminHandlerOptions.storeTimeoutMs}. */
const DEFAULT_STORE_TIMEOUT_MS = 10_000;

/** A wait of a timer: past {@link MAX_TIMER_MS}, a timer fires at once. */
function checkWait(ms: number, field: string): void {
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > MAX_TIMER_MS) throw new ConfigError(field, `must be a positive integer (milliseconds), at most ${MAX_TIMER_MS}`);
}

const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const ADMIN_OPTIONS = optionNames<AdminHandlerOptions>({ keyward: true, authorize: true, basePath: true, datasets: true, grantableScopes: true, maxBodyBytes: true, bodyTimeoutMs: true, storeTimeoutMs: true, onError: true, allowedOrigins: true, problemTypeBase: true, console: true, title: true });

/**
 * @throws {ConfigError} `INVALID_CONFIG` naming the bad option, or one of another name (a misspelt `grantableScopes`
 *   would grant the default scopes)
 */
export function parseAdminOptions(options: AdminHandlerOptions): AdminConfig {
  if (options === null || typeof options !== "object") throw new ConfigError("", "options must be an object");
  checkConfigFields(options, ADMIN_OPTIONS, "an option of createAdminHandler");
  const { keyward, authorize, basePath = "", datasets = [], grantableScopes, maxBodyBytes = DEFAULT_MAX_BODY_BYTES, bodyTimeoutMs = DEFAULT_BODY_TIMEOUT_MS } = options;
  const { storeTimeoutMs = DEFAULT_STORE_TIMEOUT_MS } = options;
  if (keyward === null || typeof keyward !== "object" || typeof keyward.tokens?.list !== "function") {
    throw new ConfigError("keyward", "must be a Keyward instance");
  }
  if (typeof authorize !== "function") throw new ConfigError("authorize", "must be a function returning the caller's owner");
  if (typeof basePath !== "string" || !/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$/.test(basePath)) {
    throw new ConfigError("basePath", 'must be "" or a path without a trailing slash, e.g. "/account/api-tokens"');
  }
  if (!Array.isArray(datasets) || !datasets.every((d) => typeof d === "string" && DATASET_NAME.test(d))) {
    throw new ConfigError("datasets", "must be an array of dataset names (letters, digits, . _ -)");
  }
  // Each makes scopes that are stored and shown to every caller (GET /config).
  datasets.forEach((d, i) => {
    if (holdsToken(d)) throw new ConfigError(`datasets[${i}]`, TOKEN_IN_TEXT);
  });
  const scopes = grantableScopes ?? ["core:read", "premium:read", ...datasets.flatMap((d) => ["read", "write", "delete"].map((a) => `datasets/${d}:${a}`))];
  if (!Array.isArray(scopes)) throw new ConfigError("grantableScopes", "must be an array of scopes");
  scopes.forEach((s, i) => {
    // Stored on the tokens that get it, and shown to every caller (GET /config).
    if (typeof s === "string" && holdsToken(s)) throw new ConfigError(`grantableScopes[${i}]`, TOKEN_IN_TEXT);
    if (parseScope(s) === null) throw new ConfigError(`grantableScopes[${i}]`, 'must be "resource[/name]:action", e.g. "core:read"');
  });
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 2) throw new ConfigError("maxBodyBytes", "must be an integer of at least 2");
  checkWait(bodyTimeoutMs, "bodyTimeoutMs");
  checkWait(storeTimeoutMs, "storeTimeoutMs");
  const { onError, problemTypeBase, title = "API tokens", allowedOrigins = [] } = options;
  if (onError !== undefined && typeof onError !== "function") throw new ConfigError("onError", "must be a function");
  if (!Array.isArray(allowedOrigins)) throw new ConfigError("allowedOrigins", "must be an array of origins");
  const origins = allowedOrigins.map((o, i) => {
    const url = typeof o === "string" && /^https?:\/\/[^/?#]+\/?$/i.test(o) && URL.canParse(o) ? new URL(o) : null;
    if (url === null || url.username !== "" || url.password !== "") throw new ConfigError(`allowedOrigins[${i}]`, 'must be an http(s) origin without a path, e.g. "https://example.com"');
    return url.origin;
  });
  if (problemTypeBase !== undefined && (typeof problemTypeBase !== "string" || !URL.canParse(`${problemTypeBase}x`))) {
    throw new ConfigError("problemTypeBase", "must be the start of an absolute URI");
  }
  if (typeof title !== "string" || title.length === 0 || title.length > 200) throw new ConfigError("title", "must be 1 to 200 characters");
  // Shown on the page to every caller.
  if (holdsToken(title)) throw new ConfigError("title", TOKEN_IN_TEXT);
  return Object.freeze({
    kw: keyward,
    authorize,
    basePath,
    datasets: Object.freeze([...datasets]),
    grantable: new Set(scopes),
    maxBodyBytes,
    bodyTimeoutMs,
    storeTimeoutMs,
    onError,
    allowedOrigins: new Set(origins),
    problemTypeBase,
    console: options.console ?? true,
    title,
  });
}
