// The storage contract, in narrow parts. An adapter implements `TokenStore`
// (all parts) for `Keyward`; `keyward/testing` exports the conformance suite
// every adapter runs (`describeTokenStore`). `Keyward` puts `guardStore`
// around the adapter: input is validated there, once, so an adapter receives
// valid input only, and its errors reach callers without their parameters.
import type { AccountCreditsPolicy, StoredAccount } from "../model/account.js";
import type {
  AuditEntry,
  CreditsPolicy,
  RateLimitPolicy,
  StoredToken,
  UsageBucket,
  UsageEvent,
  UsageGranularity,
} from "../model/types.js";
import type { CreditChange } from "./kit/account-credits.js";
import type { BillingClaim, BillingRunKey, BillingUsage, BillingUsageQuery } from "./kit/billing.js";
import type { PageQuery } from "./kit/page.js";
import type { LastUsed, UsageAnalyticsQuery, UsageSeriesBucket } from "./kit/usage-analytics.js";

export type { BillingClaim, BillingKey, BillingRunKey, BillingUsage, BillingUsageQuery } from "./kit/billing.js";
export type { PageQuery, SortKey } from "./kit/page.js";

/** Credits part of a {@link MeterResult}. */
export interface CreditResult {
  /** Whether the credits were granted (and so deducted). */
  granted: boolean;
  /** Credits left after this call. */
  remaining: number;
  /** When the next refill happens (epoch ms), or null without refill. */
  nextRefillAt: number | null;
  /**
   * Of `remaining`, the credits bought (top-ups), which refills and resets
   * keep, when a refill or reset comes (`nextRefillAt`); absent when none
   * (`spendCredits` of the store kit sets it). A 402 names a retry time only
   * when some refill can make room for the cost: the plan's credits and these.
   */
  bought?: number;
  /**
   * Set by {@link AccountStore.adjustCredits} (and only there) when the
   * call's idempotency key was found applied already: nothing was changed
   * and the balance is the one now. Absent otherwise.
   */
  replayed?: true;
}

/** Rate-limit part of a {@link MeterResult}. */
export interface RateLimitResult {
  /** Whether the request fit in the window (and was counted). */
  allowed: boolean;
  /** Requests left in the window after this one (when allowed), or now (when denied). */
  remaining: number;
  /** When denied: ms from now until one more request fits; else 0. */
  retryAfterMs: number;
}

/** One request to meter: what {@link CounterStore.meter} counts and charges together. */
export interface MeterRequest {
  /** The token whose counters are used. */
  tokenId: string;
  /** Credits the request costs (a non-negative integer; ignored without `credits`). */
  cost: number;
  /** The token's rate limit now, or null: one request is one hit. */
  rateLimit: RateLimitPolicy | null;
  /**
   * More rate limits of the token (distinct windows, none equal to
   * `rateLimit`'s), each counting the request together with `rateLimit`:
   * all or none. Their counters are keyed by `rateKey(tokenId, windowMs)`.
   */
  rateLimits?: RateLimitPolicy[] | undefined;
  /** The policy now of the token's pool the request draws from (`pool`), or null. */
  credits: CreditsPolicy | null;
  /**
   * The pool the request draws from, of the token and of its account: absent
   * or `"default"` for the default pool. Its counters are keyed by
   * `poolKey(tokenId, pool)` and `poolKey(owner, pool)` of the store kit.
   */
  pool?: string | undefined;
  /**
   * The token's account, when it has limits: charged in the same atomic step
   * (see {@link AccountStore}). Only given to stores with `capabilities.accounts`.
   */
  account?: AccountMeter | null;
}

/** The account part of a {@link MeterRequest}: its counters are keyed by owner. */
export interface AccountMeter {
  owner: string;
  /** The account-wide rate limit now, or null: one request is one hit. */
  rateLimit: RateLimitPolicy | null;
  /** The account's pool named by the request's `pool` now, or null: charged the request's `cost`. */
  credits: AccountCreditsPolicy | null;
}

