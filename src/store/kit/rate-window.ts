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
// State is a ring of n + 1 counters mutated in place: a hit allocates nothing.
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

/** Hits counted in the window of an advanced state. */
export function windowCount(state: RateWindowState): number {
  let sum = 0;
  for (const c of state.counts) sum += c;
  return sum;
}

/**
 * Whether a hit of `cost` fits now, on an advanced state (nothing is counted:
 * call {@link countHit} to commit). `remaining` is what is left after this hit
 * when it fits, else what is left now; `retryAfterMs` (when it does not fit) is
 * the wait until it would, at least 1 ms; when `cost > limit` it never can, and
 * it is the wait until the key is empty.
 */
export function checkHit(state: RateWindowState, limit: number, now: number, cost: number): RateLimitResult {
  const used = windowCount(state);
  if (used + cost <= limit) return { allowed: true, remaining: limit - used - cost, retryAfterMs: 0 };
  const { counts, bucket } = state;
  const bucketMs = bucketMsOf(state.windowMs);
  const n = counts.length;
  // At the start of bucket + k, the k oldest buckets have left the window.
  let left = used;
  let k = 1;
  for (; k < n; k++) {
    left -= counts[(bucket + k) % n]!;
    if (left + cost <= limit) break;
  }
  const retryAfterMs = Math.max(1, (bucket + k) * bucketMs - now);
  return { allowed: false, remaining: Math.max(0, limit - used), retryAfterMs };
}

/** Counts a hit of `cost` in the newest bucket of an advanced state. */
export function countHit(state: RateWindowState, cost: number): void {
  state.counts[state.bucket % state.counts.length]! += cost;
}

/** Whether the state holds no hit that still counts at `now`: the key can be forgotten. */
export function windowExpired(state: RateWindowState, now: number): boolean {
  return now >= (state.bucket + state.counts.length) * bucketMsOf(state.windowMs);
}
