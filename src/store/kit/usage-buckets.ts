// Usage counters: stores keep one bucket per token and UTC hour; a query
// reads hours as they are or summed per UTC day.
import type { UsageBucket, UsageEvent } from "../../model/types.js";
import type { UsageQuery } from "../types.js";

export const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * How long a store keeps the last batch of a usage writer that wrote nothing
 * since (by its events' times): 30 days. A writer is one usage queue, so one
 * per process; a batch is written again within a flush interval or two, or
 * when the store is back after an outage.
 */
export const USAGE_WRITER_RETENTION_MS = 30 * DAY_MS;

/** The time a store keeps with a writer's last batch: its latest event's. */
export function batchTime(events: readonly UsageEvent[]): number {
  let at = 0;
  for (const e of events) if (e.at > at) at = e.at;
  return at;
}

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
