// The answer to a request: allow, or deny with a stable reason code and the
// HTTP status and headers to answer with.

/** Why a request was denied. Stable: safe to switch on, log and alert on. */
export type DenyCode =
  /** No token (no Authorization header, no signature). */
  | "TOKEN_MISSING"
  /** Not a token: wrong format or checksum, or several credentials at once. */
  | "TOKEN_MALFORMED"
  /** Well-formed but not stored (or an old secret past its grace period). */
  | "TOKEN_UNKNOWN"
  | "TOKEN_REVOKED"
  /** Disabled by the application (`kw.tokens.disable`), works again once enabled. */
  | "TOKEN_DISABLED"
  | "TOKEN_EXPIRED"
  /** One of this application's tokens in the URL while query tokens are off: it is leaked (reported). */
  | "TOKEN_IN_URL"
  /** A test token on a live instance or the reverse. */
  | "TOKEN_WRONG_ENV"
  /** A secret token sent from a browser context. */
  | "SECRET_IN_BROWSER"
  /** A token over plain http where `requireHttps` asks for TLS: it crossed the network in cleartext. */
  | "INSECURE_TRANSPORT"
  | "SCOPE_DENIED"
  | "DOMAIN_DENIED"
  | "IP_DENIED"
  /** The token requires signed requests and the request is not signed. */
  | "SIGNATURE_REQUIRED"
  | "SIGNATURE_INVALID"
  | "SIGNATURE_EXPIRED"
  | "DIGEST_MISMATCH"
  | "REPLAYED"
  /** The body of a signed request is larger than the verifier reads. */
  | "BODY_TOO_LARGE"
  /** The body of a signed request did not arrive within the verifier's deadline. */
  | "BODY_TIMEOUT"
  /** The application read the body of a signed request before the check that needs it: its own bug (500). */
  | "BODY_ALREADY_READ"
  | "CREDITS_EXHAUSTED"
  /** The route draws from a credit pool that the token (or its account) does not hold, though it holds others. */
  | "POOL_UNKNOWN"
  /** The token's account is suspended by the application (`kw.accounts.set(owner, { suspended })`), works again once lifted. */
  | "ACCOUNT_SUSPENDED"
  | "RATE_LIMITED"
  /** The store failed: denied, never allowed (fail closed). */
  | "STORE_UNAVAILABLE";

/** HTTP statuses a decision carries. */
export type DecisionStatus = 200 | 400 | 401 | 402 | 403 | 408 | 413 | 429 | 500 | 503;

/** Credential failures: all answered identically (401) so a caller cannot tell them apart. */
export const CREDENTIAL_CODES: ReadonlySet<DenyCode> = new Set<DenyCode>([
  "TOKEN_MISSING",
  "TOKEN_MALFORMED",
  "TOKEN_UNKNOWN",
  "TOKEN_REVOKED",
  "TOKEN_DISABLED",
  "TOKEN_EXPIRED",
  "TOKEN_WRONG_ENV",
]);

const STATUS: Record<DenyCode, DecisionStatus> = {
  TOKEN_MISSING: 401,
  TOKEN_MALFORMED: 401,
  TOKEN_UNKNOWN: 401,
  TOKEN_REVOKED: 401,
  TOKEN_DISABLED: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_WRONG_ENV: 401,
  TOKEN_IN_URL: 400,
  SIGNATURE_REQUIRED: 401,
  SIGNATURE_INVALID: 401,
  SIGNATURE_EXPIRED: 401,
  DIGEST_MISMATCH: 401,
  REPLAYED: 401,
  BODY_TOO_LARGE: 413,
  BODY_TIMEOUT: 408,
  // The server's own mistake, not the client's: nothing the client can change.
  BODY_ALREADY_READ: 500,
  SECRET_IN_BROWSER: 403,
  // Not a credential failure (the token is valid, retrying over https works): refused like the browser rule.
  INSECURE_TRANSPORT: 403,
  SCOPE_DENIED: 403,
  DOMAIN_DENIED: 403,
  IP_DENIED: 403,
  // Not a rate limit: waiting a little does not help (402, as metered APIs answer).
  CREDITS_EXHAUSTED: 402,
  // The token's plan does not include what the route draws from: like a missing scope.
  POOL_UNKNOWN: 403,
  // The token is valid and the account known: refused, not unauthenticated, and not a credential failure
  // (the caller holds the token: its own account's state is not a secret from it).
  ACCOUNT_SUSPENDED: 403,
  RATE_LIMITED: 429,
  STORE_UNAVAILABLE: 503,
};

/** Whether `code` is one of keyward's denial codes. */
export function isDenyCode(code: unknown): code is DenyCode {
  return typeof code === "string" && Object.hasOwn(STATUS, code);
}

/** The HTTP status of a deny code. */
export function statusOf(code: DenyCode): DecisionStatus {
  return STATUS[code];
}

/** An allowed request. */
export interface Allow {
  ok: true;
  code: "OK";
  status: 200;
  /** Headers to add to the response (rate-limit and credit state). */
  headers: Record<string, string>;
}

/** A denied request. */
export interface Deny {
  ok: false;
  code: DenyCode;
  status: Exclude<DecisionStatus, 200>;
  /** Headers to answer with (`WWW-Authenticate` on 401, `Retry-After` on 429/503). */
  headers: Record<string, string>;
  /** The scope that was missing, for SCOPE_DENIED. */
  scope?: string;
}

/** The result of a pure policy evaluation. */
export type PolicyDecision = Allow | Deny;

/** The realm of the `WWW-Authenticate` challenge unless the application names one. */
export const DEFAULT_REALM = "api";

/**
 * The `WWW-Authenticate` value a denial calls for (RFC 6750 §3), or
 * undefined: no `error` parameter when no credential was sent (§3.1),
 * `invalid_token` for every other 401 without saying which check failed,
 * `insufficient_scope` for a missing scope.
 *
 * @param code the deny code
 * @param realm the realm, a quoted-string's content (RFC 9110 §11.2); quotes and backslashes are escaped
 */
export function challengeOf(code: DenyCode, realm: string = DEFAULT_REALM): string | undefined {
  const base = `Bearer realm="${realm.replace(/["\\]/g, "\\$&")}"`;
  if (code === "TOKEN_MISSING") return base;
  if (STATUS[code] === 401) return `${base}, error="invalid_token"`;
  if (code === "SCOPE_DENIED") return `${base}, error="insufficient_scope"`;
  return undefined;
}

/** Builds a denial with the status and headers its code calls for. Credential failures get identical headers. */
export function deny(code: DenyCode, extra?: { scope?: string; retryAfterMs?: number; error?: string }): Deny {
  const status = STATUS[code] as Exclude<DecisionStatus, 200>;
  const headers: Record<string, string> = {};
  const challenge = challengeOf(code);
  if (challenge !== undefined) headers["www-authenticate"] = challenge;
  if (extra?.retryAfterMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(extra.retryAfterMs / 1000)));
  const d: Deny = { ok: false, code, status, headers };
  if (extra?.scope !== undefined) d.scope = extra.scope;
  return d;
}

/** The allow with no headers: one object, never mutated (a decision copies its headers when they are read). */
const ALLOWED: Allow = Object.freeze({ ok: true, code: "OK", status: 200, headers: Object.freeze({}) as Record<string, string> }) as Allow;

/** Builds an allow with the given response headers (none: the shared, frozen allow). */
export function allow(headers?: Record<string, string>): Allow {
  return headers === undefined ? ALLOWED : { ok: true, code: "OK", status: 200, headers };
}
