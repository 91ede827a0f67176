// A string-keyed Map split into parts, for the request path's caches.
//
// V8 rebuilds a Map's table in one step, touching every entry, once the
// insertions and deletions since the last rebuild fill it. A full cache
// deletes one entry per insertion, so it is rebuilt regularly, and the whole
// rebuild lands on one request (tens of milliseconds at 100 000 entries on
// Node 24: the "longest" column of bench/compare-builds.js's churn table).
// Split into parts of at most about PART_ENTRIES entries each, only one part
// is rebuilt at a time.

/** Entries per part a PartedMap is sized for. */
export const PART_ENTRIES = 4096;

/** Most parts: beyond 256, parts grow instead. */
const MAX_PARTS = 256;

/**
 * The Map operations of the caches (`get`, `set`, `delete`, `size`) over
 * parts picked by the key's last two characters, enough for the
 * random tokens, hashes and ids the caches are keyed by.
 */
export class PartedMap<V> {
  readonly #parts: Map<string, V>[];
  readonly #mask: number;
  #size = 0;

  /** @param maxEntries the most entries it will hold (a power of two of parts holds them at PART_ENTRIES each) */
  constructor(maxEntries: number) {
    let n = 1;
    while (n * PART_ENTRIES < maxEntries && n < MAX_PARTS) n *= 2;
    this.#parts = Array.from({ length: n }, () => new Map<string, V>());
    this.#mask = n - 1;
  }

  #part(key: string): Map<string, V> {
    const mask = this.#mask;
    if (mask === 0) return this.#parts[0]!;
    const n = key.length;
    // Fibonacci hashing of the last two characters (NaN, for a shorter key, counts as 0).
    return this.#parts[(Math.imul(key.charCodeAt(n - 1) | (key.charCodeAt(n - 2) << 8), 0x9e3779b1) >>> 24) & mask]!;
  }

  get(key: string): V | undefined {
    return this.#part(key).get(key);
  }

  set(key: string, value: V): void {
    const part = this.#part(key);
    const before = part.size;
    part.set(key, value);
    this.#size += part.size - before;
  }

  /** Whether `key` was there. */
  delete(key: string): boolean {
    const deleted = this.#part(key).delete(key);
    if (deleted) this.#size--;
    return deleted;
  }

  get size(): number {
    return this.#size;
  }

  /** Entries of the largest part: what one table rebuild touches at most (for tests). */
  get largestPart(): number {
    let n = 0;
    for (const p of this.#parts) n = Math.max(n, p.size);
    return n;
  }
}
