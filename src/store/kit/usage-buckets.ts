// Usage counters: stores keep one bucket per token and UTC hour; a query
// reads hours as they are or summed per UTC day.
import type { UsageBucket, UsageEvent } from "../../model/types.js";
import type { UsageQuery } from "../types.js";

export const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Counts of one bucket. */
export interface UsageCounts {
  allowed: number;
  denied: number;
  credits: number;
}

/** Start of the UTC hour holding `at`. */
export function hourOf(at: number): number {
  return Math.floor(at / HOUR_MS) * HOUR_MS;
}

/**
 * The buckets of a query from a token's hour buckets (in any order): those
 * whose start is in `[from, to)`, summed per hour or UTC day, ascending.
 */
export function rollUpUsage(hours: Iterable<readonly [number, UsageCounts]>, query: UsageQuery): UsageBucket[] {
  const size = query.granularity === "hour" ? HOUR_MS : DAY_MS;
  const out = new Map<number, UsageBucket>();
  for (const [start, c] of hours) {
    if (start < query.from || start >= query.to) continue;
    const b = Math.floor(start / size) * size;
    const acc = out.get(b);
    if (acc) {
      acc.allowed += c.allowed;
      acc.denied += c.denied;
      acc.credits += c.credits;
    } else out.set(b, { start: b, allowed: c.allowed, denied: c.denied, credits: c.credits });
  }
  return [...out.values()].sort((a, b) => a.start - b.start);
}

/** Adds events to per-token hour buckets (`into`: token id → hour start → counts). */
export function addUsage(into: Map<string, Map<number, UsageCounts>>, events: readonly UsageEvent[]): void {
  for (const e of events) {
    let hours = into.get(e.tokenId);
    if (!hours) {
      hours = new Map();
      into.set(e.tokenId, hours);
    }
    const start = hourOf(e.at);
    let c = hours.get(start);
    if (!c) {
      c = { allowed: 0, denied: 0, credits: 0 };
      hours.set(start, c);
    }
    if (e.ok) c.allowed++;
    else c.denied++;
    c.credits += e.cost;
  }
}
