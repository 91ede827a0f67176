import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { ConfigError, guardStore, hashToken, Keyward, StoreUnavailableError, } from "keyward";
import { migrate, SCHEMA_VERSION, type SqliteStore, sqliteStore } from "keyward/sqlite";
import { describeTokenStore, makeAuditEntry, makeStoredToken } from "keyward/testing";
import { afterAll, describe, expect, it } from "vitest";
import { SQLITE_DIALECT } from "../../src/sqlite/store.js";
import { tableNames } from "../../src/store/sql/schema.js";
import { meterOps, poolOps, poolRequest, topUpRequest } from "../support/meter-ops.js";
import { expectCreateKeysFrom10, expectCreditsMigratedFrom6, schemaAt } from "../support/schema-at.js";
import { holdWriteLock } from "../support/sqlite-lock.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `db-${process.pid}-${n++}.sqlite`);
/** Where a link points, or "" (a descriptor closed meanwhile). */
const readlinkOr = (link: string) => {
  try {
    return readlinkSync(link);
  } catch {
    return "";
  }
};

/** The file of the running conformance test's store: its peer (the races' second process) opens it again. */
let suiteFile = "";
const openSuiteFile = () => {
  suiteFile = file();
  return sqliteStore(suiteFile);
};
describeTokenStore("SqliteStore (file, node:sqlite)", openSuiteFile, {
  raw: (s) => (s as SqliteStore).dump(),
  peer: () => sqliteStore(suiteFile),
  skip: { changeFeed: "SQLite has no cross-process notifications; the cache TTL bounds staleness" },
});

describeTokenStore(
  "SqliteStore (table prefix, synchronous FULL, given connection)",
  () => sqliteStore(new DatabaseSync(file()), { tablePrefix: "app_kw_", synchronous: "FULL" }),
  { raw: (s) => (s as SqliteStore).dump(), concurrency: 100, skip: { changeFeed: "no change feed" } },
);

/**
 * A token of `store` (a database file at `path`) and another connection's long read holding its snapshot in
 * the WAL (a backup, a report: no checkpoint gets past it meanwhile); `meter` spends on the token, each call a
 * millisecond later.
 */
async function readerInWal(store: ReturnType<typeof sqliteStore>, path: string) {
  const t = makeStoredToken();
  await store.insert(t);
  const reader = new DatabaseSync(path);
  reader.exec("BEGIN");
  reader.prepare("SELECT count(*) FROM keyward_tokens").get();
  const request = { tokenId: t.id, cost: 1, rateLimit: { limit: 1e9, windowMs: 1000 }, credits: { limit: 1e9, refill: null } };
  let now = Date.now();
  return { reader, wal: () => statSync(`${path}-wal`).size, meter: () => store.meter(request, now++) };
}

