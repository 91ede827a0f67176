// The counters of MemoryStore, kept so that metering a request builds no key
// string: a token's (or an account's) default counter under its id, and its
// other counters (a named credit pool, one of a token's `rateLimits`
// windows) in a small Map of their own per id, keyed by pool name or window
// length. The composite keys of the store kit (`poolKey`, `rateKey`) are
// built only to describe the contents (`dump`).

/**
 * Advances a resumable sweep over `map` by at most `budget` entries,
 * deleting the expired ones. Returns the iterator to resume from, or null
 * when the sweep reached the end (the next one starts over).
 */
export function sweep<K, V>(map: Map<K, V>, iterator: Iterator<[K, V]> | null, budget: number, expired: (v: V) => boolean): Iterator<[K, V]> | null {
  const it = iterator ?? map.entries();
  for (let i = 0; i < budget; i++) {
    const r = it.next();
    if (r.done) return null;
    // Deleting the entry just visited is safe: Map iterators are live.
    if (expired(r.value[1])) map.delete(r.value[0]);
  }
  return it;
}

/** Counters by id, then (for all but the default one) by pool name or window length. */
export class CounterMap<Sub extends string | number, V> {
  readonly #main = new Map<string, V>();
  readonly #more = new Map<string, Map<Sub, V>>();
  readonly #keyOf: (base: string, sub: Sub) => string;
  #mainSweep: Iterator<[string, V]> | null = null;
  #moreSweep: Iterator<[string, Map<Sub, V>]> | null = null;

  /** @param keyOf the store kit's composite key of a counter that is not the default one (for {@link entries}) */
  constructor(keyOf: (base: string, sub: Sub) => string) {
    this.#keyOf = keyOf;
  }

  /** The counter of `base`: its default one when `sub` is undefined. */
  get(base: string, sub?: Sub): V | undefined {
    return sub === undefined ? this.#main.get(base) : this.#more.get(base)?.get(sub);
  }

  set(base: string, sub: Sub | undefined, value: V): void {
    if (sub === undefined) {
      this.#main.set(base, value);
      return;
    }
    let more = this.#more.get(base);
    if (more === undefined) {
      more = new Map();
      this.#more.set(base, more);
    }
    more.set(sub, value);
  }

  /** Forgets every counter of `base`; returns how many there were. */
  delete(base: string): number {
    const n = Number(this.#main.delete(base)) + (this.#more.get(base)?.size ?? 0);
    this.#more.delete(base);
    return n;
  }

  /** Counters held. */
  get size(): number {
    let n = this.#main.size;
    for (const more of this.#more.values()) n += more.size;
    return n;
  }

  /** Every counter under its store-kit key: the id for a default one, else the composite key. */
  entries(): [string, V][] {
    const out = [...this.#main.entries()];
    for (const [base, more] of this.#more) for (const [sub, v] of more) out.push([this.#keyOf(base, sub), v]);
    return out;
  }

  /** One step of a pass that forgets expired counters: up to `budget` ids of each kind. */
  sweep(budget: number, expired: (v: V) => boolean): void {
    this.#mainSweep = sweep(this.#main, this.#mainSweep, budget, expired);
    if (this.#more.size === 0) return;
    this.#moreSweep = sweep(this.#more, this.#moreSweep, budget, (more) => {
      for (const [sub, v] of more) if (expired(v)) more.delete(sub);
      return more.size === 0;
    });
  }
}