/** Result of {@link CounterStore.meter}. */
export interface MeterResult {
  /** Whether the request was counted and charged. */
  granted: boolean;
  /**
   * The check that denied it, or null. Order: the token's rate limit, the
   * account's, the token's credits, the account's pool.
   */
  deniedBy: "rateLimit" | "credits" | "accountRateLimit" | "accountCredits" | null;
  /** The rate-limit answer, or null without a rate limit (or when not reached). */
  rateLimit: RateLimitResult | null;
  /** Present when the request had (non-empty) `rateLimits`: their answers in the same order (all are checked). */
  rateLimits?: RateLimitResult[];
  /** The credits answer, or null without credits (or when not reached). */
  credits: CreditResult | null;
  /** Present when the request had an `account`: its answers, null when absent or not reached. */
  account?: { rateLimit: RateLimitResult | null; credits: CreditResult | null };
}

/** A remembered nonce: per token, so one token's nonces never crowd out another's. */
export interface NonceKey {
  /** The token that signed the request. */
  tokenId: string;
  /** The signature's `nonce` parameter (RFC 9421 §2.3). */
  nonce: string;
}

/**
 * Which batch of a writer a `recordUsage` call writes: `writer` is one usage
 * queue's random id, `seq` its batches' number, from 1, each batch written
 * after the one before (a failed one is written again, with its number,
 * before any later one). So a store that keeps each writer's last `seq`
 * knows a batch it has already written.
 */
export interface UsageBatchKey {
  /** The writer (a usage queue): a random id of 1 to 64 characters. */
  writer: string;
  /** The batch's number, a positive integer, higher than every earlier batch of the writer. */
  seq: number;
}

/**
 * A change the store announces so caches can drop what they hold, told
 * apart by `kind`: a token's ({@link TokenChangeEvent}, `kind` absent or
 * `"token"`), an account's ({@link AccountChangeEvent}), or a gap in the
 * feed ({@link ResetChangeEvent}). Every kind has `tokenId` and `hashes`,
 * empty on the kinds that are not a token's, so a listener written for token
 * events alone drops nothing on the others. A listener MUST treat a kind it
 * does not know as a reset.
 */
export type ChangeEvent = TokenChangeEvent | AccountChangeEvent | ResetChangeEvent;

/** A token was inserted, updated, revoked or deleted (`kind` absent: an adapter written before the other kinds). */
export interface TokenChangeEvent {
  kind?: "token";
  tokenId: string;
  /** Every lookup hash the token has or had before this change (current and previous secrets). */
  hashes: string[];
}

/** The account of `owner` was written (`putAccount`: its plan, pools, limits or members). */
export interface AccountChangeEvent {
  kind: "account";
  owner: string;
  /** Always `""`: no token (so a listener that knows token events only drops nothing). */
  tokenId: "";
  /** Always empty. */
  hashes: string[];
}

/**
 * The feed may have missed changes (a PostgreSQL LISTEN connection was
 * re-established after an outage): drop everything cached.
 */
export interface ResetChangeEvent {
  kind: "reset";
  /** Always `""`. */
  tokenId: "";
  /** Always empty. */
  hashes: string[];
}

/**
 * Readonly flags describing what a store can do, each false unless the store
 * says otherwise (Kysely style: never an `instanceof` check on an adapter).
 * A flag set without the methods of its part (`changeFeed` without
 * `subscribe`, `accounts` without `adjustCredits`, …) is refused at setup:
 * `new Keyward` throws `INVALID_CONFIG` naming it.
 */
