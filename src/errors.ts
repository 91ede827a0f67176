/**
 * Errors thrown by keyward's API when it is misused (bad configuration,
 * invalid arguments, conflicts). Requests are never answered with an
 * exception: the verifier returns a {@link Decision} instead.
 *
 * One family, in the style of jose: every class carries its `code` both as a
 * `static` property and on the instance, `ErrorCode` is a closed union so
 * `switch (err.code)` is checked, and structured fields
 * (`field`, `hint`, `tokenId`, …) are attached. The table of every code, with
 * the request denials, is in docs/errors.md.
 *
 * Messages never contain a token, a secret or a signature: the base class
 * redacts everything shaped like a keyward token and escapes control and
 * invisible characters, in the message and in every structured field, so no
 * error can forget it (`message`, `stack`, `String(err)`, `toJSON`,
 * `util.inspect`).
 *
 * @module keyward
 */
import { cleanText } from "./lib/text.js";

/** Every code a {@link KeywardError} can carry. */
export type ErrorCode =
  | InputErrorCode
  | "INVALID_CONFIG"
  | "TOKEN_NOT_FOUND"
  | "TOKEN_ALREADY_EXISTS"
  | "TOKEN_REVOKED"
  | "REVISION_CONFLICT"
  | "SCOPE_NOT_ALLOWED"
  | "SEALING_KEY_REQUIRED"
  | "SEALING_KEY_UNKNOWN"
  | "STORE_UNAVAILABLE"
  | "STORE_UNSUPPORTED"
  | "ACCOUNT_NOT_FOUND"
  | "IDEMPOTENCY_KEY_REUSED"
  | "IDEMPOTENCY_KEY_IN_FLIGHT";

/** The codes of {@link InvalidInputError} and its subclasses: an argument is wrong, and `field` says which. */
export type InputErrorCode =
  | "INVALID_INPUT"
  | "INVALID_KEY"
  | "SIGNING_MISSING"
  | "DOMAINS_ON_SECRET"
  | "TIME_IN_SECONDS"
  | "LIFETIME_EXCEEDED"
  | "LAST_OWNER";

/** Options accepted by every keyward error. */
export interface KeywardErrorOptions {
  /**
   * The error that led to this one, kept as `cause` (never serialised). An
   * adapter may wrap a driver's error in `StoreUnavailableError` with it:
   * keyward's store guard keeps only its code (`driverCode`) and its message
   * with the call's parameters redacted, and drops the cause, which may hold
   * them (SQL parameters), before the error reaches the application.
   */
  cause?: unknown;
}

/** Longest message or structured field an error keeps; the rest is cut (input can be megabytes). */
const MAX_TEXT = 1024;

/** What every message and structured field goes through: bounded, escaped, redacted. */
function clean(text: string): string {
  return cleanText(text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text, true);
}

/** Base class of every error keyward throws on purpose. */
export class KeywardError extends Error {
  /** The code of errors of this class (a class with several codes names its first). */
  static readonly code: ErrorCode = "INVALID_INPUT";
  /** Stable, machine-readable: see docs/errors.md. */
  readonly code: ErrorCode;

  /**
   * @param code the stable code
   * @param message human-readable; cleaned (redacted, escaped) before use
   * @param options `cause`
   * @param details structured fields to attach, cleaned like the message
   */
  constructor(code: ErrorCode, message: string, options?: KeywardErrorOptions, details?: Record<string, unknown>) {
    // Cleaned before `super`, which captures the message into `stack`.
    super(clean(String(message)), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    for (const [key, value] of Object.entries(details ?? {})) {
      if (value === undefined) continue;
      (this as Record<string, unknown>)[key] = typeof value === "string" ? clean(value) : value;
    }
  }

  /** Name, code, message and the structured fields (never the cause or the stack). */
  toJSON(): Record<string, unknown> {
    return { ...(this as object), name: this.name, code: this.code, message: this.message };
  }
}

/** Options of {@link InvalidInputError}. */
export interface InvalidInputErrorOptions extends KeywardErrorOptions {
  /** How to fix it, when the mistake is a likely one (also appended to the message). */
  hint?: string | undefined;
}

/**
 * An argument failed validation (`INVALID_INPUT`). `field` names the
 * offending input path (e.g. `credits.limit`, `metadata.a.b`, `actor`).
 * Subclasses name likelier mistakes with their own code and a `hint`.
 */
export class InvalidInputError extends KeywardError {
  static override readonly code: InputErrorCode = "INVALID_INPUT";
  declare readonly code: InputErrorCode;
  /** The input path of the problem (`""` when it is the whole argument). */
  declare readonly field: string;
  /** How to fix it, or undefined. */
  declare readonly hint: string | undefined;

