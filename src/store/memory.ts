/**
 * `MemoryStore`: the built-in {@link TokenStore} that keeps everything in the
 * memory of one JavaScript process. For tests, single-process servers and as
 * the reference implementation of the storage contract.
 *
 * It is storage and atomicity only: input is validated by the guard
 * `Keyward` puts around every store, and the arithmetic of windows, refills,
 * cursors and usage buckets comes from the store kit. Atomicity: every method
 * does its whole read-check-write synchronously, before its returned promise
 * is created (there is no `await` inside), so calls are linearizable within
 * the process. Nothing is shared with other processes.
 *
 * @module keyward
 */
import {
  ConfigError,
  InvalidInputError,
  TokenExistsError,
  TokenNotFoundError,
} from "../errors.js";
import { callHook } from "../lib/hook.js";
import type { StoredAccount } from "../model/account.js";
import { DEFAULT_POOL } from "../model/pools.js";
import { hashesOf } from "../model/record.js";
import type { AuditEntry, StoredToken, UsageBucket, UsageEvent } from "../model/types.js";
import { adjustCredits, CREDIT_KEY_RETENTION_MS, type CreditChange, creditKeyReplayed, creditRequestText } from "./kit/account-credits.js";
import { putAccountRecord } from "./kit/accounts.js";
import { type BillingHourRow, billingKey, compareBillingKeys, isBilled } from "./kit/billing.js";
import { createKeyReplayed, createKeyText } from "./kit/create-keys.js";
import type { CreditState } from "./kit/credits.js";
import { meterStep, poolKey, rateKey } from "./kit/meter.js";
import { compareKeys, type PageQuery, type SortKey } from "./kit/page.js";
import { type RateWindowState, windowExpired } from "./kit/rate-window.js";
import { revokeAudit, revokedRecord, updatedRecord } from "./kit/records.js";
import {
  type LastUsed,
  MAX_USAGE_SCOPE_LENGTH,
  MINUTE_MS,
  rollUpRows,
  rowKey,
  type UsageAnalyticsQuery,
  type UsageDetailRow,
  type UsageSeriesBucket,
} from "./kit/usage-analytics.js";
import { hourOf, rollUpUsage, type UsageCounts } from "./kit/usage-buckets.js";
import { CounterMap, sweep } from "./memory-counters.js";
import { deepFreeze, LOCAL_COUNTERS, SHARED_READS, type SharedReads } from "./shared-reads.js";
import type {
  AuditFilter,
  BillingClaim,
  BillingRunKey,
  BillingUsage,
  BillingUsageQuery,
  ChangeEvent,
  CreateKey,
  CreditAdjustment,
  CreditResult,
  DeletedToken,
  InsertOnceResult,
  MeterRequest,
  MeterResult,
  NonceKey,
  SeenEntry,
  StoreCapabilities,
  TokenStore,
  UsageBatchKey,
  UsageQuery,
} from "./types.js";

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Announce token and account writes to {@link MemoryStore.subscribe}
   * listeners (default true): every `Keyward` on this store drops what it
   * cached at once. When false, `subscribe` is absent.
   */
  changeFeed?: boolean | undefined;
  /**
   * Called with the error when a change listener throws. The store is not
   * affected either way; by default the error is ignored.
   */
  onListenerError?: ((error: unknown, event: ChangeEvent) => void) | undefined;
}

/** Entry counts of a {@link MemoryStore}, from {@link MemoryStore.stats}. */
export interface MemoryStoreStats {
  /** Token records, revoked ones included. */
  tokens: number;
  /** Remembered nonces, expired ones not yet purged included. */
  nonces: number;
  /** Rate-limit keys, stale ones not yet purged included. */
  rateLimitKeys: number;
  /** Credit balances in use: one per token and pool (the default pool's and each named one's). */
  creditAccounts: number;
  /** Hour buckets of usage, across all tokens. */
  usageBuckets: number;
  auditEntries: number;
}

/**
 * A token's usage: hour buckets, analytics rows and last use. The counts of
 * the hour its latest event fell in, and its last use, are fields of this
 * object (not in `hours`), and `row` is the row that event counted in: a
 * token's next events, mostly of the same hour and row, touch two objects.
 */
class TokenUsage {
  /** Every hour but `hour`. */
  readonly hours = new Map<number, UsageCounts>();
  /** The analytics rows by `rowKey`, and the same rows by minute. */
  readonly rows = new Map<string, UsageDetailRow>();
  readonly byMinute: UsageDetailRow[] = [];
  /** The hour counted in the fields below; NaN before the first event. */
  hour = Number.NaN;
  allowed = 0;
  denied = 0;
  credits = 0;
  /** The last use (an allowed request); NaN for none. */
  lastAt = Number.NaN;
  lastIp: string | null = null;
  row: UsageDetailRow | null = null;
  /** The billing row (owner, pool, hour) this token's last allowed event counted in: billing rows are never removed. */
  bill: BillingHourRow | null = null;

  /** Moves the counting fields to `start`: the current hour's counts to the map, `start`'s out of it. */
  moveTo(start: number): void {
    if (!Number.isNaN(this.hour)) this.hours.set(this.hour, { allowed: this.allowed, denied: this.denied, credits: this.credits });
    const c = this.hours.get(start);
    this.hours.delete(start);
    this.hour = start;
    this.allowed = c?.allowed ?? 0;
    this.denied = c?.denied ?? 0;
    this.credits = c?.credits ?? 0;
  }

  /** Every hour bucket, the counting one included. */
  buckets(): [number, UsageCounts][] {
    const all = [...this.hours.entries()];
    if (!Number.isNaN(this.hour)) all.push([this.hour, { allowed: this.allowed, denied: this.denied, credits: this.credits }]);
    return all;
  }

  get bucketCount(): number {
    return this.hours.size + (Number.isNaN(this.hour) ? 0 : 1);
  }
}

