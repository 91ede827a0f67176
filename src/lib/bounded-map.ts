// A size-bounded memory, first in, first out, with O(1) work per insertion.
import { PartedMap } from "./parted-map.js";

/**
 * A map that forgets its oldest entries beyond `max` (first in, first out),
 * for memories that only save work: a forgotten entry is computed again.
 * The order is a ring of keys, so forgetting one costs O(1): a Map's own
 * oldest key (`keys().next()`) would first step over every entry deleted
 * since V8 last rebuilt its table, a walk as long as the map. The index is
 * a {@link PartedMap}.
 */
export class BoundedMap<V> {
  readonly #map: PartedMap<V>;
  /** Keys in insertion order from `#head` on, round the ring. */
  readonly #keys: string[] = [];
  readonly #max: number;
  #head = 0;
  constructor(max: number) {
    this.#max = Math.max(1, max);
    this.#map = new PartedMap(this.#max);
  }
  get(key: string): V | undefined {
    return this.#map.get(key);
  }
  /** A key already held keeps its place. */
  set(key: string, value: V): void {
    const map = this.#map;
    if (map.get(key) === undefined) {
      const keys = this.#keys;
      if (keys.length < this.#max) keys.push(key);
      else {
        map.delete(keys[this.#head]!);
        keys[this.#head] = key;
        this.#head = (this.#head + 1) % this.#max;
      }
    }
    map.set(key, value);
  }
  get size(): number {
    return this.#map.size;
  }
  /** Entries of the largest part of the index (for tests). */
  get largestPart(): number {
    return this.#map.largestPart;
  }
}