  /**
   * @param field the input path of the problem
   * @param message what is wrong (never the offending value)
   * @param options `cause` and `hint`
   * @param details more structured fields (a subclass's), cleaned like the message
   */
  constructor(field: string, message: string, options?: InvalidInputErrorOptions, details?: Record<string, unknown>) {
    const hint = options?.hint;
    const text = `${field ? `${field}: ` : ""}${message}${hint ? ` (hint: ${hint})` : ""}`;
    super((new.target as typeof InvalidInputError).code, text, options, { ...details, field, hint });
  }
}

/**
 * A public key that decodes but can never be legitimate (`INVALID_KEY`): an
 * ed25519 key that is not a canonical encoding of a curve point, a point
 * of small order (the identity and the seven other torsion points, for which
 * a signature can verify whatever the message), or of mixed order (outside
 * the prime-order subgroup: no key generation gives one).
 */
export class InvalidKeyError extends InvalidInputError {
  static override readonly code = "INVALID_KEY" as const;
  declare readonly code: "INVALID_KEY";
}

/** `requireSignedRequests` on a token without `signing` (`SIGNING_MISSING`): every request would be denied. */
export class SigningMissingError extends InvalidInputError {
  static override readonly code = "SIGNING_MISSING" as const;
  declare readonly code: "SIGNING_MISSING";
}

/**
 * Allowed domains on a secret token (`DOMAINS_ON_SECRET`): domains bind
 * browsers, and secret tokens are refused from browsers, so no request
 * could ever pass (unless `allowSecretInBrowser` is set).
 */
export class DomainsOnSecretError extends InvalidInputError {
  static override readonly code = "DOMAINS_ON_SECRET" as const;
  declare readonly code: "DOMAINS_ON_SECRET";
}

/** A time in epoch milliseconds that is far too small: most likely seconds (`TIME_IN_SECONDS`). */
export class TimeInSecondsError extends InvalidInputError {
  static override readonly code = "TIME_IN_SECONDS" as const;
  declare readonly code: "TIME_IN_SECONDS";
}

/**
 * An expiry beyond the application's maximum token lifetime, or no expiry
 * while one is required (`LIFETIME_EXCEEDED`). `field` is `expiresAt`,
 * `limit` names the option (`tokens.maxLifetimeMs`), `maxExpiresAt` is the
 * latest expiry allowed for this write.
 */
export class LifetimeExceededError extends InvalidInputError {
  static override readonly code = "LIFETIME_EXCEEDED" as const;
  declare readonly code: "LIFETIME_EXCEEDED";
  /** The option that sets the limit. */
  declare readonly limit: string | undefined;
  /** The latest expiry allowed for this write, epoch ms. */
  declare readonly maxExpiresAt: number | undefined;
}

/**
 * A change of an account's members that would leave it without an owner
 * (`LAST_OWNER`): removing, or giving another role to, its only owner.
 */
export class LastOwnerError extends InvalidInputError {
  static override readonly code = "LAST_OWNER" as const;
  declare readonly code: "LAST_OWNER";
}

/** The options given to a constructor are invalid (`INVALID_CONFIG`). `field` names the option. */
export class ConfigError extends KeywardError {
  static override readonly code = "INVALID_CONFIG" as const;
  declare readonly code: "INVALID_CONFIG";
  /** The option path of the problem. */
  declare readonly field: string;
  constructor(field: string, message: string, options?: KeywardErrorOptions) {
    super("INVALID_CONFIG", field ? `${field}: ${message}` : message, options, { field });
  }
}

/** No token has the given id (`TOKEN_NOT_FOUND`). */
export class TokenNotFoundError extends KeywardError {
  static override readonly code = "TOKEN_NOT_FOUND" as const;
  declare readonly code: "TOKEN_NOT_FOUND";
  /** The id asked for (`""` when it was not a token id at all). */
  declare readonly tokenId: string;
  constructor(tokenId: string) {
    super("TOKEN_NOT_FOUND", "token not found", undefined, { tokenId });
  }
}

/** A token with the same id or hash is already stored (`TOKEN_ALREADY_EXISTS`). */
export class TokenExistsError extends KeywardError {
  static override readonly code = "TOKEN_ALREADY_EXISTS" as const;
  declare readonly code: "TOKEN_ALREADY_EXISTS";
  constructor() {
    super("TOKEN_ALREADY_EXISTS", "a token with the same id or hash already exists");
  }
}

/** The operation is not possible on a revoked token, e.g. regenerate (`TOKEN_REVOKED`). */
export class TokenRevokedError extends KeywardError {
  static override readonly code = "TOKEN_REVOKED" as const;
  declare readonly code: "TOKEN_REVOKED";
  /** The revoked token's id. */
  declare readonly tokenId: string;
  constructor(tokenId: string) {
    super("TOKEN_REVOKED", "token is revoked", undefined, { tokenId });
  }
}

/**
 * A compare-and-set update lost: the token changed since it was read
 * (`REVISION_CONFLICT`). Read it again, re-apply the change and retry.
 */
export class RevisionConflictError extends KeywardError {
  static override readonly code = "REVISION_CONFLICT" as const;
  declare readonly code: "REVISION_CONFLICT";
  /** The token's id. */
  declare readonly tokenId: string;
  /** The revision the write expected; the token is at another now: read it again. */
  declare readonly expectedRevision: number;
  constructor(tokenId: string, expectedRevision: number) {
    super("REVISION_CONFLICT", "token was modified concurrently; re-read and retry", undefined, {
      tokenId,
      expectedRevision,
    });
  }
}

/** A scope the token's kind may not hold, e.g. write on a publishable token (`SCOPE_NOT_ALLOWED`). */
export class ScopeNotAllowedError extends KeywardError {
  static override readonly code = "SCOPE_NOT_ALLOWED" as const;
  declare readonly code: "SCOPE_NOT_ALLOWED";
  /** The scope refused. */
  declare readonly scope: string;
  constructor(scope: string, message: string) {
    super("SCOPE_NOT_ALLOWED", message, undefined, { scope });
  }
}

/**
 * An HMAC-signing token was requested but no sealing key is configured
 * (`SEALING_KEY_REQUIRED`), or a sealed key cannot be opened with the
 * configured keys (`SEALING_KEY_UNKNOWN`).
 */
export class SealingKeyError extends KeywardError {
  static override readonly code = "SEALING_KEY_REQUIRED" as const;
  declare readonly code: "SEALING_KEY_REQUIRED" | "SEALING_KEY_UNKNOWN";
  constructor(code: "SEALING_KEY_REQUIRED" | "SEALING_KEY_UNKNOWN", message: string) {
    super(code, message);
  }
}

/** The token store failed: connection lost, timeout, … (`STORE_UNAVAILABLE`). The operation did not happen, or is safe to retry. */
export class StoreUnavailableError extends KeywardError {
  static override readonly code = "STORE_UNAVAILABLE" as const;
  declare readonly code: "STORE_UNAVAILABLE";
  /** The database driver's own error code, when it gave one (`SQLITE_BUSY` from better-sqlite3, `5` from node:sqlite). */
  declare readonly driverCode: string | undefined;
  constructor(message = "token store unavailable", options?: KeywardErrorOptions & { driverCode?: string | undefined }) {
    super("STORE_UNAVAILABLE", message, options, { driverCode: options?.driverCode });
  }
}

/**
 * The store does not implement an optional part of the contract this call
 * needs, e.g. accounts (`STORE_UNSUPPORTED`); `feature` names it. Nothing
 * was written.
 */
export class StoreUnsupportedError extends KeywardError {
  static override readonly code = "STORE_UNSUPPORTED" as const;
  declare readonly code: "STORE_UNSUPPORTED";
  /** The missing part: `"accounts"`. */
  declare readonly feature: string;
  constructor(feature: string) {
    super("STORE_UNSUPPORTED", `the store does not support ${feature}`, undefined, { feature });
  }
}

/** The owner has no account (`ACCOUNT_NOT_FOUND`): set one with `kw.accounts.set` first. */
export class AccountNotFoundError extends KeywardError {
  static override readonly code = "ACCOUNT_NOT_FOUND" as const;
  declare readonly code: "ACCOUNT_NOT_FOUND";
  /** The owner asked for. */
  declare readonly owner: string;
  constructor(owner: string) {
    super("ACCOUNT_NOT_FOUND", "account not found", undefined, { owner });
  }
}

/**
 * The idempotency key of `tokens.create` was used, within its retention,
 * for another request (`IDEMPOTENCY_KEY_REUSED`; the admin API answers 422):
 * nothing was written. Send this request with a new key.
 */
export class IdempotencyKeyReusedError extends KeywardError {
  static override readonly code = "IDEMPOTENCY_KEY_REUSED" as const;
  declare readonly code: "IDEMPOTENCY_KEY_REUSED";
  constructor() {
    super("IDEMPOTENCY_KEY_REUSED", "this idempotency key was used for another request: use a new key");
  }
}

/**
 * A `tokens.create` with the same idempotency key (same owner and actor) is
 * still running in this process (`IDEMPOTENCY_KEY_IN_FLIGHT`; the admin API
 * answers 409): nothing was written. Retry once it is over, which answers
 * its token (without the secret).
 */
export class IdempotencyKeyInFlightError extends KeywardError {
  static override readonly code = "IDEMPOTENCY_KEY_IN_FLIGHT" as const;
  declare readonly code: "IDEMPOTENCY_KEY_IN_FLIGHT";
  constructor() {
    super("IDEMPOTENCY_KEY_IN_FLIGHT", "a request with this idempotency key is still being processed: retry later");
  }
}

/** The class of the errors of each code, for {@link isKeywardError}. */
export interface ErrorClassByCode {
  INVALID_INPUT: InvalidInputError;
  INVALID_KEY: InvalidKeyError;
  SIGNING_MISSING: SigningMissingError;
  DOMAINS_ON_SECRET: DomainsOnSecretError;
  TIME_IN_SECONDS: TimeInSecondsError;
  LIFETIME_EXCEEDED: LifetimeExceededError;
  LAST_OWNER: LastOwnerError;
  INVALID_CONFIG: ConfigError;
  TOKEN_NOT_FOUND: TokenNotFoundError;
  TOKEN_ALREADY_EXISTS: TokenExistsError;
  TOKEN_REVOKED: TokenRevokedError;
  REVISION_CONFLICT: RevisionConflictError;
  SCOPE_NOT_ALLOWED: ScopeNotAllowedError;
  SEALING_KEY_REQUIRED: SealingKeyError;
  SEALING_KEY_UNKNOWN: SealingKeyError;
  STORE_UNAVAILABLE: StoreUnavailableError;
  STORE_UNSUPPORTED: StoreUnsupportedError;
  ACCOUNT_NOT_FOUND: AccountNotFoundError;
  IDEMPOTENCY_KEY_REUSED: IdempotencyKeyReusedError;
  IDEMPOTENCY_KEY_IN_FLIGHT: IdempotencyKeyInFlightError;
}

/**
 * True when `err` is a {@link KeywardError}, optionally of the given code;
 * with a code, `err` narrows to that code's class (its structured fields).
 *
 * @param err anything caught
 * @param code the code to test for
 * @returns whether `err` is a keyward error (of that code)
 * @example
 * ```ts
 * import { isKeywardError, Keyward, MemoryStore } from "keyward";
 * const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
 * try {
 *   await kw.tokens.create({ owner: "acct_1", kind: "secret", expiresAt: 1_900_000_000 });
 * } catch (err) {
 *   if (isKeywardError(err, "TIME_IN_SECONDS")) console.log(err.field, err.hint);
 * }
 * ```
 */
export function isKeywardError<C extends ErrorCode>(err: unknown, code: C): err is ErrorClassByCode[C];
export function isKeywardError(err: unknown, code?: ErrorCode): err is KeywardError;
export function isKeywardError(err: unknown, code?: ErrorCode): err is KeywardError {
  return err instanceof KeywardError && (code === undefined || err.code === code);
}
