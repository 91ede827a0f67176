// Billing: what each account spent from each credit pool, per UTC hour
// (written with usage batches), and the runs that bill a period once. Pure
// helpers shared by every store.
import type { UsageEvent } from "../../model/types.js";
import { DEFAULT_POOL } from "../../model/pools.js";
import { hourOf } from "./usage-buckets.js";

/** One stored billing row: an owner's allowed requests that drew credits from one pool in one UTC hour, and the credits. */
export interface BillingHourRow {
  owner: string;
  pool: string;
  /** Start of the UTC hour, epoch ms. */
  hour: number;
  requests: number;
  credits: number;
}

/** An owner's spend from one pool over a period (a query's answer). */
export interface BillingUsage {
  owner: string;
  pool: string;
  requests: number;
  credits: number;
}

/** A position in the answer of {@link BillingStore.billingUsage}: an owner and a pool. */
export interface BillingKey {
  owner: string;
  pool: string;
}

/**
 * A query of {@link BillingStore.billingUsage}: hours in `[from, to)`, one
 * owner or all; a page of the answer with `after` and `limit`.
 */
export interface BillingUsageQuery {
  owner?: string | undefined;
  /** Inclusive, epoch ms (a UTC hour start). */
  from: number;
  /** Exclusive, epoch ms (a UTC hour start). */
  to: number;
  /** Only the sums strictly after this owner and pool (in the store's order of owner, then pool); from the first when absent. */
  after?: BillingKey | undefined;
  /** At most this many sums (fewer only at the end of the answer); all when absent. */
  limit?: number | undefined;
}

/** Which run: an owner, a period key (`"2026-11"`, or `"<from>-<to>"` in epoch ms) and the hours it covers. */
export interface BillingRunKey {
  owner: string;
  period: string;
  /** The period's hours, `[from, to)`, epoch ms: no two runs of an owner may share one. */
  from: number;
  to: number;
}

/** Longest `record` (JSON text of a billed invoice) a store is given by `finishBillingRun`, in characters. */
export const MAX_BILLING_RECORD_LENGTH = 1_000_000;

/** What {@link BillingStore.claimBillingRun} answers; `overlap`: another run of the owner covers some of these hours. */
export type BillingClaim = "claimed" | "done" | "busy" | "overlap";

/** The key of a billing row. */
export const billingKey = (r: Pick<BillingHourRow, "owner" | "pool" | "hour">): string => `${r.owner}\u0000${r.pool}\u0000${r.hour}`;

/**
 * Whether a usage event is billed: an allowed request of an owned token
 * that drew credits (`cost` above 0; a token or account with no credits in
 * the route's pool, or a route of `cost: 0`, draws none).
 */
export function isBilled(e: UsageEvent): e is UsageEvent & { owner: string } {
  return e.ok && e.owner !== undefined && e.cost > 0;
}

/**
 * The billing rows a batch of usage events adds: the billed ones
 * ({@link isBilled}), summed per owner, pool and UTC hour.
 */
export function billingRowsOf(events: readonly UsageEvent[]): BillingHourRow[] {
  const rows = new Map<string, BillingHourRow>();
  for (const e of events) {
    if (!isBilled(e)) continue;
    const row = { owner: e.owner, pool: e.pool ?? DEFAULT_POOL, hour: hourOf(e.at) };
    const k = billingKey(row);
    const had = rows.get(k);
    if (had) {
      had.requests++;
      had.credits += e.cost;
    } else rows.set(k, { ...row, requests: 1, credits: e.cost });
  }
  return [...rows.values()];
}

/**
 * Sums rows per owner and pool, ordered by owner then pool (code-unit
 * order): the answer of {@link BillingStore.billingUsage} for the rows of
 * its query's owner and hours. Pass the query: its page, only the sums
 * strictly after `query.after` and at most `query.limit` of them, is
 * answered (without it, every sum: not a page, which keyward refuses as
 * soon as an answer is longer than the limit asked).
 *
 * @param rows - the billing rows of the query's owner (or all) and hours
 * @param page - the query, or its `after` and `limit`
 * @returns the page of sums
 * @example
 * ```ts
 * billingUsage(query) {
 *   const rows = this.rows.filter((r) => r.hour >= query.from && r.hour < query.to && (query.owner === undefined || r.owner === query.owner));
 *   return Promise.resolve(sumBilling(rows, query));
 * }
 * ```
 */
export function sumBilling(
  rows: Iterable<Pick<BillingHourRow, "owner" | "pool" | "requests" | "credits">>,
  page: Pick<BillingUsageQuery, "after" | "limit"> = {},
): BillingUsage[] {
  const { after, limit = Number.POSITIVE_INFINITY } = page;
  const out = new Map<string, BillingUsage>();
  for (const r of rows) {
    if (after !== undefined && compareBillingKeys(r, after) <= 0) continue;
    const k = `${r.owner}\u0000${r.pool}`;
    const had = out.get(k);
    if (had) {
      had.requests += r.requests;
      had.credits += r.credits;
    } else out.set(k, { owner: r.owner, pool: r.pool, requests: r.requests, credits: r.credits });
  }
  return [...out.values()].sort(compareBillingKeys).slice(0, limit);
}

/** The order of billing sums of `sumBilling` and `MemoryStore`: by owner, then pool, in code-unit order. */
export function compareBillingKeys(a: BillingKey, b: BillingKey): number {
  if (a.owner !== b.owner) return a.owner < b.owner ? -1 : 1;
  return a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0;
}
