/**
 * `MemoryStore`: the built-in {@link TokenStore} that keeps everything in the
 * memory of one JavaScript process. For tests, single-process servers and as
 * the reference implementation of the storage contract.
 *
 * Atomicity: every method does its whole read-check-write synchronously,
 * before its returned promise is created (there is no `await` inside), so
 * calls are linearizable within the process. Nothing is shared with other
 * processes.
 *
 * @module keyward
 */
import {
  ConfigError,
  InvalidInputError,
  RevisionConflictError,
  TokenExistsError,
  TokenNotFoundError,
  TokenRevokedError,
} from "../errors.js";
import { fromBase64, fromUtf8, toBase64Url, utf8 } from "../lib/bytes.js";
import { hashesOf } from "../model/record.js";
import type {
  AuditEntry,
  CreditsPolicy,
  Page,
  PageOptions,
  StoredToken,
  UsageBucket,
  UsageEvent,
} from "../model/types.js";
import type {
  AuditFilter,
  ChangeEvent,
  CreditResult,
  RateLimitResult,
  StoreCapabilities,
  TokenStore,
  UsageQuery,
} from "./types.js";

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Announce token writes to {@link MemoryStore.subscribe} listeners
   * (default true). When false, `subscribe` is absent.
   */
  changeFeed?: boolean;
  /**
   * Called with the error when a change listener throws. The store is not
   * affected either way; by default the error is ignored.
   */
  onListenerError?: (error: unknown, event: ChangeEvent) => void;
}

/** Entry counts of a {@link MemoryStore}, from {@link MemoryStore.stats}. */
export interface MemoryStoreStats {
  tokens: number;
  /** Remembered nonces, expired ones not yet purged included. */
  nonces: number;
  /** Rate-limit keys, stale ones not yet purged included. */
  rateLimitKeys: number;
  /** Tokens with a credit balance in use. */
  creditAccounts: number;
  /** Hour buckets of usage, across all tokens. */
  usageBuckets: number;
  auditEntries: number;
}

/** At most this many nonce / rate-limit entries are examined per call to purge expired ones. */
export const MEMORY_STORE_SWEEP_BUDGET = 16;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

interface CreditState {
  used: number;
  /** Start of the current refill period (anchored on the first consumption), or null before it. */
  periodStart: number | null;
}

interface RateState {
  windowMs: number;
  /** Index of the current fixed window: floor(now / windowMs). */
  window: number;
  current: number;
  previous: number;
}

interface Counters {
  allowed: number;
  denied: number;
  credits: number;
}

/** A sort key: (time, id), compared by time then by id in code-unit order. */
interface SortKey {
  t: number;
  id: string;
}

interface Subscription {
  listener: (event: ChangeEvent) => void;
}

