// The storage contract. `TokenStore` is the only thing an adapter author
// implements; `keyward/testing` exports the conformance suite every adapter
// runs (`describeTokenStore`).
import type {
  AuditEntry,
  CreditsPolicy,
  Page,
  PageOptions,
  StoredToken,
  UsageBucket,
  UsageEvent,
  UsageGranularity,
} from "../model/types.js";

/** Result of {@link TokenStore.consumeCredits}. */
export interface CreditResult {
  /** Whether the credits were granted (and so deducted). */
  granted: boolean;
  /** Credits left after this call. */
  remaining: number;
  /** When the next refill happens (epoch ms), or null without refill. */
  nextRefillAt: number | null;
}

/** Result of {@link TokenStore.hitRateLimit}. */
export interface RateLimitResult {
  allowed: boolean;
  /** Requests left in the current window after this one. */
  remaining: number;
  /** When enough of the window has passed for one more request, when denied (ms from now); else 0. */
  retryAfterMs: number;
}

/** A change the store announces so caches can drop what they hold. */
export interface ChangeEvent {
  tokenId: string;
  /** Every lookup hash the token has or had before this change (current and previous secrets). */
  hashes: string[];
}

/** Readonly flags describing what a store can do. */
export interface StoreCapabilities {
  /**
   * The store announces every token write to {@link TokenStore.subscribe}
   * listeners, in every process that shares it (default false). With it,
   * caches drop entries at once; without it, the cache TTL bounds staleness.
   */
  readonly changeFeed: boolean;
}

/** Options of {@link TokenStore.getUsage}. */
export interface UsageQuery {
  /** Inclusive start, epoch ms. */
  from: number;
  /** Exclusive end, epoch ms. */
  to: number;
  granularity: UsageGranularity;
}

/** Filter of {@link TokenStore.listAudit}: by token or by owner. */
export type AuditFilter = { tokenId: string } | { owner: string };

/**
 * Where keyward keeps tokens and counters.
 *
 * Rules that hold for every method:
 * - Records are plain data; a store MUST return copies the caller may mutate
 *   without affecting what is stored, and MUST NOT mutate what it is given.
 * - A method that fails MUST leave the store as it was (no partial write) and
 *   MUST reject with a `KeywardError`: the documented code, or
 *   `StoreUnavailableError` (`STORE_UNAVAILABLE`) for infrastructure failures.
 * - Times are epoch milliseconds supplied by the caller (`now`); a store MUST
 *   NOT read its own clock for decisions, so every process agrees.
 * - "Atomic" means linearizable across every process sharing the store.
 * - `insert`, `update` and `revoke` take an optional audit entry: when given,
 *   it MUST be appended in the same atomic operation as the write (both or
 *   neither), so an admin action is never committed without its audit entry
 *   nor audited without being committed.
 */
export interface TokenStore {
  readonly capabilities: StoreCapabilities;

  /**
   * Stores a new token.
   * MUST reject with `TokenExistsError` (`TOKEN_ALREADY_EXISTS`) and write
   * nothing when the id, or any of its hashes (current or previous), is
   * already used by any token. Atomic: of two concurrent inserts with the same
   * id or hash, exactly one succeeds. The stored revision is `token.revision`.
   */
  insert(token: StoredToken, audit?: AuditEntry): Promise<void>;

  /** The token with this id, or null. */
  get(id: string): Promise<StoredToken | null>;

  /**
   * The token whose current hash or one of whose previous hashes equals
   * `hash` (whatever their expiry: the caller checks), or null.
   * This is the hot path of every request: it MUST be an indexed lookup.
   */
  findByHash(hash: string): Promise<StoredToken | null>;

  /**
   * An owner's tokens, oldest first (by `createdAt`, then `id`), revoked ones
   * included. `limit` defaults to 100 and is at most 1000. The cursor is
   * opaque; a page is stable under concurrent inserts (no token skipped or
   * repeated when tokens are added meanwhile, since new ones sort last).
   * An invalid cursor MUST reject with `InvalidInputError` (`INVALID_INPUT`).
   */
  list(owner: string, options?: PageOptions): Promise<Page<StoredToken>>;

  /**
   * Compare-and-set: replaces the token `next.id` with `next` if and only if
   * its stored revision equals `expectedRevision`, storing revision
   * `expectedRevision + 1`, and returns what was stored. Atomic: of N
   * concurrent updates with the same expected revision exactly one succeeds;
   * the others reject with `RevisionConflictError` (`REVISION_CONFLICT`).
   * Rejects with `TokenNotFoundError` when there is no such token, and with
   * `TokenExistsError` when a new hash of `next` belongs to another token.
   * Hashes the token no longer has stop finding it. Revocation is final: an
   * update of a revoked token MUST reject with `TokenRevokedError`
   * (`TOKEN_REVOKED`), and `next.revokedAt` MUST be ignored (the stored value
   * is kept).
   */
  update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken>;

  /**
   * Revokes the token: sets `revokedAt = at` and `updatedAt = at` (if not
   * already revoked: a second revoke keeps the first times and MUST NOT fail)
   * and increments the revision. Unconditional: a revocation never loses a race against an
   * update. Returns what is stored; rejects with `TokenNotFoundError`.
   */
  revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken>;

  /**
   * Atomically deducts `cost` credits from the token's balance if at least
   * `cost` remain, else deducts nothing. The balance starts at
   * `policy.limit`; with a refill, `refill.amount` comes back every
   * `refill.intervalMs` since the first consumption (never above the limit).
   * The store keeps the amount used rather than the balance, so a new limit
   * takes effect at once. Of concurrent calls, no more credits are granted
   * than the balance held: N concurrent calls of 1 on a balance of M < N grant
   * exactly M. Never below zero. `cost` 0 reads the balance without changing it.
   */
  consumeCredits(tokenId: string, cost: number, policy: CreditsPolicy, now: number): Promise<CreditResult>;

  /**
   * Atomically counts one hit of weight `cost` (default 1) against `key` in
   * a sliding window of `windowMs` and allows it when the count in the window
   * stays within `limit`. A denied hit is not counted. The window is the
   * sliding-window-counter estimate (current fixed window plus the previous
   * one weighted by its overlap), so bursts at a window edge cannot double
   * the rate.
   */
  hitRateLimit(key: string, limit: number, windowMs: number, now: number, cost?: number): Promise<RateLimitResult>;

  /**
   * Inserts `key` if absent (or present but expired at `now`) with expiry
   * `expiresAt` and returns true; returns false when an unexpired entry
   * exists. Atomic: of concurrent calls with one key, exactly one gets true.
   * Expired entries MAY be purged at any time.
   */
  rememberNonce(key: string, expiresAt: number, now: number): Promise<boolean>;

  /** Adds metered requests to the per-token usage counters (UTC hour buckets). */
  recordUsage(events: readonly UsageEvent[]): Promise<void>;

  /** Usage of one token in `[from, to)`, one bucket per hour or UTC day that has any, ascending. */
  getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]>;

  /** Appends an entry to the audit log. Entries are never changed or removed by keyward. */
  appendAudit(entry: AuditEntry): Promise<void>;

  /** Audit entries of a token or an owner, oldest first, paginated like {@link list}. */
  listAudit(filter: AuditFilter, options?: PageOptions): Promise<Page<AuditEntry>>;

  /**
   * Present when `capabilities.changeFeed` is true: calls `listener` after
   * every committed insert, update or revoke, in every process sharing the
   * store. Returns an unsubscribe function.
   */
  subscribe?(listener: (event: ChangeEvent) => void): () => void;

  /** Releases connections. */
  close?(): Promise<void>;
}
