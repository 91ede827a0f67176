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
 * Size-bounded cache with least-recently-used eviction approximated by the
 * CLOCK (second-chance) algorithm: a hit only sets a bit, so the hot path
 * never reorders the Map; eviction walks from the oldest insertion, gives
 * entries hit since the last pass a second chance at the back, and drops the
 * first one not hit. A generation counter makes sure a lookup that started
 * before an invalidation is not cached after it.
 */
export class LookupCache<V> {
  readonly #map = new Map<string, CacheEntry<V>>();
  readonly #opts: LookupCacheOptions;
  #generation = 0;

  constructor(options: LookupCacheOptions) {
    this.#opts = options;
  }

  /** The fresh entry for `key` at `now`, or undefined (an expired entry is dropped). */
  get(key: string, now: number): CacheEntry<V> | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      this.#map.delete(key);
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
    const map = this.#map;
    map.delete(key);
    if (map.size >= maxEntries) this.#evict();
    map.set(key, { value, expiresAt: fetchedAt + ttl, hit: false });
  }

  #evict(): void {
    const map = this.#map;
    // Bounded: after one full pass every bit is clear, so this ends.
    for (let i = 0; i <= map.size; i++) {
      const first = map.entries().next();
      if (first.done) return;
      const [key, e] = first.value;
      map.delete(key);
      if (!e.hit) return;
      e.hit = false;
      map.set(key, e);
    }
  }

  /** Drops the given keys and makes in-flight lookups uncacheable. */
  invalidate(keys: Iterable<string>): void {
    this.#generation++;
    for (const k of keys) this.#map.delete(k);
  }

  get size(): number {
    return this.#map.size;
  }
}

/**
 * A {@link LookupCache} in front of a store lookup: concurrent misses for one
 * key share one store call, a call slower than `timeoutMs` is abandoned (so
 * a hung store denies instead of hanging requests), and invalidation also
 * drops calls in flight, so a request arriving after a change never joins a
 * lookup that began before it.
 */
export class SharedLookup<V> {
  readonly #cache: LookupCache<V>;
  readonly #inflight = new Map<string, Promise<V | null>>();
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
    if (pending) return pending;
    const generation = this.#cache.generation;
    const p = withTimeout(this.#load(key), this.#timeoutMs)
      .then((found) => {
        this.#cache.set(key, found, now, generation);
        return found;
      })
      .finally(() => {
        if (this.#inflight.get(key) === p) this.#inflight.delete(key);
      });
    this.#inflight.set(key, p);
    return p;
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
