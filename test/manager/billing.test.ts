import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Invoice, Keyward, MemoryStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { describeBilling } from "../support/billing-suite.js";

describeBilling("MemoryStore", () => new MemoryStore());
describeBilling("SQLite", () => sqliteStore(":memory:"));

/** Another process holding the write lock of the SQLite file `path` for `ms`; resolves once it holds it, with its exit. */
async function holdWriteLock(path: string, ms: number): Promise<{ released: Promise<void> }> {
  const holder = spawn(
    process.execPath,
    [
      "-e",
      `const { DatabaseSync } = require("node:sqlite");
       const db = new DatabaseSync(${JSON.stringify(path)});
       db.exec("BEGIN IMMEDIATE");
       console.log("locked");
       setTimeout(() => { db.exec("COMMIT"); db.close(); }, ${ms});`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const released = new Promise<void>((resolve) => holder.once("exit", () => resolve()));
  await new Promise((resolve, reject) => {
    holder.stdout.once("data", resolve);
    holder.once("error", reject);
  });
  return { released };
}

describe("kw.billing on a SQLite file", () => {
  it("a run whose write of the queued usage fails (another process holds the write lock) claims and bills nothing; the next run bills it all", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyward-billing-"));
    const path = join(dir, "kw.db");
    const clock = { now: Date.UTC(2026, 10, 10, 9) };
    // Usage writes wait 100 ms for the lock (requestBusyTimeoutMs), a run's claim 5 s (busyTimeoutMs).
    const kw = new Keyward({ store: sqliteStore(path), prefix: "acme", now: () => clock.now, usage: { flushIntervalMs: 3_600_000 } });
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
      const lock = await holdWriteLock(path, 1_500);
      await expect(kw.billing.run({ period: "2026-11", onInvoice })).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
      expect(invoices).toEqual([]);
      await lock.released;
      expect((await kw.billing.run({ period: "2026-11", onInvoice })).billed).toEqual(["acct_1"]);
      expect(invoices.map((i) => i.lines.map((l) => [l.requests, l.credits]))).toEqual([[[4, 310]]]);
    } finally {
      await kw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
