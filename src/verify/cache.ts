// The lookup cache of the request path: positive and negative entries,
// bounded in size and in age (never older than the revocation bound).
// Invalidated by the store's change feed and by this instance's own writes.

/** A cached lookup: the value, or null for "no such token". */
export interface CacheEntry<V> {
  value: V | null;
  /** Epoch ms after which the entry must not be used. */
  expiresAt: number;
  /** Second-chance bit: set on every hit, cleared when eviction passes over it. */
  hit: boolean;
}

interface Slot<V> extends CacheEntry<V> {
  key: string;
  /** When the lookup that produced the value started: an older lookup never overwrites a newer one. */
  fetchedAt: number;
  /** Index in the ring, so a deletion frees its slot in O(1). */
  index: number;
}

/** Options of {@link LookupCache}. */
export interface LookupCacheOptions {
  /** Maximum number of entries (positive and negative together); 0 disables the cache. */
  maxEntries: number;
  /** Age limit of a positive entry, ms. */
  ttlMs: number;
  /** Age limit of a negative entry, ms (at most `ttlMs`). */
  negativeTtlMs: number;
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
 * in the worst case. A generation counter makes sure a lookup that started
 * before an invalidation is not cached after it.
 */
export class LookupCache<V> {
  readonly #map = new Map<string, Slot<V>>();
  readonly #ring: (Slot<V> | undefined)[] = [];
  readonly #free: number[] = [];
  readonly #opts: LookupCacheOptions;
  #hand = 0;
  #generation = 0;
  /** Slots inspected by eviction since creation (for tests and benchmarks). */
  evictionSteps = 0;

  constructor(options: LookupCacheOptions) {
    this.#opts = options;
  }

  /** The fresh entry for `key` at `now`, or undefined (an expired entry is dropped). */
  get(key: string, now: number): CacheEntry<V> | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
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
   * Caches `value` as looked up at `fetchedAt` (the time the lookup started,
   * so its age counts the lookup itself), unless the cache was invalidated
   * since `generation`.
   */
  set(key: string, value: V | null, fetchedAt: number, generation: number): void {
    const { maxEntries, ttlMs, negativeTtlMs } = this.#opts;
    const ttl = value === null ? negativeTtlMs : ttlMs;
    if (generation !== this.#generation || maxEntries === 0 || ttl <= 0) return;
    const existing = this.#map.get(key);
    if (existing !== undefined) {
      if (existing.fetchedAt > fetchedAt) return;
      existing.value = value;
      existing.fetchedAt = fetchedAt;
      existing.expiresAt = fetchedAt + ttl;
      existing.hit = false;
      return;
    }
    const index = this.#free.pop() ?? (this.#ring.length < maxEntries ? this.#ring.length : this.#evict());
    const slot: Slot<V> = { key, value, expiresAt: fetchedAt + ttl, hit: false, fetchedAt, index };
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

  get size(): number {
    return this.#map.size;
  }
}

/**
 * How long after it began a store lookup may still be joined by a new
 * request for the same key, ms. A later request starts its own lookup, so a
 * request never takes the answer of a lookup that began well before it (a
 * change written meanwhile by another instance is then seen at once, not
 * only at the revocation bound).
 */
export const JOIN_WINDOW_MS = 100;

interface InFlight<V> {
  promise: Promise<V | null>;
  startedAt: number;
}

/**
 * A {@link LookupCache} in front of a store lookup: concurrent misses for one
 * key share one store call (when they arrive within {@link JOIN_WINDOW_MS} of
 * its start), a call slower than `timeoutMs` is abandoned (so a hung store
 * denies instead of hanging requests), and invalidation also drops calls in
 * flight, so a request arriving after a change this instance knows of never
 * joins a lookup that began before it.
 */
export class SharedLookup<V> {
  readonly #cache: LookupCache<V>;
  readonly #inflight = new Map<string, InFlight<V>>();
  readonly #load: (key: string) => Promise<V | null>;
  readonly #timeoutMs: number;

  constructor(options: LookupCacheOptions, load: (key: string) => Promise<V | null>, timeoutMs: number) {
    this.#cache = new LookupCache(options);
    this.#load = load;
    this.#timeoutMs = timeoutMs;
  }

  /** The cached entry, without touching the store. */
  peek(key: string, now: number): CacheEntry<V> | undefined {
    return this.#cache.get(key, now);
  }

  /** The store's answer (shared with concurrent callers), cached unless invalidated meanwhile. */
  fetch(key: string, now: number): Promise<V | null> {
    const pending = this.#inflight.get(key);
    if (pending !== undefined && now - pending.startedAt <= JOIN_WINDOW_MS) return pending.promise;
    const generation = this.#cache.generation;
    const promise = withTimeout(this.#load(key), this.#timeoutMs)
      .then((found) => {
        this.#cache.set(key, found, now, generation);
        return found;
      })
      .finally(() => {
        if (this.#inflight.get(key) === entry) this.#inflight.delete(key);
      });
    const entry: InFlight<V> = { promise, startedAt: now };
    this.#inflight.set(key, entry);
    return promise;
  }

  /** The cached value, else the store's. */
  get(key: string, now: number): Promise<V | null> {
    const hit = this.peek(key, now);
    return hit === undefined ? this.fetch(key, now) : Promise.resolve(hit.value);
  }

  invalidate(keys: readonly string[]): void {
    this.#cache.invalidate(keys);
    for (const k of keys) this.#inflight.delete(k);
  }
}

/** Rejects when `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("store lookup timed out")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
