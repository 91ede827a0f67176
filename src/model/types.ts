// Plain-data types of the token model, shared by the manager, the stores and
// the policy evaluator.
import type { Role } from "./roles.js";
import type { TokenEnv, TokenKind } from "../token/format.js";

/** A JSON value, as token metadata holds. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * A credit allowance (a pool): each call costs N credits; optionally
 * refilled every `intervalMs`, or full again at every UTC calendar day or
 * month (`reset`).
 */
export interface CreditsPolicy {
  /** Credits available (the cap the balance never exceeds). */
  limit: number;
  /** Every `intervalMs` since the first use, `amount` credits come back (up to `limit`); exclusive with `reset`. */
  refill: {
    /** Credits that come back each interval. */
    amount: number;
    /** The interval, ms. */
    intervalMs: number;
  } | null;
  /**
   * `"day"` / `"month"`: the pool is full again at 00:00 UTC of every calendar
   * day / first day of every month; exclusive with `refill`. Absent (records
   * written before calendar resets) or null: none.
   */
  reset?: CalendarReset | null;
}

/** A calendar reset of a credit pool: at 00:00 UTC of every day, or of the first day of every month. */
export type CalendarReset = "day" | "month";

/**
 * At most `limit` requests in any span of `windowMs`, exactly (ten buckets
 * per window, see docs/stores.md); a client sending evenly at the limit may
 * see about one request in eleven denied.
 */
export interface RateLimitPolicy {
  /** Most requests in any span of `windowMs`. */
  limit: number;
  /** The window, ms. */
  windowMs: number;
}

/**
 * The part of a token that decides requests. It can be changed with an
 * effective time, so a whole fleet switches at the same instant.
 */
export interface TokenPolicy {
  /** Granted scopes, `resource[/name…]:action` with `*` segment wildcards. */
  scopes: string[];
  /** Allowed Origin / Referer hosts (`example.com`, `*.example.com`); empty = any. */
  domains: string[];
  /** Allowed client IPs as CIDRs; empty = any. */
  ips: string[];
  /** The default pool (named `"default"`): what a route draws from when it names no pool; null: none. */
  credits: CreditsPolicy | null;
  /**
   * More named credit pools (`"premium"`), drawn from by routes that name
   * them (`pool` of `check` / `verify` / `requireToken`). Absent in records
   * written before pools: none. Never holds `"default"` (that is `credits`).
   */
  pools?: Record<string, CreditsPolicy>;
  /** The token's rate limit, or null: none. */
  rateLimit: RateLimitPolicy | null;
  /**
   * More rate limits (per second and per day, say), each counting every
   * request together with `rateLimit`: a request is counted by all or by
   * none. Distinct windows. Absent in records written before: none.
   */
  rateLimits?: RateLimitPolicy[];
  /** Epoch milliseconds after which the token no longer works, or null. */
  expiresAt: number | null;
  /** Every request must carry a valid RFC 9421 signature. */
  requireSignedRequests: boolean;
}

/** A policy revision that applies from `effectiveAt` (epoch ms) on. */
export interface ScheduledPolicy {
  /** When it applies, epoch ms. */
  effectiveAt: number;
  /** The whole policy in force from then on. */
  policy: TokenPolicy;
}

/** An HMAC signing key sealed with AES-256-GCM under the application's sealing key `kid`. */
export interface SealedSecret {
  /** The id of the sealing key that sealed it. */
  kid: string;
  /** base64url of the 12-byte nonce. */
  iv: string;
  /** base64url of ciphertext + tag. */
  ciphertext: string;
}

/** How a token's signed requests are verified (as stored). */
export type StoredSigning =
  | {
      /** Ed25519: the client signs with its private key. */
      alg: "ed25519";
      /** The public key, base64url of 32 bytes. */
      publicKey: string;
    }
  | {
      /** HMAC-SHA256 with a key derived from the token. */
      alg: "hmac-sha256";
      /** That key, sealed. */
      sealed: SealedSecret;
    };