export interface StoreCapabilities {
  /**
   * The store announces every token write, and every account write when it
   * has `accounts`, to {@link TokenStore.subscribe} listeners, in every
   * process that shares it. With it, caches drop entries at once; without
   * it, the cache TTL (`revocationBoundMs`) bounds staleness.
   */
  readonly changeFeed: boolean;
  /**
   * The store can lease blocks of a hot token's credits to one process
   * (PostgreSQL). Optional; absent means false.
   */
  readonly creditLeases?: boolean;
  /**
   * The store implements {@link AccountStore} (accounts, account counters in
   * `meter`, admin credit operations). Optional; absent means false: then
   * `kw.accounts` and `kw.credits` writes throw `STORE_UNSUPPORTED`.
   */
  readonly accounts?: boolean;
  /**
   * The store implements {@link UsageAnalyticsStore}. Optional; absent
   * means false: then `kw.usage` answers per token, hour and day only.
   */
  readonly usageAnalytics?: boolean;
  /**
   * The store implements {@link TokenStore.delete} (hard delete). Optional;
   * absent means false, and `kw.tokens.delete` throws `STORE_UNSUPPORTED`.
   */
  readonly hardDelete?: boolean;
  /**
   * The store implements {@link AnomalyStateStore}: anomaly detection state
   * shared by every process (docs/monitoring.md). Optional; absent means
   * false: each process then detects from what it saw itself.
   */
  readonly anomalyState?: boolean;
  /**
   * The store implements {@link BillingStore}: spend per owner, pool and
   * hour (written by `recordUsage`) and billing runs (`kw.billing`).
   * Optional; absent means false.
   */
  readonly billing?: boolean;
  /**
   * The store implements {@link IdempotentCreateStore}: a token inserted
   * with its idempotency key in one transaction. Optional; absent means
   * false: then `kw.tokens.create` with an `idempotencyKey` throws
   * `STORE_UNSUPPORTED` (the admin API answers 501), never creating a
   * token the key would not protect.
   */
  readonly idempotentCreate?: boolean;
  /**
   * For a store whose calls run synchronously (a SQLite driver): the
   * longest, ms, that one call of the request path (a lookup, `meter`, a
   * nonce) may block the thread waiting for another process's lock
   * (`requestBusyTimeoutMs` of keyward/sqlite). The verifier's
   * `lookupTimeoutMs` cannot cut such a wait off (its clock runs only once
   * the call returns), so `Keyward` warns through `onWarning`
   * (`STORE_WAIT_EXCEEDS_LOOKUP_TIMEOUT`) when it is not below
   * `lookupTimeoutMs`. Optional; absent for a store whose calls return a
   * promise at once (PostgreSQL, memory): their waits are cut off.
   */
  readonly blockingWaitMs?: number;
}

/** What {@link TokenStore.delete} removed: the record, and how many rows of each kind with it. */
export interface DeletedToken {
  /** The record as it was. */
  token: StoredToken;
  /** Rows removed besides the record. */
  removed: {
    /** Lookup hashes (current and previous secrets). */
    hashes: number;
    /** Credit balances (0 or 1). */
    credits: number;
    /** Rate-limit windows (0 or 1). */
    rateLimits: number;
    /** Remembered nonces. */
    nonces: number;
    /** Usage buckets (hours). */
    usage: number;
  };
}

/** Options of {@link UsageStore.getUsage}. */
export interface UsageQuery {
  /** Inclusive start, epoch ms. */
  from: number;
  /** Exclusive end, epoch ms. */
  to: number;
  /** Bucket size: one bucket per UTC hour or day. */
  granularity: UsageGranularity;
}

/** Filter of {@link RecordStore.listAudit}: by token or by owner. */
export type AuditFilter = { tokenId: string } | { owner: string };

