// The purge of expired idempotency keys against a transaction taking one of them over: a purge that
// read a key expired must not delete it once another transaction took it (a new expiry, a new request),
// or a request sent again under the key is made twice. Real PostgreSQL; the transaction is held after
// taking the key, the purge waits for it, then both go on.

import { type CreditAdjustment, tokenPool } from "keyward";
import { type PostgresClient, type PostgresPool, postgresStore } from "keyward/postgres";
import { makeStoredToken } from "keyward/testing";
import { describe, expect, it } from "vitest";
import { pgKey } from "../../src/postgres/keys.js";
import { statements } from "../../src/postgres/statements.js";
import { CREDIT_KEY_RETENTION_MS } from "../../src/store/kit/account-credits.js";
import { createKeyText } from "../../src/store/kit/create-keys.js";
import { tableNames } from "../../src/store/sql/schema.js";
import { freshPrefix, hasPostgres, lockWaitOn, openPool, testPool } from "./server.js";

/** `pool`, whose transactions stop before the statement `text` until `release()`, once `held` is set. */
function holdingBefore(pool: PostgresPool, text: string) {
  let reached!: () => void;
  let release!: () => void;
  const state = {
    held: false,
    reached: new Promise<void>((r) => (reached = r)),
    released: new Promise<void>((r) => (release = r)),
    release: () => release(),
  };
  const gated: PostgresPool = {
    query: (t, v) => pool.query(t, v),
    connect: async () => {
      const c = await pool.connect();
      return new Proxy(c, {
        get(target, p) {
          if (p === "query") {
            return async (t: string, v?: unknown[]) => {
              if (state.held && t === text) {
                reached();
                await state.released;
              }
              return target.query(t, v);
            };
          }
          const value = Reflect.get(target, p);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }) as PostgresClient;
    },
  };
  return { pool: gated, state };
}

const T = Date.UTC(2026, 0, 1);
const sha = (c: string) => c.repeat(64);

describe.runIf(hasPostgres)("purging expired idempotency keys (PostgreSQL)", () => {
  const pool = testPool();

  it("create keys: a purge that read a key expired deletes nothing once insertOnce took it over; the request sent again replays", async () => {
    const prefix = freshPrefix();
    const s = statements(tableNames(prefix));
    const store = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false });
    const { pool: gated, state } = holdingBefore(pool, s.insert);
    const taking = await postgresStore(gated, { tablePrefix: prefix, changeFeed: false });
    try {
      const first = makeStoredToken({ owner: "acct_1" });
      const key = { actor: "user:1", key: "order-42", request: sha("a"), expiresAt: T + 1000 };
      await store.insertOnce!(first, key, T);
      // Expired at T + 2000: another request under the key takes it, and is held before writing its token.
      state.held = true;
      const second = makeStoredToken({ owner: "acct_1" });
      const again = { ...key, request: sha("b"), expiresAt: T + 86_400_000 };
      const took = taking.insertOnce!(second, again, T + 2000);
      await state.reached;
      // A purge at T + 2000 (another keyed create's) reads the key expired, and waits for its row.
      const purge = pool.query(s.purgeCreateKeys, [T + 2000, 64]);
      await lockWaitOn(pool, prefix);
      state.release();
      expect(await took).toEqual({ tokenId: second.id, replayed: false });
      await purge;
      const k = pgKey(createKeyText("acct_1", again));
      expect((await pool.query(`SELECT token_id FROM ${prefix}create_keys WHERE key = $1`, [k])).rows).toEqual([{ token_id: JSON.stringify(second.id) }]);
      // Sent again (its answer lost): the token made, not a third one.
      expect(await store.insertOnce!(makeStoredToken({ owner: "acct_1" }), again, T + 3000)).toEqual({ tokenId: second.id, replayed: true });
    } finally {
      await taking.close();
      await store.close();
    }
  });

  it("credit keys: a purge that read a key expired deletes nothing once a top-up took it over; the top-up sent again is applied once", async () => {
    const prefix = freshPrefix();
    const s = statements(tableNames(prefix));
    const store = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false });
    const { pool: gated, state } = holdingBefore(pool, s.lockCreditRow);
    const taking = await postgresStore(gated, { tablePrefix: prefix, changeFeed: false });
    try {
      const topUp: CreditAdjustment = {
        key: { tokenId: "tok_1" },
        policy: tokenPool({ limit: 10, refill: null, reset: "month" }),
        change: { op: "topUp", amount: 5 },
        idempotencyKey: "evt_1",
      };
      await store.adjustCredits!(topUp, T);
      const later = T + CREDIT_KEY_RETENTION_MS + 1000;
      state.held = true;
      const took = taking.adjustCredits!(topUp, later);
      await state.reached;
      const purge = pool.query(s.purgeCreditKeys, [later - CREDIT_KEY_RETENTION_MS, 64]);
      await lockWaitOn(pool, prefix);
      state.release();
      const applied = await took;
      await purge;
      expect((await pool.query(`SELECT count(*)::int AS n FROM ${prefix}credit_keys WHERE key = 'evt_1'`)).rows[0].n).toBe(1);
      // Sent again: replayed, not applied a third time.
      expect(await store.adjustCredits!(topUp, later + 1)).toEqual({ ...applied, replayed: true });
    } finally {
      await taking.close();
      await store.close();
    }
  });

  it("usage writers: a purge that read a writer idle keeps it once a new batch of it committed (its seq, against a batch sent again)", async () => {
    const prefix = freshPrefix();
    const t = tableNames(prefix);
    const s = statements(t);
    const store = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false });
    const writer = await pool.connect();
    try {
      await pool.query(`INSERT INTO ${t.usageWriters} (writer, seq, at) VALUES ('w1', 1, $1)`, [T]);
      // The writer's next batch, in a transaction of its own (addUsageBatch's upsert), not yet committed.
      await writer.query("BEGIN");
      await writer.query(`UPDATE ${t.usageWriters} SET seq = 2, at = $1 WHERE writer = 'w1'`, [T + 86_400_000]);
      const purge = pool.query(s.purgeWriters, [T + 1, 64]);
      await lockWaitOn(pool, prefix);
      await writer.query("COMMIT");
      await purge;
      expect((await pool.query(`SELECT seq FROM ${t.usageWriters} WHERE writer = 'w1'`)).rows).toEqual([{ seq: 2 }]);
    } finally {
      writer.release();
      await store.close();
    }
  });

  it("create keys: of concurrent calls taking over one expired key, from two pools, exactly one inserts; the others replay it, or are refused for another request", async () => {
    const prefix = freshPrefix();
    const other = openPool();
    const stores = [await postgresStore(pool, { tablePrefix: prefix, changeFeed: false }), await postgresStore(other, { tablePrefix: prefix, changeFeed: false })];
    try {
      const key = { actor: "user:1", key: "order-43", request: sha("a"), expiresAt: T + 1000 };
      const first = makeStoredToken({ owner: "acct_1" });
      await stores[0]!.insertOnce!(first, key, T);
      for (const [round, requests] of [[1, [sha("b")]], [2, [sha("c"), sha("d")]]] as const) {
        const at = T + round * 100_000;
        const again = { ...key, expiresAt: at + 1000 };
        const tokens = Array.from({ length: 12 }, () => makeStoredToken({ owner: "acct_1" }));
        const rs = await Promise.allSettled(tokens.map((t, i) => stores[i % 2]!.insertOnce!(t, { ...again, request: requests[i % requests.length]! }, at)));
        const inserted = rs.flatMap((r) => (r.status === "fulfilled" && !r.value.replayed ? [r.value.tokenId] : []));
        expect(inserted).toHaveLength(1);
        for (const r of rs) {
          if (r.status === "fulfilled") expect(r.value.tokenId).toBe(inserted[0]);
          else expect((r.reason as { code?: string }).code).toBe("IDEMPOTENCY_KEY_REUSED");
        }
      }
    } finally {
      for (const s of stores) await s.close();
      await other.end();
    }
  });
});