/** The billing rows of one owner and pool, by hour. */
interface BillingGroup {
  readonly owner: string;
  readonly pool: string;
  readonly rows: BillingHourRow[];
}

/** At most this many nonce / rate-limit entries are examined per call to purge expired ones. */
export const MEMORY_STORE_SWEEP_BUDGET = 16;

/**
 * How long a rate-limit window is kept after its last hit has left it: a
 * request stamped up to this much earlier (requests take `now` before they
 * are metered, so they may arrive out of order) still finds the hits an SQL
 * store, which never forgets them, would find.
 */
const RATE_WINDOW_GRACE_MS = 60_000;

/** One token's nonces, and the latest expiry among them (the whole group expires then). */
interface NonceGroup {
  until: number;
  nonces: Map<string, number>;
  sweep: Iterator<[string, number]> | null;
}

interface Subscription {
  listener: (event: ChangeEvent) => void;
}

/**
 * An in-memory {@link TokenStore}. Tokens are indexed by id, by every hash
 * (current and previous) and by owner; records are deep-copied on the way in
 * and out. Inside, records and accounts are kept deeply frozen and replaced,
 * never changed, on a write (copy-on-write; unchanged parts are shared), so
 * the verifier reads them without a copy and no caller can change them.
 *
 * Change feed: listeners are called synchronously, right after a write
 * commits and before the promise of the write settles, so a cache that
 * subscribed has dropped its entries by the time the caller sees success.
 * A listener that throws does not affect the store or the other listeners.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "keyward";
 *
 * const store = new MemoryStore();
 * const off = store.subscribe?.((e) => console.log("changed", e.tokenId));
 * const found = await store.findByHash("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
 * off?.();
 * await store.close();
 * ```
 */
export class MemoryStore implements TokenStore {
  /** Frozen: `changeFeed` as given to the constructor (default true), `creditLeases` false, every optional part true. */
  readonly capabilities: StoreCapabilities;

  /**
   * Present when `capabilities.changeFeed` is true: calls `listener` after
   * every committed insert, update, revoke or delete (synchronously, see the
   * class documentation) with the token id and every hash it had before or
   * has after the change, and after every committed `putAccount` with the
   * account's owner (`kind: "account"`). Returns a function that
   * unsubscribes (idempotent).
   *
   * @param listener - called with each {@link ChangeEvent}; its own copy.
   * @returns unsubscribe
   * @throws {TypeError} when `listener` is not a function.
   * @example
   * ```ts
   * const off = new MemoryStore().subscribe?.((e) => console.log("drop", e.hashes));
   * off?.();
   * ```
   */
  declare readonly subscribe?: (listener: (event: ChangeEvent) => void) => () => void;

  readonly #onListenerError: ((error: unknown, event: ChangeEvent) => void) | undefined;
  readonly #subscriptions = new Set<Subscription>();

  readonly #tokens = new Map<string, StoredToken>();
  readonly #byHash = new Map<string, string>();
  readonly #byOwner = new Map<string, SortKey[]>();

  // Credits by token id, then pool; rate windows by token id, then window
  // length (the one of `rateLimit` is the default): no key string per request.
  readonly #credits = new CounterMap<string, CreditState>(poolKey);
  readonly #rates = new CounterMap<number, RateWindowState>(rateKey);
  #meterCalls = 0;
  readonly #nonces = new Map<string, NonceGroup>();
  #nonceSweep: Iterator<[string, NonceGroup]> | null = null;
  /** The idempotency keys of credit top-ups and resets: the operation and when it was applied, oldest first. */
  readonly #creditKeys = new Map<string, { request: string; at: number }>();
  #creditKeySweep: Iterator<[string, { request: string; at: number }]> | null = null;
  /** The idempotency keys of token creations (`createKeyText`): the request, its token and expiry, oldest first. */
  readonly #createKeys = new Map<string, { request: string; tokenId: string; expiresAt: number }>();
  #createKeySweep: Iterator<[string, { request: string; tokenId: string; expiresAt: number }]> | null = null;
  /** The last batch written of each usage writer (`UsageBatchKey`). */
  readonly #writers = new Map<string, number>();

  // Usage of each token: hour buckets, analytics rows, last use. Rows are
  // also indexed by owner (the same row objects); both lists by minute: a
  // query reads the rows of its period only.
  readonly #usage = new Map<string, TokenUsage>();
  readonly #rowsByOwner = new Map<string, UsageDetailRow[]>();

  // Accounts, keyed by owner: one entry each at most, like the account records.
  readonly #accounts = new Map<string, StoredAccount>();
  readonly #accountCredits = new CounterMap<string, CreditState>(poolKey);
  readonly #accountRates = new Map<string, RateWindowState>();
  // Anomaly state: per token, "<kind>U+0000<value>" to the time last seen.
  readonly #seen = new Map<string, Map<string, number>>();
  // Billing: spend per owner, pool and hour (`billingKey`), and runs per "<owner>U+0000<period>".
  // The rows are also indexed per owner and pool (the same row objects, by
  // hour), and those groups kept in (owner, pool) order: a query reads the
  // rows of its period and its page only, never every row.
  readonly #billing = new Map<string, BillingHourRow>();
  readonly #billingGroups = new Map<string, BillingGroup>();
  readonly #billingOrder: BillingGroup[] = [];
  readonly #billingRuns = new Map<
    string,
    { owner: string; from: number; to: number; status: "pending" | "done"; claim: string; claimedAt: number; record: string | null }
  >();

  readonly #audit = new Map<string, AuditEntry>();
  readonly #auditByToken = new Map<string, SortKey[]>();
  readonly #auditByOwner = new Map<string, SortKey[]>();