/**
 * Token records and the audit log, written together.
 *
 * - Records are plain data; a store MUST return copies the caller may mutate
 *   without affecting what is stored (nested objects included), and MUST NOT
 *   mutate what it is given nor keep a reference to it (the caller may change
 *   a record or audit entry after the call).
 * - `insert`, `update` and `revoke` take an optional audit entry: when given,
 *   it MUST be appended in the same transaction as the write (both or
 *   neither), so an admin action is never committed without its audit entry
 *   nor audited without being committed.
 * - Audit entries are keyed by `id`: an entry whose id is already used MUST
 *   be refused with `InvalidInputError` (`INVALID_INPUT`, field `audit.id`),
 *   by `appendAudit` (the stored entry is kept) and by the write it came
 *   with (which then writes nothing).
 * - Text is kept and compared as given, code unit for code unit: no case,
 *   accent or trailing-space folding of owners, ids, nonces or idempotency
 *   keys (a binary collation that does not pad: PostgreSQL's "C", MySQL's
 *   utf8mb4_0900_bin, not utf8mb4_bin; see docs/stores.md), and names,
 *   owners and metadata with astral characters kept whole. Balances (up to 10^15),
 *   costs and usage sums outgrow 32 bits: 64-bit integers. Times are
 *   milliseconds, never rounded to seconds.
 */
export interface RecordStore {
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
   * An owner's tokens, revoked ones included, ordered by (`createdAt`, `id`)
   * with ids compared in code-unit order: at most `page.limit` of them,
   * strictly after `page.after` (from the first when null). The guard turns
   * this into cursors: a page is stable under concurrent inserts.
   */
  list(owner: string, page: PageQuery): Promise<StoredToken[]>;

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
   * and increments the revision. Unconditional: a revocation never loses a
   * race against an update. The audit entry MUST be appended only by the
   * revoke that revokes the token: of concurrent revokes exactly one appends
   * its entry, and a revoke of a revoked token appends none (judged on the
   * record read in the revoke's transaction).
   * Returns what is stored; rejects with `TokenNotFoundError`.
   */
  revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken>;

  /** Appends an entry to the audit log. Entries are never changed or removed by keyward. */
  appendAudit(entry: AuditEntry): Promise<void>;

  /** Audit entries of a token or an owner, ordered by (`at`, `id`), paged like {@link list}. */
  listAudit(filter: AuditFilter, page: PageQuery): Promise<AuditEntry[]>;
}

/**
 * Counters of the request path: credits, rate limits and nonces. Keys are
 * typed (a token id, a token id and a nonce), never strings built by callers.
 */
export interface CounterStore {
  /**
   * Meters one request, all or nothing, atomically: the rate limit (one hit
   * in "at most `limit` in any `windowMs`") is checked first, then the
   * credits (`cost` from a balance that starts at `credits.limit`, with
   * refill); both are written only when both pass. Implement it with
   * `meterStep` from the store kit inside one transaction. Of concurrent
   * calls, no more credits are granted than the balance held and no more hits
   * than the limit: N concurrent calls of 1 on a balance of M < N grant
   * exactly M.
   */
  meter(request: MeterRequest, now: number): Promise<MeterResult>;

  /**
   * Inserts `key` if absent (or present but expired at `now`: its expiry
   * ≤ `now`) with expiry `expiresAt` and returns true; returns false when an unexpired entry
   * exists. Atomic: of concurrent calls with one key, exactly one gets true.
   * Expired entries MAY be purged at any time.
   */
  rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean>;
}

/** Per-token usage counters (UTC hour buckets). */
export interface UsageStore {
  /**
   * Adds metered requests to the per-token usage counters (UTC hour buckets), all or none.
   * With `batch`, a batch the store has already written (a `seq` not above the
   * last one written for its `writer`, kept in the same transaction as the
   * counters) is not added again: the usage queue writes a batch again when a
   * write failed, and a write whose commit's reply was lost (a connection cut)
   * did commit. Without it, every call adds.
   */
  recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void>;

  /** Usage of one token in `[from, to)`, one bucket per hour or UTC day that has any, ascending. */
  getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]>;
}

/**
 * Usage analytics (an optional part, announced by `capabilities.usageAnalytics`).
 * A store with it MUST, in {@link UsageStore.recordUsage}, also add the
 * batch's rows and last uses (`analyticsOf` of the store kit) in the same
 * transaction as the hour counters.
 */
