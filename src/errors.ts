/**
 * Errors thrown by keyward's API when it is misused (bad configuration,
 * invalid arguments, conflicts). Requests are never answered with an
 * exception: the verifier returns a {@link Decision} instead.
 *
 * Every error has a stable `code` (both on the class and on the instance) so
 * callers can `switch (err.code)`. Messages never contain a token, a secret
 * or a signature.
 *
 * @module keyward
 */

/** Every code a {@link KeywardError} can carry. */
export type ErrorCode =
  | "INVALID_INPUT"
  | "INVALID_CONFIG"
  | "TOKEN_NOT_FOUND"
  | "TOKEN_ALREADY_EXISTS"
  | "TOKEN_REVOKED"
  | "REVISION_CONFLICT"
  | "SCOPE_NOT_ALLOWED"
  | "SEALING_KEY_REQUIRED"
  | "SEALING_KEY_UNKNOWN"
  | "STORE_UNAVAILABLE";

/** Options accepted by every keyward error. */
export interface KeywardErrorOptions {
  cause?: unknown;
}

/** Base class of every error keyward throws on purpose. */
export class KeywardError extends Error {
  static readonly code: ErrorCode = "INVALID_INPUT";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: KeywardErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument failed validation. `field` names the offending input path (e.g. `credits.limit`). */
export class InvalidInputError extends KeywardError {
  static override readonly code = "INVALID_INPUT" as const;
  readonly field: string;
  constructor(field: string, message: string, options?: KeywardErrorOptions) {
    super("INVALID_INPUT", field ? `${field}: ${message}` : message, options);
    this.field = field;
  }
}

/** The options given to a constructor are invalid. `field` names the option. */
export class ConfigError extends KeywardError {
  static override readonly code = "INVALID_CONFIG" as const;
  readonly field: string;
  constructor(field: string, message: string, options?: KeywardErrorOptions) {
    super("INVALID_CONFIG", field ? `${field}: ${message}` : message, options);
    this.field = field;
  }
}

/** No token has the given id. */
export class TokenNotFoundError extends KeywardError {
  static override readonly code = "TOKEN_NOT_FOUND" as const;
  readonly tokenId: string;
  constructor(tokenId: string) {
    super("TOKEN_NOT_FOUND", "token not found");
    this.tokenId = tokenId;
  }
}

/** A token with the same id or hash is already stored. */
export class TokenExistsError extends KeywardError {
  static override readonly code = "TOKEN_ALREADY_EXISTS" as const;
  constructor() {
    super("TOKEN_ALREADY_EXISTS", "a token with the same id or hash already exists");
  }
}

/** The operation is not possible on a revoked token (e.g. regenerate). */
export class TokenRevokedError extends KeywardError {
  static override readonly code = "TOKEN_REVOKED" as const;
  readonly tokenId: string;
  constructor(tokenId: string) {
    super("TOKEN_REVOKED", "token is revoked");
    this.tokenId = tokenId;
  }
}

/**
 * A compare-and-set update lost: the token changed since it was read.
 * Read it again, re-apply the change and retry.
 */
export class RevisionConflictError extends KeywardError {
  static override readonly code = "REVISION_CONFLICT" as const;
  readonly tokenId: string;
  readonly expectedRevision: number;
  constructor(tokenId: string, expectedRevision: number) {
    super("REVISION_CONFLICT", "token was modified concurrently; re-read and retry");
    this.tokenId = tokenId;
    this.expectedRevision = expectedRevision;
  }
}

/** A scope was requested that the token's kind may not hold (e.g. write on a publishable token). */
export class ScopeNotAllowedError extends KeywardError {
  static override readonly code = "SCOPE_NOT_ALLOWED" as const;
  readonly scope: string;
  constructor(scope: string, message: string) {
    super("SCOPE_NOT_ALLOWED", message);
    this.scope = scope;
  }
}

/** An HMAC-signing token was requested but no sealing key is configured, or a sealed key's key id is unknown. */
export class SealingKeyError extends KeywardError {
  static override readonly code = "SEALING_KEY_REQUIRED" as const;
  constructor(code: "SEALING_KEY_REQUIRED" | "SEALING_KEY_UNKNOWN", message: string) {
    super(code, message);
  }
}

/** The token store failed (connection lost, timeout, …). The operation did not happen, or is safe to retry. */
export class StoreUnavailableError extends KeywardError {
  static override readonly code = "STORE_UNAVAILABLE" as const;
  /** The database driver's own error code, when it gave one (`SQLITE_BUSY` from better-sqlite3, `5` from node:sqlite). */
  readonly driverCode: string | undefined;
  constructor(message = "token store unavailable", options?: KeywardErrorOptions & { driverCode?: string }) {
    super("STORE_UNAVAILABLE", message, options);
    this.driverCode = options?.driverCode;
  }
}

/** True when `err` is a {@link KeywardError}, optionally of the given code. */
export function isKeywardError(err: unknown, code?: ErrorCode): err is KeywardError {
  return err instanceof KeywardError && (code === undefined || err.code === code);
}
