// kw.billing: exports per account and pool, and runs that bill each period once;
// run on MemoryStore and SQLite (test/manager) and on PostgreSQL (test/postgres).
import { type BillingLine, type Invoice, Keyward, type Page, type TokenStore } from "keyward";
import { describe, expect, it } from "vitest";

const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);
const HOUR = 3_600_000;

async function setup(store: TokenStore) {
  const clock = { now: NOV + 5 * HOUR };
  const kw = new Keyward({ store, prefix: "acme", now: () => clock.now });
  const a = await kw.tokens.create({ owner: "acct_a", kind: "secret", credits: { limit: 1000 }, pools: { premium: { limit: 100 } } });
  const b = await kw.tokens.create({ owner: 'acct,"b"', kind: "secret", credits: { limit: 1000 } });
  for (let i = 0; i < 3; i++) await kw.check({ token: a.token, cost: 5 });
  await kw.check({ token: a.token, cost: 7, pool: "premium" });
  await kw.check({ token: b.token, cost: 2 });
  await kw.check({ token: b.token, scope: "x:write" }); // denied: not billed
  clock.now = DEC + 2 * HOUR;
  await kw.check({ token: a.token, cost: 50 }); // December
  await kw.flush();
  return { kw, clock };
}

/** The kw.billing tests on the store `make` opens (a fresh one per test). */
export function describeBilling(name: string, make: () => TokenStore | Promise<TokenStore>): void {
  describe(`kw.billing (${name})`, () => {
    it("exports spend per account and pool for a period, as JSON and as RFC 4180 CSV", async () => {
      const { kw } = await setup(await make());
      const nov = { from: NOV, to: DEC };
      expect(await kw.billing.usage(nov)).toEqual([
        { owner: 'acct,"b"', pool: "default", requests: 1, credits: 2, from: NOV, to: DEC },
        { owner: "acct_a", pool: "default", requests: 3, credits: 15, from: NOV, to: DEC },
        { owner: "acct_a", pool: "premium", requests: 1, credits: 7, from: NOV, to: DEC },
      ]);
      expect(JSON.parse(await kw.billing.export({ ...nov, owner: "acct_a" }))).toHaveLength(2);
      expect(await kw.billing.export({ from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z", format: "csv" })).toBe(
        "owner,pool,from,to,requests,credits\r\n" +
          '"acct,""b""",default,2026-11-01T00:00:00.000Z,2026-12-01T00:00:00.000Z,1,2\r\n' +
          "acct_a,default,2026-11-01T00:00:00.000Z,2026-12-01T00:00:00.000Z,3,15\r\n" +
          "acct_a,premium,2026-11-01T00:00:00.000Z,2026-12-01T00:00:00.000Z,1,7\r\n",
      );
    });

    it("list pages the lines by owner then pool with a cursor; usage, export and a run read every page", async () => {
      const store = await make();
      // 334 owners of 3 pools each: 1002 lines, more than a page of the store (1000), the last owner's lines on both sides of it.
      const owners = Array.from({ length: 334 }, (_, i) => `acct_${String(i).padStart(3, "0")}`);
      const pools = ["default", "premium", "spare"];
      await store.recordUsage(
        owners.flatMap((owner, i) => pools.map((pool, j) => ({ tokenId: `tok_${i}`, owner, at: NOV + j, ok: true, cost: 1 + j, code: "OK", pool }))),
      );
      const kw = new Keyward({ store, prefix: "acme", now: () => DEC + HOUR });
      const nov = { from: NOV, to: DEC };
      const all = owners.flatMap((owner) => pools.map((pool, j) => ({ owner, pool, requests: 1, credits: 1 + j, from: NOV, to: DEC })));
      expect(await kw.billing.usage(nov)).toEqual(all);
      const first = await kw.billing.list(nov);
      expect(first.items).toEqual(all.slice(0, 100)); // 100 by default
      const walked = [];
      let cursor: string | null = null;
      do {
        const page: Page<BillingLine> = await kw.billing.list({ ...nov, limit: 7, cursor });
        walked.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      expect(walked).toEqual(all);
      const mid = await kw.billing.list({ ...nov, owner: "acct_005", limit: 2 });
      expect(mid.items).toEqual(all.slice(15, 17));
      expect(await kw.billing.list({ ...nov, owner: "acct_005", cursor: mid.nextCursor })).toEqual({ items: all.slice(17, 18), nextCursor: null });
      expect(JSON.parse(await kw.billing.export(nov))).toEqual(all);
      expect((await kw.billing.export({ ...nov, format: "csv" })).split("\r\n")).toHaveLength(1 + all.length + 1);
      for (const [options, field] of [
        [{ limit: 0 }, "limit"],
        [{ limit: 1001 }, "limit"],
        [{ cursor: "not a cursor" }, "cursor"],
        [{ cursor: Buffer.from('{"k":"t","t":1,"i":"x"}').toString("base64url") }, "cursor"], // a token listing's
      ] as const) {
        await expect(kw.billing.list({ ...nov, ...options })).rejects.toMatchObject({ code: "INVALID_INPUT", field });
      }
      const invoices: Invoice[] = [];
      const run = await kw.billing.run({ period: "2026-11", onInvoice: (inv) => void invoices.push(inv) });
      expect(run.billed).toEqual(owners);
      expect(invoices.map((i) => i.lines.map((l) => l.pool))).toEqual(owners.map(() => pools));
    });

    it("an owner longer than a key a SQL index takes (written by another writer) is listed, paged and billed under its own name", async () => {
      const store = await make();
      // 600 characters with backslashes: 700 once escaped, so PostgreSQL keys it by a hash.
      const long = `acct_m${"\\x".repeat(297)}`;
      const owners = ["acct_a", long, "acct_z"];
      await store.recordUsage(owners.map((owner, i) => ({ tokenId: `tok_${i}`, owner, at: NOV + i, ok: true, cost: 1 + i, code: "OK" })));
      const kw = new Keyward({ store, prefix: "acme", now: () => DEC + HOUR });
      const nov = { from: NOV, to: DEC };
      const all = await kw.billing.usage(nov);
      expect(all.map((l) => l.owner).sort()).toEqual([...owners].sort());
      // Pages of one line: the long owner ends one, and the page after it goes on.
      const walked = [];
      let cursor: string | null = null;
      do {
        const page: Page<BillingLine> = await kw.billing.list({ ...nov, limit: 1, cursor });
        walked.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      expect(walked).toEqual(all);
      const invoices: Invoice[] = [];
      const run = await kw.billing.run({ period: "2026-11", onInvoice: (inv) => void invoices.push(inv) });
      expect(run.billed.sort()).toEqual([...owners].sort());
      expect(invoices.find((i) => i.owner === long)?.lines).toMatchObject([{ owner: long, pool: "default", credits: 2 }]);
      expect((await kw.billing.run({ period: "2026-11", onInvoice: () => {} })).alreadyBilled.sort()).toEqual([...owners].sort());
      await kw.close();
    });

    it("an invoice of thousands of pools is billed and recorded once; one longer than a store records fails before its hook, and the run goes on", async () => {
      const store = await make();
      const long = `acct_${"m".repeat(250)}`; // 3 000 lines of 255 characters of owner each: over 1 000 000 characters as whole lines
      const huge = "acct_h"; // 16 000 pools of 32 characters: over 1 000 000 characters however written
      const events = [
        ...Array.from({ length: 3_000 }, (_, i) => ({ owner: long, pool: `p${String(i).padStart(31, "0")}` })),
        ...Array.from({ length: 16_000 }, (_, i) => ({ owner: huge, pool: `p${String(i).padStart(31, "0")}` })),
        { owner: "acct_z", pool: "default" },
      ].map((e, i) => ({ ...e, tokenId: `tok_${i}`, at: NOV + HOUR, ok: true, cost: 1, code: "OK" }));
      for (let i = 0; i < events.length; i += 5_000) await store.recordUsage(events.slice(i, i + 5_000));
      const kw = new Keyward({ store, prefix: "acme", now: () => DEC + HOUR });
      const hooks: string[] = [];
      const onInvoice = (inv: Invoice) => void hooks.push(`${inv.owner.slice(0, 6)}:${inv.lines.length}`);
      const first = await kw.billing.run({ period: "2026-11", onInvoice });
      expect(first).toMatchObject({ billed: [long, "acct_z"], busy: [], alreadyBilled: [] });
      expect(first.failed).toMatchObject([{ owner: huge, error: { code: "INVALID_INPUT", field: "lines" } }]);
      expect(hooks).toEqual(["acct_m:3000", "acct_z:1"]);
      const second = await kw.billing.run({ period: "2026-11", onInvoice });
      expect(second).toMatchObject({ billed: [], alreadyBilled: [long, "acct_z"] });
      expect(second.failed.map((f) => f.owner)).toEqual([huge]);
      expect(hooks).toHaveLength(2);
      await kw.close();
    }, 30_000);

    it("a spend above Number.MAX_SAFE_INTEGER credits is never exported or billed rounded: refused naming the owner and pool, the other owners billed", async () => {
      const store = await make();
      // Ten hours of requests of the largest cost (MAX_CREDIT_BALANCE), each hour's row exact: 2^53 - 1 credits
      // for acct_max (a number holds it), 2^53 + 1 for acct_over (a number holds 2^53: one credit off).
      const spend = (owner: string, last: number) =>
        Array.from({ length: 10 }, (_, i) => ({ tokenId: `tok_${owner}`, owner, at: NOV + i * HOUR, ok: true, cost: i < 9 ? 1e15 : last, code: "OK" }));
      await store.recordUsage([...spend("acct_max", 7_199_254_740_991), ...spend("acct_over", 7_199_254_740_993)]);
      const kw = new Keyward({ store, prefix: "acme", now: () => DEC + HOUR });
      const nov = { from: NOV, to: DEC };
      const max = { owner: "acct_max", pool: "default", requests: 10, credits: Number.MAX_SAFE_INTEGER, from: NOV, to: DEC };
      expect(await kw.billing.usage({ ...nov, owner: "acct_max" })).toEqual([max]);
      const refused = { code: "INVALID_INPUT", field: "to", owner: "acct_over", pool: "default" };
      for (const read of [
        () => kw.billing.usage(nov),
        () => kw.billing.usage({ ...nov, owner: "acct_over" }),
        () => kw.billing.list(nov),
        () => kw.billing.export({ ...nov, format: "csv" }),
      ]) {
        await expect(read()).rejects.toMatchObject(refused);
      }
      // A page before that line is answered: the line read past it (for its cursor) is not on it.
      expect(await kw.billing.list({ ...nov, limit: 1 })).toMatchObject({ items: [max], nextCursor: expect.any(String) });
      const invoiced: BillingLine[][] = [];
      const run = await kw.billing.run({ period: "2026-11", onInvoice: (inv) => void invoiced.push(inv.lines) });
      expect(run).toMatchObject({ billed: ["acct_max"], alreadyBilled: [], busy: [] });
      expect(run.failed).toMatchObject([{ owner: "acct_over", error: refused }]);
      expect(invoiced).toEqual([[max]]);
      // Released: that owner's spend is billed over shorter periods.
      const half = await kw.billing.run({ period: { from: NOV, to: NOV + 5 * HOUR }, owner: "acct_over", onInvoice: (inv) => void invoiced.push(inv.lines) });
      expect(half.billed).toEqual(["acct_over"]);
      expect(invoiced[1]).toMatchObject([{ owner: "acct_over", requests: 5, credits: 5e15 }]);
      await kw.close();
    });

    it("a run bills each owner once; a rerun bills nobody twice; a failed hook is retried", async () => {
      const { kw } = await setup(await make());
      const billed: Invoice[] = [];
      let fail = true;
      const onInvoice = (inv: Invoice) => {
        if (inv.owner === "acct_a" && fail) throw new Error("billing system down");
        billed.push(inv);
      };
      const first = await kw.billing.run({ period: "2026-11", onInvoice, actor: "ops" });
      expect(first).toMatchObject({ period: "2026-11", billed: ['acct,"b"'], alreadyBilled: [], busy: [] });
      expect(first.failed.map((f) => f.owner)).toEqual(["acct_a"]);
      fail = false;
      const second = await kw.billing.run({ period: "2026-11", onInvoice });
      expect(second).toMatchObject({ billed: ["acct_a"], alreadyBilled: ['acct,"b"'], failed: [] });
      const third = await kw.billing.run({ period: "2026-11", onInvoice });
      expect(third).toMatchObject({ billed: [], alreadyBilled: ['acct,"b"', "acct_a"] });
      expect(billed.map((i) => [i.owner, i.lines.map((l) => [l.pool, l.credits]), i.idempotencyKey])).toEqual([
        ['acct,"b"', [["default", 2]], 'keyward:acct,"b":2026-11'],
        ["acct_a", [["default", 15], ["premium", 7]], "keyward:acct_a:2026-11"],
      ]);
      const audit = (await kw.tokens.audit({ owner: "acct_a" })).items.filter((e) => e.action === "bill");
      expect(audit).toMatchObject([{ actor: "system", changes: ["2026-11"], tokenId: "*" }]);
      // The month as its exact range is the same run; a range over some of its hours bills none of them again.
      expect(await kw.billing.run({ period: { from: "2026-11-01T00:00:00Z", to: DEC }, onInvoice })).toMatchObject({
        period: "2026-11",
        billed: [],
        alreadyBilled: ['acct,"b"', "acct_a"],
      });
      const twoMonths = await kw.billing.run({ period: { from: NOV - 31 * 24 * HOUR, to: DEC }, owner: "acct_a", onInvoice });
      expect(twoMonths).toMatchObject({ period: `${NOV - 31 * 24 * HOUR}-${DEC}`, billed: [], overlapping: ["acct_a"] });
      const october = await kw.billing.run({ period: { from: NOV - 31 * 24 * HOUR, to: NOV }, owner: "acct_a", onInvoice });
      expect(october).toMatchObject({ billed: [], overlapping: [] }); // no usage in October: nothing to bill
    });

    it("counts only requests that drew credits: unmetered, rate-limited only and cost 0 requests make no line and no invoice", async () => {
      const clock = { now: NOV + 5 * HOUR };
      const kw = new Keyward({ store: await make(), prefix: "acme", now: () => clock.now });
      const free = await kw.tokens.create({ owner: "acct_free", kind: "secret" });
      const limited = await kw.tokens.create({ owner: "acct_rl", kind: "secret", rateLimit: { limit: 100, windowMs: 1000 } });
      const paid = await kw.tokens.create({ owner: "acct_paid", kind: "secret", credits: { limit: 100 }, pools: { premium: { limit: 10 } } });
      for (let i = 0; i < 3; i++) {
        expect((await kw.check({ token: free.token, cost: 5 })).ok).toBe(true);
        expect((await kw.check({ token: limited.token, pool: "premium" })).ok).toBe(true);
        expect((await kw.check({ token: paid.token, cost: 0 })).ok).toBe(true);
        expect((await kw.check({ token: paid.token, cost: 0, pool: "premium" })).ok).toBe(true);
      }
      await kw.check({ token: paid.token, cost: 4, pool: "premium" });
      await kw.flush();
      expect(await kw.billing.usage({ from: NOV, to: DEC })).toEqual([{ owner: "acct_paid", pool: "premium", requests: 1, credits: 4, from: NOV, to: DEC }]);
      clock.now = DEC + HOUR;
      const invoiced: string[] = [];
      const run = await kw.billing.run({ period: "2026-11", onInvoice: (inv) => void invoiced.push(inv.owner) });
      expect(invoiced).toEqual(["acct_paid"]);
      expect(run).toMatchObject({ billed: ["acct_paid"], alreadyBilled: [], busy: [], failed: [], overlapping: [] });
      await kw.close();
    });

    it("concurrent runs of one period bill each owner exactly once", async () => {
      const { kw } = await setup(await make());
      const billed: string[] = [];
      const runs = await Promise.all(
        Array.from({ length: 8 }, () =>
          kw.billing.run({
            period: "2026-11",
            onInvoice: async (inv) => {
              await new Promise((r) => setTimeout(r, 5));
              billed.push(inv.owner);
            },
          }),
        ),
      );
      expect(billed.sort()).toEqual(['acct,"b"', "acct_a"]);
      expect(runs.flatMap((r) => r.billed).sort()).toEqual(['acct,"b"', "acct_a"]);
    });

    it("refuses bad periods and options with a coded error naming the field; bills nothing", async () => {
      const { kw, clock } = await setup(await make());
      const onInvoice = () => {
        throw new Error("must not be called");
      };
      const cases: [() => Promise<unknown>, string][] = [
        [() => kw.billing.usage({ from: DEC, to: NOV }), "to"],
        [() => kw.billing.usage({ from: NOV + 1, to: DEC }), "from"],
        [() => kw.billing.usage({ from: NOV, to: NOV + 401 * 86_400_000 }), "to"],
        [() => kw.billing.usage({ from: "yesterday", to: DEC }), "from"],
        [() => kw.billing.export({ from: NOV, to: DEC, format: "xml" as never }), "format"],
        [() => kw.billing.run({ period: "2026-13", onInvoice }), "period"],
        // Before any time keyward takes (March 1973: earlier is read as seconds); "0099" is no 1999 (Date.UTC's two-digit years).
        [() => kw.billing.run({ period: "1973-01", onInvoice }), "period"],
        [() => kw.billing.run({ period: "0099-01", onInvoice }), "period"],
        [() => kw.billing.run({ period: "2026-12", onInvoice }), "period"], // not over yet
        [() => kw.billing.run({ period: "2026-11", onInvoice: undefined as never }), "onInvoice"],
        [() => kw.billing.run({ period: "2026-11", onInvoice, staleAfterMs: 5 }), "staleAfterMs"],
        [() => kw.billing.run({ period: "2026-11", onInvoice, settleMs: -1 }), "settleMs"],
        // A field of another name: a misspelt owner would read, or bill, every account.
        [() => kw.billing.usage({ from: NOV, to: DEC, ownr: "acct_1" } as never), "options"],
        [() => kw.billing.list({ from: NOV, to: DEC, ownr: "acct_1" } as never), "options"],
        [() => kw.billing.export({ from: NOV, to: DEC, ownr: "acct_1", format: "csv" } as never), "options"],
        [() => kw.billing.run({ period: "2026-11", onInvoice, ownr: "acct_1" } as never), "options"],
      ];
      for (const [call, field] of cases) await expect(call()).rejects.toMatchObject({ code: "INVALID_INPUT", field });
      clock.now = Date.UTC(2027, 0, 1);
      expect((await kw.billing.run({ period: "2026-11", owner: "nobody", onInvoice })).billed).toEqual([]);
    });
  
    it("a run waits settleMs after the period and bills the usage this instance still queues", async () => {
      const clock = { now: NOV + 14 * 24 * HOUR };
      // A flush interval far longer than the test: only the run itself writes the queued events.
      const kw = new Keyward({ store: await make(), prefix: "acme", now: () => clock.now, usage: { flushIntervalMs: 3_600_000 } });
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 1000 } });
      await kw.check({ token, cost: 10 });
      await kw.flush();
      clock.now = DEC - 100;
      for (let i = 0; i < 5; i++) await kw.check({ token, cost: 10 }); // the last 100 ms of November, queued
      const invoices: Invoice[] = [];
      const onInvoice = (inv: Invoice) => {
        invoices.push(inv);
      };
      clock.now = DEC + 200;
      await expect(kw.billing.run({ period: "2026-11", onInvoice })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "period" });
      clock.now = DEC + 5 * 60_000 - 1; // the default settleMs is 5 minutes
      await expect(kw.billing.run({ period: "2026-11", onInvoice })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "period" });
      expect(invoices).toEqual([]);
      clock.now = DEC + 5 * 60_000;
      expect((await kw.billing.run({ period: "2026-11", onInvoice })).billed).toEqual(["acct_1"]);
      expect(invoices.map((i) => i.lines.map((l) => [l.requests, l.credits]))).toEqual([[[6, 60]]]);
      await kw.close();
    });
  });
}