export interface UsageAnalyticsStore {
  /**
   * The rows of the query's token or owner in `[from, to)` rolled up with `rollUpRows` (or,
   * a batch at a time, `UsageRollUp`) of the store kit. Its cost is the period's rows of that
   * token or owner, not all of theirs; a synchronous store yields to the event loop between
   * steps of a long read (`sqliteStore` every 2 000 rows).
   */
  queryUsage(query: UsageAnalyticsQuery): Promise<UsageSeriesBucket[]>;
  /** The last use of each of these tokens that has one (the latest `at` ever recorded). */
  lastUsed(tokenIds: readonly string[]): Promise<LastUsed[]>;
}

/**
 * Which balance an admin credit operation is about: a token's or an
 * account's pool (`pool` absent: the default pool, `credits`).
 */
export type CreditKey = { tokenId: string; pool?: string | undefined } | { owner: string; pool?: string | undefined };

/** Input of {@link AccountStore.adjustCredits}. */
export interface CreditAdjustment {
  key: CreditKey;
  /** The balance's policy now (a token's credits as a pool: no reset, no overage). */
  policy: AccountCreditsPolicy;
  change: CreditChange;
  /**
   * A top-up's or a reset's idempotency key (1 to 255 characters, no U+0000
   * or lone surrogate, chosen by the caller, such as a payment event's id): see {@link AccountStore.adjustCredits}.
   */
  idempotencyKey?: string | undefined;
}

/**
 * Accounts (an optional part, announced by `capabilities.accounts`): account
 * records, their counters (charged by {@link CounterStore.meter} when the
 * request has an `account`) and admin operations on balances.
 *
 * A store with this part MUST, in `meter`, charge the token's and the
 * account's counters in one atomic step (`meterStep` of the store kit with
 * the account's state): both or neither, never below zero; N concurrent
 * calls of 1 across several tokens of one account on a pool of M < N grant
 * exactly M.
 */
export interface AccountStore {
  /**
   * The account of `owner`, or null: every field as it was put, a
   * suspension's `since` included (and absent where it was absent).
   */
  getAccount(owner: string): Promise<StoredAccount | null>;

  /**
   * Compare-and-set: stores `next` if the stored revision equals
   * `expectedRevision` (0: no account yet), with revision
   * `expectedRevision + 1`, and `audit` in the same transaction, and
   * resolves with the account stored. Rejects with `RevisionConflictError`
   * (`REVISION_CONFLICT`) otherwise, writing nothing.
   */
  putAccount(next: StoredAccount, expectedRevision: number, audit?: AuditEntry): Promise<StoredAccount>;

  /**
   * Reads, tops up or resets a balance (`adjustCredits` of the store kit over
   * the counter `meter` uses), atomically with `audit` (not written for a
   * read). A read writes nothing (not even a refill or reset it counts); a
   * rejected change writes nothing.
   *
   * With `idempotencyKey`, the store reads what it keeps with the key in the
   * same transaction (`creditKeyReplayed` of the store kit): the same
   * operation within `CREDIT_KEY_RETENTION_MS` is answered with the balance
   * now and `replayed: true`, and writes nothing (no audit entry); another operation under the key
   * rejects with `INVALID_INPUT` on `idempotencyKey`; else the change is
   * applied and `creditRequestText(request)` kept with the key and `now`, in
   * the same transaction. Of concurrent calls with one key, one applies.
   * Keys older than the retention MAY be purged at any time.
   */
  adjustCredits(request: CreditAdjustment, now: number, audit?: AuditEntry): Promise<CreditResult>;
}

/**
 * The idempotency key of a token creation, kept with the token it created:
 * per owner (the token's) and actor, so one customer's or member's key never
 * meets another's. Typed: the store builds its own key from the three strings.
 */
