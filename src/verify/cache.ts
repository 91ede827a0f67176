// The lookup cache of the request path: positive and negative entries,
// bounded in size and in age (never older than the revocation bound).
// Invalidated by the store's change feed and by this instance's own writes.
//
// Ages count on two clocks, and an entry is dropped when either says it is
// too old: the monotonic clock, which a wall clock stepped back (NTP, a VM
// resumed) cannot stretch, and the decision clock (`now`, Date.now by
// default), so that a clock injected to drive time in tests expires entries
// too. A wall clock stepped forward only expires entries early.
import { PartedMap } from "../lib/parted-map.js";
import { isThenable } from "../lib/thenable.js";
import { clock, TIMERS_DIE_WITH_REQUEST } from "../lib/timers.js";
import { outcomeWithin } from "../lib/within.js";
import { Deadlines, Waiting } from "./deadlines.js";

/**
 * The monotonic time of a decision made at `now`: read once per value of
 * `now`, so that the caches of one check, and the checks of one millisecond
 * of Date.now, share a reading (a clock read costs as much as a cache hit's
 * other work); a reading is reused only while `now` keeps that value. A
 * clock the application injects may stand still (a frozen test clock, a
 * stuck time source), and must not stop the monotonic clock too, or cached
 * entries would never expire: each decision on such a clock starts afresh
 * ({@link newDecision}), and its caches share one reading. No timer ends a
 * reuse.
 */
let readFor = Number.NaN;
let readBy: (() => number) | null = null;
let reading = 0;
function monotonicAt(now: number, read: () => number): number {
  if (now !== readFor || read !== readBy) {
    readFor = now;
    readBy = read;
    reading = read();
  }
  return reading;
}

/** Starts a decision on an injected clock: the caches read the monotonic clock again (once) rather than reuse the last decision's reading. */
export function newDecision(): void {
  readFor = Number.NaN;
}

/** A cached lookup: the value, or null for "no such token". */
export interface CacheEntry<V> {
  value: V | null;
  /** Time of the decision clock (epoch ms) after which the entry must not be used. */
  expiresAt: number;
  /** Time of the monotonic clock after which the entry must not be used. */
  until: number;
  /** Second-chance bit: set on every hit, cleared when eviction passes over it. */
  hit: boolean;
}

/**
 * An entry in the ring. When the lookup that produced the value started is
 * `expiresAt` minus the value's TTL (an older lookup never overwrites a
 * newer one), so it is not kept: a cached token costs what it must.
 */
class Slot<V> implements CacheEntry<V> {
  constructor(
    readonly key: string,
    public value: V | null,
    public expiresAt: number,
    public until: number,
    public hit: boolean,
    /** Index in the ring, so a deletion frees its slot in O(1). */
    readonly index: number,
  ) {}
}

/** Options of {@link LookupCache}. */
export interface LookupCacheOptions {
  /** Maximum number of entries (positive and negative together); 0 disables the cache. */
  maxEntries: number;
  /** Age limit of a positive entry, ms. */
  ttlMs: number;
  /** Age limit of a negative entry, ms (at most `ttlMs`). */
  negativeTtlMs: number;
  /** @internal The monotonic clock (default `performance.now`); tests drive it. */
  clock?: () => number;
}

/**
 * Most slots the clock hand inspects for one insertion. Beyond it the slot
 * under the hand is evicted even if it was hit: eviction is then only an
 * approximation of least-recently-used, but no request ever pays more than
 * this many steps for cache maintenance, however large or hot the cache.
 */
export const MAX_EVICTION_STEPS = 8;

/**
 * Size-bounded cache with least-recently-used eviction approximated by the
 * CLOCK (second-chance) algorithm over a fixed ring of slots: a hit only sets
 * a bit; an insertion into a full cache moves the hand over at most
 * {@link MAX_EVICTION_STEPS} slots, clearing bits, and reuses the first slot
 * not hit since the hand last passed (or the last one inspected). Freed slots
 * (expired or invalidated entries) are reused first. Every operation is O(1)
 * in the worst case, and the index is a {@link PartedMap}, so that V8
 * rebuilding a table touches a few thousand entries, not the whole cache. A
 * generation counter makes sure a lookup that started before an
 * invalidation is not cached after it.
 */
export class LookupCache<V> {
  #map: PartedMap<Slot<V>>;
  #ring: (Slot<V> | undefined)[] = [];
  #free: number[] = [];
  readonly #opts: LookupCacheOptions;
  readonly #clock: () => number;
  #hand = 0;
  #generation = 0;
  /** Slots inspected by eviction since creation (for tests and benchmarks). */
  evictionSteps = 0;

  constructor(options: LookupCacheOptions) {
    this.#opts = options;
    this.#clock = options.clock ?? clock;
    this.#map = new PartedMap(options.maxEntries);
  }

