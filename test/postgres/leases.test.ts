// Credit leases in one process: exact grants, work per request, return on close.
import { Keyward } from "keyward";
import { type PostgresPool, postgresStore } from "keyward/postgres";
import { describe, expect, it } from "vitest";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

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
      const store = await postgresStore(counted, { tablePrefix: prefix, changeFeed: false, creditLeases: leases });
      const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
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
  });

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
});
