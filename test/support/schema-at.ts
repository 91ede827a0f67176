// A database as an older keyward left it: the schema's migrations up to a version, recorded as applied.
import { type AccountStore, Keyward, type TokenStore, tokenPool } from "keyward";
import { expect } from "vitest";
import { MIGRATIONS, migrationsTable, SCHEMA_VERSION, type SqlDialect, type TableNames } from "../../src/store/sql/schema.js";

/** The statements that build the schema at `version` (and record its migrations), for a test to run in order. */
export function schemaAt(version: number, t: TableNames, d: SqlDialect): string[] {
  return [
    migrationsTable(t, d),
    ...MIGRATIONS.filter((m) => m.version <= version).flatMap((m) => [
      ...m.up(t, d),
      `INSERT INTO ${t.migrations} (version, name, applied_at) VALUES (${m.version}, '${m.name}', 0)`,
    ]),
  ];
}

/** A database a test writes to and reads from directly: SQLite's or PostgreSQL's. */
export interface SqlAccess {
  exec(sql: string): unknown;
  rows(sql: string): unknown[] | Promise<unknown[]>;
}

/** The part of a SQL store the migration check drives. */
interface CreditStore {
  adjustCredits: AccountStore["adjustCredits"];
  meter: TokenStore["meter"];
  close(): Promise<void> | void;
}

/**
 * Builds schema 6 with credit rows as keyward wrote them then (a top-up beyond
 * the plan was a negative `used`), opens the store (which migrates), and checks
 * that no balance is lost: the top-ups become bought credits, spent after the
 * plan's and kept across a monthly reset.
 */
export async function expectCreditsMigratedFrom6(db: SqlAccess, t: TableNames, d: SqlDialect, open: () => Promise<CreditStore> | CreditStore): Promise<void> {
  for (const sql of schemaAt(6, t, d)) await db.exec(sql);
  const nov20 = Date.UTC(2026, 10, 20, 12);
  // 5 topped up on a full pool of 10, 7 of 10 spent, and an account's pool topped up by 300.
  await db.exec(`INSERT INTO ${t.credits} (token_id, used, period_start) VALUES ('tok_a', -5, NULL), ('tok_b', 7, ${nov20})`);
  await db.exec(`INSERT INTO ${t.accountCredits} (owner, used, period_start) VALUES ('acct_1', -300, ${nov20})`);
  const store = await open();
  expect(await db.rows(`SELECT MAX(version) AS v FROM ${t.migrations}`)).toEqual([{ v: SCHEMA_VERSION }]);
  expect(await db.rows(`SELECT token_id, used, bought FROM ${t.credits} ORDER BY token_id`)).toEqual([
    { token_id: "tok_a", used: 0, bought: 5 },
    { token_id: "tok_b", used: 7, bought: 0 },
  ]);
  const monthly = { limit: 10, refill: null, reset: "month" as const };
  const read = (key: { tokenId: string } | { owner: string }, limit: number) =>
    store.adjustCredits({ key, policy: tokenPool({ ...monthly, limit }), change: { op: "read" } }, nov20).then((r) => r.remaining);
  expect(await read({ tokenId: "tok_a" }, 10)).toBe(15);
  expect(await read({ tokenId: "tok_b" }, 10)).toBe(3);
  expect(await read({ owner: "acct_1" }, 1000)).toBe(1300);
  // The plan's credits are spent first; the bought ones left are kept across the reset.
  expect((await store.meter({ tokenId: "tok_a", cost: 12, rateLimit: null, credits: monthly }, nov20)).credits?.remaining).toBe(3);
  expect((await store.meter({ tokenId: "tok_a", cost: 0, rateLimit: null, credits: monthly }, Date.UTC(2026, 11, 1))).credits?.remaining).toBe(13);
  await store.close();
}

/** A store the upgrade checks open. */
type OpenedStore = TokenStore & { close(): Promise<void> | void };

/**
 * Builds schema 10 (before keyward_create_keys) at `t` with a token in it (its rows copied from `src`,
 * where a store of this version made it: the token tables are the same at 10 and 11), opens the store
 * (which migrates), and checks that the token is kept and that a keyed create works on the upgraded
 * database: made once, replayed, refused for another request, one key row.
 */
export async function expectCreateKeysFrom10(db: SqlAccess, src: TableNames, t: TableNames, d: SqlDialect, open: (t: TableNames) => Promise<OpenedStore> | OpenedStore): Promise<void> {
  const made = await open(src);
  const old = new Keyward({ store: made, prefix: "acme" });
  const { record } = await old.tokens.create({ owner: "acct_10", kind: "secret" });
  await old.close();
  await made.close();
  for (const sql of schemaAt(10, t, d)) await db.exec(sql);
  for (const table of ["tokens", "hashes", "audit"] as const) await db.exec(`INSERT INTO ${t[table]} SELECT * FROM ${src[table]}`);
  const store = await open(t);
  expect(await db.rows(`SELECT MAX(version) AS v FROM ${t.migrations}`)).toEqual([{ v: SCHEMA_VERSION }]);
  const kw = new Keyward({ store, prefix: "acme" });
  expect((await kw.tokens.get(record.id))?.id).toBe(record.id);
  const input = { owner: "acct_10", kind: "secret" as const, name: "ci" };
  const first = await kw.tokens.create(input, { idempotencyKey: "upgrade-1" });
  expect(first.token).not.toBeNull();
  expect(await kw.tokens.create(input, { idempotencyKey: "upgrade-1" })).toEqual({ token: null, replayed: true, record: first.record });
  await expect(kw.tokens.create({ ...input, name: "other" }, { idempotencyKey: "upgrade-1" })).rejects.toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
  expect(await db.rows(`SELECT request FROM ${t.createKeys}`)).toHaveLength(1);
  expect((await kw.tokens.list("acct_10")).items.map((x) => x.id).sort()).toEqual([record.id, first.record.id].sort());
  await kw.close();
  await store.close();
}