  /**
   * @param options - see {@link MemoryStoreOptions}; copied, not kept.
   * @throws {ConfigError} `INVALID_CONFIG` when an option has the wrong type.
   * @example
   * ```ts
   * const store = new MemoryStore({ changeFeed: false });
   * ```
   */
  constructor(options: MemoryStoreOptions = {}) {
    if (options === null || typeof options !== "object") throw new ConfigError("options", "must be an object");
    const { changeFeed = true, onListenerError } = options;
    if (typeof changeFeed !== "boolean") throw new ConfigError("changeFeed", "must be a boolean");
    if (onListenerError !== undefined && typeof onListenerError !== "function") {
      throw new ConfigError("onListenerError", "must be a function");
    }
    this.capabilities = Object.freeze({
      changeFeed,
      creditLeases: false,
      accounts: true,
      usageAnalytics: true,
      hardDelete: true,
      anomalyState: true,
      billing: true,
      idempotentCreate: true,
    });
    this.#onListenerError = onListenerError;
    if (changeFeed) {
      const subs = this.#subscriptions;
      (this as { subscribe?: MemoryStore["subscribe"] }).subscribe = (listener) => {
        if (typeof listener !== "function") throw new TypeError("listener must be a function");
        const sub: Subscription = { listener };
        subs.add(sub);
        return () => {
          subs.delete(sub);
        };
      };
    }
  }

  /**
   * Stores a new token (a copy of it).
   *
   * @param token - the record to store; its `revision` is stored as is.
   * @param audit - appended with it.
   * @throws {TokenExistsError} `TOKEN_ALREADY_EXISTS` when the id or any of its hashes is taken; nothing is written.
   * @throws {InvalidInputError} `INVALID_INPUT` when the audit entry's id is already used.
   * @example
   * ```ts
   * await store.insert(record);
   * ```
   */
  async insert(token: StoredToken, audit?: AuditEntry): Promise<void> {
    this.#insertNow(token, audit);
  }

  /** {@link insert}, synchronously: with nothing awaited, no other call comes between its checks and its writes. */
  #insertNow(token: StoredToken, audit: AuditEntry | undefined): void {
    if (this.#tokens.has(token.id)) throw new TokenExistsError();
    const hashes = hashesOf(token);
    this.#assertHashesFree(hashes, null);
    this.#assertAuditFree(audit);
    const t = deepFreeze(structuredClone(token));
    this.#tokens.set(t.id, t);
    for (const h of hashes) this.#byHash.set(h, t.id);
    insertKey(this.#byOwner, t.owner, { t: t.createdAt, id: t.id });
    if (audit !== undefined) this.#writeAudit(audit);
    this.#emit({ tokenId: t.id, hashes });
  }

  /**
   * Stores a new token with its idempotency key, or answers the token an
   * earlier call made under the key (see `IdempotentCreateStore.insertOnce`).
   * Each call also examines at most `MEMORY_STORE_SWEEP_BUDGET` (16) keys,
   * forgetting the expired ones.
   *
   * @param token - the record to store, as for {@link insert}.
   * @param key - the actor, the client's key, the request's SHA-256 and the key's expiry.
   * @param now - epoch ms.
   * @param audit - appended with the token.
   * @returns the token id, and whether an earlier call created it.
   * @throws {IdempotencyKeyReusedError} `IDEMPOTENCY_KEY_REUSED` when the key is kept for another request; nothing is written.
   * @throws {TokenExistsError} `TOKEN_ALREADY_EXISTS` as {@link insert}; nothing is written.
   * @example
   * ```ts
   * const { tokenId, replayed } = await store.insertOnce(record, { actor: "user:1", key: "k1", request: sha256, expiresAt: now + 86_400_000 }, now);
   * ```
   */
  async insertOnce(token: StoredToken, key: CreateKey, now: number, audit?: AuditEntry): Promise<InsertOnceResult> {
    const keys = this.#createKeys;
    const text = createKeyText(token.owner, key);
    this.#createKeySweep = sweep(keys, this.#createKeySweep, MEMORY_STORE_SWEEP_BUDGET, (k) => k.expiresAt <= now);
    const replayed = createKeyReplayed(keys.get(text), key, now);
    if (replayed !== null) return { tokenId: replayed, replayed: true };
    this.#insertNow(token, audit);
    keys.delete(text); // re-inserted at the end (an expired key used again), so the sweep order follows time
    keys.set(text, { request: key.request, tokenId: token.id, expiresAt: key.expiresAt });
    return { tokenId: token.id, replayed: false };
  }

  /** Unique index on hashes: none held by a token other than `self`. */
  #assertHashesFree(hashes: string[], self: string | null): void {
    for (const h of hashes) {
      const holder = this.#byHash.get(h);
      if (holder !== undefined && holder !== self) throw new TokenExistsError();
    }
  }

  #assertAuditFree(audit: AuditEntry | undefined): void {
    if (audit !== undefined && this.#audit.has(audit.id)) throw new InvalidInputError("audit.id", "already used");
  }

  /**
   * @param id - public token id.
   * @returns a copy of the token, or null.
   * @example
   * ```ts
   * const t = await store.get("tok_123");
   * ```
   */
  async get(id: string): Promise<StoredToken | null> {
    const t = this.#tokens.get(id);
    return t ? structuredClone(t) : null;
  }

  /**
   * Indexed lookup by current or previous hash (whatever their expiry).
   *
   * @param hash - SHA-256 of a token, hex.
   * @returns a copy of the token, or null.
   * @example
   * ```ts
   * const t = await store.findByHash(hashToken(presented));
   * ```
   */
  async findByHash(hash: string): Promise<StoredToken | null> {
    const id = this.#byHash.get(hash);
    const t = id === undefined ? undefined : this.#tokens.get(id);
    return t ? structuredClone(t) : null;
  }