describe("sqliteStore", () => {
  it("sets WAL, the busy timeout (the request path's, between admin writes) and synchronous", () => {
    const db = new DatabaseSync(file());
    sqliteStore(db, { busyTimeoutMs: 1234, requestBusyTimeoutMs: 56, synchronous: "FULL" });
    expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(db.prepare("PRAGMA busy_timeout").get()).toMatchObject({ timeout: 56 });
    expect(db.prepare("PRAGMA synchronous").get()).toEqual({ synchronous: 2 });
  });

  it("cuts a WAL grown while a reader held its snapshot back to 16 MiB once checkpointed, not kept at its largest; keeps a limit the connection has", async () => {
    const path = file();
    const store = sqliteStore(path);
    const { reader, wal, meter } = await readerInWal(store, path);
    while (wal() < 24 * 2 ** 20) await meter();
    reader.exec("COMMIT");
    for (let i = 0; i < 10; i++) await meter();
    expect(wal()).toBeLessThanOrEqual(16 * 2 ** 20);
    reader.close();
    await store.close();
    const own = new DatabaseSync(file());
    own.exec("PRAGMA journal_size_limit = 1048576");
    sqliteStore(own);
    expect(own.prepare("PRAGMA journal_size_limit").get()).toEqual({ journal_size_limit: 1048576 });
    own.close();
  });

  it("a reader that holds its snapshot in the WAL past walCheckpointBytes costs a checkpoint wait now and then, not one every 32 calls", async () => {
    const path = file();
    // The store's own connection, counting its checkpoints (each waits up to 2 x 50 ms for the reader below).
    const db = new DatabaseSync(path);
    let checkpoints = 0;
    const prepare = db.prepare.bind(db);
    db.prepare = (sql: string) => {
      const statement = prepare(sql);
      if (sql.includes("wal_checkpoint")) {
        const get = statement.get.bind(statement);
        statement.get = () => {
          checkpoints++;
          return get();
        };
      }
      return statement;
    };
    const store = sqliteStore(db, { walCheckpointBytes: 2 ** 20, requestBusyTimeoutMs: 50 });
    const { reader, wal, meter } = await readerInWal(store, path);
    while (wal() <= 2 ** 20) await meter();
    // 3 200 calls, 100 looks at the WAL: a checkpoint at each would wait 5-10 s for the reader. After one that
    // failed, the looks pause 1 s, then 2, 4, 8…: five looks at most within the test's 20 s, however slow the machine.
    const before = checkpoints;
    for (let i = 0; i < 3200; i++) await meter();
    expect(checkpoints - before).toBeLessThanOrEqual(5);
    expect(wal()).toBeGreaterThan(2 ** 20);
    // Once the read ends, a later look (after its pause) empties the WAL. The pause is at most 4 s unless
    // the calls above took 7 s (1.3 s under two CPU hogs).
    reader.exec("COMMIT");
    reader.close();
    const deadline = performance.now() + 8000;
    while (wal() > 2 ** 20 && performance.now() < deadline) {
      await meter();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(wal()).toBeLessThanOrEqual(2 ** 20);
    await store.close();
    db.close();
  });

  it("creates a new database file readable by its owner only (0600; the WAL and shm files too), whatever the umask; an existing file keeps its mode", () => {
    const before = process.umask(0o022);
    try {
      // Under the usual umask the file was 0644: every local user could read the owners, metadata, usage and audit log.
      const path = file();
      const store = sqliteStore(path);
      for (const f of [path, `${path}-wal`, `${path}-shm`]) expect([f, statSync(f).mode & 0o777]).toEqual([f, 0o600]);
      store.close();
      const shared = file();
      writeFileSync(shared, "");
      chmodSync(shared, 0o640);
      sqliteStore(shared).close();
      expect(statSync(shared).mode & 0o777).toBe(0o640);
    } finally {
      process.umask(before);
    }
  });

  it("migrate() is idempotent, versioned and prefix-aware", () => {
    const db = new DatabaseSync(file());
    expect(migrate(db)).toBe(SCHEMA_VERSION);
    expect(migrate(db)).toBe(SCHEMA_VERSION);
    expect(migrate(db, { tablePrefix: "other_" })).toBe(SCHEMA_VERSION);
    const rows = db.prepare("SELECT version FROM keyward_migrations").all();
    expect(rows).toHaveLength(SCHEMA_VERSION);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name);
    expect(tables).toContain("keyward_tokens");
    expect(tables).toContain("other_tokens");
  });

  it("migrates a schema 6 database without losing a balance: a top-up beyond the plan (a negative used) becomes bought credits", async () => {
    const db = new DatabaseSync(file());
    await expectCreditsMigratedFrom6({ exec: (sql) => db.exec(sql), rows: (sql) => db.prepare(sql).all() }, tableNames("keyward_"), SQLITE_DIALECT, () => sqliteStore(db));
  });

  it("migrates a schema 10 database to 11 (keyward_create_keys): its tokens kept, a keyed create made once and replayed", async () => {
    const db = new DatabaseSync(file());
    const access = { exec: (sql: string) => db.exec(sql), rows: (sql: string) => db.prepare(sql).all() };
    await expectCreateKeysFrom10(access, tableNames("src_"), tableNames("keyward_"), SQLITE_DIALECT, (t) => sqliteStore(db, { tablePrefix: t.tokens.slice(0, -"tokens".length) }));
  });

  it("looks tokens up by hash through the primary-key index", () => {
    const db = new DatabaseSync(file());
    sqliteStore(db);
    const plan = db
      .prepare(
        "EXPLAIN QUERY PLAN SELECT t.record FROM keyward_hashes h JOIN keyward_tokens t ON t.id = h.token_id WHERE h.hash = ?",
      )
      .all("x")
      .map((r) => String(r.detail));
    expect(plan.join("\n")).toMatch(/SEARCH h USING PRIMARY KEY \(hash=\?\)/);
    expect(plan.join("\n")).not.toMatch(/SCAN/);
  });

  it("refuses a schema newer than the library, naming both versions, and writes nothing", () => {
    const path = file();
    const db = new DatabaseSync(path);
    migrate(db);
    db.prepare("INSERT INTO keyward_migrations (version, name, applied_at) VALUES (?, 'future', 0)").run(SCHEMA_VERSION + 1);
    const err = (() => {
      try {
        sqliteStore(db);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toContain(`version ${SCHEMA_VERSION + 1}`);
    expect(() => migrate(db)).toThrow(StoreUnavailableError);
  });

  it("with migrate: false, a database without the schema is refused", () => {
    expect(() => sqliteStore(new DatabaseSync(file()), { migrate: false })).toThrow(/schema version 0, expected/);
  });

  it("refuses another application's table of keyward's name before writing anything: the file is byte for byte as it was, journal mode included", () => {
    // An application's database (rollback journal) with a table named as version 1's, or as version 4's (a
    // schema at 3: versions 1-3 are keyward's), or as version 1's in other case (SQLite's names ignore case).
    const cases: [string, string[], string][] = [
      ["keyward_tokens", ["CREATE TABLE app_users (id INTEGER)", "CREATE TABLE keyward_tokens (x INTEGER)", "INSERT INTO keyward_tokens VALUES (1)"], "keyward_tokens"],
      ["keyward_anomaly_seen", [...schemaAt(3, tableNames("keyward_"), SQLITE_DIALECT), "CREATE TABLE keyward_anomaly_seen (x INTEGER)"], "keyward_anomaly_seen"],
      ["Keyward_Hashes", ["CREATE TABLE Keyward_Hashes (x INTEGER)"], "keyward_hashes"],
    ];
    for (const [table, statements, named] of cases) {
      const path = file();
      const app = new DatabaseSync(path);
      for (const sql of statements) app.exec(sql);
      app.close();
      const before = readFileSync(path);
      const open = [() => sqliteStore(path), () => sqliteStore(path, { migrate: false }), () => migrate(new DatabaseSync(path))];
      for (const attempt of open) {
        expect(attempt, table).toThrow(ConfigError);
        expect(attempt, table).toThrow(`tablePrefix: table or index ${named} exists and is not keyward's: use another tablePrefix`);
      }
      expect(readFileSync(path).equals(before), table).toBe(true);
      expect(existsSync(`${path}-wal`), table).toBe(false);
      const check = new DatabaseSync(path, { readOnly: true });
      expect(check.prepare("PRAGMA journal_mode").get(), table).toEqual({ journal_mode: "delete" });
      check.close();
    }
  });

  it("migrate() from several connections at once waits for the write lock (busyTimeoutMs), and sets the connection's busy timeout back", async () => {
    const older = () => {
      const path = file();
      const app = new DatabaseSync(path);
      for (const sql of schemaAt(SCHEMA_VERSION - 1, tableNames("keyward_"), SQLITE_DIALECT)) app.exec(sql);
      app.close();
      return path;
    };
    const path = older();
    const lock = await holdWriteLock(path, 300); // another process, migrating or writing
    const db = new DatabaseSync(path); // node:sqlite's own busy timeout: 0
    expect(migrate(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("PRAGMA busy_timeout").get()).toMatchObject({ timeout: 0 });
    await lock.release();
    // A lock held past busyTimeoutMs: SQLITE_BUSY, coded, after busyTimeoutMs (not once per retry).
    const heldPath = older();
    const held = await holdWriteLock(heldPath);
    try {
      const started = performance.now();
      expect(() => migrate(new DatabaseSync(heldPath), { busyTimeoutMs: 300 })).toThrow(
        expect.objectContaining({ code: "STORE_UNAVAILABLE", driverCode: "5" }),
      );
      expect(performance.now() - started).toBeLessThan(900);
    } finally {
      await held.release();
    }
  });

  it("a migration SQLite fails (a full disk, a read-only file) is STORE_UNAVAILABLE with its driverCode, and leaves the schema at its version", () => {
    const path = file();
    const t = tableNames("keyward_");
    const app = new DatabaseSync(path);
    for (const sql of schemaAt(SCHEMA_VERSION - 1, t, SQLITE_DIALECT)) app.exec(sql);
    const full = new DatabaseSync(path);
    full.exec(`PRAGMA max_page_count = ${(full.prepare("PRAGMA page_count").get() as { page_count: number }).page_count}`);
    const readOnly = new DatabaseSync(path, { readOnly: true });
    for (const [db, driverCode] of [[full, "13"], [readOnly, "8"]] as const) {
      expect(() => migrate(db)).toThrow(expect.objectContaining({ name: "StoreUnavailableError", code: "STORE_UNAVAILABLE", driverCode }));
      expect(db.isTransaction).toBe(false);
    }
    expect(app.prepare(`SELECT MAX(version) AS v FROM ${t.migrations}`).get()).toEqual({ v: SCHEMA_VERSION - 1 });
  });

  it("a migration that fails leaves the schema at its version: every pending version commits together, or none", () => {
    const path = file();
    const app = new DatabaseSync(path);
    const t = tableNames("keyward_");
    for (const sql of schemaAt(3, t, SQLITE_DIALECT)) app.exec(sql);
    // Version 7 adds this column: it fails there, after 4, 5 and 6 ran in the same transaction.
    app.exec(`ALTER TABLE ${t.credits} ADD COLUMN bought INTEGER`);
    expect(() => migrate(app)).toThrow(/duplicate column name: bought/);
    expect(app.isTransaction).toBe(false);
    expect(app.prepare(`SELECT MAX(version) AS v FROM ${t.migrations}`).get()).toEqual({ v: 3 });
    expect(app.prepare("SELECT name FROM sqlite_master WHERE name IN (?, ?)").all(t.anomalySeen, t.billingRuns)).toEqual([]);
  });

  it("a corrupt file is STORE_UNAVAILABLE at open", () => {
    const path = file();
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    expect(() => sqliteStore(path)).toThrow(StoreUnavailableError);
  });

  it("a missing table is STORE_UNAVAILABLE and never an allow", async () => {
    const db = new DatabaseSync(file());
    const store = sqliteStore(db);
    const kw = new Keyward({ store, prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    db.exec("DROP TABLE keyward_hashes");
    const d = await new Keyward({ store, prefix: "acme" }).check({ token });
    expect(d).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    await expect(guardStore(store).get("tok_x")).resolves.toBeNull();
    await expect(guardStore(store).findByHash("a".repeat(64))).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
  });

  it("a read-only database: reads work, writes are STORE_UNAVAILABLE and change nothing", async () => {
    const path = file();
    const writer = sqliteStore(path);
    const t = makeStoredToken();
    await writer.insert(t);
    await writer.close();
    const ro = sqliteStore(new DatabaseSync(path, { readOnly: true }), { migrate: false });
    const g = guardStore(ro);
    expect(await g.get(t.id)).toEqual(t);
    await expect(g.revoke(t.id, 1)).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
    await expect(g.meter({ tokenId: t.id, cost: 1, rateLimit: null, credits: { limit: 5, refill: null } }, 1)).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
    });
    expect((await g.get(t.id))?.revokedAt).toBeNull();
  });

  it("a COMMIT that fails is rolled back: nothing is written, and the connection takes the next transaction", async () => {
    const db = new DatabaseSync(file());
    const store = guardStore(sqliteStore(db));
    const t = makeStoredToken();
    await store.insert(t);
    // A deferred foreign key broken by every audit entry fails the COMMIT itself, which leaves SQLite's transaction open.
    db.exec(`PRAGMA foreign_keys = ON;
      CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
      CREATE TRIGGER broken AFTER INSERT ON keyward_audit BEGIN INSERT INTO child VALUES (1); END`);
    await expect(store.revoke(t.id, 5, makeAuditEntry({ tokenId: t.id, owner: t.owner }))).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
    expect(db.isTransaction).toBe(false);
    expect((await store.get(t.id))?.revokedAt).toBeNull();
    db.exec("DROP TRIGGER broken");
    expect((await store.revoke(t.id, 6)).revokedAt).toBe(6);
  });

  it("a one-statement spend whose COMMIT fails (a full disk) is STORE_UNAVAILABLE, never a grant of credits not spent", async () => {
    const db = new DatabaseSync(file());
    const kw = new Keyward({ store: sqliteStore(db), prefix: "acme", usage: { enabled: false } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 10 } });
    expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 9 });
    // A write the autocommit COMMIT refuses, as SQLite's COMMIT of a WAL frame on a full disk (SQLITE_FULL): a
    // deferred foreign key broken by every change of the credits row. node:sqlite's get() ignores what the COMMIT
    // said: the spend is rolled back, and the row RETURNING gave came back as a grant.
    db.exec(`PRAGMA foreign_keys = ON;
      CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
      CREATE TRIGGER broken AFTER UPDATE ON keyward_credits BEGIN INSERT INTO child VALUES (1); END`);
    for (let i = 0; i < 12; i++) expect(await kw.check({ token })).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE" });
    expect(db.isTransaction).toBe(false);
    db.exec("DROP TRIGGER broken");
    expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 8 });
    expect((await kw.tokens.get(record.id))?.id).toBe(record.id);
    await kw.close();
  });

  it("a billing owner stored with NUL (written past the guard) is answered as stored, or STORE_UNAVAILABLE where node:sqlite cuts it: never a walk without end", async () => {
    const store = await sqliteStore(new DatabaseSync(":memory:"));
    const T = Date.UTC(2026, 10, 1);
    const owner = "acct_b\\\u0000xyz";
    // The adapter itself, unguarded: the guard now refuses such an owner.
    await store.recordUsage([owner, "acct_c"].map((o) => ({ tokenId: "tok_x", owner: o, at: T, ok: true, cost: 2, code: "OK", scope: null })));
    // Node 24 reads the string back whole; Node 22's node:sqlite read it cut at NUL, and the walk found it again for ever.
    const answer = await store.billingUsage({ from: T, to: T + 3_600_000 }).catch((err: { code?: string }) => String(err.code));
    if (typeof answer === "string") expect(answer).toBe("STORE_UNAVAILABLE");
    else expect(answer.map((r) => r.owner)).toEqual([owner, "acct_c"]);
    await store.close();
  });

  it("hostile strings are bound parameters: same decisions as MemoryStore", async () => {
    const store = guardStore(sqliteStore(file()));
    const odd = ["'; DROP TABLE keyward_tokens; --", "a\u0000b", "\u{1F600}\u202e\uFEFF", "x".repeat(1 << 20), "%_\\"];
    for (const s of odd) {
      const t = makeStoredToken({ owner: s, name: s, metadata: { [s.slice(0, 100)]: s } });
      await store.insert(t);
      expect(await store.get(t.id)).toEqual(t);
      expect((await store.list(s)).items.map((x) => x.id)).toEqual([t.id]);
      // A nonce with NUL (or a lone surrogate) is refused by the guard: Node 22's node:sqlite cuts a string at NUL.
      if (s.includes("\u0000")) await expect(store.rememberNonce({ tokenId: t.id, nonce: s }, 10, 0)).rejects.toMatchObject({ code: "INVALID_INPUT" });
      else {
        expect(await store.rememberNonce({ tokenId: t.id, nonce: s }, 10, 0)).toBe(true);
        expect(await store.rememberNonce({ tokenId: t.id, nonce: s }, 10, 0)).toBe(false);
      }
    }
    expect(await store.findByHash("' OR 1=1 --")).toBeNull();
  });

  it("rejects bad options with INVALID_CONFIG", () => {
    expect(() => sqliteStore(file(), { tablePrefix: "x; DROP" })).toThrow(/tablePrefix/);
    expect(() => sqliteStore(file(), { synchronous: "OFF" as never })).toThrow(/synchronous/);
    expect(() => sqliteStore(file(), { walCheckpointBytes: -1 })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "walCheckpointBytes" }));
    expect(() => sqliteStore({} as never)).toThrow(TypeError);
  });

  it.runIf(existsSync("/proc/self/fd"))("a store refused at startup closes the file it opened: an invalid option, a newer schema", async () => {
    const path = file();
    await sqliteStore(path).close();
    /** This process's descriptors open on the database (or its -wal and -shm). */
    const open = () => readdirSync("/proc/self/fd").filter((fd) => readlinkOr(`/proc/self/fd/${fd}`).startsWith(path)).length;
    expect(open()).toBe(0);
    expect(() => sqliteStore(path, { tablePrefix: "x; DROP" })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
    const newer = new DatabaseSync(path);
    newer.exec(`INSERT INTO keyward_migrations (version, name, applied_at) VALUES (${SCHEMA_VERSION + 1}, 'from a newer keyward', 0)`);
    newer.close();
    expect(() => sqliteStore(path)).toThrow(StoreUnavailableError);
    expect(open()).toBe(0);
  });

  it("an option of another name is refused before the file is opened (a misspelt synchronous would leave NORMAL in force)", () => {
    const path = file();
    expect(() => sqliteStore(path, { synchronus: "FULL" } as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "synchronus" }));
    expect(existsSync(path)).toBe(false);
    const db = new DatabaseSync(":memory:");
    expect(() => sqliteStore(db, { migrat: false } as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "migrat" }));
    db.close();
  });

  // Node 22.5 to 22.12 hand out node:sqlite only under --experimental-sqlite (getBuiltinModule answers undefined), and
  // Node 22.0 to 22.2 have no getBuiltinModule: the README's quickstart failed there with "Cannot destructure property
  // 'DatabaseSync'" or "process.getBuiltinModule is not a function".
  it("a path on a runtime without node:sqlite is INVALID_CONFIG naming db and what to do, not a TypeError", () => {
    const message = "db: a path is opened with node:sqlite, which this runtime does not have: use Node 22.13 or later (22.5 to 22.12 with --experimental-sqlite), or pass a better-sqlite3-shaped connection";
    const real = process.getBuiltinModule;
    try {
      process.getBuiltinModule = ((id: string) => (id === "node:sqlite" ? undefined : real(id))) as typeof real;
      expect(() => sqliteStore(file())).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "db", message }));
      (process as { getBuiltinModule?: unknown }).getBuiltinModule = undefined;
      expect(() => sqliteStore(file())).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "db", message }));
    } finally {
      process.getBuiltinModule = real;
    }
  });
});

