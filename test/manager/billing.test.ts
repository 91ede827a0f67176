import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { type BillingLine, type BillingUsage, type BillingUsageQuery, type Invoice, Keyward, MemoryStore, type Page, sumBilling } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { describeBilling } from "../support/billing-suite.js";
import { cpuClock } from "../support/cpu.js";
import { watchEventLoop } from "../support/slow-clients.js";

describeBilling("MemoryStore", () => new MemoryStore());
describeBilling("SQLite", () => sqliteStore(":memory:"));

/** Another process holding the write lock of the SQLite file `path` until `release()`; resolves once it holds it. */
async function holdWriteLock(path: string): Promise<{ release: () => Promise<void> }> {
  const holder = spawn(
    process.execPath,
    [
      "-e",
      `const { DatabaseSync } = require("node:sqlite");
       const db = new DatabaseSync(${JSON.stringify(path)});
       db.exec("BEGIN IMMEDIATE");
       console.log("locked");
       process.stdin.once("data", () => { db.exec("COMMIT"); db.close(); process.exit(0); });`,
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => holder.once("exit", () => resolve()));
  await new Promise((resolve, reject) => {
    holder.stdout.once("data", resolve);
    holder.once("error", reject);
  });
  return {
    release: () => {
      holder.stdin.end("release\n");
      return exited;
    },
  };
}

describe("kw.billing on a SQLite file", () => {
  it("a run whose write of the queued usage fails (another process holds the write lock) claims and bills nothing; the next run bills it all", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyward-billing-"));
    const path = join(dir, "kw.db");
    const clock = { now: Date.UTC(2026, 10, 10, 9) };
    // Usage writes wait 100 ms for the lock (requestBusyTimeoutMs), a run's claim 5 s (busyTimeoutMs).
    let onWriteError = () => {};
    const usage = { flushIntervalMs: 3_600_000, onError: () => onWriteError() };
    const kw = new Keyward({ store: sqliteStore(path), prefix: "acme", now: () => clock.now, usage });
    try {
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 1000 } });
      await kw.check({ token, cost: 10 });
      await kw.flush();
      clock.now = Date.UTC(2026, 11, 1) - 60_000;
      for (let i = 0; i < 3; i++) await kw.check({ token, cost: 100 }); // the last minute of November, queued
      clock.now = Date.UTC(2026, 11, 1) + 10 * 60_000;
      const invoices: Invoice[] = [];
      const onInvoice = (inv: Invoice) => {
        invoices.push(inv);
      };
      // The lock comes free as soon as the usage write has failed: a run that went on to claim would get it then
      // (within its 5 s), whatever the machine's load, rather than whenever a timer in the other process fired.
      const lock = await holdWriteLock(path);
      let released: Promise<void> | undefined;
      onWriteError = () => {
        released ??= lock.release();
      };
      await expect(kw.billing.run({ period: "2026-11", onInvoice })).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
      expect(invoices).toEqual([]);
      expect(released).toBeDefined();
      await released;
      expect((await kw.billing.run({ period: "2026-11", onInvoice })).billed).toEqual(["acct_1"]);
      expect(invoices.map((i) => i.lines.map((l) => [l.requests, l.credits]))).toEqual([[[4, 310]]]);
    } finally {
      await kw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("kw.billing over a large volume of usage", () => {
  const NOV = Date.UTC(2026, 10, 1);
  const DEC = Date.UTC(2026, 11, 1);
  const HOUR = 3_600_000;

  it("on a SQLite file, reading 200 000 rows of every owner (usage, export) leaves the event loop a turn every few thousand rows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyward-billing-"));
    const path = join(dir, "kw.db");
    const store = sqliteStore(path);
    // 4 000 owners x 2 pools x 25 hours of November, written straight into the table.
    const [owners, hours] = [4000, 50];
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    const insert = db.prepare("INSERT INTO keyward_billing_usage (owner, pool, hour, requests, credits) VALUES (?, ?, ?, 1, 2)");
    for (let o = 0; o < owners; o++) for (let h = 0; h < hours; h++) insert.run(`acct_${o}`, h % 2 ? "default" : "premium", NOV + h * 13 * HOUR);
    db.exec("COMMIT");
    db.close();
    const kw = new Keyward({ store, prefix: "acme", now: () => DEC + HOUR });
    try {
      // Turns of the event loop during the reads, counted; and the most CPU time between two of them.
      const loop = watchEventLoop();
      const lines = await kw.billing.usage({ from: NOV, to: DEC });
      const csv = await kw.billing.export({ from: NOV, to: DEC, format: "csv" });
      const { turns, gap } = loop.stop();
      expect(lines).toHaveLength(owners * 2);
      expect(csv.split("\r\n")).toHaveLength(owners * 2 + 2);
      // Before, each read was one synchronous step of every row (a turn or two in all).
      expect(turns).toBeGreaterThanOrEqual((2 * owners * hours) / 5000);
      // The longest step costs 5-15 ms of CPU, a garbage collection included; one read of every row, far more.
      expect(gap).toBeLessThan(150);
    } finally {
      await kw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on MemoryStore, one owner's spend reads that owner's rows of the period, not every row", async () => {
    const store = new MemoryStore();
    const [owners, hours] = [10_000, 50];
    const events = [];
    for (let o = 0; o < owners; o++) {
      for (let h = 0; h < hours; h++) events.push({ tokenId: `tok_${o}`, owner: `acct_${o}`, at: NOV + h * 13 * HOUR, ok: true, cost: 2, pool: h % 2 ? "default" : "premium" });
    }
    await store.recordUsage(events);
    const kw = new Keyward({ store, prefix: "acme", now: () => DEC + HOUR });
    // One read of every owner's rows, the work each query of one owner did before (about 10 ms each).
    let cpu = cpuClock();
    expect(await kw.billing.usage({ from: NOV, to: DEC })).toHaveLength(owners * 2);
    const everyRow = cpu();
    cpu = cpuClock();
    for (let i = 0; i < 20; i++) {
      expect(await kw.billing.usage({ from: NOV, to: DEC, owner: `acct_${i * 7}` })).toMatchObject([{ requests: 25 }, { requests: 25 }]);
    }
    // Before, 20 queries cost 20 such reads (scanning every owner's index, one); now a few dozen rows
    // each, in all about a sixth of one.
    expect(cpu()).toBeLessThan(everyRow / 2);
    // A page of every owner reads only its own owners' rows too.
    expect((await kw.billing.list({ from: NOV, to: DEC, limit: 10 })).items).toHaveLength(10);
  });
});

