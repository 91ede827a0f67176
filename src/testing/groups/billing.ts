// Conformance group "billing" of describeTokenStore: the optional
// BillingStore part. Its tests skip themselves when `capabilities.billing`
// is not true.
import { expect, it } from "vitest";
import type { UsageEvent } from "../../model/types.js";
import { makeAuditEntry, randomId } from "../fixtures.js";
import { callsAcross, expectCode, HOUR, type SuiteContext, T } from "../suite.js";

/** Registers the "billing" tests; `ctx.store` is the store of the running test. */
export function billingGroup(ctx: SuiteContext): void {
  const on = () => ctx.store.capabilities.billing === true;
  const ev = (owner: string, at: number, ok: boolean, cost: number, pool?: string): UsageEvent => ({
    tokenId: randomId("tok"),
    owner,
    at,
    ok,
    cost,
    code: ok ? "OK" : "RATE_LIMITED",
    ...(pool === undefined ? {} : { pool }),
  });

  it("without the capability, billing calls are STORE_UNSUPPORTED", async (test) => {
    if (on()) return test.skip();
    await expectCode(ctx.store.billingUsage({ from: T, to: T + HOUR }), "STORE_UNSUPPORTED");
    await expectCode(ctx.store.claimBillingRun({ owner: "o", period: "2026-11", from: T, to: T + HOUR }, "c1", T, T), "STORE_UNSUPPORTED");
  });

  it("sums allowed requests that drew credits, and the credits, per owner and pool over whole hours, from every usage batch", async (test) => {
    if (!on()) return test.skip();
    const [a, b, free] = [randomId("acct"), randomId("acct"), randomId("acct")];
    await ctx.store.recordUsage([ev(a, T + 1, true, 2), ev(a, T + 2, true, 3, "premium"), ev(a, T + 3, false, 0), ev(b, T + HOUR, true, 1)]);
    // Allowed, but drawing no credits (unmetered, rate-limited only, or a route of cost 0): not billed.
    await ctx.store.recordUsage([ev(a, T + 4, true, 0), ev(a, T + 5, true, 0, "premium"), ev(free, T + 6, true, 0), ev(free, T + 7, true, 0, "premium")]);
    await ctx.store.recordUsage([ev(a, T + HOUR + 5, true, 4), ev(a, T + 2 * HOUR, true, 100), { tokenId: "tok_x", at: T, ok: true, cost: 9 }]);
    expect(await ctx.store.billingUsage({ owner: a, from: T, to: T + 2 * HOUR })).toEqual([
      { owner: a, pool: "default", requests: 2, credits: 6 },
      { owner: a, pool: "premium", requests: 1, credits: 3 },
    ]);
    expect(await ctx.store.billingUsage({ owner: free, from: T, to: T + 2 * HOUR })).toEqual([]);
    const all = (await ctx.store.billingUsage({ from: T, to: T + 2 * HOUR })).filter((r) => r.owner === a || r.owner === b || r.owner === free);
    expect(all.map((r) => [r.owner === a ? "a" : "b", r.pool, r.credits])).toEqual(
      (a < b ? ["a", "b"] : ["b", "a"]).flatMap((x) => (x === "a" ? [["a", "default", 6], ["a", "premium", 3]] : [["b", "default", 1]])),
    );
    expect(await ctx.store.billingUsage({ owner: a, from: T + 3 * HOUR, to: T + 4 * HOUR })).toEqual([]);
  });

  it("answers a page: the sums strictly after an owner and pool, at most limit, by owner then pool, skipping pools of no row in the period", async (test) => {
    if (!on()) return test.skip();
    const p = randomId("acct");
    const [a, b, c] = [`${p}_a`, `${p}_b`, `${p}_c`];
    await ctx.store.recordUsage([a, b, c].flatMap((o) => [ev(o, T + 1, true, 1), ev(o, T + 2, true, 2, "premium"), ev(o, T + 3, true, 3, "spare")]));
    // Outside the period: a pool of b after its others, and an owner of its own.
    await ctx.store.recordUsage([ev(b, T + 5 * HOUR, true, 9, "zzz"), ev(`${p}_d`, T + 5 * HOUR, true, 9)]);
    const q = { from: T, to: T + HOUR };
    const all = await ctx.store.billingUsage(q);
    expect(all.filter((r) => r.owner.startsWith(p)).map((r) => `${r.owner.slice(p.length)}/${r.pool}`)).toEqual(
      ["_a", "_b", "_c"].flatMap((o) => [`${o}/default`, `${o}/premium`, `${o}/spare`]),
    );
    // Pages of 2 walk the same sums, each after the last one of the page before; fewer than 2 only at the end
    // (and soon: a store that ignores `after` would answer the first page forever).
    const walked = [];
    for (let after: { owner: string; pool: string } | undefined, n = 0; n < all.length; n++) {
      const page = await ctx.store.billingUsage({ ...q, after, limit: 2 });
      expect(page.length).toBeLessThanOrEqual(2);
      walked.push(...page);
      if (page.length < 2) break;
      after = page[1]!;
    }
    expect(walked).toEqual(all);
    expect(await ctx.store.billingUsage({ ...q, after: { owner: b, pool: "spare" }, limit: 1 })).toEqual([{ owner: c, pool: "default", requests: 1, credits: 1 }]);
    // One owner: its page after one of its pools; after an owner before it, all of its sums; after one past it, none.
    expect(await ctx.store.billingUsage({ ...q, owner: b, after: { owner: b, pool: "default" }, limit: 1 })).toEqual([
      { owner: b, pool: "premium", requests: 1, credits: 2 },
    ]);
    expect(await ctx.store.billingUsage({ ...q, owner: b, after: { owner: a, pool: "spare" } })).toHaveLength(3);
    expect(await ctx.store.billingUsage({ ...q, owner: b, after: { owner: c, pool: "default" } })).toEqual([]);
  });

  it("an owner as long as a usage event's may be, with a character SQL stores escape, is answered as itself, and pages after it", async (test) => {
    if (!on()) return test.skip();
    const p = randomId("acct");
    // 1 024 characters (a backslash among them): longer than a key an index takes, so a store
    // may key it by a hash, but a sum answers the owner, and a page after it goes on.
    const long = `${p}_b\\${"x".repeat(1024 - p.length - 3)}`;
    const owners = [`${p}_a`, long, `${p}_c`];
    await ctx.store.recordUsage(owners.flatMap((o, i) => [ev(o, T + i, true, 1 + i), ev(o, T + i, true, 1, "premium")]));
    const q = { from: T, to: T + HOUR };
    // In the store's order (a hashed key sorts by its hash), each owner's pools together.
    const all = (await ctx.store.billingUsage(q)).filter((r) => r.owner.startsWith(p));
    expect(all.map((r) => r.owner).filter((o, i, a) => o !== a[i - 1]).sort()).toEqual([...owners].sort());
    expect(all.map((r) => r.pool)).toEqual(owners.flatMap(() => ["default", "premium"]));
    expect(await ctx.store.billingUsage({ ...q, owner: long })).toEqual([
      { owner: long, pool: "default", requests: 1, credits: 2 },
      { owner: long, pool: "premium", requests: 1, credits: 1 },
    ]);
    // Pages of 1, each after the sum before: the long owner ends two of them.
    const walked = [];
    for (let after: { owner: string; pool: string } | undefined, n = 0; n < 100; n++) {
      const page = await ctx.store.billingUsage({ ...q, after, limit: 1 });
      walked.push(...page);
      if (page.length < 1) break;
      after = page[0]!;
    }
    expect(walked.filter((r) => r.owner.startsWith(p))).toEqual(all);
    expect(await ctx.store.billingUsage({ ...q, owner: long, after: { owner: long, pool: "default" } })).toEqual([
      { owner: long, pool: "premium", requests: 1, credits: 1 },
    ]);
  });

  it("a run is claimed once, billed once; a failed claim is released, a stale one taken over", async (test) => {
    if (!on()) return test.skip();
    const key = { owner: randomId("acct"), period: "2026-11", from: T, to: T + 30 * 24 * HOUR };
    expect(await ctx.store.claimBillingRun(key, "c1", T, T - HOUR)).toBe("claimed");
    expect(await ctx.store.claimBillingRun(key, "c2", T + 1, T + 1 - HOUR)).toBe("busy");
    expect(await ctx.store.finishBillingRun(key, "c2", "done")).toBe(false);
    expect(await ctx.store.finishBillingRun(key, "c1", "failed")).toBe(true);
    expect(await ctx.store.claimBillingRun(key, "c3", T + 3, T + 3 - HOUR)).toBe("claimed");
    // c3's process died: after the stale time (1 ms; passed by the runs' clocks, 2 hours on, and by the
    // store's own, which a store that servers share may age claims by: 20 ms) another run takes over.
    await new Promise((r) => setTimeout(r, 20));
    expect(await ctx.store.claimBillingRun(key, "c4", T + 2 * HOUR, T + 2 * HOUR - 1)).toBe("claimed");
    expect(await ctx.store.finishBillingRun(key, "c3", "done")).toBe(false);
    const audit = makeAuditEntry({ owner: key.owner, tokenId: "*", action: "bill", changes: [key.period], at: T + 2 * HOUR });
    expect(await ctx.store.finishBillingRun(key, "c4", "done", '{"lines":[]}', audit)).toBe(true);
    expect(await ctx.store.claimBillingRun(key, "c5", T + 9 * HOUR, T + 9 * HOUR)).toBe("done");
    expect(await ctx.store.finishBillingRun(key, "c4", "failed")).toBe(false);
    expect((await ctx.store.listAudit({ owner: key.owner })).items.map((e) => e.action)).toEqual(["bill"]);
  });

  it("a run over hours another run of the owner covers is an overlap, pending or billed; adjacent periods are not", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const DAY = 24 * HOUR;
    const nov = { owner, period: "2026-11", from: T + 30 * DAY, to: T + 60 * DAY };
    expect(await ctx.store.claimBillingRun(nov, "c1", T, T - HOUR)).toBe("claimed");
    expect(await ctx.store.claimBillingRun({ owner, period: "mid", from: T + 45 * DAY, to: T + 75 * DAY }, "c2", T, T - HOUR)).toBe("overlap");
    expect(await ctx.store.claimBillingRun({ owner, period: "2026-10", from: T, to: T + 30 * DAY }, "c3", T, T - HOUR)).toBe("claimed");
    expect(await ctx.store.claimBillingRun({ owner: randomId("acct"), period: "mid", from: T + 45 * DAY, to: T + 75 * DAY }, "c4", T, T - HOUR)).toBe(
      "claimed",
    );
    expect(await ctx.store.finishBillingRun(nov, "c1", "done")).toBe(true);
    expect(await ctx.store.claimBillingRun({ owner, period: "mid", from: T + 45 * DAY, to: T + 75 * DAY }, "c5", T, T - HOUR)).toBe("overlap");
    // Of concurrent claims of periods that all share an hour, one wins.
    const other = randomId("acct");
    const answers = await Promise.all(
      await callsAcross(ctx, ctx.concurrency, (i, store) =>
        store.claimBillingRun({ owner: other, period: `p${i}`, from: T + i * HOUR, to: T + (ctx.concurrency + 1) * HOUR }, `c${i}`, T, T - HOUR),
      ),
    );
    expect(answers.filter((a) => a === "claimed")).toHaveLength(1);
  });

  it("of concurrent claims of one run exactly one is claimed", async (test) => {
    if (!on()) return test.skip();
    const key = { owner: randomId("acct"), period: "1000-2000", from: 1000, to: 2000 };
    const answers = await Promise.all(await callsAcross(ctx, ctx.concurrency, (i, store) => store.claimBillingRun(key, `c${i}`, T, T - HOUR)));
    expect(answers.filter((a) => a === "claimed")).toHaveLength(1);
    expect(answers.filter((a) => a === "busy")).toHaveLength(ctx.concurrency - 1);
  });

  it("refuses bad input with INVALID_INPUT naming the field, and writes nothing", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    await expectCode(ctx.store.billingUsage({ from: T + HOUR, to: T }), "INVALID_INPUT");
    await expectCode(ctx.store.billingUsage({ from: Number.NaN, to: T }), "INVALID_INPUT");
    await expectCode(ctx.store.billingUsage({ from: T, to: T + HOUR, limit: 0 }), "INVALID_INPUT");
    await expectCode(ctx.store.billingUsage({ from: T, to: T + HOUR, after: { owner: "", pool: "default" } }), "INVALID_INPUT");
    await expectCode(ctx.store.claimBillingRun({ owner, period: "", from: T, to: T + HOUR }, "c", T, T), "INVALID_INPUT");
    await expectCode(ctx.store.claimBillingRun({ owner, period: "a b", from: T, to: T + HOUR }, "c", T, T), "INVALID_INPUT");
    await expectCode(ctx.store.finishBillingRun({ owner, period: "p", from: T, to: T + HOUR }, "c", "maybe" as never), "INVALID_INPUT");
    await expectCode(ctx.store.recordUsage([{ ...ev(owner, T, true, 1), pool: "Not A Pool" }]), "INVALID_INPUT");
    expect(await ctx.store.billingUsage({ owner, from: T - HOUR, to: T + HOUR })).toEqual([]);
    await expectCode(ctx.store.claimBillingRun({ owner, period: "p", from: T, to: T }, "c", T, T), "INVALID_INPUT");
    expect(await ctx.store.claimBillingRun({ owner, period: "p", from: T, to: T + HOUR }, "c", T, T)).toBe("claimed");
  });
}
