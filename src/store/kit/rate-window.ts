// The rate-limit window: "at most `limit` hits in any span of `windowMs`",
// kept exactly with constant memory per key.
//
// The window is cut into n buckets of `bucketMs = ceil(windowMs / 10)`
// (n = ceil(windowMs / bucketMs) ≤ 10, so n · bucketMs ≥ windowMs), and a hit
// is allowed when the hits of the current bucket and the n before it, plus
// this one, stay within `limit`. Any span of `windowMs` ending at a hit lies
// inside those n + 1 buckets, so no span of `windowMs` ever holds more than
// `limit` hits (no burst at a window edge, unlike a sliding-window counter,
// which allows up to 2 × limit). The price: counted hits stay counted for up
// to (n + 1) · bucketMs, so a client sending evenly at exactly the limit sees
// about one hit in n + 1 denied; the long-run rate stays within
// limit / windowMs.
//
// State is a ring of n + 1 counters mutated in place: a hit allocates
// nothing. A check reads the ring as if advanced to its time and changes
// nothing, so a denied request leaves the state as it was, as a store that
// writes only granted requests keeps it.
import type { RateLimitResult } from "../types.js";

/** Most buckets a window is cut into. */
export const RATE_WINDOW_BUCKETS = 10;

/** The counters of one key. Plain data: a SQL store keeps it as JSON. */
export interface RateWindowState {
  /** The window the counters were built for; another `windowMs` starts afresh. */
  windowMs: number;
  /** Index of the newest bucket: floor(time / bucketMs). */
  bucket: number;
  /** Hits per bucket, bucket b at `counts[b % counts.length]`; length n + 1. */
  counts: number[];
}

/** Bucket length of a window. */
export function bucketMsOf(windowMs: number): number {
  return Math.ceil(windowMs / RATE_WINDOW_BUCKETS);
}

function slotsOf(windowMs: number): number {
  return Math.ceil(windowMs / bucketMsOf(windowMs)) + 1;
}

/**
 * The key's counters moved to the bucket of `now`: `state` itself, updated in
 * place, or a new state when there was none or it was built for another
 * window. A `now` before the newest bucket counts in that bucket.
 */
export function advanceWindow(state: RateWindowState | null | undefined, windowMs: number, now: number): RateWindowState {
  const bucketMs = bucketMsOf(windowMs);
  const bucket = Math.floor(now / bucketMs);
  if (!state || state.windowMs !== windowMs) {
    return { windowMs, bucket, counts: new Array<number>(slotsOf(windowMs)).fill(0) };
  }
  const { counts } = state;
  const gap = bucket - state.bucket;
  if (gap > 0) {
    const clear = Math.min(gap, counts.length);
    for (let i = 1; i <= clear; i++) counts[(state.bucket + i) % counts.length] = 0;
    state.bucket = bucket;
  }
  return state;
}

/**
 * Whether a hit of `cost` fits at `now` in the window `windowMs`, on the
 * key's counters as {@link advanceWindow} would leave them (none, or built
 * for another window: empty). Changes nothing: call {@link countHit} to
 * count it. `remaining` is what is left after this hit when it fits, else
 * what is left now; `retryAfterMs` (when it does not fit) is the wait until
 * it would, at least 1 ms; when `cost > limit` it never can, and it is the
 * wait until the key is empty.
 */
export function checkHit(
  state: RateWindowState | null | undefined,
  windowMs: number,
  limit: number,
  now: number,
  cost: number,
): RateLimitResult {
  const bucketMs = bucketMsOf(windowMs);
  const kept = state && state.windowMs === windowMs ? state : null;
  const counts = kept ? kept.counts : null;
  const n = counts ? counts.length : slotsOf(windowMs);
  // Advanced, the ring holds the buckets newest - n + 1 to newest (a `now` before the newest
  // bucket counts in it); those after the newest stored one (`last`) are empty.
  const newest = Math.max(kept ? kept.bucket : 0, Math.floor(now / bucketMs));
  const last = kept ? kept.bucket : -1;
  // The ring holds the buckets last - n + 1 to last: all of them, but the `newest - last` oldest.
  let used = 0;
  if (counts && newest - last < n) {
    for (const c of counts) used += c;
    for (let b = last + 1; b <= newest; b++) used -= counts[b % n]!;
  }
  if (used + cost <= limit) return { allowed: true, remaining: limit - used - cost, retryAfterMs: 0 };
  // At the start of bucket newest + k, the k oldest buckets have left the window.
  let left = used;
  let k = 1;
  for (; k < n; k++) {
    const b = newest - n + k;
    if (counts && b >= 0 && b <= last) left -= counts[b % n]!;
    if (left + cost <= limit) break;
  }
  const retryAfterMs = Math.max(1, (newest + k) * bucketMs - now);
  return { allowed: false, remaining: Math.max(0, limit - used), retryAfterMs };
}

/**
 * Counts a hit of `cost` at `now`: the key's counters advanced to `now`
 * ({@link advanceWindow}: `state` itself, or a new state) with the hit in
 * their newest bucket.
 */
export function countHit(state: RateWindowState | null | undefined, windowMs: number, now: number, cost: number): RateWindowState {
  const advanced = advanceWindow(state, windowMs, now);
  advanced.counts[advanced.bucket % advanced.counts.length]! += cost;
  return advanced;
}

/** Whether the state holds no hit that still counts at `now`: the key can be forgotten. */
export function windowExpired(state: RateWindowState, now: number): boolean {
  return now >= (state.bucket + state.counts.length) * bucketMsOf(state.windowMs);
}
