// Conformance group "usageAnalytics" of describeTokenStore: the optional
// UsageAnalyticsStore part. Its tests skip themselves when
// `capabilities.usageAnalytics` is not true.
import { expect, it } from "vitest";
import type { UsageEvent } from "../../model/types.js";
import type { UsageAnalyticsQuery, UsageSeriesBucket } from "../../store/kit/usage-analytics.js";
import { randomId } from "../fixtures.js";
import { expectCode, HOUR, type SuiteContext, T } from "../suite.js";

const MIN = 60_000;

/** Registers the "usageAnalytics" tests; `ctx.store` is the store of the running test. */
export function usageAnalyticsGroup(ctx: SuiteContext): void {
  const on = () => ctx.store.capabilities.usageAnalytics === true;
  const ev = (tokenId: string, owner: string, at: number, code: string, cost: number, scope: string | null, ip: string | null = null): UsageEvent => ({
    tokenId,
    owner,
    at,
    ok: code === "OK",
    cost,
    code,
    status: code === "OK" ? 200 : 403,
    scope,
    ip,
    origin: null,
    signed: false,
  });

  it("without the capability, queries are STORE_UNSUPPORTED", async (test) => {
    if (on()) return test.skip();
    await expectCode(ctx.store.queryUsage({ filter: { owner: "acct_1" }, from: 0, to: T, granularity: "hour" }), "STORE_UNSUPPORTED");
  });

  it("aggregates per token and per owner, per minute, hour and day, by scope and by code", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const [a, b] = [randomId("tok"), randomId("tok")];
    await ctx.store.recordUsage([
      ev(a, owner, T + 10, "OK", 2, "core:read"),
      ev(a, owner, T + 20, "OK", 3, "core:read"),
      ev(a, owner, T + MIN + 5, "SCOPE_DENIED", 0, "premium:read"),
      ev(b, owner, T + HOUR + 1, "OK", 1, "premium:read"),
    ]);
    await ctx.store.recordUsage([ev(b, owner, T + HOUR + 2, "RATE_LIMITED", 0, null)]);
    const q = { from: T, to: T + 2 * HOUR };
    expect(await ctx.store.queryUsage({ filter: { tokenId: a }, ...q, granularity: "minute" })).toEqual([
      { start: T, allowed: 2, denied: 0, credits: 5 },
      { start: T + MIN, allowed: 0, denied: 1, credits: 0 },
    ]);
    expect(await ctx.store.queryUsage({ filter: { owner }, ...q, granularity: "hour" })).toEqual([
      { start: T, allowed: 2, denied: 1, credits: 5 },
      { start: T + HOUR, allowed: 1, denied: 1, credits: 1 },
    ]);
    expect(await ctx.store.queryUsage({ filter: { owner }, ...q, granularity: "day", groupBy: "code" })).toEqual([
      { start: T, key: "OK", allowed: 3, denied: 0, credits: 6 },
      { start: T, key: "RATE_LIMITED", allowed: 0, denied: 1, credits: 0 },
      { start: T, key: "SCOPE_DENIED", allowed: 0, denied: 1, credits: 0 },
    ]);
    expect(await ctx.store.queryUsage({ filter: { owner }, ...q, granularity: "day", scope: "premium:read", groupBy: "token" })).toEqual(
      [
        { start: T, key: a, allowed: 0, denied: 1, credits: 0 },
        { start: T, key: b, allowed: 1, denied: 0, credits: 1 },
      ].sort((x, y) => (x.key < y.key ? -1 : 1)),
    );
    expect(await ctx.store.queryUsage({ filter: { owner }, ...q, granularity: "day", code: "RATE_LIMITED", groupBy: "scope" })).toEqual([
      { start: T, key: "", allowed: 0, denied: 1, credits: 0 },
    ]);
    // The scope "" is the requests that required none: the group above, as a filter.
    expect(await ctx.store.queryUsage({ filter: { owner }, ...q, granularity: "day", scope: "" })).toEqual([{ start: T, allowed: 0, denied: 1, credits: 0 }]);
    // The range is [from, to) on minute starts.
    expect(await ctx.store.queryUsage({ filter: { tokenId: a }, from: T + MIN, to: T + 2 * MIN, granularity: "minute" })).toHaveLength(1);
  });

  it("sums every minute of a bucket, and only the minutes in range when the range starts or ends inside a bucket", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const a = randomId("tok");
    // 90 minutes of one request each, from T: 60 in the first hour, 30 in the second.
    await ctx.store.recordUsage(Array.from({ length: 90 }, (_, i) => ev(a, owner, T + i * MIN + 7, i % 3 === 0 ? "RATE_LIMITED" : "OK", 1, "core:read")));
    expect(await ctx.store.queryUsage({ filter: { owner }, from: T, to: T + 2 * HOUR, granularity: "hour" })).toEqual([
      { start: T, allowed: 40, denied: 20, credits: 60 },
      { start: T + HOUR, allowed: 20, denied: 10, credits: 30 },
    ]);
    // From minute 45 to minute 75: 15 minutes of each hour, each bucket starting on its hour.
    expect(await ctx.store.queryUsage({ filter: { tokenId: a }, from: T + 45 * MIN, to: T + 75 * MIN, granularity: "hour" })).toEqual([
      { start: T, allowed: 10, denied: 5, credits: 15 },
      { start: T + HOUR, allowed: 10, denied: 5, credits: 15 },
    ]);
    expect(await ctx.store.queryUsage({ filter: { owner }, from: T + 45 * MIN, to: T + 75 * MIN, granularity: "day", groupBy: "code" })).toEqual([
      { start: T, key: "OK", allowed: 20, denied: 0, credits: 20 },
      { start: T, key: "RATE_LIMITED", allowed: 0, denied: 10, credits: 10 },
    ]);
  });

  it("sums thousands of rows of many minutes, tokens, scopes and codes as they are: whatever steps or pages the store reads them in", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const [a, b, c] = [randomId("tok"), randomId("tok"), randomId("tok")];
    // 1 400 minutes: about 4 000 rows of the owner (several per minute, of two tokens), and
    // another owner's token in the same minutes.
    const events: UsageEvent[] = [];
    for (let i = 0; i < 1400; i++) {
      const at = T + i * MIN + (i % 50);
      events.push(ev(a, owner, at, i % 5 === 0 ? "RATE_LIMITED" : "OK", i % 4, i % 2 ? "core:read" : "premium:read"));
      if (i % 3 === 0) events.push(ev(a, owner, at + 1, "OK", 1, "core:read"));
      events.push(ev(b, owner, at, i % 7 === 0 ? "SCOPE_DENIED" : "OK", 2, "premium:read"));
      if (i % 2 === 0) events.push(ev(b, owner, at + 2, "OK", 1, null));
      events.push(ev(c, randomId("acct"), at, "OK", 1, "core:read"));
    }
    for (let i = 0; i < events.length; i += 1000) await ctx.store.recordUsage(events.slice(i, i + 1000));
    // The buckets of a query from the events themselves.
    const expected = (q: UsageAnalyticsQuery): UsageSeriesBucket[] => {
      const size = { minute: MIN, hour: HOUR, day: 24 * HOUR }[q.granularity];
      const out = new Map<string, UsageSeriesBucket>();
      for (const e of events) {
        const minute = e.at - (e.at % MIN);
        const scope = e.scope ?? "";
        const of = "tokenId" in q.filter ? e.tokenId === q.filter.tokenId : e.owner === q.filter.owner;
        if (!of || minute < q.from || minute >= q.to || (q.scope !== undefined && scope !== q.scope) || (q.code !== undefined && e.code !== q.code)) continue;
        const start = minute - (minute % size);
        const key = q.groupBy === "token" ? e.tokenId : q.groupBy === "scope" ? scope : q.groupBy === "code" ? e.code : undefined;
        const k = `${start} ${key}`;
        const bucket = out.get(k) ?? { start, allowed: 0, denied: 0, credits: 0, ...(key === undefined ? {} : { key }) };
        out.set(k, bucket);
        if (e.ok) bucket.allowed++;
        else bucket.denied++;
        bucket.credits += e.cost;
      }
      return [...out.values()].sort((x, y) => x.start - y.start || (x.key ?? "").localeCompare(y.key ?? ""));
    };
    const period = { from: T + 100 * MIN, to: T + 1300 * MIN };
    const queries: UsageAnalyticsQuery[] = [
      { filter: { owner }, ...period, granularity: "minute" },
      { filter: { owner }, ...period, granularity: "hour", groupBy: "token" },
      { filter: { owner }, ...period, granularity: "day", groupBy: "scope" },
      { filter: { owner }, ...period, granularity: "hour", groupBy: "code", scope: "premium:read" },
      { filter: { owner }, from: 0, to: T + 2 * 24 * HOUR, granularity: "day", code: "OK", groupBy: "token" },
      { filter: { tokenId: a }, ...period, granularity: "minute", groupBy: "scope" },
      { filter: { tokenId: b }, ...period, granularity: "hour" },
      { filter: { tokenId: a }, ...period, granularity: "day", code: "RATE_LIMITED" },
    ];
    for (const q of queries) expect(await ctx.store.queryUsage(q)).toEqual(expected(q));
    // A sanity check of the oracle: every request of the owner in the period, once.
    const all = await ctx.store.queryUsage({ filter: { owner }, ...period, granularity: "day" });
    expect(all.reduce((n, x) => n + x.allowed + x.denied, 0)).toBe(events.filter((e) => e.owner === owner && e.at >= period.from && e.at < period.to).length);
  });

  it("keeps each token's last use (latest allowed request, its IP), whatever the order of batches", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const [a, b] = [randomId("tok"), randomId("tok")];
    await ctx.store.recordUsage([ev(a, owner, T + 50, "OK", 0, null, "203.0.113.1"), ev(a, owner, T + 10, "OK", 0, null, "203.0.113.2")]);
    await ctx.store.recordUsage([ev(a, owner, T + 20, "OK", 0, null, "203.0.113.3")]);
    expect(await ctx.store.lastUsed([a, b])).toEqual([{ tokenId: a, at: T + 50, ip: "203.0.113.1" }]);
    await ctx.store.recordUsage([ev(a, owner, T + 60, "OK", 0, null, null), ev(a, owner, T + 70, "IP_DENIED", 0, null, "192.0.2.1")]);
    // Only allowed requests are uses.
    expect(await ctx.store.lastUsed([a])).toEqual([{ tokenId: a, at: T + 60, ip: null }]);
  });

  it("refuses a bad query or event field with INVALID_INPUT naming it, and writes nothing", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const a = randomId("tok");
    await expectCode(ctx.store.queryUsage({ filter: { owner }, from: 0, to: T, granularity: "week" as never }), "INVALID_INPUT");
    await expectCode(ctx.store.queryUsage({ filter: { owner }, from: 0, to: T, granularity: "day", groupBy: "ip" as never }), "INVALID_INPUT");
    const bad = { ...ev(a, owner, T, "OK", 1, null), ip: "x".repeat(65) };
    await expectCode(ctx.store.recordUsage([ev(a, owner, T, "OK", 1, null), bad]), "INVALID_INPUT");
    expect(await ctx.store.queryUsage({ filter: { owner }, from: 0, to: T + HOUR, granularity: "day" })).toEqual([]);
    expect(await ctx.store.lastUsed([a])).toEqual([]);
  });
}