describe("kw.billing on a store that does not answer a page", () => {
  const NOV = Date.UTC(2026, 10, 1);
  const DEC = Date.UTC(2026, 11, 1);
  const period = { from: NOV, to: DEC };
  const owners = Array.from({ length: 1200 }, (_, i) => `acct_${String(i).padStart(4, "0")}`);

  /** Written to the contract before pages: every sum of the period, whatever `after` and `limit`. */
  class WholeAnswer extends MemoryStore {
    override billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]> {
      return super.billingUsage({ owner: query.owner, from: query.from, to: query.to });
    }
  }
  /** Honours `limit` but not `after`: the first page, again and again. */
  class IgnoresAfter extends MemoryStore {
    override billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]> {
      return super.billingUsage({ ...query, after: undefined });
    }
  }
  /** A third-party store over rows of its own, summed by the kit's sumBilling given the query. */
  class KitSums extends MemoryStore {
    rows = owners.map((owner) => ({ owner, pool: "default", hour: NOV, requests: 1, credits: 2 }));
    override async billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]> {
      const rows = this.rows.filter((r) => r.hour >= query.from && r.hour < query.to && (query.owner === undefined || r.owner === query.owner));
      return sumBilling(rows, query);
    }
  }

  async function withKeyward(store: MemoryStore, body: (kw: Keyward) => Promise<void>): Promise<void> {
    await store.recordUsage(owners.map((owner) => ({ tokenId: `tok_${owner}`, owner, at: NOV, ok: true, cost: 2 })));
    const kw = new Keyward({ store, prefix: "acme", now: () => DEC + 3_600_000 });
    try {
      await body(kw);
    } finally {
      await kw.close();
    }
  }
  const broken = { code: "STORE_UNAVAILABLE", message: expect.stringMatching(/billingUsage .*a store answers a page/) };

  it("usage, export, run and list answer STORE_UNAVAILABLE naming the contract, rather than read the same sums forever", { timeout: 10_000 }, async () => {
    for (const store of [new WholeAnswer(), new IgnoresAfter()]) {
      await withKeyward(store, async (kw) => {
        await expect(kw.billing.usage(period)).rejects.toMatchObject(broken);
        await expect(kw.billing.export({ ...period, format: "csv" })).rejects.toMatchObject(broken);
        const invoices: Invoice[] = [];
        await expect(kw.billing.run({ period: "2026-11", onInvoice: (i) => void invoices.push(i) })).rejects.toMatchObject(broken);
        // Nothing billed from an answer refused; an owner whose lines a good page held completely, once.
        if (store instanceof WholeAnswer) expect(invoices).toEqual([]);
        expect(new Set(invoices.map((i) => i.owner)).size).toBe(invoices.length);
        const first = kw.billing.list({ ...period, limit: 100 });
        if (store instanceof WholeAnswer) await expect(first).rejects.toMatchObject(broken);
        else await expect(kw.billing.list({ ...period, limit: 100, cursor: (await first).nextCursor })).rejects.toMatchObject(broken);
      });
    }
  });

  it("a store summing with sumBilling(rows, query) answers pages: every line once", { timeout: 10_000 }, async () => {
    await withKeyward(new KitSums(), async (kw) => {
      expect((await kw.billing.usage(period)).map((l) => l.owner)).toEqual(owners);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Page<BillingLine> = await kw.billing.list({ ...period, limit: 500, cursor });
        seen.push(...page.items.map((l) => l.owner));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(owners);
    });
  });
});