/** An old secret that stays valid until `expiresAt` after a regeneration. */
export interface PreviousSecret {
  /** SHA-256 of the old token, 64 lowercase hex characters. */
  hash: string;
  /** Epoch ms from which the old token is refused. */
  expiresAt: number;
  /** The old secret's sealed HMAC signing key, so its signatures verify during the grace period too. */
  sealed?: SealedSecret;
}

/**
 * A token as the store keeps it. It never holds the token itself: only the
 * SHA-256 of it (`hash`), the displayable start, and the sealed signing key.
 */
export interface StoredToken {
  /** Public id, `tok_` and 22 base62 characters (ASCII): used in URLs, admin calls and as the RFC 9421 keyid. */
  id: string;
  /** SHA-256 of the current token, 64 lowercase hex characters. Unique across all tokens. */
  hash: string;
  /** Displayable start of the token, e.g. `acme_sk_live_4qT9`. */
  start: string;
  /** `"publishable"` (for browsers, bound to `domains`) or `"secret"` (servers only). */
  kind: TokenKind;
  /** `"live"` or `"test"`, the environment in the token's text. */
  env: TokenEnv;
  /** The account the token belongs to (your id for it). */
  owner: string;
  /** A label for people ("backend"); may be empty. */
  name: string;
  /** The application's own JSON data about the token. */
  metadata: Record<string, JsonValue>;
  /** The policy in force before the first scheduled revision. */
  policy: TokenPolicy;
  /** Future revisions, in strictly ascending effectiveAt (a store answering them otherwise answers a malformed record). */
  scheduled: ScheduledPolicy[];
  /** How its signed requests are verified, or null: it has no signing key. */
  signing: StoredSigning | null;
  /** Old secrets still accepted during a regeneration grace period. Their hashes are unique too. */
  previous: PreviousSecret[];
  /** When it was issued, epoch ms. */
  createdAt: number;
  /** When it was last written, epoch ms. */
  updatedAt: number;
  /** When it was revoked, or null. */
  revokedAt: number | null;
  /**
   * When the token was disabled (`kw.tokens.disable`), or null / absent when
   * enabled. Optional so records written before it existed stay valid.
   */
  disabledAt?: number | null;
  /** When the secret was last regenerated; absent = never (its age counts from `createdAt`). */
  rotatedAt?: number;
  /** Incremented by every write; the compare-and-set key of updates. */
  revision: number;
}

/** The public signing settings of a token (no key material beyond an ed25519 public key). */
export type SigningInfo =
  | {
      /** Ed25519. */
      alg: "ed25519";
      /** The public key, base64url of 32 bytes. */
      publicKey: string;
    }
  | {
      /** HMAC-SHA256 with a key derived from the token. */
      alg: "hmac-sha256";
    };

/**
 * A token as the API returns it: what an admin console shows. No hash, no
 * sealed key; `policy` is the one in force at the time of the call and
 * `scheduled` only the revisions still to come.
 */
export interface TokenRecord {
  /** Public id, `tok_…`. */
  id: string;
  /** Displayable start of the token, e.g. `acme_sk_live_4qT9`. */
  start: string;
  /** `"publishable"` (for browsers, bound to `domains`) or `"secret"` (servers only). */
  kind: TokenKind;
  /** `"live"` or `"test"`, the environment in the token's text. */
  env: TokenEnv;
  /** The account the token belongs to (your id for it). */
  owner: string;
  /** A label for people ("backend"); may be empty. */
  name: string;
  /** The application's own JSON data about the token. */
  metadata: Record<string, JsonValue>;
  /** The policy in force now. */
  policy: TokenPolicy;
  /** The revisions still to come, ascending by `effectiveAt`. */
  scheduled: ScheduledPolicy[];
  /** Its signing settings (no secret), or null. */
  signing: SigningInfo | null;
  /** Until when the previous secret of a regenerated token is still accepted, or null. */
  graceUntil: number | null;
  /** When it was issued, epoch ms. */
  createdAt: number;
  /** When it was last written, epoch ms. */
  updatedAt: number;
  /** When it was revoked, or null. */
  revokedAt: number | null;
  /** When the token was disabled, or null: denied with `TOKEN_DISABLED` until enabled again. */
  disabledAt: number | null;
  /** Incremented by every write: pass it as `expectedRevision` to update only what you read. */
  revision: number;
}

