// Usage analytics: per token and owner, per UTC minute, by scope and code.
// Stores keep one row per (token, minute, scope, code) and the last use of
// each token; queries roll rows up per minute, hour or UTC day, filtered and
// grouped here, once for every store.
import type { UsageBucket, UsageEvent } from "../../model/types.js";

export const MINUTE_MS = 60_000;
const SIZE: Record<AnalyticsGranularity, number> = { minute: MINUTE_MS, hour: 3_600_000, day: 86_400_000 };
/** Longest scope text kept in a row (longer ones are cut). */
export const MAX_USAGE_SCOPE_LENGTH = 256;

/** One stored row: the requests of one token in one UTC minute with one scope and one code. */
export interface UsageDetailRow {
  tokenId: string;
  owner: string;
  /** Start of the UTC minute, epoch ms. */
  minute: number;
  /** The required scope(s), space-separated; `""` when the route required none. */
  scope: string;
  /** `"OK"` or the denial code. */
  code: string;
  requests: number;
  credits: number;
}

/** When a token was last used, and from which IP. */
export interface LastUsed {
  tokenId: string;
  at: number;
  ip: string | null;
}

/** Bucket size of analytics queries (UTC). */
export type AnalyticsGranularity = "minute" | "hour" | "day";

/** A query of {@link UsageAnalyticsStore.queryUsage}. */
export interface UsageAnalyticsQuery {
  filter: { tokenId: string } | { owner: string };
  /** Inclusive start, epoch ms. */
  from: number;
  /** Exclusive end, epoch ms. */
  to: number;
  granularity: AnalyticsGranularity;
  /** Only requests that required exactly this scope text. */
  scope?: string | undefined;
  /** Only requests with this code (`"OK"` or a denial code). */
  code?: string | undefined;
  /** One bucket per time and per scope, code or token (`key`), instead of one per time. */
  groupBy?: "scope" | "code" | "token" | undefined;
}

/** A bucket of an analytics query: a {@link UsageBucket}, with the group's `key` when grouped. */
export interface UsageSeriesBucket extends UsageBucket {
  key?: string;
}

/** The identity of a row (NUL never occurs in ids, scopes or codes). */
export const rowKey = (r: Pick<UsageDetailRow, "tokenId" | "minute" | "scope" | "code">): string =>
  `${r.tokenId}\u0000${r.minute}\u0000${r.scope}\u0000${r.code}`;

/**
 * The rows a batch of events adds (summed per token, minute, scope and code)
 * and the last use of each token in it. Events without `owner` or `code`
 * (written by hand, not by the verifier) add to no row; only allowed
 * requests are uses.
 */
export function analyticsOf(events: readonly UsageEvent[]): { rows: UsageDetailRow[]; lastUsed: LastUsed[] } {
  const rows = new Map<string, UsageDetailRow>();
  const last = new Map<string, UsageEvent>();
  for (const e of events) {
    // A use is an allowed request: a denied one (a wrong scope, a probe) leaves lastUsed alone.
    if (e.ok) {
      const seen = last.get(e.tokenId);
      if (seen === undefined || e.at >= seen.at) last.set(e.tokenId, e);
    }
    if (e.owner === undefined || e.code === undefined) continue;
    const minute = e.at - (e.at % MINUTE_MS);
    const scope = e.scope == null ? "" : e.scope.length > MAX_USAGE_SCOPE_LENGTH ? e.scope.slice(0, MAX_USAGE_SCOPE_LENGTH) : e.scope;
    const k = `${e.tokenId}\u0000${minute}\u0000${scope}\u0000${e.code}`;
    const acc = rows.get(k);
    if (acc) {
      acc.requests++;
      acc.credits += e.cost;
    } else rows.set(k, { tokenId: e.tokenId, owner: e.owner, minute, scope, code: e.code, requests: 1, credits: e.cost });
  }
  const lastUsed: LastUsed[] = [];
  for (const e of last.values()) lastUsed.push({ tokenId: e.tokenId, at: e.at, ip: e.ip ?? null });
  return { rows: [...rows.values()], lastUsed };
}

/** The length of a query's buckets, ms (a SQL store sums its rows per bucket with it). */
export function bucketMsOf(q: UsageAnalyticsQuery): number {
  return SIZE[q.granularity];
}

/**
 * The buckets of a query summed from its rows a batch at a time: `add` each
 * batch of rows of its token or owner (in any order, each row once), then
 * read `buckets()`. A store that reads the rows in steps (a keyset walk of
 * its index, a turn of the event loop between steps) sums each step here,
 * holding the buckets, never the rows read. A row may be the sum of several
 * rows of one bucket (token, owner, scope and code), with `minute` any of
 * their minutes.
 *
 * @example
 * ```ts
 * const sums = new UsageRollUp({ filter: { owner: "acct_1" }, from: 0, to: Date.now(), granularity: "day" });
 * sums.add([{ tokenId: "tok_1", owner: "acct_1", minute: 60_000, scope: "", code: "OK", requests: 2, credits: 5 }]);
 * sums.add([{ tokenId: "tok_2", owner: "acct_1", minute: 120_000, scope: "", code: "RATE_LIMITED", requests: 1, credits: 0 }]);
 * sums.buckets(); // [{ start: 0, allowed: 2, denied: 1, credits: 5 }]
 * ```
 */
export class UsageRollUp {
  readonly #q: UsageAnalyticsQuery;
  readonly #size: number;
  // Per bucket start, then group key ("" when not grouped).
  readonly #out = new Map<string, UsageSeriesBucket>();

  constructor(query: UsageAnalyticsQuery) {
    this.#q = query;
    this.#size = SIZE[query.granularity];
  }

  /** Adds rows: those outside `[from, to)` or not matching the query's scope or code are skipped. */
  add(rows: Iterable<UsageDetailRow>): void {
    const q = this.#q;
    const size = this.#size;
    const out = this.#out;
    for (const r of rows) {
      if (r.minute < q.from || r.minute >= q.to) continue;
      if (q.scope !== undefined && r.scope !== q.scope) continue;
      if (q.code !== undefined && r.code !== q.code) continue;
      const start = Math.floor(r.minute / size) * size;
      const key = q.groupBy === "scope" ? r.scope : q.groupBy === "code" ? r.code : q.groupBy === "token" ? r.tokenId : undefined;
      // NUL never occurs in ids, scopes or codes.
      const k = key === undefined ? String(start) : `${start}\u0000${key}`;
      let b = out.get(k);
      if (!b) {
        b = { start, allowed: 0, denied: 0, credits: 0 };
        if (key !== undefined) b.key = key;
        out.set(k, b);
      }
      if (r.code === "OK") b.allowed += r.requests;
      else b.denied += r.requests;
      b.credits += r.credits;
    }
  }

  /** The buckets summed so far that have any usage, ascending by start, then key. */
  buckets(): UsageSeriesBucket[] {
    return [...this.#out.values()].sort((a, b) => a.start - b.start || (a.key ?? "").localeCompare(b.key ?? ""));
  }
}

/**
 * The buckets of a query from rows of its token or owner (in any order),
 * ascending by start, then key: {@link UsageRollUp} of all the rows at once.
 * A row may be the sum of several rows of one bucket (token, owner, scope
 * and code), with `minute` any of their minutes: a SQL store sums in the
 * database, so only one row per bucket is read.
 */
export function rollUpRows(rows: Iterable<UsageDetailRow>, q: UsageAnalyticsQuery): UsageSeriesBucket[] {
  const sums = new UsageRollUp(q);
  sums.add(rows);
  return sums.buckets();
}