  /**
   * An owner's tokens after a position, oldest first (`createdAt`, then `id`), revoked ones included.
   *
   * @param owner - owner id.
   * @param page - at most `limit` after `after`.
   * @returns copies.
   * @example
   * ```ts
   * const first = await store.list("acct_1", { limit: 50, after: null });
   * ```
   */
  async list(owner: string, page: PageQuery): Promise<StoredToken[]> {
    return slice(this.#byOwner.get(owner), page).map((k) => structuredClone(this.#tokens.get(k.id)!));
  }

  /**
   * Compare-and-set replacement of the token `next.id`.
   *
   * @param next - the whole new record; its `revision` and `revokedAt` are ignored.
   * @param expectedRevision - the revision the caller read.
   * @param audit - appended with it.
   * @returns a copy of what is stored, with revision `expectedRevision + 1`.
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND` when there is no such token.
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when the stored revision differs.
   * @throws {TokenRevokedError} `TOKEN_REVOKED` when the token is revoked.
   * @throws {TokenExistsError} `TOKEN_ALREADY_EXISTS` when a hash of `next` belongs to another token.
   * @example
   * ```ts
   * const cur = await store.get(id);
   * if (cur) await store.update({ ...cur, name: "renamed" }, cur.revision);
   * ```
   */
  async update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken> {
    const cur = this.#tokens.get(next.id);
    const n = deepFreeze(updatedRecord(cur, next, expectedRevision));
    const newHashes = hashesOf(n);
    this.#assertHashesFree(newHashes, n.id);
    this.#assertAuditFree(audit);

    const oldHashes = hashesOf(cur!);
    const keep = new Set(newHashes);
    for (const h of oldHashes) if (!keep.has(h)) this.#byHash.delete(h);
    for (const h of newHashes) this.#byHash.set(h, n.id);
    this.#tokens.set(n.id, n);
    if (cur!.owner !== n.owner || cur!.createdAt !== n.createdAt) {
      removeKey(this.#byOwner, cur!.owner, { t: cur!.createdAt, id: cur!.id });
      insertKey(this.#byOwner, n.owner, { t: n.createdAt, id: n.id });
    }
    if (audit !== undefined) this.#writeAudit(audit);
    this.#emit({ tokenId: n.id, hashes: [...new Set([...oldHashes, ...newHashes])] });
    return structuredClone(n);
  }

  /**
   * Sets `revokedAt = at` and `updatedAt = at` unless already revoked (the
   * first times are kept) and increments the revision.
   *
   * @param id - public token id.
   * @param at - revocation time, epoch ms.
   * @param audit - appended with it.
   * @returns a copy of what is stored.
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND` when there is no such token.
   * @example
   * ```ts
   * const revoked = await store.revoke("tok_123", Date.now());
   * ```
   */
  async revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken> {
    const cur = this.#tokens.get(id);
    const n = deepFreeze(revokedRecord(cur, id, at));
    const entry = revokeAudit(cur, audit);
    this.#assertAuditFree(entry);
    this.#tokens.set(id, n);
    if (entry !== undefined) this.#writeAudit(entry);
    this.#emit({ tokenId: id, hashes: hashesOf(n) });
    return structuredClone(n);
  }

  /**
   * Removes the token for good with everything kept under its id (record,
   * hashes, credits, rate-limit window, nonces, usage); the audit log stays.
   *
   * @param id - public token id.
   * @param audit - appended with it.
   * @returns the record as it was and the counts removed.
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND` when there is no such token.
   * @example
   * ```ts
   * const { removed } = await store.delete("tok_123");
   * ```
   */
  async delete(id: string, audit?: AuditEntry): Promise<DeletedToken> {
    const cur = this.#tokens.get(id);
    if (!cur) throw new TokenNotFoundError(id);
    this.#assertAuditFree(audit);
    const hashes = hashesOf(cur);
    for (const h of hashes) this.#byHash.delete(h);
    removeKey(this.#byOwner, cur.owner, { t: cur.createdAt, id });
    this.#tokens.delete(id);
    const removed = {
      hashes: hashes.length,
      credits: this.#credits.delete(id),
      rateLimits: this.#rates.delete(id),
      nonces: this.#nonces.get(id)?.nonces.size ?? 0,
      usage: this.#usage.get(id)?.bucketCount ?? 0,
    };
    this.#nonces.delete(id);
    // The analytics rows (indexed by token and by owner) and the last use go with the hour buckets.
    const owners = new Set<string>();
    for (const r of this.#usage.get(id)?.byMinute ?? []) owners.add(r.owner);
    for (const owner of owners) {
      const rows = this.#rowsByOwner.get(owner)!.filter((r) => r.tokenId !== id);
      if (rows.length === 0) this.#rowsByOwner.delete(owner);
      else this.#rowsByOwner.set(owner, rows);
    }
    this.#usage.delete(id);
    this.#seen.delete(id);
    if (audit !== undefined) this.#writeAudit(audit);
    this.#emit({ tokenId: id, hashes });
    return { token: structuredClone(cur), removed };
  }

  /**
   * Remembers sightings of tokens for anomaly detection shared by the
   * instances using this store (see {@link AnomalyStateStore}).
   *
   * @param entries - the sightings, applied in order.
   * @param maxPerToken - values kept per token and kind (the least recently seen forgotten).
   * @returns per entry, the time stored before, or null when new.
   */
  async touchSeen(entries: readonly SeenEntry[], maxPerToken: number): Promise<(number | null)[]> {
    return entries.map((e) => {
      let rows = this.#seen.get(e.tokenId);
      if (!rows) {
        rows = new Map();
        this.#seen.set(e.tokenId, rows);
      }
      const key = `${e.kind}\u0000${e.value}`;
      const prev = rows.get(key) ?? null;
      rows.set(key, Math.max(prev ?? e.at, e.at));
      if (prev === null) forgetLeastRecent(rows, `${e.kind}\u0000`, maxPerToken);
      return prev;
    });
  }

  /**
   * Spend per owner and pool over the hours in `[from, to)` (see {@link BillingStore}):
   * reads the rows of the period of each owner and pool of the page only.
   *
   * @param query - the hours, one owner or all, and the page (`after`, `limit`).
   * @returns the sums, by owner then pool (code-unit order).
   */
  async billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]> {
    const { owner, after, from, to, limit = Number.POSITIVE_INFINITY } = query;
    const order = this.#billingOrder;
    let i = after === undefined ? 0 : partitionPoint(order, (g) => compareBillingKeys(g, after) <= 0);
    if (owner !== undefined) i = Math.max(i, partitionPoint(order, (g) => g.owner < owner));
    const out: BillingUsage[] = [];
    for (; i < order.length && out.length < limit; i++) {
      const g = order[i]!;
      if (owner !== undefined && g.owner !== owner) break;
      const start = partitionPoint(g.rows, (r) => r.hour < from);
      const end = partitionPoint(g.rows, (r) => r.hour < to);
      if (start === end) continue;
      let requests = 0;
      let credits = 0;
      for (let j = start; j < end; j++) {
        requests += g.rows[j]!.requests;
        credits += g.rows[j]!.credits;
      }
      out.push({ owner: g.owner, pool: g.pool, requests, credits });
    }
    return out;
  }

  /** Adds a new billing row to the index of its owner and pool (in hour order; usually last). */
  #indexBilling(row: BillingHourRow): void {
    const k = `${row.owner}\u0000${row.pool}`;
    let g = this.#billingGroups.get(k);
    if (g === undefined) {
      const group: BillingGroup = { owner: row.owner, pool: row.pool, rows: [] };
      this.#billingGroups.set(k, group);
      this.#billingOrder.splice(
        partitionPoint(this.#billingOrder, (x) => compareBillingKeys(x, group) < 0),
        0,
        group,
      );
      g = group;
    }
    const rows = g.rows;
    if (rows.length === 0 || rows[rows.length - 1]!.hour < row.hour) rows.push(row);
    else rows.splice(partitionPoint(rows, (r) => r.hour < row.hour), 0, row);
  }

  /** Claims a billing run (see {@link BillingStore.claimBillingRun}). */
  async claimBillingRun(key: BillingRunKey, claim: string, now: number, staleBefore: number): Promise<BillingClaim> {
    const k = `${key.owner}\u0000${key.period}`;
    const run = this.#billingRuns.get(k);
    if (run?.status === "done") return "done";
    if (run && run.claimedAt >= staleBefore) return "busy";
    for (const [other, r] of this.#billingRuns) {
      if (other !== k && r.owner === key.owner && r.from < key.to && key.from < r.to) return "overlap";
    }
    this.#billingRuns.set(k, { owner: key.owner, from: key.from, to: key.to, status: "pending", claim, claimedAt: now, record: null });
    return "claimed";
  }

  /** Ends a claimed billing run (see {@link BillingStore.finishBillingRun}). */
  async finishBillingRun(
    key: BillingRunKey,
    claim: string,
    outcome: "done" | "failed",
    record?: string,
    audit?: AuditEntry,
  ): Promise<boolean> {
    const k = `${key.owner}\u0000${key.period}`;
    const run = this.#billingRuns.get(k);
    if (run?.status !== "pending" || run.claim !== claim) return false;
    if (outcome === "failed") {
      this.#billingRuns.delete(k);
      return true;
    }
    this.#assertAuditFree(audit);
    this.#billingRuns.set(k, { ...run, status: "done", record: record ?? null });
    if (audit !== undefined) this.#writeAudit(audit);
    return true;
  }

  /**
   * Meters one request, all or nothing (see `meterStep` of the store kit):
   * rate limit, then credits; both counters are written only when both pass.
   * The rate-limit state of a token is updated in place by a grant (a
   * denial changes nothing): a hit allocates nothing once the token has
   * state, and no key string is built. Every
   * 16th call also examines the rate-limit windows of up to 64 tokens (32
   * by `rateLimit`, 32 by `rateLimits`) and purges those empty for a minute.
   *
   * @param request - the token, its cost and its policies now.
   * @param now - epoch ms.
   * @returns the decision and the counters' answers.
   * @example
   * ```ts
   * const r = await store.meter({ tokenId: id, cost: 1, rateLimit: { limit: 100, windowMs: 1000 }, credits: null }, Date.now());
   * ```
   */
  async meter(request: MeterRequest, now: number): Promise<MeterResult> {
    const id = request.tokenId;
    const { rateLimits } = request;
    const pool = namedPool(request.pool);
    const rate = request.rateLimit ? this.#rates.get(id) : undefined;
    const owner = request.account?.owner;
    const account =
      owner === undefined ? undefined : { rate: this.#accountRates.get(owner), credits: this.#accountCredits.get(owner, pool) };
    const more = rateLimits && { rates: rateLimits.map((l) => this.#rates.get(id, l.windowMs)) };
    const step = meterStep(rate, request.credits ? this.#credits.get(id, pool) : undefined, request, now, account, more);
    if (step.rate !== null && step.rate !== rate) this.#rates.set(id, undefined, step.rate);
    if (step.credits !== null) this.#credits.set(id, pool, step.credits);
    if (step.rates !== null) {
      step.rates.forEach((w, i) => {
        if (w !== more!.rates[i]) this.#rates.set(id, w.windowMs, w);
      });
    }
    if (step.account !== null && owner !== undefined) {
      if (step.account.rate !== null && step.account.rate !== account!.rate) this.#accountRates.set(owner, step.account.rate);
      if (step.account.credits !== null) this.#accountCredits.set(owner, pool, step.account.credits);
    }
    // A sweep step every 16 calls: 32 tokens' `rateLimit` windows and the `rateLimits` windows of 32
    // more (at most 8 each), so at most 18 windows per call, amortized, with few iterator steps.
    if ((request.rateLimit || rateLimits?.length) && (++this.#meterCalls & 15) === 0) {
      this.#rates.sweep(32, (s) => windowExpired(s, now - RATE_WINDOW_GRACE_MS));
    }
    return step.result;
  }

  /**
   * Remembers the nonce until `expiresAt` unless an unexpired entry exists
   * (an entry is expired when `expiresAt <= now`). Nonces are grouped per
   * token. Each call also examines at most `MEMORY_STORE_SWEEP_BUDGET` (16)
   * nonces of that token and 16 token groups, and purges expired ones.
   *
   * @param key - the token and the nonce.
   * @param expiresAt - epoch ms.
   * @param now - epoch ms.
   * @returns true when remembered now, false when already present.
   * @example
   * ```ts
   * const fresh = await store.rememberNonce({ tokenId: id, nonce }, now + 300_000, now);
   * ```
   */
  async rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean> {
    let group = this.#nonces.get(key.tokenId);
    if (!group) {
      group = { until: expiresAt, nonces: new Map(), sweep: null };
      this.#nonces.set(key.tokenId, group);
    }
    const existing = group.nonces.get(key.nonce);
    const fresh = existing === undefined || existing <= now;
    if (fresh) {
      group.nonces.delete(key.nonce); // re-insert at the end, so the sweep order follows insertion time
      group.nonces.set(key.nonce, expiresAt);
      if (expiresAt > group.until) group.until = expiresAt;
    }
    group.sweep = sweep(group.nonces, group.sweep, MEMORY_STORE_SWEEP_BUDGET, (exp) => exp <= now);
    this.#nonceSweep = sweep(this.#nonces, this.#nonceSweep, MEMORY_STORE_SWEEP_BUDGET, (g) => g.until <= now);
    return fresh;
  }

  /**
   * Adds events to the UTC hour buckets of their tokens.
   *
   * @param events - usage events.
   * @param batch - the batch's writer and number: a batch written already adds nothing.
   * @example
   * ```ts
   * await store.recordUsage([{ tokenId: id, at: Date.now(), ok: true, cost: 1 }]);
   * ```
   */
  async recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void> {
    if (batch) {
      // A batch written already adds nothing (a process holds few writers: one per Keyward).
      if ((this.#writers.get(batch.writer) ?? 0) >= batch.seq) return;
      this.#writers.set(batch.writer, batch.seq);
    }
    // What addUsage, analyticsOf and billingRowsOf of the store kit compute, in
    // one pass and in place: a token's events mostly repeat its last hour,
    // row and billing row, which are then counted with no key built and no
    // map read, in whatever order the tokens' events come.
    for (const e of events) {
      let u = this.#usage.get(e.tokenId);
      if (u === undefined) {
        u = new TokenUsage();
        this.#usage.set(e.tokenId, u);
      }
      const start = hourOf(e.at);
      if (u.hour !== start) u.moveTo(start);
      if (e.ok) u.allowed++;
      else u.denied++;
      u.credits += e.cost;
      // A use is an allowed request: a denied one (a wrong scope, a probe) leaves the last use alone.
      if (e.ok && !(e.at < u.lastAt)) {
        u.lastAt = e.at;
        u.lastIp = e.ip ?? null;
      }
      if (isBilled(e)) {
        const pool = e.pool ?? DEFAULT_POOL;
        let bill = u.bill;
        if (bill === null || bill.owner !== e.owner || bill.pool !== pool || bill.hour !== start) {
          const key = billingKey({ owner: e.owner, pool, hour: start });
          bill = this.#billing.get(key) ?? null;
          if (bill === null) {
            bill = { owner: e.owner, pool, hour: start, requests: 0, credits: 0 };
            this.#billing.set(key, bill);
            this.#indexBilling(bill);
          }
          u.bill = bill;
        }
        bill.requests++;
        bill.credits += e.cost;
      }
      // Events without owner or code (written by hand, not by the verifier) add to no row.
      if (e.owner === undefined || e.code === undefined) continue;
      let r = u.row;
      // The minute of the token's last row, when the event is in it (most are): no floating-point remainder computed.
      // Only from 1970 on: before, the remainder is negative, and a row's minute M holds (M - 1 minute, M] (analyticsOf's).
      const minute = r !== null && r.minute >= 0 && e.at >= r.minute && e.at < r.minute + MINUTE_MS ? r.minute : e.at - (e.at % MINUTE_MS);
      const scope = e.scope == null ? "" : e.scope.length > MAX_USAGE_SCOPE_LENGTH ? e.scope.slice(0, MAX_USAGE_SCOPE_LENGTH) : e.scope;
      if (r === null || r.minute !== minute || r.scope !== scope || r.code !== e.code) {
        const k = rowKey({ tokenId: e.tokenId, minute, scope, code: e.code });
        r = u.rows.get(k) ?? null;
        if (r === null) {
          r = { tokenId: e.tokenId, owner: e.owner, minute, scope, code: e.code, requests: 0, credits: 0 };
          // One row object, indexed by its token and by minute of its token and of its owner.
          u.rows.set(k, r);
          insertByMinute(u.byMinute, r);
          let owned = this.#rowsByOwner.get(r.owner);
          if (owned === undefined) {
            owned = [];
            this.#rowsByOwner.set(r.owner, owned);
          }
          insertByMinute(owned, r);
        }
        u.row = r;
      }
      r.requests++;
      r.credits += e.cost;
    }
  }

  /**
   * Usage of a token or an owner per minute, hour or UTC day, filtered by scope or code, grouped or not:
   * reads the rows of the period only (binary searches of the token's or owner's rows by minute).
   *
   * @param query - see `UsageAnalyticsQuery`.
   * @returns buckets that have any usage, ascending.
   * @example
   * ```ts
   * const perCode = await store.queryUsage({ filter: { owner: "acct_1" }, from: 0, to: Date.now(), granularity: "day", groupBy: "code" });
   * ```
   */
  async queryUsage(query: UsageAnalyticsQuery): Promise<UsageSeriesBucket[]> {
    const f = query.filter;
    const rows = ("tokenId" in f ? this.#usage.get(f.tokenId)?.byMinute : this.#rowsByOwner.get(f.owner)) ?? [];
    const start = partitionPoint(rows, (r) => r.minute < query.from);
    const end = partitionPoint(rows, (r) => r.minute < query.to);
    return rollUpRows(rows.slice(start, end), query);
  }

  /**
   * @param tokenIds - tokens.
   * @returns the last use of each that has one.
   * @example
   * ```ts
   * const [last] = await store.lastUsed(["tok_123"]);
   * ```
   */
  async lastUsed(tokenIds: readonly string[]): Promise<LastUsed[]> {
    return tokenIds.flatMap((id) => {
      const u = this.#usage.get(id);
      return u === undefined || Number.isNaN(u.lastAt) ? [] : [{ tokenId: id, at: u.lastAt, ip: u.lastIp }];
    });
  }

  /**
   * Usage of a token: the hour buckets whose start is in `[from, to)`, as
   * they are or summed per UTC day (bucket start = start of the day), ascending.
   *
   * @param tokenId - public token id.
   * @param query - `from` inclusive, `to` exclusive, `granularity` "hour" or "day".
   * @returns buckets that have any usage.
   * @example
   * ```ts
   * const days = await store.getUsage(id, { from: 0, to: Date.now(), granularity: "day" });
   * ```
   */
  async getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]> {
    return rollUpUsage(this.#usage.get(tokenId)?.buckets() ?? [], query);
  }

  /**
   * @param owner - the account's owner id.
   * @returns a copy of the account, or null.
   * @example
   * ```ts
   * const account = await store.getAccount("acct_1");
   * ```
   */
  async getAccount(owner: string): Promise<StoredAccount | null> {
    const a = this.#accounts.get(owner);
    return a ? structuredClone(a) : null;
  }

  /**
   * Compare-and-set of an account (expected revision 0: a new account), with its audit entry.
   *
   * @param next - the whole account.
   * @param expectedRevision - the revision read (0 when there was none).
   * @param audit - appended with it.
   * @returns a copy of what is stored.
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when the stored revision differs.
   * @example
   * ```ts
   * await store.putAccount(account, 0);
   * ```
   */
  async putAccount(next: StoredAccount, expectedRevision: number, audit?: AuditEntry): Promise<StoredAccount> {
    const n = deepFreeze(putAccountRecord(this.#accounts.get(next.owner) ?? null, next, expectedRevision));
    this.#assertAuditFree(audit);
    this.#accounts.set(n.owner, n);
    if (audit !== undefined) this.#writeAudit(audit);
    this.#emit({ kind: "account", owner: n.owner, tokenId: "", hashes: [] });
    return structuredClone(n);
  }

  /**
   * Reads, tops up or resets a token's or an account's balance, with its audit entry.
   * A top-up or reset with an idempotency key applied already (within
   * `CREDIT_KEY_RETENTION_MS`) reads the balance instead, with `replayed: true`. Each call also
   * examines at most `MEMORY_STORE_SWEEP_BUDGET` (16) keys, forgetting the
   * expired ones.
   *
   * @param request - the balance, its policy and the change.
   * @param now - epoch ms.
   * @param audit - appended with a top-up or reset.
   * @returns the balance after the change (`replayed: true` when the key was applied already).
   * @example
   * ```ts
   * await store.adjustCredits({ key: { owner: "acct_1" }, policy, change: { op: "topUp", amount: 500 } }, Date.now());
   * ```
   */
  async adjustCredits(request: CreditAdjustment, now: number, audit?: AuditEntry): Promise<CreditResult> {
    const map = "owner" in request.key ? this.#accountCredits : this.#credits;
    const base = "owner" in request.key ? request.key.owner : request.key.tokenId;
    const pool = namedPool(request.key.pool);
    const key = request.idempotencyKey;
    const keys = this.#creditKeys;
    const replayed = key !== undefined && creditKeyReplayed(keys.get(key), request, now);
    const change: CreditChange = replayed ? { op: "read" } : request.change;
    const step = adjustCredits(map.get(base, pool), request.policy, change, now);
    const write = change.op !== "read";
    if (write) this.#assertAuditFree(audit);
    if (step.next !== null) map.set(base, pool, step.next);
    if (key !== undefined && write) {
      keys.delete(key); // re-inserted at the end (an expired key used again), so the sweep order follows time
      keys.set(key, { request: creditRequestText(request), at: now });
    }
    if (audit !== undefined && write) this.#writeAudit(audit);
    this.#creditKeySweep = sweep(keys, this.#creditKeySweep, MEMORY_STORE_SWEEP_BUDGET, (k) => k.at <= now - CREDIT_KEY_RETENTION_MS);
    return replayed ? { ...step.result, replayed } : step.result;
  }

  /**
   * Appends a copy of `entry` to the logs of its token and its owner.
   *
   * @param entry - its `id` must be new.
   * @throws {InvalidInputError} `INVALID_INPUT` when its id is already used.
   * @example
   * ```ts
   * await store.appendAudit({ id: "aud_01", at: Date.now(), actor: "cli", action: "revoke",
   *   tokenId: id, owner: "acct_1", changes: ["revokedAt"] });
   * ```
   */
  async appendAudit(entry: AuditEntry): Promise<void> {
    this.#assertAuditFree(entry);
    this.#writeAudit(entry);
  }

  #writeAudit(entry: AuditEntry): void {
    const e = structuredClone(entry);
    this.#audit.set(e.id, e);
    insertKey(this.#auditByToken, e.tokenId, { t: e.at, id: e.id });
    insertKey(this.#auditByOwner, e.owner, { t: e.at, id: e.id });
  }

  /**
   * Audit entries of a token or an owner after a position, oldest first (`at`, then `id`).
   *
   * @param filter - `{ tokenId }` or `{ owner }`.
   * @param page - at most `limit` after `after`.
   * @returns copies.
   * @example
   * ```ts
   * const items = await store.listAudit({ owner: "acct_1" }, { limit: 20, after: null });
   * ```
   */
  async listAudit(filter: AuditFilter, page: PageQuery): Promise<AuditEntry[]> {
    const keys = "tokenId" in filter ? this.#auditByToken.get(filter.tokenId) : this.#auditByOwner.get(filter.owner);
    return slice(keys, page).map((k) => structuredClone(this.#audit.get(k.id)!));
  }

  /**
   * @internal The verifier's reads: the stored frozen objects themselves, at
   * once. Null when a subclass overrides a read (its override must be used).
   */
  [SHARED_READS](): SharedReads | null {
    const own = MemoryStore.prototype;
    if (this.findByHash !== own.findByHash || this.get !== own.get || this.getAccount !== own.getAccount) return null;
    const tokens = this.#tokens;
    const byHash = this.#byHash;
    const accounts = this.#accounts;
    return {
      findByHash: (hash) => {
        const id = byHash.get(hash);
        return (id === undefined ? undefined : tokens.get(id)) ?? null;
      },
      get: (id) => tokens.get(id) ?? null,
      getAccount: (owner) => accounts.get(owner) ?? null,
    };
  }

  /**
   * @internal Whether `meter` and `rememberNonce` are this class's own,
   * which run in this process without waiting on anything (false when a
   * subclass overrides one: the verifier then bounds its calls).
   */
  [LOCAL_COUNTERS](): boolean {
    const own = MemoryStore.prototype;
    return this.meter === own.meter && this.rememberNonce === own.rememberNonce;
  }

  /**
   * Removes every change listener. The data stays; the store remains usable.
   *
   * @example
   * ```ts
   * await store.close();
   * ```
   */
  async close(): Promise<void> {
    this.#subscriptions.clear();
  }

  /**
   * Entry counts, for monitoring and tests.
   *
   * @returns current counts.
   * @example
   * ```ts
   * console.log(new MemoryStore().stats().tokens); // 0
   * ```
   */
  stats(): MemoryStoreStats {
    let usageBuckets = 0;
    for (const u of this.#usage.values()) usageBuckets += u.bucketCount;
    let nonces = 0;
    for (const g of this.#nonces.values()) nonces += g.nonces.size;
    return {
      tokens: this.#tokens.size,
      nonces,
      rateLimitKeys: this.#rates.size,
      creditAccounts: this.#credits.size,
      usageBuckets,
      auditEntries: this.#audit.size,
    };
  }

  /**
   * Everything stored, indexes included, as deterministic JSON text (the same
   * data gives the same text). Meant for the `raw` hook of the conformance
   * suite and for debugging. It holds hashes and sealed keys, never a token.
   *
   * @returns JSON text.
   * @example
   * ```ts
   * describeTokenStore("MemoryStore", () => new MemoryStore(), { raw: (s) => (s as MemoryStore).dump() });
   * ```
   */
  dump(): string {
    const sorted = <V>(m: Map<string, V>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const usage = sorted(this.#usage).map(([id, u]) => [id, u.buckets().sort(([a], [b]) => a - b)]);
    const nonces = sorted(this.#nonces).map(([id, g]) => [id, sorted(g.nonces)]);
    return JSON.stringify({
      tokens: sorted(this.#tokens),
      hashes: sorted(this.#byHash),
      owners: sorted(this.#byOwner),
      credits: sorted(new Map(this.#credits.entries())),
      rateLimits: sorted(new Map(this.#rates.entries())),
      nonces,
      usage,
      audit: sorted(this.#audit),
      auditByToken: sorted(this.#auditByToken),
      auditByOwner: sorted(this.#auditByOwner),
      createKeys: sorted(this.#createKeys),
    });
  }

  /** Calls each listener with its own copy of `change`. */
  #emit(change: ChangeEvent): void {
    if (this.#subscriptions.size === 0) return;
    for (const sub of [...this.#subscriptions]) {
      try {
        sub.listener({ ...change, hashes: [...change.hashes] });
      } catch (error) {
        // An error handler that throws (or rejects) must not break the store either.
        callHook(this.#onListenerError, error, { ...change, hashes: [...change.hashes] });
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Sorted indexes (owner → tokens, token / owner → audit entries)

/** Index of the first item of sorted `items` that is not `before` (every item before it is). */
function partitionPoint<T>(items: readonly T[], before: (item: T) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(items[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first key strictly greater than `k`. */
function upperBound(keys: SortKey[], k: SortKey): number {
  return partitionPoint(keys, (x) => compareKeys(x, k) <= 0);
}

function insertKey(index: Map<string, SortKey[]>, group: string, k: SortKey): void {
  let keys = index.get(group);
  if (!keys) {
    keys = [];
    index.set(group, keys);
  }
  keys.splice(upperBound(keys, k), 0, k);
}

function removeKey(index: Map<string, SortKey[]>, group: string, k: SortKey): void {
  const keys = index.get(group);
  if (!keys) return;
  const i = upperBound(keys, k) - 1;
  if (i >= 0 && compareKeys(keys[i]!, k) === 0) keys.splice(i, 1);
  if (keys.length === 0) index.delete(group);
}

function slice(keys: SortKey[] | undefined, page: PageQuery): SortKey[] {
  if (!keys) return [];
  const from = page.after ? upperBound(keys, page.after) : 0;
  return keys.slice(from, from + page.limit);
}

/** The counter of a pool in a {@link CounterMap}: undefined for the default pool. */
function namedPool(pool: string | undefined): string | undefined {
  return pool === DEFAULT_POOL ? undefined : pool;
}

/** Adds a new analytics row to a list by minute (usually last: usage comes in time order). */
function insertByMinute(rows: UsageDetailRow[], row: UsageDetailRow): void {
  if (rows.length === 0 || rows[rows.length - 1]!.minute <= row.minute) rows.push(row);
  else rows.splice(partitionPoint(rows, (r) => r.minute <= row.minute), 0, row);
}

/** Keeps the `max` most recently seen entries whose key starts with `prefix` (one kind of one token). */
function forgetLeastRecent(rows: Map<string, number>, prefix: string, max: number): void {
  const kind = [...rows].filter(([k]) => k.startsWith(prefix));
  if (kind.length <= max) return;
  kind.sort((a, b) => a[1] - b[1]);
  for (const [k] of kind.slice(0, kind.length - max)) rows.delete(k);
}
