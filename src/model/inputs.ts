// The documented input types of the admin API. The zod schemas in
// schemas.ts parse exactly these (test/types/token-inputs.test.ts checks that
// the two agree), so the API reference shows each field with its own comment.
import type { TokenEnv, TokenKind } from "../token/format.js";
import type { Ed25519PublicKeyInput } from "../signing/key-formats.js";
import type { JsonValue } from "./types.js";

/** A credit allowance (a pool) as given to `create` / `update`. */
export interface CreditsInput {
  /** Credits available: the cap the balance never exceeds. Integer, 0 or more. */
  limit: number;
  /** Credits that come back periodically, up to `limit`. Null or absent: no refill. */
  refill?: {
    /** Credits that come back each interval: an integer, 1 or more. */
    amount: number;
    /** The interval in milliseconds, counted from the first use: at least 1 000. */
    intervalMs: number;
  } | null | undefined;
  /**
   * `"day"` / `"month"`: full again at 00:00 UTC of every calendar day / of
   * the first day of every month. Exclusive with `refill`. Null or absent: none.
   */
  reset?: "day" | "month" | null | undefined;
}

/** A rate limit as given to `create` / `update`. */
export interface RateLimitInput {
  /** Requests allowed per window: an integer, 1 or more. */
  limit: number;
  /** Window length in milliseconds: 1 to 31 days. */
  windowMs: number;
}

/** Signing settings as given to `create` / `update`. */
export type SigningInput =
  /**
   * The client signs with its ed25519 private key; keyward stores the public
   * key only (recommended). A non-canonical encoding or a point of small or
   * mixed order is refused (`INVALID_KEY`).
   */
  | {
      alg: "ed25519";
      /** The client's public key: 32 bytes raw or base64 / base64url, SPKI PEM, a JWK, a node `KeyObject` or a WebCrypto `CryptoKey`. */
      publicKey: Ed25519PublicKeyInput | CryptoKey;
    }
  /**
   * The client signs with a key derived from its token; keyward stores that
   * key sealed under the sealing key (`SEALING_KEY_REQUIRED` without one).
   * Only when the token is created.
   */
  | { alg: "hmac-sha256" };

/**
 * The settings shared by `create`, `import` and `update`. In an update,
 * the policy fields (`scopes` to `requireSignedRequests`) take effect at
 * `effectiveAt`; the others at once.
 */
export interface TokenSettingsInput {
  /**
   * A label for people (up to 256 characters). Control, bidi and invisible
   * characters, and a token, are refused (`INVALID_INPUT`): names are printed
   * in consoles and logs.
   */
  name?: string | undefined;
  /**
   * Granted scopes, `resource[/name…]:action` with `*` segment wildcards
   * (at most 256). Default: the instance's `defaultScopes`. Publishable
   * tokens hold read scopes only (`SCOPE_NOT_ALLOWED`) unless
   * `allowPublishableWrites`.
   */
  scopes?: string[] | undefined;
  /**
   * Allowed `Origin` / `Referer` hosts (`example.com`, `*.example.com`; at
   * most 256); empty: any. Browsers only: refused on a secret token
   * (`DOMAINS_ON_SECRET`) unless `allowSecretInBrowser`.
   */
  domains?: string[] | undefined;
  /** Allowed client IPs, IPv4 / IPv6 addresses or CIDRs (at most 1 024); empty: any. */
  ips?: string[] | undefined;
  /** Credit allowance, the default pool (routes that name no pool); null: unmetered. */
  credits?: CreditsInput | null | undefined;
  /**
   * More credit pools by name (at most 16; a lowercase letter, then up to 31
   * of `a-z`, `0-9`, `_`, `-`; never `"default"`, which is `credits`), drawn
   * from by routes that name them (`pool: "premium"`). A route naming a pool
   * the token lacks is denied (`POOL_UNKNOWN`) unless the token has no pool
   * at all. An update replaces every named pool; null: none.
   */
  pools?: Record<string, CreditsInput> | null | undefined;
  /** Rate limit; null: none. */
  rateLimit?: RateLimitInput | null | undefined;
  /**
   * More rate limits (at most 8, each window different from the others and
   * from `rateLimit`'s), e.g. 10 per second and 10 000 per day: a request is
   * counted by every limit or, when one is full, by none. An update replaces
   * the list; null: none.
   */
  rateLimits?: RateLimitInput[] | null | undefined;
  /**
   * When the token stops working: epoch **milliseconds**, a `Date`, or an
   * ISO-8601 date-time with a zone (`2027-01-01T00:00:00Z`) or a date
   * (`2027-01-01`, midnight UTC). A number before 3 March 1973 in milliseconds
   * (1e11) is refused as seconds (`TIME_IN_SECONDS`). Null: never. At
   * creation it must be in the future.
   */
  expiresAt?: number | Date | string | null | undefined;
  /**
   * Every request must carry a valid RFC 9421 signature. Needs `signing`
   * (`SIGNING_MISSING` without it).
   */
  requireSignedRequests?: boolean | undefined;
  /**
   * Application data kept with the token: a JSON object (at most 8 KiB
   * serialised, 8 levels deep). Keys must not be `__proto__`, `constructor`
   * or `prototype`, nor hold control or invisible characters; strings must
   * not hold U+0000 or lone surrogates; no key or string may hold a token
   * (`INVALID_INPUT` naming the path).
   * Null: empty.
   */
  metadata?: Record<string, JsonValue> | null | undefined;
}

/** Input of `tokens.create`. */
export interface CreateTokenInput extends TokenSettingsInput {
  /** The account the token belongs to (1 to 256 characters, no control or invisible characters, no token). */
  owner: string;
  /** `publishable` (safe in a web page; read scopes only by default) or `secret` (server-side only). */
  kind: TokenKind;
  /** How signed requests are verified; null or absent: the token is not set up for signing. */
  signing?: SigningInput | null | undefined;
}

/** Input of `tokens.import`: an existing key known only by the SHA-256 of its string. */
export interface ImportTokenInput extends TokenSettingsInput {
  /** The SHA-256 of the key string, 64 hex characters. */
  hash: string;
  /** The account the token belongs to (1 to 256 characters, no control or invisible characters, no token). */
  owner: string;
  /** `publishable` or `secret`. */
  kind: TokenKind;
  /**
   * Displayable start of the key (up to 32 characters); default the first 8
   * hex characters of the hash. Never the key itself: an import whose start,
   * name, owner or metadata holds the key is refused (`INVALID_INPUT`).
   */
  start?: string | undefined;
  /** Environment; default the instance's. */
  env?: TokenEnv | undefined;
  /** Imported keys cannot be set up for signing: absent or null. */
  signing?: null | undefined;
}

/** Input of `tokens.update`: any subset of the settings, at least one. Owner and kind never change. */
export interface UpdateTokenInput extends TokenSettingsInput {
  /** New signing settings: an ed25519 public key, or null to stop signing. hmac-sha256 only at creation. */
  signing?: SigningInput | null | undefined;
}