/** One page of a listing; pass `nextCursor` back to get the next page. */
export interface Page<T> {
  /** This page's items. */
  items: T[];
  /** The cursor of the next page, or null on the last one. */
  nextCursor: string | null;
}

/** Options of paginated listings. */
export interface PageOptions {
  /** Page size, 1 to 1000 (default 100). */
  limit?: number | undefined;
  /** The `nextCursor` of the previous page; absent or null: the first page. */
  cursor?: string | null | undefined;
}

/**
 * Every action the audit log records: the one list the type, the admin
 * API's OpenAPI document and its answers' schemas are made from.
 */
export const AUDIT_ACTIONS = Object.freeze([
  "create",
  "import",
  "update",
  "revoke",
  "regenerate",
  "leak",
  "account",
  "credits",
  "disable",
  "enable",
  "delete",
  "bill",
  "members",
] as const);

/** What an admin did, as the audit log keeps it. */
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One audit log entry. Never holds a secret: changed fields are named, not valued. */
export interface AuditEntry {
  /** Unique, sortable id. */
  id: string;
  /** When, epoch ms. */
  at: number;
  /** Who did it, as the application says (`"user:42"`, `"cli"`); `"system"` when not given. */
  actor: string;
  /** The actor's role in the account, when the action was taken as a member (keyward/admin). */
  role?: Role;
  /** What was done. */
  action: AuditAction;
  /** The token, or `"*"` for an entry about the whole account (`account`, and `credits` of the account's pool). */
  tokenId: string;
  /** The account. */
  owner: string;
  /**
   * Names of the fields that changed; for `leak`, where the token was seen
   * (`"url"`); for `credits`, the operation (`"topUp"` or `"reset"`).
   */
  changes: string[];
  /** For updates with an effective time. */
  effectiveAt?: number;
  /** For a `regenerate` with a grace period: until when the previous secret is still accepted. */
  graceUntil?: number;
  /** For a `credits` top-up: the credits added. */
  amount?: number;
  /** For an `account` change that suspends the account: the operator's reason (never shown to the account's members). */
  reason?: string;
  /**
   * For a `members` change: the member whose role it changes, their id as
   * given (whatever it holds: `=`, spaces). Read it here, not out of
   * `changes`, whose text (`"user:2=developer"`, `"remove user:2"`) an id
   * holding those separators makes ambiguous. Entries written before this
   * field existed have the text only.
   */
  member?: string;
  /** For a `members` change: the member's role after it; null when they were removed. Set with `member`. */
  memberRole?: Role | null;
}

/** One metered request. The fields after `cost` are set by the verifier; a store may keep them. */
export interface UsageEvent {
  /** The token's id. */
  tokenId: string;
  /** When, epoch ms. */
  at: number;
  /** Whether the request was allowed. */
  ok: boolean;
  /** Credits consumed: 0 when denied, and when the request drew none (no credits in the route's pool, or `cost: 0`). */
  cost: number;
  /** The token's owner. */
  owner?: string;
  /** The scope(s) the route required, space-separated, or null. */
  scope?: string | null;
  /** `"OK"` or the denial code. */
  code?: string;
  /** The HTTP status of the decision. */
  status?: number;
  /** The client IP as resolved, or null. */
  ip?: string | null;
  /** The request's Origin, or null. */
  origin?: string | null;
  /** Whether the request carried an HTTP Message Signature. */
  signed?: boolean;
  /** The credit pool the route drew from; absent or null: the default pool. */
  pool?: string | null;
}

/** Usage aggregated over one time bucket. */
export interface UsageBucket {
  /** Bucket start, epoch ms (UTC hour or day). */
  start: number;
  /** Requests allowed. */
  allowed: number;
  /** Requests denied. */
  denied: number;
  /** Credits spent. */
  credits: number;
}

/** Bucket size of usage queries. */
export type UsageGranularity = "hour" | "day";
