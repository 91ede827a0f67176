// Reads without a copy, for the request path. A store that keeps its records
// in this process as deeply frozen objects can hand those very objects to
// the verifier (which never mutates a record), and answer at once: no clone,
// no promise; a store with a synchronous driver (SQLite) answers at once too,
// and hands a row's JSON text to the verifier, which decodes it only when it
// does not hold a record decoded from that very text.
// Not part of the store contract: the contract's reads return copies the
// caller owns.
import type { StoredAccount } from "../model/account.js";
import type { StoredToken } from "../model/types.js";

/** @internal Key of the method that gives a store's {@link SharedReads}, or null. */
export const SHARED_READS: unique symbol = Symbol("keyward.sharedReads");

/**
 * @internal The caller's decoder of a token row's JSON `text` (found under
 * `hash`, when looked up by hash): a store that would have to decode the
 * record calls it instead, and the caller may answer an object it already
 * holds, decoded from the same text. Not by revision: a store restored from
 * a backup reuses revision numbers with other content.
 */
export type DecodeRecord = (id: string, text: string, hash?: string) => StoredToken;

/**
 * @internal Reads that return, at once, the store's own frozen objects or
 * objects no one else holds: the caller must not mutate them. They answer
 * exactly as `findByHash`, `get` and `getAccount` would.
 */
export interface SharedReads {
  findByHash(hash: string, decode?: DecodeRecord): StoredToken | null;
  get(id: string, decode?: DecodeRecord): StoredToken | null;
  getAccount(owner: string): StoredAccount | null;
}

/** @internal A store that may offer {@link SharedReads}. */
export interface HasSharedReads {
  [SHARED_READS](): SharedReads | null;
}

/** @internal The store's shared reads, when it offers them. */
export function sharedReadsOf(store: unknown): SharedReads | null {
  const s = store as Partial<HasSharedReads> | null;
  return typeof s?.[SHARED_READS] === "function" ? s[SHARED_READS]() : null;
}

/**
 * @internal Key of the method by which a store says its counters (`meter`,
 * `rememberNonce`) run in this process without I/O: such a call cannot wait
 * on anything, so the verifier gives it no deadline.
 */
export const LOCAL_COUNTERS: unique symbol = Symbol("keyward.localCounters");

/** @internal Whether the store's counters run in this process without I/O. */
export function hasLocalCounters(store: unknown): boolean {
  const s = store as { [LOCAL_COUNTERS]?: () => boolean } | null;
  return typeof s?.[LOCAL_COUNTERS] === "function" && s[LOCAL_COUNTERS]();
}

/**
 * @internal Freezes `value` and everything reachable from it (plain data:
 * objects and arrays), returning it.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
