// Credit leases: exact grants, work per request, return on close; a reset, a read and a hard delete
// racing a reservation or a return; table prefixes that share a database.
import { guardStore, Keyward, MAX_CREDIT_BALANCE, tokenPool } from "keyward";
import { type PostgresPool, postgresStore } from "keyward/postgres";
import { makeStoredToken } from "keyward/testing";
import { describe, expect, it } from "vitest";
import { LOCK_HOLDER_IDLE_MS } from "../../src/postgres/statements.js";
import { openSchema, POSTGRES_DEFAULTS, PostgresStore } from "../../src/postgres/store.js";
import { startProxy, viaProxy } from "./proxy.js";
import { freshPrefix, hasPostgres, lockWaitOn, openPool, PG_URL, testPool } from "./server.js";

describe.runIf(hasPostgres)("credit leases", () => {
  const pool = testPool({ max: 20 });
  /** The pool, counting the statements sent through it (one-shot and in transactions). */
  const counting = () => {
    const counter = { statements: 0 };
    const counted: PostgresPool = {
      query: (text, values) => {
        counter.statements++;
        return pool.query(text, values);
      },
      connect: async () => {
        const c = await pool.connect();
        return {
          query: (text: string, values?: unknown[]) => {
            counter.statements++;
            return c.query(text, values);
          },
          release: (err?: Error | boolean) => c.release(err),
        };
      },
    };
    return { counter, counted };
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /**
   * A token of 20 credits whose first check leased a block of 8 (1 granted) in a process then gone
   * silent (`pastExpiry()` waits until `ttlMs` after that check was answered: the lease, made before on the database's
   * clock, has expired then), and `kw`, a second process on the same tables. `close` ends both
   * (the silent one's lease, once reclaimed, has nothing to return).
   */
  const deadLease = async (ttlMs: number) => {
    const options = { tablePrefix: freshPrefix(), changeFeed: false, creditLeases: { ttlMs } };
    const [deadStore, store] = [await postgresStore(pool, options), await postgresStore(pool, options)];
    const [dead, kw] = [new Keyward({ store: deadStore, prefix: "acme" }), new Keyward({ store, prefix: "acme" })];
    const { token } = await dead.tokens.create({ owner: "o", kind: "secret", credits: { limit: 20 } });
    expect((await dead.check({ token })).ok).toBe(true);
    const leasedBy = performance.now();
    const pastExpiry = () => sleep(ttlMs + 50 - (performance.now() - leasedBy));
    const close = async () => {
      await kw.close();
      await store.close();
      await deadStore.close();
    };
    return { kw, token, pastExpiry, close };
  };
  /**
   * The pool, holding transactions that ran a statement matching `pattern`
   * until `release()`: at their COMMIT, or at their next statement. Every
   * failed statement's code is kept in `failed`.
   */
  const holding = (pattern: RegExp, at: "commit" | "next") => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const state = { held: 0, failed: [] as string[] };
    const held: PostgresPool = {
      query: (text, values) => pool.query(text, values),
      connect: async () => {
        const c = await pool.connect();
        let matched = false;
        return {
          query: async (text: string, values?: unknown[]) => {
            if (matched && (at === "next" || text === "COMMIT")) {
              matched = false;
              state.held++;
              await gate;
            }
            if (pattern.test(text)) matched = true;
            return c.query(text, values).catch((err: { code?: string }) => {
              state.failed.push(err.code ?? "?");
              throw err;
            });
          },
          release: (err?: Error | boolean) => c.release(err),
        };
      },
    };
    const reached = async () => {
      while (state.held === 0) await sleep(5);
    };
    return { held, release: () => release(), reached, state };
  };

  it("advertise the capability only when enabled; bad settings are INVALID_CONFIG", async () => {
    const off = await postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false });
    const on = await postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false, creditLeases: true });
    expect(off.capabilities.creditLeases).toBe(false);
    expect(on.capabilities.creditLeases).toBe(true);
    await expect(postgresStore(pool, { creditLeases: { ttlMs: 0 } })).rejects.toMatchObject({ code: "INVALID_CONFIG" });
    await off.close();
    await on.close();
  });

  it("a hot token: 2 000 checks, 16 in flight, on 1 500 credits grant exactly 1 500; with leases the first 960 take far fewer statements than checks", async () => {
    for (const leases of [false, true]) {
      const { counter, counted } = counting();
      const prefix = freshPrefix();
      // 16 requests queue for the token's lock: on a loaded machine one may wait longer than the default 1 s.
      const store = await postgresStore(counted, { tablePrefix: prefix, changeFeed: false, creditLeases: leases, requestLockTimeoutMs: 20_000 });
      const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false }, lookupTimeoutMs: 30_000 });
      const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1500 } });
      await kw.check({ token, cost: 0 });
      const before = counter.statements;
      let statements = 0;
      let granted = 0;
      for (let wave = 0; wave < 125; wave++) {
        if (wave === 60) statements = counter.statements - before;
        const ds = await Promise.all(Array.from({ length: 16 }, () => kw.check({ token })));
        for (const d of ds) {
          expect(["OK", "CREDITS_EXHAUSTED"]).toContain(d.code);
          if (d.ok) granted++;
        }
      }
      await kw.close();
      await store.close();
      expect(granted).toBe(1500);
      const { rows } = await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [record.id]);
      expect(rows[0].used).toBe(1500);
      console.info(`960 checks on one hot token, 16 in flight: ${statements} statements ${leases ? "with" : "without"} credit leases`);
      if (leases) expect(statements).toBeLessThan(960 / 4);
      else expect(statements).toBeGreaterThanOrEqual(960);
    }
    // 2 s alone; over the 20 s default once with four PostgreSQL files running on a loaded machine.
  }, 60_000);

  it("close() gives the unspent rest of a lease back", async () => {
    const prefix = freshPrefix();
    const store = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: true });
    const kw = new Keyward({ store, prefix: "acme" });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
    for (let i = 0; i < 3; i++) expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 1000 - i - 1 });
    const used = async () => (await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [record.id])).rows[0].used;
    expect(await used()).toBeGreaterThan(3);
    await kw.close();
    await store.close();
    expect(await used()).toBe(3);
  });

  it("a request that a lease cannot cover sees the lease's rest given back first: 20 credits, 2 spent from a block of 8, then 15 are granted (and 10^15 denied shows the true balance)", async () => {
    // The differential test's shrunk case (CI, seed -932963928): the retired lease's return raced the
    // reservation and the spend after it, which found the block still counted as used.
    for (let i = 0; i < 10; i++) {
      const store = await postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false, creditLeases: true });
      const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
      const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 20 } });
      await Promise.all([kw.check({ token }), kw.check({ token })]);
      expect(await kw.check({ token, cost: 10 ** 15 }), `run ${i}`).toMatchObject({ code: "CREDITS_EXHAUSTED", remaining: 18 });
      expect(await kw.check({ token, cost: 15 }), `run ${i}`).toMatchObject({ ok: true, remaining: 3 });
      await kw.close();
      await store.close();
    }
  });

  it("a request that waits for a lease's return waits at most requestLockTimeoutMs, then fails and is never counted: the return held behind the token's lock", async () => {
    const prefix = freshPrefix();
    const gate = holding(/pg_advisory_xact_lock/, "commit");
    const leasing = guardStore(await postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 300 }));
    const admin = guardStore(await postgresStore(gate.held, { tablePrefix: prefix, changeFeed: false }));
    const tokenId = "tok_return_held";
    const now = Date.now();
    const used = async () => (await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId])).rows[0].used;
    // A block of 8 leased, 1 granted from it (7 held).
    expect((await leasing.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now)).granted).toBe(true);
    // A top-up holds the token's lock (to its COMMIT): the lease's return waits behind it.
    const topUp = admin.adjustCredits({ key: { tokenId }, policy, change: { op: "topUp", amount: 100 } }, now);
    await gate.reached();
    const started = performance.now();
    const big = leasing.meter({ tokenId, cost: 10, rateLimit: null, credits: flat }, now).then(
      (r) => ({ r, ms: performance.now() - started }),
      (err: { code?: string }) => ({ err: err.code, ms: performance.now() - started }),
    );
    const settled = await Promise.race([big, sleep(2_000).then(() => null)]);
    gate.release();
    await topUp;
    // Not left waiting (the verifier would have given up on it, and it would then be counted).
    expect(settled).toMatchObject({ err: "STORE_UNAVAILABLE" });
    expect(settled!.ms).toBeLessThan(1_500);
    await leasing.close!();
    // The top-up stays, the lease's 7 came back, and the abandoned 10 were never spent.
    expect(await used()).toBe(1);
    await admin.close!();
  });

  it("close() reserves no lease for a request that was waiting for a return, and leaves none out: that request is metered on its own, as after close", async () => {
    // Before, the waiting request reserved a block once the return was in, after close had given
    // every lease back: the block stayed counted as used (the balance short for every process) until it expired.
    const prefix = freshPrefix();
    const gate = holding(/pg_advisory_xact_lock/, "commit");
    const leasing = guardStore(await postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 5_000 }));
    const admin = guardStore(await postgresStore(gate.held, { tablePrefix: prefix, changeFeed: false }));
    const tokenId = "tok_close_waiting";
    const now = Date.now();
    const used = async () => (await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId])).rows[0].used;
    const leases = async () => (await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases WHERE token_id = $1`, [tokenId])).rows[0].n;
    expect((await leasing.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now)).granted).toBe(true);
    expect(await leases()).toBe(1);
    // The lease's return waits behind a top-up holding the token's lock; a request of 10 (more than the 7 left) waits for it.
    const topUp = admin.adjustCredits({ key: { tokenId }, policy, change: { op: "topUp", amount: 100 } }, now);
    await gate.reached();
    const big = leasing.meter({ tokenId, cost: 10, rateLimit: null, credits: flat }, now);
    await sleep(50);
    const closed = leasing.close!();
    gate.release();
    await topUp;
    expect(await big).toMatchObject({ granted: true, credits: { remaining: 1000 - 11 + 100 } });
    await closed;
    // The 7 came back, the 10 were spent without a lease, and no lease is out.
    expect(await leases()).toBe(0);
    expect(await used()).toBe(11);
    // After close, requests are metered one by one (the pool is the caller's: the store still answers).
    expect(await leasing.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now)).toMatchObject({ granted: true, credits: { remaining: 1000 - 12 + 100 } });
    expect(await leases()).toBe(0);
    expect(await used()).toBe(12);
    await admin.close!();
  });

  it("a reservation under way when close() is called is given back by close(): its request is answered, and no lease is out once close() resolves", async () => {
    const prefix = freshPrefix();
    // Reservations held at their COMMIT (the INSERT of the lease row done).
    const gate = holding(/INSERT INTO \S+credit_leases/, "commit");
    const leasing = guardStore(await postgresStore(gate.held, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 5_000 }));
    const tokenId = "tok_close_reserving";
    const now = Date.now();
    const used = async () => (await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId])).rows[0].used;
    const leases = async () => (await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases WHERE token_id = $1`, [tokenId])).rows[0].n;
    const first = leasing.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now);
    await gate.reached();
    let closedAt = 0;
    const closed = leasing.close!().then(() => {
      closedAt = performance.now();
    });
    await sleep(50);
    const waited = closedAt === 0;
    gate.release();
    expect((await first).granted).toBe(true);
    await closed;
    expect(waited, "close() waits for the reservation under way").toBe(true);
    expect(await leases()).toBe(0);
    expect(await used()).toBe(1);
  });

  it("a reservation that commits after its request gave up on it, and after close() began, is returned before close() resolves: no lease is out, no credit counted", async () => {
    const proxy = await startProxy(new URL(PG_URL!));
    const far = openPool({ connectionString: viaProxy(PG_URL!, proxy) });
    const prefix = freshPrefix();
    const leasing = guardStore(await postgresStore(far, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 300 }));
    const tokenId = "tok_close_late";
    const now = Date.now();
    const leases = async () => (await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases`)).rows[0].n;
    const used = async () => (await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId])).rows[0]?.used;
    // Every reply 150 ms later: the reservation's 7 statements take about 1 s, past the request's 300 ms.
    proxy.delayReplies(150);
    const first = leasing.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now).catch((err: { code?: string }) => err.code);
    const closed = leasing.close!();
    expect(await first).toBe("STORE_UNAVAILABLE");
    await closed;
    // Before: close() answered once the request gave up (300 ms), and the reservation committed after it: its
    // block, returned later still, stayed counted as used until expiry if the process exited after close().
    expect(await leases()).toBe(0);
    expect(await used()).toBe(0);
    await proxy.close();
    await far.end();
  });

  it("a reservation close() stopped waiting for (no answer for twice requestLockTimeoutMs) sends nothing more: it rolls back, never commits after close(), whatever becomes of the pool", async () => {
    const proxy = await startProxy(new URL(PG_URL!));
    const far = openPool({ connectionString: viaProxy(PG_URL!, proxy) });
    const prefix = freshPrefix();
    const leasing = guardStore(await postgresStore(far, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 300 }));
    const tokenId = "tok_close_slower";
    const leases = async () => (await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases`)).rows[0].n;
    const used = async () => (await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId])).rows[0]?.used;
    // Every reply 800 ms later: close() gives the reservation up after 600 ms without an answer.
    proxy.delayReplies(800);
    const first = leasing.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, Date.now()).catch((err: { code?: string }) => err.code);
    expect(await first).toBe("STORE_UNAVAILABLE");
    await leasing.close!();
    // As docs/fleet.md does: the pool ended right after close() (it waits for the reservation's connection).
    await far.end();
    // Before: the reservation went on after close(), committed its lease, and its return found the pool ended:
    // its block stayed counted as used until another process reclaimed it after expiry.
    expect(await leases()).toBe(0);
    expect(await used()).toBeUndefined();
    await proxy.close();
  });

  it("close() waits for a reservation whose connection went silent about requestLockTimeoutMs, not closeWaitMs: one that makes no progress is left to the reclaim at expiry", async () => {
    const proxy = await startProxy(new URL(PG_URL!));
    const silent = openPool({ connectionString: viaProxy(PG_URL!, proxy) });
    const prefix = freshPrefix();
    const leasing = guardStore(await postgresStore(silent, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 300 }));
    // The reservation's lease row is inserted, and its answer never comes (nor any after it on that connection).
    proxy.silenceReplyTo(`INSERT INTO ${prefix}credit_leases`);
    const first = leasing.meter({ tokenId: "tok_close_silent_reservation", cost: 1, rateLimit: null, credits: flat }, Date.now()).catch((err: { code?: string }) => err.code);
    const since = performance.now();
    expect(await first).toBe("STORE_UNAVAILABLE");
    expect(await Promise.race([leasing.close!().then(() => "closed"), sleep(15_000).then(() => "hung")])).toBe("closed");
    // Before: close() waited CLOSE_WAIT_MS (10 s) for it, where it once waited as long as its request (300 ms).
    expect(performance.now() - since).toBeLessThan(2_500);
    await proxy.close();
    await silent.end();
  });

  it("close() waits for a return that never answers (its connection silent) no longer than its bound, then answers: the rest is left to the reclaim at expiry", async () => {
    const proxy = await startProxy(new URL(PG_URL!));
    const silent = openPool({ connectionString: viaProxy(PG_URL!, proxy) });
    const prefix = freshPrefix();
    await openSchema(silent, prefix, true);
    // The store postgresStore makes, but close() waits 500 ms, not CLOSE_WAIT_MS (10 s).
    const closeWaitMs = 500;
    const leases = { ...POSTGRES_DEFAULTS.leases, lockWait: POSTGRES_DEFAULTS.requestLockTimeoutMs, closeWaitMs };
    const store = guardStore(new PostgresStore(silent, prefix, { ...POSTGRES_DEFAULTS, changeFeed: false, leases }));
    const tokenId = "tok_close_silent_return";
    const now = Date.now();
    expect((await store.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now)).granted).toBe(true);
    proxy.silenceReplyTo(`DELETE FROM ${prefix}credit_leases WHERE id`);
    const since = performance.now();
    expect(await Promise.race([store.close!().then(() => "closed"), sleep(5_000).then(() => "hung")])).toBe("closed");
    const took = performance.now() - since;
    expect(took).toBeGreaterThanOrEqual(closeWaitMs - 10);
    expect(took).toBeLessThan(closeWaitMs + 1_500);
    // The return never committed (the server rolls it back when its connection ends): the lease is out until it expires.
    await proxy.close();
    await silent.end();
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases`)).rows[0].n).toBe(1);
  });

  it("a request metered without a lease (a rate limit, a refill or an account limit added) sees the process's own lease given back first: 1 000 credits, 1 spent from a block of 8, then 995 are granted", async () => {
    // Before, the block's unspent 7 stayed counted as used: the check was denied CREDITS_EXHAUSTED with remaining 992
    // (MemoryStore and SQLite grant it, remaining 4), and the block stayed out until close.
    const changes = {
      rateLimit: (kw: Keyward, id: string) => kw.tokens.update(id, { rateLimit: { limit: 100, windowMs: 60_000 } }),
      refill: (kw: Keyward, id: string) => kw.tokens.update(id, { credits: { limit: 1000, refill: { amount: 5, intervalMs: 86_400_000 } } }),
      account: (kw: Keyward) => kw.accounts.set("o", { rateLimit: { limit: 100, windowMs: 60_000 } }),
    };
    for (const [name, change] of Object.entries(changes)) {
      const store = await postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false, creditLeases: true });
      const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
      const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
      expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 999 });
      await change(kw, record.id);
      expect(await kw.check({ token, cost: 995 }), name).toMatchObject({ ok: true, remaining: 4 });
      expect(await kw.check({ token, cost: 5 }), name).toMatchObject({ code: "CREDITS_EXHAUSTED", remaining: 4 });
      await kw.close();
      await store.close();
    }
  });

  it("a request denied for credits writes no counter: no credit row, and a hard delete removes none (as without leases)", async () => {
    // The differential test's shrunk case: a token of limit 0 checked once (its reservation,
    // too low to lease, kept the credit row it created to lock), then deleted.
    for (const leases of [false, true]) {
      const prefix = freshPrefix();
      const store = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: leases });
      const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
      const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 0 } });
      expect(await kw.check({ token })).toMatchObject({ code: "CREDITS_EXHAUSTED", remaining: 0 });
      const { rows } = await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [record.id]);
      expect(rows, leases ? "with leases" : "without").toEqual([]);
      expect((await kw.tokens.delete(record.id)).removed.credits).toBe(0);
      await kw.close();
      await store.close();
    }
  });

  it("a token with few credits left, or none, is metered request by request as without leases: no reservation tried for each (5 statements more per check)", async () => {
    const perCheck: number[] = [];
    for (const leases of [false, true]) {
      const { counter, counted } = counting();
      const store = await postgresStore(counted, { tablePrefix: freshPrefix(), changeFeed: false, creditLeases: leases });
      const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
      const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 10 } });
      await kw.check({ token }); // with leases: a reservation tried, which finds 10 credits too few
      const before = counter.statements;
      const codes = new Set<string>();
      for (let i = 0; i < 100; i++) codes.add((await kw.check({ token })).code);
      perCheck.push((counter.statements - before) / 100);
      expect([...codes]).toEqual(["OK", "CREDITS_EXHAUSTED"]);
      await kw.close();
      await store.close();
    }
    // Before: 1.91 without leases, 6.91 with (a reservation's BEGIN, lock, reclaim, credit row, ROLLBACK first).
    expect(perCheck[1]).toBe(perCheck[0]);
  });

  it("a token found too low to lease leases again once a spend finds more: after a top-up", async () => {
    const prefix = freshPrefix();
    const store = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: true });
    const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 3 } });
    const leased = async () => Number((await pool.query(`SELECT count(*) AS n FROM ${prefix}credit_leases`)).rows[0].n);
    for (let i = 0; i < 4; i++) await kw.check({ token });
    await kw.credits.topUp({ tokenId: record.id }, 1000);
    // The first check after it is metered on its own (and finds 999), the next from a lease.
    expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 999 });
    expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 998 });
    expect(await leased()).toBe(1);
    await kw.close();
    await store.close();
    // The rest of the block given back: 3 plan credits spent, 998 bought left.
    const { rows } = await pool.query(`SELECT used, bought FROM ${prefix}credits WHERE token_id = $1`, [record.id]);
    expect(rows).toEqual([{ used: 3, bought: 998 }]);
  });

  it("a top-up counts a leased block against the balance cap: one that would pass 10^15 with the block is refused, as without leases", async () => {
    const prefix = freshPrefix();
    const store = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: true });
    const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
    // A block leased (8 credits), one of them granted: 999 left in all, 992 outside the lease.
    expect(await kw.check({ token })).toMatchObject({ ok: true });
    expect(Number((await pool.query(`SELECT count(*) AS n FROM ${prefix}credit_leases`)).rows[0].n)).toBe(1);
    await expect(kw.credits.topUp({ tokenId: record.id }, MAX_CREDIT_BALANCE - 998)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "amount" });
    // Within the cap with the block counted: taken.
    expect((await kw.credits.topUp({ tokenId: record.id }, MAX_CREDIT_BALANCE - 1000)).remaining).toBe(MAX_CREDIT_BALANCE - 8);
    await kw.close();
    await store.close();
  });

  it("credits held by an expired lease come back to a process that found the balance too low to lease: it tries a reservation again once the lease has expired", async () => {
    // The 13 checks below come while the lease is out: 3 s (300 ms was too short for them on a loaded machine).
    const { kw, token, pastExpiry, close } = await deadLease(3_000);
    const codes: string[] = [];
    for (let i = 0; i < 13; i++) codes.push((await kw.check({ token })).code);
    expect(codes).toEqual([...Array(12).fill("OK"), "CREDITS_EXHAUSTED"]); // the 12 outside the lease, too few to lease
    await pastExpiry();
    for (let i = 0; i < 8; i++) codes.push((await kw.check({ token })).code);
    expect(codes.slice(13)).toEqual([...Array(7).fill("OK"), "CREDITS_EXHAUSTED"]); // its 7 not granted, reclaimed
    await close();
  });

  it("credits held by a dead process's lease come back when the lease expires, not up to ttlMs later: a process that found the balance too low tries a reservation then", async () => {
    // The reviewed case: the low memory lasted ttlMs from the spend that found the balance low, so a
    // process that found so half a ttl after the dead one leased denied for half a ttl past its expiry.
    const { kw, token, pastExpiry, close } = await deadLease(4_000);
    await sleep(2_000);
    const codes: string[] = [];
    for (let i = 0; i < 13; i++) codes.push((await kw.check({ token })).code);
    expect(codes).toEqual([...Array(12).fill("OK"), "CREDITS_EXHAUSTED"]); // the 12 outside the lease, too few to lease
    await pastExpiry(); // well within ttlMs of the spends above
    for (let i = 0; i < 8; i++) codes.push((await kw.check({ token })).code);
    expect(codes.slice(13)).toEqual([...Array(7).fill("OK"), "CREDITS_EXHAUSTED"]); // its 7 not granted, reclaimed
    await close();
  });

  it("a report that fails (PostgreSQL cut off) charges nothing for the requests it answered STORE_UNAVAILABLE: the next report and the return do not count them", async () => {
    const proxy = await startProxy(new URL(PG_URL!));
    const cut = openPool({ connectionString: viaProxy(PG_URL!, proxy), connectionTimeoutMillis: 500 });
    const prefix = freshPrefix();
    const store = await postgresStore(cut, { tablePrefix: prefix, changeFeed: false, creditLeases: true });
    const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
    const wave = async (n: number) => (await Promise.all(Array.from({ length: n }, () => kw.check({ token })))).map((d) => d.code);
    // The first takes a lease of 8 credits: every request below is granted from it, none retires it.
    expect(await wave(1)).toEqual(["OK"]);
    await proxy.cut();
    // Granted from the lease in memory, but their report never reaches the server.
    expect(await wave(3)).toEqual(Array(3).fill("STORE_UNAVAILABLE"));
    await proxy.restore();
    expect(await wave(2)).toEqual(["OK", "OK"]);
    await kw.close();
    await store.close();
    const { rows } = await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [record.id]);
    expect(rows[0].used).toBe(3);
    await cut.end();
    await proxy.close();
  });

  it("a report whose reply never comes (its connection silent, not reset) is given up at requestLockTimeoutMs: its lease is granted from no more, the token is served from a new one, close() answers", async () => {
    const proxy = await startProxy(new URL(PG_URL!));
    const silent = openPool({ connectionString: viaProxy(PG_URL!, proxy) });
    const prefix = freshPrefix();
    // requestLockTimeoutMs 3 s (1 s by default): the next request waits for the retired lease's return and
    // reserves a new one, on a new connection (the silent one is destroyed), within it; a loaded CI run took
    // longer than 1 s for that once.
    const store = await postgresStore(silent, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 3_000 });
    const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false }, lookupTimeoutMs: 30_000 });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
    // The first takes a lease of 8 credits.
    expect((await kw.check({ token })).code).toBe("OK");
    // The server runs the next report (and commits it: not in a transaction, no idle timeout ends it); its reply never comes.
    proxy.silenceReplyTo("SET reported");
    const since = performance.now();
    expect((await kw.check({ token })).code).toBe("STORE_UNAVAILABLE");
    // Given up by the store (requestLockTimeoutMs), not by the verifier (lookupTimeoutMs, 30 s here).
    expect(performance.now() - since).toBeGreaterThanOrEqual(2_900);
    expect(performance.now() - since).toBeLessThan(15_000);
    // Before: every later check of the token waited for that report, and was STORE_UNAVAILABLE for as long as the connection stayed open.
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push((await kw.check({ token })).code);
    expect(codes).toEqual(["OK", "OK", "OK"]);
    // The silent connection is destroyed, not left checked out of the pool for as long as it stays open.
    expect(silent.totalCount - silent.idleCount).toBe(0);
    await kw.close();
    const closed = await Promise.race([store.close().then(() => "closed"), sleep(6_000).then(() => "hung")]);
    expect(closed).toBe("closed");
    // 4 granted; and the silent report's request, answered STORE_UNAVAILABLE, is charged (its report was applied), as a reply lost.
    const { rows } = await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [record.id]);
    expect(rows[0].used).toBe(5);
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases`)).rows[0].n).toBe(0);
    await proxy.close();
    await silent.end();
  });

  it("a report waits for a connection of a busy pool within requestLockTimeoutMs, then is never sent: a request the verifier abandoned is never charged later, and the lease is kept", async () => {
    const busy = openPool({ max: 1 });
    const prefix = freshPrefix();
    const store = await postgresStore(busy, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 300 });
    const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false }, lookupTimeoutMs: 600 });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
    expect((await kw.check({ token })).code).toBe("OK");
    // The pool's one connection is another call's for 1 s: the next report waits for it.
    const other = busy.query("SELECT pg_sleep(1)");
    const since = performance.now();
    const codes: string[] = [(await kw.check({ token })).code];
    // Given up by the store (requestLockTimeoutMs), not by the verifier (lookupTimeoutMs).
    expect(performance.now() - since).toBeLessThan(550);
    await other;
    await sleep(200);
    for (let i = 0; i < 2; i++) codes.push((await kw.check({ token })).code);
    expect(codes).toEqual(["STORE_UNAVAILABLE", "OK", "OK"]);
    // One lease throughout: the report never sent left nothing in doubt (no retirement, no new reservation).
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases`)).rows[0].n).toBe(1);
    await kw.close();
    await store.close();
    // Before: the report was sent once the connection was free, after the verifier had answered
    // STORE_UNAVAILABLE at lookupTimeoutMs: its spend charged though never granted (used 4).
    const { rows } = await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [record.id]);
    expect(rows[0].used).toBe(3);
    await busy.end();
  });

  /** Meters 1 credit of `tokenId`, flat, each call: its code (OK, DENIED or the error's) and how long it took, ms. */
  const timedMeter = (store: ReturnType<typeof guardStore>, tokenId: string) => () => {
    const since = performance.now();
    return store.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, Date.now()).then(
      (r) => ({ code: r.granted ? "OK" : "DENIED", ms: performance.now() - since }),
      (err: { code?: string }) => ({ code: err.code, ms: performance.now() - since }),
    );
  };

  it("each request of a report's batch is held to its own requestLockTimeoutMs: one that waited most of it behind the report before fails alone, the fresh ones batched with it are granted and charged", async () => {
    const busy = openPool({ max: 1 });
    const prefix = freshPrefix();
    const leasing = await postgresStore(busy, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 600 });
    const store = guardStore(leasing);
    const tokenId = "tok_batch_deadlines";
    const meter = timedMeter(store, tokenId);
    // A lease of 8 credits, 1 granted.
    expect((await meter()).code).toBe("OK");
    // Another transaction holds the lease's row: the next report (first's) is sent and waits for it.
    const holder = await pool.connect();
    await holder.query("BEGIN");
    await holder.query(`SELECT id FROM ${prefix}credit_leases FOR UPDATE`);
    const first = meter();
    await lockWaitOn(pool, prefix);
    // The next batch waits behind that report: its first request (old) waits 450 ms of its 600 there,
    // then two fresh requests join it.
    const old = meter();
    await sleep(450);
    const fresh = [meter(), meter()];
    // Once the first report is in, the pool's one connection is another call's for 250 ms: the batch has it
    // about 250 ms after the fresh requests started (well within their 600), 700 ms after old did.
    const other = busy.query("SELECT pg_sleep(0.25)");
    await holder.query("COMMIT");
    holder.release();
    const [a, o, ...f] = await Promise.all([first, old, ...fresh]);
    await other;
    expect(a.code).toBe("OK");
    // Old is answered at its own deadline, not later; the fresh ones are served.
    expect(o.code).toBe("STORE_UNAVAILABLE");
    expect(o.ms).toBeLessThan(750);
    // Before: the batch was held to old's deadline, and failed whole (fresh ones included) unsent.
    expect(f.map((d) => d.code)).toEqual(["OK", "OK"]);
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases`)).rows[0].n).toBe(1);
    await leasing.close();
    // Charged exactly for the 4 granted: old's spend was taken back, never sent.
    const { rows } = await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId]);
    expect(rows[0].used).toBe(4);
    await busy.end();
  });

  it("a request waiting behind a report in flight is answered at its own requestLockTimeoutMs, not when that report is given up, and never charged", async () => {
    const proxy = await startProxy(new URL(PG_URL!));
    const silent = openPool({ connectionString: viaProxy(PG_URL!, proxy), max: 1 });
    const prefix = freshPrefix();
    const leasing = await postgresStore(silent, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 600 });
    const tokenId = "tok_behind_report";
    const meter = timedMeter(guardStore(leasing), tokenId);
    // A lease of 8 credits, 1 granted.
    expect((await meter()).code).toBe("OK");
    // The pool's one connection is another call's for 300 ms; then the next report is sent, and its reply never comes.
    const other = silent.query("SELECT pg_sleep(0.3)");
    proxy.silenceReplyTo("SET reported");
    const first = meter();
    await sleep(20);
    // The next batch waits behind that report, given up 600 ms after it was sent (about 900 ms from now).
    const [a, o] = await Promise.all([first, meter()]);
    await other;
    expect(a.code).toBe("STORE_UNAVAILABLE");
    expect(a.ms).toBeGreaterThanOrEqual(850);
    // Before: answered once the report before it was given up, about 880 ms after it started.
    expect(o.code).toBe("STORE_UNAVAILABLE");
    expect(o.ms).toBeLessThan(750);
    await leasing.close();
    // The silent report was applied (charged, as a reply lost); the request behind it was never sent.
    const { rows } = await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId]);
    expect(rows[0].used).toBe(2);
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_leases`)).rows[0].n).toBe(0);
    await proxy.close();
    await silent.end();
  });

  it.each(["reservation", "return"])(
    "a lease %s whose connection goes silent (the server ends it, the client never hears) holds the token's requests in that process no longer than the server holds its lock",
    async (change) => {
      const proxy = await startProxy(new URL(PG_URL!));
      const silent = openPool({ connectionString: viaProxy(PG_URL!, proxy) });
      const prefix = freshPrefix();
      const store = await postgresStore(silent, { tablePrefix: prefix, changeFeed: false, creditLeases: true, requestLockTimeoutMs: 300 });
      const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
      const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
      if (change === "return") {
        expect((await kw.check({ token })).code).toBe("OK");
        // A new limit retires the lease (a block of 8, 1 granted): the next check waits for its return.
        await kw.tokens.update(record.id, { credits: { limit: 2000 } });
        proxy.silenceReplyTo(`DELETE FROM ${prefix}credit_leases WHERE id`);
      } else proxy.silenceReplyTo(`DELETE FROM ${prefix}credit_leases WHERE token_id`);
      expect((await kw.check({ token })).code).toBe("STORE_UNAVAILABLE");
      // Its transaction holds the token's lock until the server ends it, idle, after LOCK_HOLDER_IDLE_MS; then
      // the token is metered again. Before, every check waited for that change, which never answered.
      const since = performance.now();
      let d = await kw.check({ token });
      while (!d.ok && performance.now() - since < LOCK_HOLDER_IDLE_MS + 3_000) {
        await sleep(100);
        d = await kw.check({ token });
      }
      expect(d.code).toBe("OK");
      await kw.close();
      await proxy.close();
      await store.close();
      await silent.end();
    },
    20_000,
  );

  it("remaining counts the grants of other processes: an answer from a lease shows the balance as its last report found it, never the one of its reservation", async () => {
    const prefix = freshPrefix();
    const [a, b] = await Promise.all([0, 1].map(() => postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: true })));
    const kwA = new Keyward({ store: a!, prefix: "acme", usage: { enabled: false } });
    const kwB = new Keyward({ store: b!, prefix: "acme", usage: { enabled: false } });
    const { token, record } = await kwA.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1000 } });
    expect(await kwA.check({ token })).toMatchObject({ ok: true, remaining: 999 });
    let granted = 1;
    for (let wave = 0; wave < 40; wave++) {
      granted += (await Promise.all(Array.from({ length: 20 }, () => kwB.check({ token })))).filter((d) => d.ok).length;
    }
    expect(granted).toBe(801);
    // A grants from the lease it took first; what it answers is left of the balance now, at most.
    const d = await kwA.check({ token });
    granted++;
    const outside = (await kwA.credits.get({ tokenId: record.id })).remaining; // the credits no lease holds
    expect(d.ok).toBe(true);
    expect(d.remaining).toBeLessThanOrEqual(1000 - granted);
    expect(d.remaining).toBeGreaterThanOrEqual(outside);
    expect(d.headers.ratelimit).toBe(`"credits";r=${d.remaining}`);
    await kwA.close();
    await kwB.close();
    await a!.close();
    await b!.close();
    expect((await kwA.credits.get({ tokenId: record.id })).remaining).toBe(1000 - granted);
  });

  /** A store with leases and an admin's without, on the same tables. */
  const pair = async () => {
    const prefix = freshPrefix();
    const leasing = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: true });
    const admin = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false });
    const used = async (tokenId: string) => (await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId])).rows[0].used;
    return { leasing, store: guardStore(leasing), admin: guardStore(admin), used, prefix };
  };
  const flat = { limit: 1000, refill: null };
  const policy = { limit: 1000, refill: null, reset: null, overage: 0 };

  it("top-ups are kept: 1 000 credits topped up by 500 before the first lease and 200 while one is out grant exactly 1 700", async () => {
    const { leasing, store, admin, used } = await pair();
    const tokenId = "tok_topped_up";
    const now = Date.now();
    const topUp = (amount: number) => admin.adjustCredits({ key: { tokenId }, policy, change: { op: "topUp", amount } }, now);
    expect((await topUp(500)).remaining).toBe(1500);
    let granted = 0;
    for (let wave = 0; wave < 200; wave++) {
      if (wave === 10) await topUp(200);
      const rs = await Promise.all(Array.from({ length: 10 }, () => store.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now + wave)));
      granted += rs.filter((r) => r.granted).length;
    }
    expect(granted).toBe(1700);
    await leasing.close();
    expect(await used(tokenId)).toBe(1000);
    expect((await admin.adjustCredits({ key: { tokenId }, policy, change: { op: "read" } }, now)).remaining).toBe(0);
    await admin.close();
  });

  it("a block of the plan's last credits and bought ones gives each back to its own: a later reset keeps the bought ones, and mints none", async () => {
    const { leasing, store, admin, prefix } = await pair();
    const tokenId = "tok_mixed_block";
    const now = Date.UTC(2026, 10, 20);
    const small = { limit: 30, refill: null };
    const row = async () => (await pool.query(`SELECT used, bought FROM ${prefix}credits WHERE token_id = $1`, [tokenId])).rows[0];
    // 27 of the plan's 30 spent without a lease, then 100 bought.
    expect((await admin.meter({ tokenId, cost: 27, rateLimit: null, credits: small }, now)).granted).toBe(true);
    expect((await admin.adjustCredits({ key: { tokenId }, policy: tokenPool(small), change: { op: "topUp", amount: 100 } }, now)).remaining).toBe(103);
    // A block of 8: the plan's last 3, then 5 bought; one credit granted from it (a plan one).
    expect((await store.meter({ tokenId, cost: 1, rateLimit: null, credits: small }, now)).credits?.remaining).toBe(102);
    expect(await row()).toEqual({ used: 30, bought: 95 });
    expect((await admin.adjustCredits({ key: { tokenId }, policy: tokenPool(small), change: { op: "read" } }, now)).remaining).toBe(95);
    // The rest goes back: 2 to the plan, 5 to the bought credits.
    await leasing.close();
    expect(await row()).toEqual({ used: 28, bought: 100 });
    // A monthly reset added later gives back the plan's credits only: 30 and the 100 bought.
    const monthly = { ...small, reset: "month" as const };
    expect((await admin.meter({ tokenId, cost: 0, rateLimit: null, credits: monthly }, Date.UTC(2026, 11, 1))).credits?.remaining).toBe(130);
    await admin.close();
  });

  it.each([
    ["an admin reset", "reset"],
    ["a refill after a policy change", "refill"],
  ])("%s while a lease is out forgets none of its credits: its return gives back exactly its rest", async (_, what) => {
    const { leasing, store, admin, used } = await pair();
    const tokenId = "tok_reset";
    const now = Date.now();
    const spend = (s: typeof store, credits: typeof flat | { limit: number; refill: { amount: number; intervalMs: number } }, at: number) =>
      s.meter({ tokenId, cost: 1, rateLimit: null, credits }, at);
    // A block of 8 leased; 3 of it granted: 5 held by the lease.
    for (let i = 0; i < 3; i++) expect((await spend(store, flat, now)).granted).toBe(true);
    expect(await used(tokenId)).toBe(8);
    let after = 0;
    if (what === "reset") {
      // A full balance, less what the lease still holds.
      expect((await admin.adjustCredits({ key: { tokenId }, policy, change: { op: "reset" } }, now)).remaining).toBe(995);
    } else {
      // The policy gains a refill: everything spent comes back, not what the lease holds.
      const r = await spend(admin, { limit: 1000, refill: { amount: 1000, intervalMs: 1000 } }, now + 5000);
      expect(r.credits).toMatchObject({ granted: true, remaining: 994 });
      after++;
    }
    // The holder grants 2 more from its block, then returns the other 3.
    for (let i = 0; i < 2; i++) expect((await spend(store, flat, now + 1)).granted).toBe(true);
    after += 2;
    await leasing.close();
    expect(await used(tokenId)).toBe(after);
    expect((await admin.adjustCredits({ key: { tokenId }, policy, change: { op: "read" } }, now + 5000)).remaining).toBe(1000 - after);
    await admin.close();
  });

  // A reset runs under the token's advisory lock, which a reservation and a return hold to their
  // commit: it never reads the credit row after a lease change committed and the leases' sum before.
  it.each([
    ["an admin reset", "reservation"],
    ["a meter call applying a due monthly reset", "reservation"],
    ["an admin reset", "return"],
  ])("%s racing a lease %s (held at its COMMIT) mints and loses nothing", async (what, racing) => {
    const prefix = freshPrefix();
    const gate = holding(racing === "reservation" ? /^INSERT INTO \S+credit_leases/ : /^DELETE FROM \S+credit_leases WHERE id/, "commit");
    const leasing = await postgresStore(gate.held, { tablePrefix: prefix, changeFeed: false, creditLeases: true });
    const admin = guardStore(await postgresStore(pool, { tablePrefix: prefix, changeFeed: false }));
    const tokenId = "tok_reset_race";
    const now = Date.UTC(2026, 0, 15);
    const used = async () => (await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [tokenId])).rows[0].used;
    // One credit spent without a lease; then a lease of 8, one granted from it (7 held).
    expect((await admin.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now)).granted).toBe(true);
    const leased = leasing.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now);
    if (racing === "return") {
      expect((await leased).granted).toBe(true);
      expect(await used()).toBe(9);
      void leasing.close();
    }
    await gate.reached();
    const reset =
      what === "an admin reset"
        ? admin.adjustCredits({ key: { tokenId }, policy, change: { op: "reset" } }, now)
        : admin.meter({ tokenId, cost: 0, rateLimit: null, credits: { ...flat, reset: "month" } }, Date.UTC(2026, 1, 2)).then((r) => r.credits!);
    await lockWaitOn(pool, prefix); // the reset waits for the lease's transaction
    gate.release();
    if (racing === "reservation") {
      expect((await leased).granted).toBe(true);
      // What the lease holds stays counted: 8, or 7 when the report of its grant committed first.
      const { remaining } = await reset;
      expect([992, 993]).toContain(remaining);
      const afterReset = await used();
      expect(afterReset).toBe(1000 - remaining);
      await leasing.close();
      // The return gives back exactly the 7 it kept: a grant reported after the reset stays spent.
      expect(await used()).toBe(afterReset - 7);
    } else {
      // The return went first (the reset waited for it): a full balance.
      expect((await reset).remaining).toBe(1000);
      await leasing.close();
      expect(await used()).toBe(0);
    }
    expect(gate.state.failed).toEqual([]);
    await admin.close!();
  });

  it("a lease lives by the database's clock: a process whose clock is behind keeps its lease, one whose clock stands still renews it", async () => {
    const prefix = freshPrefix();
    const open = () => postgresStore(pool, { tablePrefix: prefix, changeFeed: false, creditLeases: { ttlMs: 300 } });
    const [behind, onTime, admin] = [await open(), await open(), guardStore(await postgresStore(pool, { tablePrefix: prefix, changeFeed: false }))];
    const token = makeStoredToken();
    await admin.insert(token);
    const spend = (s: typeof behind, at: number) => s.meter({ tokenId: token.id, cost: 1, rateLimit: null, credits: flat }, at);
    const now = Date.now();
    // An hour behind: its lease's expiry is not an hour in the past for the others.
    expect((await spend(behind, now - 3_600_000)).granted).toBe(true);
    expect((await spend(onTime, now)).granted).toBe(true); // takes a lease, reclaiming only expired ones
    expect((await spend(behind, now - 3_600_000)).granted).toBe(true); // reported on its own lease, still there
    // Past the TTL by the real clock, the clock of `behind` standing still: it renews its lease instead of
    // reporting on one that another process may have reclaimed.
    await sleep(350);
    expect((await spend(onTime, now)).granted).toBe(true);
    expect((await spend(behind, now - 3_600_000)).granted).toBe(true);
    await behind.close();
    await onTime.close();
    // Exactly what was granted stays spent.
    const { rows } = await pool.query(`SELECT used FROM ${prefix}credits WHERE token_id = $1`, [token.id]);
    expect(rows[0].used).toBe(5);
    await admin.close!();
  });

  it.each([
    ["a lease's return", "default"],
    ["an expired lease's reclaim", "gpu"],
  ])("a hard delete racing %s (the lease row deleted, the credit row not yet locked) does not deadlock; nothing of the token is left", async (what, pool_) => {
    const prefix = freshPrefix();
    const returning = what === "a lease's return";
    const gate = holding(returning ? /^DELETE FROM \S+credit_leases WHERE id/ : /^DELETE FROM \S+credit_leases WHERE token_id/, "next");
    // The holder of the lease; for a reclaim, another process takes a lease after the first one expired.
    const leases = { ttlMs: 200 };
    const holder = await postgresStore(returning ? gate.held : pool, { tablePrefix: prefix, changeFeed: false, creditLeases: leases });
    const taker = returning ? holder : await postgresStore(gate.held, { tablePrefix: prefix, changeFeed: false, creditLeases: leases });
    const admin = guardStore(await postgresStore(pool, { tablePrefix: prefix, changeFeed: false }));
    const token = makeStoredToken();
    await admin.insert(token);
    const now = Date.now();
    const spend = (s: typeof holder, at: number) => s.meter({ tokenId: token.id, pool: pool_, cost: 1, rateLimit: null, credits: flat }, at);
    expect((await spend(holder, now)).granted).toBe(true);
    // The taker's grant is reported after its reservation commits: if the delete came first, it is not granted.
    const racing = returning
      ? holder.close()
      : sleep(250).then(() => spend(taker, now)).then(
          (r) => expect(r.granted).toBe(true),
          (err: { code: string }) => expect(err.code).toBe("STORE_UNAVAILABLE"),
        );
    await gate.reached();
    const deleted = admin.delete(token.id).then(
      (d) => d.token.id,
      (err: { code: string; driverCode?: string }) => `${err.code} ${err.driverCode}`,
    );
    await lockWaitOn(pool, prefix); // the delete waits for the held transaction
    gate.release();
    await racing;
    expect(await deleted).toBe(token.id);
    expect(gate.state.failed).toEqual([]);
    for (const table of ["credits", "credit_leases"]) {
      const { rows } = await pool.query(`SELECT 1 FROM ${prefix}${table} WHERE starts_with(token_id, $1)`, [token.id]);
      expect(rows).toEqual([]);
    }
    await holder.close();
    await taker.close();
    await admin.close!();
  });

  it("stores with different table prefixes in one database never wait for each other's leases", async () => {
    const gate = holding(/^INSERT INTO \S+credit_leases/, "commit");
    const one = await postgresStore(gate.held, { tablePrefix: freshPrefix(), changeFeed: false, creditLeases: true });
    const other = await postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false, creditLeases: true });
    const request = { tokenId: "tok_same_id", cost: 1, rateLimit: null, credits: flat };
    const held = one.meter(request, Date.now());
    await gate.reached();
    const answer = await Promise.race([other.meter(request, Date.now()), sleep(2_000).then(() => "still waiting")]);
    gate.release();
    expect(answer).toMatchObject({ granted: true });
    expect((await held).granted).toBe(true);
    await one.close();
    await other.close();
  });

  it("a balance read is one statement and waits for no lock: answered while a reservation holds the token's, as before it", async () => {
    const prefix = freshPrefix();
    const gate = holding(/^INSERT INTO \S+credit_leases/, "commit");
    const leasing = await postgresStore(gate.held, { tablePrefix: prefix, changeFeed: false, creditLeases: true });
    const { counter, counted } = counting();
    const admin = guardStore(await postgresStore(counted, { tablePrefix: prefix, changeFeed: false }));
    const tokenId = "tok_read";
    const now = Date.now();
    const read = (key: { tokenId: string } | { owner: string }) => admin.adjustCredits({ key, policy, change: { op: "read" } }, now);
    expect((await admin.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now)).granted).toBe(true);
    const leased = leasing.meter({ tokenId, cost: 1, rateLimit: null, credits: flat }, now);
    await gate.reached();
    const before = counter.statements;
    expect(await Promise.race([read({ tokenId }), sleep(2_000).then(() => "still waiting")])).toMatchObject({ remaining: 999 });
    expect((await read({ owner: "acct_read" })).remaining).toBe(1000);
    expect(counter.statements - before).toBe(2);
    gate.release();
    expect((await leased).granted).toBe(true);
    // The block of 8 counted as used, whether or not the lease's grant was reported yet.
    expect((await read({ tokenId })).remaining).toBe(991);
    await leasing.close();
    expect((await read({ tokenId })).remaining).toBe(998);
    await admin.close!();
  });
});