describe("SqliteStore decides like MemoryStore", () => {
  it("meter: the same answers on random sequences, flat credits (one statement) and with refill / rate limits, with top-ups (property)", async () => {
    const fc = (await import("fast-check")).default;
    const { MemoryStore } = await import("keyward");
    await fc.assert(
      fc.asyncProperty(
        meterOps(40),
        async (ops) => {
          const sqlite = guardStore(sqliteStore(":memory:"));
          const memory = guardStore(new MemoryStore());
          let now = Date.UTC(2025, 0, 1);
          for (const op of ops) {
            now += op.dt;
            const req = { tokenId: "tok_p", cost: op.cost, rateLimit: op.rate, credits: { limit: op.limit, refill: op.refill } };
            expect(await sqlite.meter(req, now)).toEqual(await memory.meter(req, now));
            const top = topUpRequest("tok_p", op, req.credits);
            if (top) expect(await sqlite.adjustCredits(top, now)).toEqual(await memory.adjustCredits(top, now));
          }
          await sqlite.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("SqliteStore decides like MemoryStore with pools", () => {
  it("meter: the same answers on random sequences over named pools, several rate limits and calendar resets, with top-ups (property)", async () => {
    const fc = (await import("fast-check")).default;
    const { MemoryStore } = await import("keyward");
    await fc.assert(
      fc.asyncProperty(
        poolOps(40),
        async (ops) => {
          const sqlite = guardStore(sqliteStore(":memory:"));
          const memory = guardStore(new MemoryStore());
          let now = Date.UTC(2025, 0, 31, 12);
          for (const op of ops) {
            now += op.dt;
            const req = poolRequest("tok_p", op);
            expect(await sqlite.meter(req, now)).toEqual(await memory.meter(req, now));
            const top = topUpRequest("tok_p", op, req.credits);
            if (top) expect(await sqlite.adjustCredits(top, now)).toEqual(await memory.adjustCredits(top, now));
          }
          await sqlite.close();
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("SQLite locks", () => {
  it("opens a database in rollback-journal mode (another program's) while another connection holds its write lock: the switch to WAL waits within busyTimeoutMs", async () => {
    // PRAGMA journal_mode = WAL needs the file's exclusive lock, which SQLite asks for without calling the busy
    // handler: the store was refused at once (STORE_UNAVAILABLE, "database is locked"), whatever busyTimeoutMs.
    const path = file();
    const other = new DatabaseSync(path);
    other.exec("CREATE TABLE theirs (a)");
    other.close();
    const lock = await holdWriteLock(path, 300);
    const started = performance.now();
    const store = sqliteStore(path, { busyTimeoutMs: 3_000 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    await lock.release();
    const db = new DatabaseSync(path);
    expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    db.close();
    await store.close();
  });

  it("a database in rollback-journal mode whose write lock is held longer than busyTimeoutMs is refused after that wait (STORE_UNAVAILABLE)", async () => {
    const path = file();
    const other = new DatabaseSync(path);
    other.exec("CREATE TABLE theirs (a)");
    other.close();
    const lock = await holdWriteLock(path);
    try {
      const started = performance.now();
      expect(() => sqliteStore(path, { busyTimeoutMs: 200 })).toThrow(StoreUnavailableError);
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    } finally {
      await lock.release();
    }
  });

  it("a write lock held elsewhere fails a metered check within the request path's wait, and holds up no other request for longer", async () => {
    const path = file();
    const store = sqliteStore(path); // admin writes wait 5 s, the request path 100 ms
    const kw = new Keyward({ store, prefix: "acme", usage: { flushIntervalMs: 60_000 } });
    const { token: metered } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 100 } });
    const { token: plain } = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect((await kw.check({ token: plain })).ok).toBe(true); // cached
    const lock = await holdWriteLock(path);
    try {
      // Both asked at once: a wait blocks the process, so the cached check waits for the metered one.
      const started = performance.now();
      const [m, p] = await Promise.all([kw.check({ token: metered }), kw.check({ token: plain })]);
      const elapsed = performance.now() - started;
      expect(m).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE" });
      expect(p.ok).toBe(true);
      // 100 ms, retried only within it; before, 5 s × 4 (a generous bound between the two).
      expect(elapsed).toBeLessThan(2_000);
      // The usage flush fails the same way, and keeps its events for the next one.
      const flushStart = performance.now();
      await kw.flush();
      expect(performance.now() - flushStart).toBeLessThan(2_000);
    } finally {
      await lock.release();
    }
    await kw.flush();
    const usage = await store.getUsage((await store.findByHash(hashToken(plain)))!.id, { from: 0, to: Date.now() + 3_600_000, granularity: "day" });
    expect(usage.reduce((s, b) => s + b.allowed, 0)).toBe(2);
    expect(await kw.check({ token: metered })).toMatchObject({ ok: true, remaining: 99 });
  });


  it("a token seen in a request's URL is reported within the request path's wait while a write lock is held elsewhere: the process is not blocked for the admin's", async () => {
    // The verifier writes a `leak` audit entry for a live token it finds in a URL (anyone holding a token can send
    // one). appendAudit waited as an admin write, busyTimeoutMs at each of its 4 tries, the process blocked all along
    // (the driver is synchronous, so lookupTimeoutMs cannot cut the wait short): every request stalled.
    const path = file();
    const store = sqliteStore(path, { busyTimeoutMs: 1_500 });
    const kw = new Keyward({ store, prefix: "acme", usage: { flushIntervalMs: 60_000 } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const inUrl = () => new Request(`https://api.test/v1/prices?key=${token}`);
    const lock = await holdWriteLock(path);
    try {
      const started = performance.now();
      expect(await kw.verify(inUrl())).toMatchObject({ ok: false, code: "TOKEN_IN_URL" });
      await kw.flush(); // the report, and its write, done
      // 100 ms, retried only within it; before, 1.5 s × 4.
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      await lock.release();
    }
    // A report that could not be written is made the next time the token is seen.
    expect(await kw.verify(inUrl())).toMatchObject({ ok: false, code: "TOKEN_IN_URL" });
    await kw.flush();
    expect((await kw.tokens.audit({ tokenId: record.id })).items.filter((e) => e.action === "leak")).toHaveLength(1);
    await kw.close();
  });

  it("an admin write waits up to busyTimeoutMs for a write lock held elsewhere, the first after opening too, not the request path's wait; the request path then waits its own again", async () => {
    const path = file();
    const store = sqliteStore(path, { busyTimeoutMs: 3_000, requestBusyTimeoutMs: 50 });
    const kw = new Keyward({ store, prefix: "acme" });
    // Released after 600 ms (while this thread waits): within busyTimeoutMs, far past the request path's 4 x 50 ms.
    for (let i = 0; i < 2; i++) {
      const lock = await holdWriteLock(path, 600);
      try {
        expect((await kw.tokens.create({ owner: "o", kind: "secret" })).record.owner).toBe("o");
      } finally {
        await lock.release();
      }
    }
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 5 } });
    const held = await holdWriteLock(path);
    try {
      const checked = performance.now();
      expect(await kw.check({ token })).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE" });
      expect(performance.now() - checked).toBeLessThan(1_000);
    } finally {
      await held.release();
    }
  });

  it("a write lock held by another connection past the busy timeout answers STORE_UNAVAILABLE, never an allow; then service resumes", async () => {
    const path = file();
    const store = sqliteStore(path, { busyTimeoutMs: 20 });
    const kw = new Keyward({ store, prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 5, refill: { amount: 5, intervalMs: 60_000 } } });
    const other = new DatabaseSync(path);
    other.exec("BEGIN IMMEDIATE");
    const d = await kw.check({ token });
    expect(d).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    const err = (await guardStore(store).revoke("tok_x", 1).catch((e: unknown) => e)) as StoreUnavailableError;
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err.driverCode).toBe("5"); // SQLITE_BUSY
    other.exec("ROLLBACK");
    expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 4 });
    other.close();
  });
});