export interface CreateKey {
  /** Who creates the token (`kw.tokens.create`'s actor; the admin API's principal). */
  actor: string;
  /** The client's key: 1 to 255 characters, no U+0000 or lone surrogate. */
  key: string;
  /** What it was used for: the SHA-256 (64 lowercase hex digits) of the request, equal for the same request only. */
  request: string;
  /** Until when it is kept, epoch ms: from then on (`expiresAt` ≤ `now`) the key is new again. */
  expiresAt: number;
}

/** Result of {@link IdempotentCreateStore.insertOnce}. */
export interface InsertOnceResult {
  /** The token created under the key: the one given, or the one an earlier call created. */
  tokenId: string;
  /** True when an earlier call created it: this call wrote nothing. */
  replayed: boolean;
}

/**
 * Token creation with an idempotency key (an optional part, announced by
 * `capabilities.idempotentCreate`): a client that lost the answer to a
 * create sends it again, and gets the token made the first time instead of
 * a second live token.
 */
export interface IdempotentCreateStore {
  /**
   * Reads the key of `(token.owner, key.actor, key.key)` in the transaction
   * that would insert `token` (`createKeyReplayed` of the store kit): kept
   * (its `expiresAt` > `now`) for the same `request`, it resolves with its
   * token id and `replayed: true` and writes nothing (no token, no audit
   * entry); kept for another request, it rejects with
   * `IdempotencyKeyReusedError` (`IDEMPOTENCY_KEY_REUSED`), writing nothing;
   * absent or expired, it inserts `token` as {@link RecordStore.insert}
   * (same rules and errors, `audit` with it) and keeps the key with
   * `request`, the token id and `expiresAt`, all in one transaction (all or
   * nothing: a token is never kept without its key, nor a key without its
   * token), and resolves with `token.id` and `replayed: false`. Atomic: of
   * concurrent calls with one key, exactly one inserts; the others (once it
   * committed) replay. Keys are compared as given; expired ones MAY be
   * purged at any time; a hard delete leaves the keys of the token.
   */
  insertOnce(token: StoredToken, key: CreateKey, now: number, audit?: AuditEntry): Promise<InsertOnceResult>;
}

/** One sighting for {@link AnomalyStateStore.touchSeen}. */
export interface SeenEntry {
  tokenId: string;
  /** `"use"` (value `""`: any use of the token), `"ip"` or `"origin"`. */
  kind: "use" | "ip" | "origin";
  /** The IP or origin (at most 512 characters); `""` for a use. */
  value: string;
  /** When it was seen, epoch ms. */
  at: number;
}

/**
 * Anomaly detection state shared across a fleet (an optional part,
 * announced by `capabilities.anomalyState`), written off the request path in
 * batches: which IPs and origins each token was seen from, and when it was
 * last used, so that a process does not report as new what another one saw.
 */
export interface AnomalyStateStore {
  /**
   * Remembers each entry, in order, each atomically: its time becomes the
   * later of the stored one and `at`. Answers, per entry, the time stored
   * before (null: the value was never seen on that token, or was forgotten).
   * Of concurrent calls with the same new value, exactly one answers null.
   * Keeps at most `maxPerToken` values of each kind per token: the least
   * recently seen are forgotten. Rows go with the token on a hard delete.
   */
  touchSeen(entries: readonly SeenEntry[], maxPerToken: number): Promise<(number | null)[]>;
}

/**
 * Billing (an optional part, announced by `capabilities.billing`): with it,
 * `recordUsage` also adds each allowed event that drew credits (`cost`
 * above 0) to its owner's spend from its pool in its UTC hour
 * (`billingRowsOf` of the store kit), in the same
 * transaction; and runs bill each owner and period once.
 */