  /** The monotonic clock's time of a decision made at `now`. */
  clockAt(now: number): number {
    return monotonicAt(now, this.#clock);
  }

  /** The fresh entry for `key` at `now` (decision clock), or undefined (an expired entry is dropped). */
  get(key: string, now: number): CacheEntry<V> | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now || e.until <= monotonicAt(now, this.#clock)) {
      this.#drop(e);
      return undefined;
    }
    e.hit = true;
    return e;
  }

  /** The current generation; pass it to {@link set} after an asynchronous lookup. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Caches `value` as looked up at `fetchedAt` on the decision clock and
   * `startedAt` on the monotonic one (the time the lookup started, so its
   * age counts the lookup itself), unless the cache was invalidated since
   * `generation`. An entry from a lookup that started later, by either
   * clock, is kept.
   */
  set(key: string, value: V | null, fetchedAt: number, generation: number, startedAt = monotonicAt(fetchedAt, this.#clock)): void {
    const { maxEntries, ttlMs, negativeTtlMs } = this.#opts;
    const ttl = value === null ? negativeTtlMs : ttlMs;
    if (generation !== this.#generation || maxEntries === 0 || ttl <= 0) return;
    const existing = this.#map.get(key);
    if (existing !== undefined) {
      const age = existing.value === null ? negativeTtlMs : ttlMs;
      if (existing.expiresAt - age > fetchedAt || existing.until - age > startedAt) return;
      existing.value = value;
      existing.expiresAt = fetchedAt + ttl;
      existing.until = startedAt + ttl;
      existing.hit = false;
      return;
    }
    const index = this.#free.pop() ?? (this.#ring.length < maxEntries ? this.#ring.length : this.#evict());
    const slot = new Slot(key, value, fetchedAt + ttl, startedAt + ttl, false, index);
    this.#ring[index] = slot;
    this.#map.set(key, slot);
  }

  /** Frees one slot of a full ring and returns its index. */
  #evict(): number {
    const ring = this.#ring;
    let victim: Slot<V> | undefined;
    for (let step = 0; step < MAX_EVICTION_STEPS; step++) {
      victim = ring[this.#hand]!;
      this.#hand = (this.#hand + 1) % ring.length;
      this.evictionSteps++;
      if (!victim.hit) break;
      victim.hit = false;
    }
    this.#map.delete(victim!.key);
    return victim!.index;
  }

  #drop(slot: Slot<V>): void {
    this.#map.delete(slot.key);
    this.#ring[slot.index] = undefined;
    this.#free.push(slot.index);
  }

  /** Drops the given keys and makes in-flight lookups uncacheable. */
  invalidate(keys: Iterable<string>): void {
    this.#generation++;
    for (const k of keys) {
      const slot = this.#map.get(k);
      if (slot !== undefined) this.#drop(slot);
    }
  }

  /** Drops every entry and makes in-flight lookups uncacheable. */
  clear(): void {
    this.#generation++;
    this.#map = new PartedMap(this.#opts.maxEntries);
    this.#ring = [];
    this.#free = [];
    this.#hand = 0;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Entries of the index's largest part (for tests). */
  get largestPart(): number {
    return this.#map.largestPart;
  }
}

/**
 * How long after it began a store lookup may still be joined by a new
 * request for the same key, ms (at most the TTL of a positive entry, the
 * revocation bound, when that is shorter). A later request starts its own
 * lookup, so a request never takes the answer of a lookup that began well
 * before it (a change written meanwhile by another instance is then seen at
 * once, not only at the revocation bound), nor one older than the bound.
 */
export const JOIN_WINDOW_MS = 100;

/** What a store lookup gives: the answer at once (a store that holds it in memory), or later. */
export type Loaded<V> = V | null | PromiseLike<V | null>;

/** A lookup in flight: its promise, and its place in the list of deadlines. */
class InFlight<V> extends Waiting {
  readonly promise: Promise<V | null>;
  resolve!: (value: V | null) => void;
  reject!: (reason: unknown) => void;
  /** Rejected where a joiner waits for it: cut off with the request that started it (a Worker). */
  cutOff = false;

  constructor(
    readonly key: string,
    /** When it started, on the decision clock and on the monotonic one. */
    readonly fetchedAt: number,
    readonly startedAt: number,
  ) {
    super();
    this.promise = new Promise<V | null>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/**
 * A {@link LookupCache} in front of a store lookup: concurrent misses for one
 * key share one store call (when they arrive within {@link JOIN_WINDOW_MS} of
 * its start, or the positive TTL when shorter), a call slower than `timeoutMs` is abandoned (so a hung store
 * denies instead of hanging requests), and invalidation also drops calls in
 * flight, so a request arriving after a change this instance knows of never
 * joins a lookup that began before it.
 *
 * A store that answers at once (a value, not a promise) is answered at once,
 * with no promise and no timer. Lookups that wait share one timer
 * ({@link Deadlines}): a steady stream of quick lookups costs one timer per
 * `timeoutMs`, not one per lookup.
 */
export class SharedLookup<V> {
  readonly #cache: LookupCache<V>;
  readonly #inflight = new Map<string, InFlight<V>>();
  readonly #load: (key: string) => Loaded<V>;
  readonly #deadlines: Deadlines<InFlight<V>>;
  /** {@link JOIN_WINDOW_MS}, or the positive TTL when shorter: a joined answer is no older than a cached one may be. */
  readonly #joinWindowMs: number;

  constructor(options: LookupCacheOptions, load: (key: string) => Loaded<V>, timeoutMs: number) {
    this.#cache = new LookupCache(options);
    this.#joinWindowMs = Math.min(JOIN_WINDOW_MS, options.ttlMs);
    this.#load = load;
    this.#deadlines = new Deadlines<InFlight<V>>(timeoutMs, (e) => {
      this.#forget(e);
      e.reject(new Error("store lookup timed out"));
    });
  }

  /** The cached entry, without touching the store. */
  peek(key: string, now: number): CacheEntry<V> | undefined {
    return this.#cache.get(key, now);
  }

  /**
   * The store's answer (shared with concurrent callers), cached unless
   * invalidated meanwhile: the value itself when the store answered at
   * once, else a promise. A load that throws gives a rejected promise.
   */
  fetch(key: string, now: number): V | null | Promise<V | null> {
    const pending = this.#inflight.get(key);
    const startedAt = this.#cache.clockAt(now);
    const join = this.#joinWindowMs;
    if (pending !== undefined && now - pending.fetchedAt <= join && startedAt - pending.startedAt <= join) {
      return this.#join(pending, key, now);
    }
    const generation = this.#cache.generation;
    let loaded: Loaded<V>;
    try {
      loaded = this.#load(key);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!isThenable(loaded)) {
      this.#cache.set(key, loaded, now, generation, startedAt);
      return loaded;
    }
    const entry = new InFlight<V>(key, now, startedAt);
    this.#inflight.set(key, entry);
    this.#deadlines.add(entry);
    loaded.then(
      (found) => {
        if (!this.#settle(entry)) return;
        this.#cache.set(key, found, now, generation, startedAt);
        entry.resolve(found);
      },
      (err: unknown) => {
        if (this.#settle(entry)) entry.reject(err);
      },
    );
    return entry.promise;
  }

  /** The cached value, else the store's. */
  get(key: string, now: number): Promise<V | null> {
    const hit = this.peek(key, now);
    if (hit !== undefined) return Promise.resolve(hit.value);
    const found = this.fetch(key, now);
    return found instanceof Promise ? found : Promise.resolve(found);
  }

  invalidate(keys: readonly string[]): void {
    this.#cache.invalidate(keys);
    for (const k of keys) this.#inflight.delete(k);
  }

  /** Drops everything, cached or in flight: a later request starts its own lookup. */
  clear(): void {
    this.#cache.clear();
    this.#inflight.clear();
  }

  /** Lookups waiting for the store. */
  get waiting(): number {
    return this.#deadlines.waiting;
  }

  /** Timers armed since creation (for tests). */
  get timersArmed(): number {
    return this.#deadlines.timersArmed;
  }

  /**
   * The answer of a lookup under way. A Cloudflare Worker cuts a lookup off with the request that
   * started it, once that request has answered (a leak report's, in the background): its promise
   * rejects where another request waits for it, though it neither answered nor timed out (every
   * joiner then looks up anew), or, at older compatibility dates, never settles, and the timer
   * that was to abandon it was dropped with that request (each joiner abandons it at its deadline).
   */
  async #join(pending: InFlight<V>, key: string, now: number): Promise<V | null> {
    if (TIMERS_DIE_WITH_REQUEST && (await outcomeWithin(pending.promise, Math.max(0, pending.deadline - clock()) + 1)) === "late") {
      // Rejected for a caller still waiting on it; this one does not wait on a promise that may never settle.
      if (this.#settle(pending)) pending.reject(new Error("store lookup timed out"));
      throw new Error("store lookup timed out");
    }
    try {
      return await pending.promise;
    } catch (err) {
      // Rejected by neither its store nor its deadline (both settle it first): cut off, for every joiner.
      if (this.#settle(pending)) pending.cutOff = true;
      if (!pending.cutOff) throw err;
      return this.fetch(key, now);
    }
  }

  /** Unlinks a lookup that settled; false when it was already abandoned. */
  #settle(entry: InFlight<V>): boolean {
    if (!this.#deadlines.settle(entry)) return false;
    this.#forget(entry);
    return true;
  }

  /** A lookup that settled or was abandoned is no longer joined. */
  #forget(entry: InFlight<V>): void {
    if (this.#inflight.get(entry.key) === entry) this.#inflight.delete(entry.key);
  }
}
