// The Idempotency-Key of POST /tokens over real HTTP on PostgreSQL (the cases of
// test/admin/idempotency-cases.ts), and across two servers on one database, as two processes of a fleet:
// simultaneous POSTs with one key, half to each, make one token.
import { postgresStore } from "keyward/postgres";
import { describe, expect, it } from "vitest";
import { replayedTokenSchema } from "../../src/admin/schemas.js";
import { idempotencyKeyCases, idsOf, newKey, poster } from "../admin/idempotency-cases.js";
import { type AdminServer, startAdminServer } from "../admin/server.js";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

describe.runIf(hasPostgres)("PostgreSQL", () => {
  const pool = testPool();
  const otherPool = testPool();
  /** An admin server on a PostgreSQL store of its own pool and tables; closing it closes the store (its LISTEN connection). */
  const serve = async (on: typeof pool, tablePrefix: string): Promise<AdminServer> => {
    const store = await postgresStore(on, { tablePrefix });
    const srv = await startAdminServer({ keyward: { store } });
    const close = srv.close;
    return Object.assign(srv, { close: () => close().finally(() => store.close()) });
  };
  idempotencyKeyCases("PostgreSQL", () => serve(pool, freshPrefix()));

  it("two servers on one database: simultaneous POSTs with one key, half to each, make exactly one token; the rest replay it", async () => {
    const tablePrefix = freshPrefix();
    const a = await serve(pool, tablePrefix);
    const b = await serve(otherPool, tablePrefix);
    try {
      const posts = [poster(a, a.session("acct_fleet")), poster(b, b.session("acct_fleet"))];
      for (let round = 0; round < 5; round++) {
        const key = newKey();
        const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => posts[i % 2]!({ kind: "secret", name: `round ${round}` }, key)));
        const statuses = answers.map((r) => r.status);
        expect(statuses.filter((s) => s === 201), String(statuses)).toHaveLength(1);
        expect(statuses.every((s) => s === 201 || s === 200 || s === 409), String(statuses)).toBe(true);
        const created = (await answers[statuses.indexOf(201)]!.json()) as { record: { id: string } };
        for (const r of answers.filter((x) => x.status === 200)) expect(replayedTokenSchema.parse(await r.json()).record.id).toBe(created.record.id);
      }
      expect(await idsOf(a, a.session("acct_fleet"))).toHaveLength(5);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
