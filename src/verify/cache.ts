// The lookup cache of the request path: positive and negative entries,
// bounded in size (least recently used out first) and in age (never older
// than the revocation bound). Invalidated by the store's change feed and by
// this instance's own writes.
import type { StoredToken } from "../model/types.js";

/** A cached lookup: the token, or null for "no such token". */
export interface CacheEntry<V> {
  value: V;
  /** Epoch ms after which the entry must not be used. */
  expiresAt: number;
}

/** Options of {@link LookupCache}. */
export interface LookupCacheOptions {
  /** Maximum number of entries (positive and negative together). */
  maxEntries: number;
  /** Age limit of a positive entry, ms. */
  ttlMs: number;
  /** Age limit of a negative entry, ms (at most `ttlMs`). */
  negativeTtlMs: number;
}

/**
 * Map-backed LRU: a hit moves the key to the back of the Map's insertion
 * order, eviction takes the front. A generation counter makes sure a lookup
 * that started before an invalidation is not cached after it.
 */
export class LookupCache<V extends object> {
  readonly #map = new Map<string, CacheEntry<V | null>>();
  readonly #opts: LookupCacheOptions;
  #generation = 0;

  constructor(options: LookupCacheOptions) {
    this.#opts = options;
  }

  /** The fresh entry for `key` at `now`, or undefined (expired entries are dropped). */
  get(key: string, now: number): CacheEntry<V | null> | undefined {
    const map = this.#map;
    const e = map.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      map.delete(key);
      return undefined;
    }
    map.delete(key);
    map.set(key, e);
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
    if (generation !== this.#generation || this.#opts.maxEntries === 0) return;
    const ttl = value === null ? this.#opts.negativeTtlMs : this.#opts.ttlMs;
    if (ttl <= 0) return;
    const map = this.#map;
    map.delete(key);
    if (map.size >= this.#opts.maxEntries) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
    map.set(key, { value, expiresAt: fetchedAt + ttl });
  }

  /** Drops the given keys and makes in-flight lookups uncacheable. */
  invalidate(keys: Iterable<string>): void {
    this.#generation++;
    for (const k of keys) this.#map.delete(k);
  }

  /** Drops everything. */
  clear(): void {
    this.#generation++;
    this.#map.clear();
  }

  get size(): number {
    return this.#map.size;
  }
}

/** Cache key of a lookup by hash. */
export const hashKey = (hash: string): string => `h:${hash}`;
/** Cache key of a lookup by id (signed requests name the token by id). */
export const idKey = (id: string): string => `i:${id}`;

/** The cache keys a change to `token` (with these hashes) invalidates. */
export function keysOf(tokenId: string, hashes: readonly string[]): string[] {
  return [idKey(tokenId), ...hashes.map(hashKey)];
}

export type TokenCache = LookupCache<StoredToken>;