export interface BillingStore {
  /**
   * Spend per owner and pool over the hours in `[from, to)`, summed, by
   * owner then pool (in the store's order, one order for `after` and the
   * answer: a keyset cursor; code-unit order in `MemoryStore` and
   * `sumBilling`, the database's collation in `postgresStore`, that of its
   * primary key's index): only the sums strictly after `query.after`, and at most
   * `query.limit` of them (fewer only at the end); an owner and pool with
   * no row in the period has none. A page costs the store work in proportion to its sums and
   * their rows, not to the whole period: keyward reads large answers page
   * by page. A synchronous store also yields to the event loop within a
   * page (`sqliteStore` reads at most about 2 000 rows per synchronous step).
   */
  billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]>;
  /**
   * Claims the run of `key` for `claim`, atomically: `"claimed"` when there
   * was none (or only a pending one claimed before `staleBefore`, taken
   * over), `"done"` when it was billed, `"busy"` when another claim is
   * pending, `"overlap"` when another run of the owner (another period, any
   * state) covers some of the same hours. Of concurrent claims of one key,
   * or of overlapping keys, at most one gets `"claimed"`. A store that
   * servers share may stamp and age claims by its own clock instead, a stale
   * claim being `now - staleBefore` old (PostgreSQL's does: servers whose
   * clocks disagree would else take over a live claim).
   */
  claimBillingRun(key: BillingRunKey, claim: string, now: number, staleBefore: number): Promise<BillingClaim>;
  /**
   * Ends a claimed run: `done` records it as billed (with `record`, JSON
   * text of at most `MAX_BILLING_RECORD_LENGTH` (1 000 000) characters, and
   * `audit` in the same transaction); `failed` removes the claim so
   * a later run retries. Does nothing unless `claim` still holds the run.
   * Resolves whether it did.
   */
  finishBillingRun(key: BillingRunKey, claim: string, outcome: "done" | "failed", record?: string, audit?: AuditEntry): Promise<boolean>;
}

/**
 * Where keyward keeps tokens and counters: every part of the contract.
 *
 * Rules that hold for every method:
 * - A method that fails MUST leave the store as it was (no partial write) and
 *   MUST reject: with the documented `KeywardError`, or with any error for
 *   infrastructure failures (the guard reports it as `STORE_UNAVAILABLE`).
 * - Times are epoch milliseconds supplied by the caller (`now`); a store MUST
 *   NOT read its own clock for decisions, so every process agrees.
 * - "Atomic" means linearizable across every process sharing the store.
 * - Input is valid: `Keyward` validates it (`guardStore`) before the call.
 */
export interface TokenStore
  extends RecordStore,
    CounterStore,
    UsageStore,
    Partial<AccountStore>,
    Partial<UsageAnalyticsStore>,
    Partial<AnomalyStateStore>,
    Partial<BillingStore>,
    Partial<IdempotentCreateStore> {
  /**
   * What the store supports beyond the required parts ({@link StoreCapabilities}):
   * keyward uses an optional part only when it is announced here, and refuses
   * at setup one announced without its methods (`INVALID_CONFIG`).
   */
  readonly capabilities: StoreCapabilities;

  /**
   * Present when `capabilities.changeFeed` is true: calls `listener` after
   * every committed insert, update, revoke or delete (a token event), and
   * every committed `putAccount` (an account event), in every process
   * sharing the store. Every update counts, not only one that changes a
   * hash: a cache must also drop a token renamed, disabled or given another
   * policy. A feed that may have missed changes (a connection to the
   * database re-established) MUST say so with a reset event once it listens
   * again. Returns an unsubscribe function.
   */
  subscribe?(listener: (event: ChangeEvent) => void): () => void;

  /**
   * Present when `capabilities.hardDelete` is true. Removes the token for
   * good, atomically with `audit` (both or neither): the record, its hashes
   * (they stop finding it), its credit balance, rate-limit window, nonces and
   * usage. The audit log is kept (it holds no secret). Emits a change event
   * like a revoke. Rejects with `TokenNotFoundError` when there is no such
   * token, writing nothing.
   */
  delete?(id: string, audit?: AuditEntry): Promise<DeletedToken>;

  /** Releases connections. */
  close?(): Promise<void>;
}
