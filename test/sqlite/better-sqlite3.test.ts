// keyward/sqlite over better-sqlite3, a connection of the better-sqlite3 API
// that is not node:sqlite: the conformance suite, and what differs between
// the drivers (parameters, errors, busy waits).
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { guardStore, Keyward, StoreUnavailableError } from "keyward";
import { type SqliteStore, sqliteStore } from "keyward/sqlite";
import { describeTokenStore, makeStoredToken } from "keyward/testing";
import { afterAll, describe, expect, it } from "vitest";
import { holdWriteLock } from "../support/sqlite-lock.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-better-sqlite3-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `db-${n++}.sqlite`);
/** better-sqlite3's module, for a lock held in another thread: node:sqlite's locks are not its locks. */
const driver = createRequire(import.meta.url).resolve("better-sqlite3");

/** The file of the running conformance test's store: its peer opens it with node:sqlite, as another process may. */
let suiteFile = "";
const openSuiteFile = () => {
  suiteFile = file();
  return sqliteStore(new Database(suiteFile));
};
describeTokenStore("SqliteStore (better-sqlite3)", openSuiteFile, {
  raw: (s) => (s as SqliteStore).dump(),
  peer: () => sqliteStore(suiteFile),
  skip: { changeFeed: "SQLite has no cross-process notifications; the cache TTL bounds staleness" },
});

describe("sqliteStore over better-sqlite3", () => {
  it("a statement that uses a value twice (numbered parameters) runs: flat credits spend, a hard delete removes them", async () => {
    const store = sqliteStore(new Database(file()));
    const t = makeStoredToken();
    await store.insert(t);
    const spend = { tokenId: t.id, cost: 3, rateLimit: null, credits: { limit: 5, refill: null } };
    expect(await store.meter(spend, Date.now())).toMatchObject({ granted: true, credits: { remaining: 2 } });
    expect(await store.meter(spend, Date.now())).toMatchObject({ granted: false, deniedBy: "credits", credits: { remaining: 2 } });
    expect((await store.delete(t.id)).removed.credits).toBe(1);
    await store.close();
  });

  it("a write lock held by another connection past the busy timeout is STORE_UNAVAILABLE with better-sqlite3's code, never an allow; then service resumes", async () => {
    const path = file();
    const store = sqliteStore(new Database(path), { busyTimeoutMs: 20 });
    const kw = new Keyward({ store, prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 5, refill: { amount: 5, intervalMs: 60_000 } } });
    const other = new Database(path);
    other.exec("BEGIN IMMEDIATE");
    expect(await kw.check({ token })).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    const err = await guardStore(store)
      .revoke("tok_x", 1)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as StoreUnavailableError).driverCode).toBe("SQLITE_BUSY");
    other.exec("ROLLBACK");
    expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 4 });
    other.close();
    await kw.close();
  });

  it("an admin write whose busy timeout runs out is retried (better-sqlite3's SQLITE_BUSY is read as busy): a lock let go within the retries loses no write", async () => {
    const path = file();
    // 150 ms per attempt, 4 attempts: a lock of 400 ms is outlived only by retrying.
    const store = sqliteStore(new Database(path), { busyTimeoutMs: 150 });
    const kw = new Keyward({ store, prefix: "acme" });
    const lock = await holdWriteLock(path, 400, driver);
    const started = performance.now();
    try {
      const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
      expect(performance.now() - started).toBeGreaterThan(300);
      expect((await store.get(record.id))?.owner).toBe("o");
    } finally {
      await lock.release();
    }
    await kw.close();
  });
});