/**
 * An in-memory {@link TokenStore}. Tokens are indexed by id, by every hash
 * (current and previous) and by owner; records are deep-copied on the way in
 * and out.
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
  /** Frozen: `{ changeFeed }` as given to the constructor (default true). */
  readonly capabilities: StoreCapabilities;

  /**
   * Present when `capabilities.changeFeed` is true: calls `listener` after
   * every committed insert, update or revoke (synchronously, see the class
   * documentation) with the token id and every hash it had before or has
   * after the change. Returns a function that unsubscribes (idempotent).
   *
   * @param listener - called with each {@link ChangeEvent}; its own copy.
   * @returns unsubscribe
   * @throws {InvalidInputError} `INVALID_INPUT` when `listener` is not a function.
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

  readonly #credits = new Map<string, CreditState>();
  readonly #rates = new Map<string, RateState>();
  #rateSweep: Iterator<[string, RateState]> | null = null;
  readonly #nonces = new Map<string, number>();
  #nonceSweep: Iterator<[string, number]> | null = null;

  readonly #usage = new Map<string, Map<number, Counters>>();

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
    this.capabilities = Object.freeze({ changeFeed });
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
   * @throws {TokenExistsError} `TOKEN_ALREADY_EXISTS` when the id or any of its hashes is taken
   *   (or the token repeats a hash); nothing is written.
   * @throws {InvalidInputError} `INVALID_INPUT` when the record is malformed.
   * @example
   * ```ts
   * await store.insert(record);
   * ```
   */
  async insert(token: StoredToken, audit?: AuditEntry): Promise<void> {
    checkToken(token, "token");
    if (audit !== undefined) this.#checkAudit(audit);
    const t = structuredClone(token);
    if (this.#tokens.has(t.id)) throw new TokenExistsError();
    const hashes = hashesOf(t);
    this.#assertHashesFree(hashes, null);

    this.#tokens.set(t.id, t);
    for (const h of hashes) this.#byHash.set(h, t.id);
    insertKey(this.#byOwner, t.owner, { t: t.createdAt, id: t.id });
    if (audit !== undefined) this.#writeAudit(audit);
    this.#emit(t.id, hashes);
  }

  /** Unique index on hashes: none repeated, none held by a token other than `self`. */
  #assertHashesFree(hashes: string[], self: string | null): void {
    if (new Set(hashes).size !== hashes.length) throw new TokenExistsError();
    for (const h of hashes) {
      const holder = this.#byHash.get(h);
      if (holder !== undefined && holder !== self) throw new TokenExistsError();
    }
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
    checkString(id, "id");
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
    checkString(hash, "hash");
    const id = this.#byHash.get(hash);
    const t = id === undefined ? undefined : this.#tokens.get(id);
    return t ? structuredClone(t) : null;
  }

  /**
   * An owner's tokens, oldest first (`createdAt`, then `id`), revoked ones included.
   *
   * @param owner - owner id.
   * @param options - `limit` 1..1000 (default 100) and the `nextCursor` of the previous page.
   * @returns a page of copies; `nextCursor` is null on the last page.
   * @throws {InvalidInputError} `INVALID_INPUT` (`limit` or `cursor`) on a bad limit or cursor.
   * @example
   * ```ts
   * const first = await store.list("acct_1", { limit: 50 });
   * const second = await store.list("acct_1", { limit: 50, cursor: first.nextCursor });
   * ```
   */
  async list(owner: string, options?: PageOptions): Promise<Page<StoredToken>> {
    checkString(owner, "owner");
    const { limit, after } = parsePage(options, "t");
    const keys = this.#byOwner.get(owner) ?? [];
    return page(keys, limit, after, "t", (k) => structuredClone(this.#tokens.get(k.id)!));
  }

  /**
   * Compare-and-set replacement of the token `next.id`.
   *
   * @param next - the whole new record; its `revision` is ignored.
   * @param expectedRevision - the revision the caller read.
   * @returns a copy of what is stored, with revision `expectedRevision + 1`.
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND` when there is no such token.
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when the stored revision differs.
   * @throws {TokenExistsError} `TOKEN_ALREADY_EXISTS` when a hash of `next` belongs to another token.
   * @throws {InvalidInputError} `INVALID_INPUT` when the record is malformed.
   * @example
   * ```ts
   * const cur = await store.get(id);
   * if (cur) await store.update({ ...cur, name: "renamed" }, cur.revision);
   * ```
   */
  async update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken> {
    checkToken(next, "next");
    if (audit !== undefined) this.#checkAudit(audit);
    if (!Number.isSafeInteger(expectedRevision)) throw new InvalidInputError("expectedRevision", "must be an integer");
    const cur = this.#tokens.get(next.id);
    if (!cur) throw new TokenNotFoundError(next.id);
    if (cur.revision !== expectedRevision) throw new RevisionConflictError(next.id, expectedRevision);
    if (cur.revokedAt !== null) throw new TokenRevokedError(next.id);
    const n = structuredClone(next);
    n.revision = expectedRevision + 1;
    n.revokedAt = cur.revokedAt;
    const newHashes = hashesOf(n);
    this.#assertHashesFree(newHashes, n.id);

    const oldHashes = hashesOf(cur);
    const keep = new Set(newHashes);
    for (const h of oldHashes) if (!keep.has(h)) this.#byHash.delete(h);
    for (const h of newHashes) this.#byHash.set(h, n.id);
    this.#tokens.set(n.id, n);
    if (cur.owner !== n.owner || cur.createdAt !== n.createdAt) {
      removeKey(this.#byOwner, cur.owner, { t: cur.createdAt, id: cur.id });
      insertKey(this.#byOwner, n.owner, { t: n.createdAt, id: n.id });
    }
    if (audit !== undefined) this.#writeAudit(audit);
    this.#emit(n.id, union(oldHashes, newHashes));
    return structuredClone(n);
  }

  /**
   * Sets `revokedAt = at` and `updatedAt = at` unless already revoked (the
   * first times are kept) and increments the revision.
   *
   * @param id - public token id.
   * @param at - revocation time, epoch ms.
   * @returns a copy of what is stored.
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND` when there is no such token.
   * @example
   * ```ts
   * const revoked = await store.revoke("tok_123", Date.now());
   * ```
   */
  async revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken> {
    checkString(id, "id");
    checkTime(at, "at");
    if (audit !== undefined) this.#checkAudit(audit);
    const cur = this.#tokens.get(id);
    if (!cur) throw new TokenNotFoundError(id);
    const first = cur.revokedAt === null;
    const n: StoredToken = {
      ...cur,
      revokedAt: first ? at : cur.revokedAt,
      updatedAt: first ? at : cur.updatedAt,
      revision: cur.revision + 1,
    };
    this.#tokens.set(id, n);
    if (audit !== undefined) this.#writeAudit(audit);
    this.#emit(id, hashesOf(n));
    return structuredClone(n);
  }

  /**
   * Deducts `cost` credits if at least that many remain. The store keeps the
   * amount used and the start of the refill period, which is anchored on the
   * first consumption; `refill.amount` comes back per elapsed
   * `refill.intervalMs` (never above the limit). `nextRefillAt` is null
   * without a refill policy or before the first consumption.
   *
   * @param tokenId - whose balance (the token need not be stored).
   * @param cost - a non-negative integer; 0 reads the balance.
   * @param policy - the token's credit policy now (a new limit applies at once).
   * @param now - epoch ms.
   * @returns whether granted, the balance left and the next refill time.
   * @throws {InvalidInputError} `INVALID_INPUT` when `cost`, `policy` or `now` is invalid.
   * @example
   * ```ts
   * const r = await store.consumeCredits(id, 1, { limit: 100, refill: null }, Date.now());
   * if (!r.granted) console.log("out of credits");
   * ```
   */
  async consumeCredits(tokenId: string, cost: number, policy: CreditsPolicy, now: number): Promise<CreditResult> {
    checkString(tokenId, "tokenId");
    checkCount(cost, "cost");
    checkCreditsPolicy(policy);
    checkTime(now, "now");
    const state = this.#credits.get(tokenId);
    let used = state?.used ?? 0;
    let periodStart = state?.periodStart ?? null;
    const refill = policy.refill;
    let changed = false;
    if (refill && periodStart !== null && now - periodStart >= refill.intervalMs) {
      const k = Math.floor((now - periodStart) / refill.intervalMs);
      used = Math.max(0, used - k * refill.amount);
      periodStart += k * refill.intervalMs;
      changed = true;
    }
    const balance = Math.max(0, policy.limit - used);
    const granted = cost <= balance;
    if (granted && cost > 0) {
      used += cost;
      periodStart ??= now;
      changed = true;
    }
    if (changed) this.#credits.set(tokenId, { used, periodStart });
    return {
      granted,
      remaining: Math.max(0, policy.limit - used),
      nextRefillAt: refill && periodStart !== null ? periodStart + refill.intervalMs : null,
    };
  }

  /**
   * Sliding-window-counter rate limiting: the estimate is the count of the
   * current fixed window (`floor(now / windowMs)`) plus the previous window's
   * count weighted by the part of it still inside the sliding window. A hit is
   * allowed when estimate + cost ≤ limit; denied hits are not counted.
   * Changing `windowMs` for a key starts it afresh. A `now` older than the
   * key's current window is treated as that window's start.
   *
   * @param key - what is limited (e.g. a token id).
   * @param limit - hits allowed per window (non-negative integer).
   * @param windowMs - window length (positive integer).
   * @param now - epoch ms.
   * @param cost - weight of this hit, non-negative integer (default 1).
   * @returns `retryAfterMs` is the wait until this hit would be allowed (0 when allowed);
   *   when `cost > limit` it can never be, and it is the wait until the key is empty.
   * @throws {InvalidInputError} `INVALID_INPUT` on invalid numbers.
   * @example
   * ```ts
   * const r = await store.hitRateLimit("rl:tok_123", 100, 1000, Date.now());
   * const retryAfter = r.allowed ? null : String(Math.ceil(r.retryAfterMs / 1000)); // Retry-After header
   * ```
   */
  async hitRateLimit(key: string, limit: number, windowMs: number, now: number, cost = 1): Promise<RateLimitResult> {
    checkString(key, "key");
    checkCount(limit, "limit");
    checkCount(windowMs, "windowMs");
    if (windowMs === 0) throw new InvalidInputError("windowMs", "must be positive");
    checkTime(now, "now");
    checkCount(cost, "cost");

    const W = windowMs;
    let window = Math.floor(now / W);
    let current = 0;
    let previous = 0;
    const s = this.#rates.get(key);
    if (s && s.windowMs === W) {
      if (s.window >= window) {
        window = s.window;
        current = s.current;
        previous = s.previous;
      } else if (s.window === window - 1) {
        previous = s.current;
      }
    }
    const start = window * W;
    const elapsed = Math.max(0, now - start);
    // Compare estimate * W against limit * W to stay in integers.
    const scaled = (prev: number, cur: number, e: number) => prev * (W - e) + cur * W;
    const est = scaled(previous, current, elapsed);
    const allowed = est + cost * W <= limit * W;
    let retryAfterMs = 0;
    if (allowed) {
      this.#rates.set(key, { windowMs: W, window, current: current + cost, previous });
    } else {
      retryAfterMs = retryAfter(W, start, now, previous, current, limit, cost, scaled);
    }
    this.#rateSweep = sweep(this.#rates, this.#rateSweep, (v) => now >= (v.window + 2) * v.windowMs);
    const after = allowed ? est + cost * W : est;
    return { allowed, remaining: Math.max(0, Math.floor((limit * W - after) / W)), retryAfterMs };
  }

  /**
   * Remembers `key` until `expiresAt` unless an unexpired entry exists
   * (an entry is expired when `expiresAt <= now`). Each call also examines at
   * most `MEMORY_STORE_SWEEP_BUDGET` (16) entries and purges expired ones.
   *
   * @param key - e.g. `${keyid}:${nonce}`.
   * @param expiresAt - epoch ms.
   * @param now - epoch ms.
   * @returns true when remembered now, false when already present.
   * @example
   * ```ts
   * const fresh = await store.rememberNonce(`${keyid}:${nonce}`, now + 300_000, now);
   * ```
   */
  async rememberNonce(key: string, expiresAt: number, now: number): Promise<boolean> {
    checkString(key, "key");
    checkTime(expiresAt, "expiresAt");
    checkTime(now, "now");
    const existing = this.#nonces.get(key);
    const fresh = existing === undefined || existing <= now;
    if (fresh) {
      this.#nonces.delete(key); // re-insert at the end, so the sweep order follows insertion time
      this.#nonces.set(key, expiresAt);
    }
    this.#nonceSweep = sweep(this.#nonces, this.#nonceSweep, (exp) => exp <= now);
    return fresh;
  }

  /**
   * Adds events to the UTC hour buckets of their tokens. The batch is
   * validated first: an invalid event writes nothing.
   *
   * @param events - `cost` non-negative integers, `at` finite.
   * @throws {InvalidInputError} `INVALID_INPUT` (`events[i].…`) on an invalid event.
   * @example
   * ```ts
   * await store.recordUsage([{ tokenId: id, at: Date.now(), ok: true, cost: 1 }]);
   * ```
   */
  async recordUsage(events: readonly UsageEvent[]): Promise<void> {
    if (!Array.isArray(events)) throw new InvalidInputError("events", "must be an array");
    events.forEach((e, i) => {
      if (e === null || typeof e !== "object") throw new InvalidInputError(`events[${i}]`, "must be an object");
      checkString(e.tokenId, `events[${i}].tokenId`);
      checkTime(e.at, `events[${i}].at`);
      if (typeof e.ok !== "boolean") throw new InvalidInputError(`events[${i}].ok`, "must be a boolean");
      checkCount(e.cost, `events[${i}].cost`);
    });
    for (const e of events) {
      let hours = this.#usage.get(e.tokenId);
      if (!hours) {
        hours = new Map();
        this.#usage.set(e.tokenId, hours);
      }
      const start = Math.floor(e.at / HOUR_MS) * HOUR_MS;
      let c = hours.get(start);
      if (!c) {
        c = { allowed: 0, denied: 0, credits: 0 };
        hours.set(start, c);
      }
      if (e.ok) c.allowed++;
      else c.denied++;
      c.credits += e.cost;
    }
  }

  /**
   * Usage of a token: the hour buckets whose start is in `[from, to)`, as
   * they are or summed per UTC day (bucket start = start of the day), ascending.
   *
   * @param tokenId - public token id.
   * @param query - `from` inclusive, `to` exclusive, `granularity` "hour" or "day".
   * @returns buckets that have any usage.
   * @throws {InvalidInputError} `INVALID_INPUT` on an invalid query.
   * @example
   * ```ts
   * const days = await store.getUsage(id, { from: 0, to: Date.now(), granularity: "day" });
   * ```
   */
  async getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]> {
    checkString(tokenId, "tokenId");
    if (query === null || typeof query !== "object") throw new InvalidInputError("query", "must be an object");
    checkTime(query.from, "from");
    checkTime(query.to, "to");
    if (query.granularity !== "hour" && query.granularity !== "day") {
      throw new InvalidInputError("granularity", 'must be "hour" or "day"');
    }
    const size = query.granularity === "hour" ? HOUR_MS : DAY_MS;
    const out = new Map<number, UsageBucket>();
    for (const [start, c] of this.#usage.get(tokenId) ?? []) {
      if (start < query.from || start >= query.to) continue;
      const b = Math.floor(start / size) * size;
      const acc = out.get(b);
      if (acc) {
        acc.allowed += c.allowed;
        acc.denied += c.denied;
        acc.credits += c.credits;
      } else out.set(b, { start: b, ...c });
    }
    return [...out.values()].sort((a, b) => a.start - b.start);
  }

  /**
   * Appends a copy of `entry` to the logs of its token and its owner.
   *
   * @param entry - its `id` must be new.
   * @throws {InvalidInputError} `INVALID_INPUT` when malformed or its id is already used.
   * @example
   * ```ts
   * await store.appendAudit({ id: "aud_01", at: Date.now(), actor: "cli", action: "revoke",
   *   tokenId: id, owner: "acct_1", changes: ["revokedAt"] });
   * ```
   */
  async appendAudit(entry: AuditEntry): Promise<void> {
    this.#checkAudit(entry);
    this.#writeAudit(entry);
  }

  #checkAudit(entry: AuditEntry): void {
    if (entry === null || typeof entry !== "object") throw new InvalidInputError("entry", "must be an object");
    checkString(entry.id, "entry.id");
    checkTime(entry.at, "entry.at");
    checkString(entry.tokenId, "entry.tokenId");
    checkString(entry.owner, "entry.owner");
    if (!Array.isArray(entry.changes)) throw new InvalidInputError("entry.changes", "must be an array");
    if (this.#audit.has(entry.id)) throw new InvalidInputError("entry.id", "already used");
  }

  #writeAudit(entry: AuditEntry): void {
    const e = structuredClone(entry);
    this.#audit.set(e.id, e);
    insertKey(this.#auditByToken, e.tokenId, { t: e.at, id: e.id });
    insertKey(this.#auditByOwner, e.owner, { t: e.at, id: e.id });
  }

  /**
   * Audit entries of a token or an owner, oldest first (`at`, then `id`).
   *
   * @param filter - `{ tokenId }` or `{ owner }`.
   * @param options - as {@link MemoryStore.list}.
   * @throws {InvalidInputError} `INVALID_INPUT` on a bad filter, limit or cursor.
   * @example
   * ```ts
   * const { items } = await store.listAudit({ owner: "acct_1" }, { limit: 20 });
   * ```
   */
  async listAudit(filter: AuditFilter, options?: PageOptions): Promise<Page<AuditEntry>> {
    if (filter === null || typeof filter !== "object") throw new InvalidInputError("filter", "must be an object");
    let keys: SortKey[];
    if ("tokenId" in filter) {
      checkString(filter.tokenId, "filter.tokenId");
      keys = this.#auditByToken.get(filter.tokenId) ?? [];
    } else if ("owner" in filter) {
      checkString(filter.owner, "filter.owner");
      keys = this.#auditByOwner.get(filter.owner) ?? [];
    } else throw new InvalidInputError("filter", "needs tokenId or owner");
    const { limit, after } = parsePage(options, "a");
    return page(keys, limit, after, "a", (k) => structuredClone(this.#audit.get(k.id)!));
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
    for (const hours of this.#usage.values()) usageBuckets += hours.size;
    return {
      tokens: this.#tokens.size,
      nonces: this.#nonces.size,
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
    const usage = sorted(this.#usage).map(([id, hours]) => [id, [...hours.entries()].sort(([a], [b]) => a - b)]);
    return JSON.stringify({
      tokens: sorted(this.#tokens),
      hashes: sorted(this.#byHash),
      owners: sorted(this.#byOwner),
      credits: sorted(this.#credits),
      rateLimits: sorted(this.#rates),
      nonces: sorted(this.#nonces),
      usage,
      audit: sorted(this.#audit),
      auditByToken: sorted(this.#auditByToken),
      auditByOwner: sorted(this.#auditByOwner),
    });
  }

  #emit(tokenId: string, hashes: string[]): void {
    if (this.#subscriptions.size === 0) return;
    for (const sub of [...this.#subscriptions]) {
      const event: ChangeEvent = { tokenId, hashes: [...hashes] };
      try {
        sub.listener(event);
      } catch (error) {
        try {
          this.#onListenerError?.(error, { tokenId, hashes: [...hashes] });
        } catch {
          // An error handler that throws must not break the store either.
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Validation

function checkString(v: unknown, field: string): asserts v is string {
  if (typeof v !== "string" || v.length === 0) throw new InvalidInputError(field, "must be a non-empty string");
}

function checkTime(v: unknown, field: string): asserts v is number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new InvalidInputError(field, "must be a finite number");
}

/** A finite, non-negative integer. */
function checkCount(v: unknown, field: string): asserts v is number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidInputError(field, "must be a non-negative integer");
  }
}

function checkCreditsPolicy(p: CreditsPolicy): void {
  if (p === null || typeof p !== "object") throw new InvalidInputError("policy", "must be an object");
  checkCount(p.limit, "policy.limit");
  if (p.refill !== null) {
    if (typeof p.refill !== "object") throw new InvalidInputError("policy.refill", "must be an object or null");
    checkCount(p.refill.amount, "policy.refill.amount");
    checkCount(p.refill.intervalMs, "policy.refill.intervalMs");
    if (p.refill.intervalMs === 0) throw new InvalidInputError("policy.refill.intervalMs", "must be positive");
  }
}

function checkToken(t: StoredToken, field: string): void {
  if (t === null || typeof t !== "object") throw new InvalidInputError(field, "must be an object");
  checkString(t.id, `${field}.id`);
  checkString(t.hash, `${field}.hash`);
  checkString(t.owner, `${field}.owner`);
  checkTime(t.createdAt, `${field}.createdAt`);
  if (!Number.isSafeInteger(t.revision)) throw new InvalidInputError(`${field}.revision`, "must be an integer");
  if (t.revokedAt !== null) checkTime(t.revokedAt, `${field}.revokedAt`);
  if (!Array.isArray(t.previous)) throw new InvalidInputError(`${field}.previous`, "must be an array");
  t.previous.forEach((p, i) => {
    if (p === null || typeof p !== "object") throw new InvalidInputError(`${field}.previous[${i}]`, "must be an object");
    checkString(p.hash, `${field}.previous[${i}].hash`);
  });
}

// ---------------------------------------------------------------------------
// Helpers

function union(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])];
}

function compareKeys(a: SortKey, b: SortKey): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Index of the first key strictly greater than `k`. */
function upperBound(keys: SortKey[], k: SortKey): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, k) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

type CursorKind = "t" | "a";

function encodeCursor(kind: CursorKind, k: SortKey): string {
  return toBase64Url(utf8(JSON.stringify({ k: kind, t: k.t, i: k.id })));
}

function decodeCursor(kind: CursorKind, cursor: string): SortKey {
  const bad = () => new InvalidInputError("cursor", "invalid cursor");
  const bytes = fromBase64(cursor);
  if (!bytes || cursor.length === 0) throw bad();
  let v: unknown;
  try {
    v = JSON.parse(fromUtf8(bytes));
  } catch {
    throw bad();
  }
  if (v === null || typeof v !== "object") throw bad();
  const { k, t, i } = v as { k?: unknown; t?: unknown; i?: unknown };
  if (k !== kind || typeof t !== "number" || !Number.isFinite(t) || typeof i !== "string") throw bad();
  return { t, id: i };
}

function parsePage(options: PageOptions | undefined, kind: CursorKind): { limit: number; after: SortKey | null } {
  if (options === undefined || options === null) return { limit: DEFAULT_LIMIT, after: null };
  if (typeof options !== "object") throw new InvalidInputError("options", "must be an object");
  const { limit = DEFAULT_LIMIT, cursor } = options;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new InvalidInputError("limit", `must be an integer from 1 to ${MAX_LIMIT}`);
  }
  if (cursor === undefined || cursor === null) return { limit, after: null };
  if (typeof cursor !== "string") throw new InvalidInputError("cursor", "invalid cursor");
  return { limit, after: decodeCursor(kind, cursor) };
}

function page<T>(
  keys: SortKey[],
  limit: number,
  after: SortKey | null,
  kind: CursorKind,
  load: (k: SortKey) => T,
): Page<T> {
  const from = after ? upperBound(keys, after) : 0;
  const slice = keys.slice(from, from + limit);
  const last = slice[slice.length - 1];
  const more = from + limit < keys.length;
  return { items: slice.map(load), nextCursor: more && last ? encodeCursor(kind, last) : null };
}

/**
 * Advances a resumable sweep over `map` by at most MEMORY_STORE_SWEEP_BUDGET
 * entries, deleting the expired ones. Returns the iterator to resume from, or
 * null when the sweep reached the end (the next one starts over).
 */
function sweep<V>(
  map: Map<string, V>,
  iterator: Iterator<[string, V]> | null,
  expired: (v: V) => boolean,
): Iterator<[string, V]> | null {
  const it = iterator ?? map.entries();
  for (let i = 0; i < MEMORY_STORE_SWEEP_BUDGET; i++) {
    const r = it.next();
    if (r.done) return null;
    // Deleting the entry just visited is safe: Map iterators are live.
    if (expired(r.value[1])) map.delete(r.value[0]);
  }
  return it;
}

/** Milliseconds from `now` until a hit of `cost` would be allowed (at least 1). */
function retryAfter(
  W: number,
  start: number,
  now: number,
  previous: number,
  current: number,
  limit: number,
  cost: number,
  scaled: (prev: number, cur: number, e: number) => number,
): number {
  const fits = (prev: number, cur: number, e: number) => scaled(prev, cur, e) + cost * W <= limit * W;
  let at: number;
  if (cost > limit) {
    at = start + 2 * W; // never allowed; by then the key holds nothing
  } else if (current + cost <= limit && previous > 0) {
    // Still in this window, once the previous window's weight has decayed enough.
    let e = Math.max(0, Math.ceil(W - ((limit - current - cost) * W) / previous));
    while (e < W && !fits(previous, current, e)) e++;
    at = start + e;
  } else {
    // In the next window, where this window's count becomes the weighted one.
    let e = current === 0 ? 0 : Math.max(0, Math.ceil(W - ((limit - cost) * W) / current));
    while (e < W && !fits(current, 0, e)) e++;
    at = start + W + e;
  }
  return Math.max(1, Math.ceil(at - now));
}
