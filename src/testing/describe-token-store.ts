// The conformance suite of the TokenStore contract (src/store/types.ts),
// one file per group under ./groups. Every adapter, built-in or
// third-party, runs it.
import { afterEach, beforeEach, describe } from "vitest";
import { type GuardedStore, guardStore } from "../store/guard.js";
import type { TokenStore } from "../store/types.js";
import { accountsGroup } from "./groups/accounts.js";
import { anomalyStateGroup } from "./groups/anomaly-state.js";
import { billingGroup } from "./groups/billing.js";
import { auditGroup } from "./groups/audit.js";
import { changeFeedGroup } from "./groups/change-feed.js";
import { creditsGroup } from "./groups/credits.js";
import { deleteGroup } from "./groups/delete.js";
import { findByHashGroup } from "./groups/find-by-hash.js";
import { getGroup } from "./groups/get.js";
import { idempotentCreateGroup } from "./groups/idempotent-create.js";
import { insertGroup } from "./groups/insert.js";
import { listGroup } from "./groups/list.js";
import { meterGroup } from "./groups/meter.js";
import { noncesGroup } from "./groups/nonces.js";
import { poolsGroup } from "./groups/pools.js";
import { racesGroup } from "./groups/races.js";
import { rateLimitGroup } from "./groups/rate-limit.js";
import { rawGroup } from "./groups/raw.js";
import { revokeGroup } from "./groups/revoke.js";
import { updateGroup } from "./groups/update.js";
import { usageGroup } from "./groups/usage.js";
import { usageAnalyticsGroup } from "./groups/usage-analytics.js";
import type { SuiteContext } from "./suite.js";

/**
 * The test groups of {@link describeTokenStore}, each in its own file under
 * `src/testing/groups/` and each exported on its own, usable in
 * {@link DescribeTokenStoreOptions.skip}:
 *
 * - `insert`: new tokens, the longest owners and names kept as given (astral characters included), metadata
 *   exact, owners and ids compared as given (not folding case, accents or trailing spaces), duplicate id /
 *   hash / previous hash rejected with nothing written.
 * - `get`: lookup by id, copies.
 * - `findByHash`: lookup by current and previous hashes (the whole hash, and nothing else), copies, nested fields included.
 * - `list`: owner listing, order (ids of one `createdAt` in code-unit order), pagination, copies.
 * - `update`: compare-and-set, every field of `next` stored, hash changes, conflicts, reads after it;
 *   `next.revokedAt` ignored, `next` not kept.
 * - `revoke`: revocation, idempotence, revision, reads after it (after one written through the peer too).
 * - `credits`: balances (exact up to 10^15), refill, limit changes (through `meter`).
 * - `rateLimit`: at most `limit` hits in any `windowMs`, Retry-After (through `meter`).
 * - `meter`: rate limit and credits together, all or nothing.
 * - `pools`: named credit pools, several rate limits and calendar resets (through `meter`), all or
 *   nothing under races; account pools when `capabilities.accounts` is true.
 * - `nonces`: replay protection with expiry (expired at `now ≥ expiresAt`, to the millisecond), per token.
 * - `usage`: `recordUsage` / `getUsage`, hour and UTC day buckets, credits beyond 2^32.
 * - `audit`: `appendAudit` / `listAudit`, written with the record (an entry id already used refused, with
 *   the write), entries copied (not kept by reference).
 * - `changeFeed`: `subscribe` events for every insert, update (a hash changed or not), revoke and
 *   hard delete, and for every account write when `capabilities.accounts` is true (tests skip
 *   themselves when `capabilities.changeFeed` is false).
 * - `delete`: the optional hard delete (tests skip themselves when `capabilities.hardDelete` is not true).
 * - `races`: concurrent calls of every atomic operation, split between the store and its
 *   {@link DescribeTokenStoreOptions.peer} when one is given.
 * - `raw`: checks through the {@link DescribeTokenStoreOptions.raw} hook (skipped without it).
 * - `accounts`: the optional account part: records, account counters in `meter` (both or neither),
 *   admin credit operations (tests skip themselves when `capabilities.accounts` is not true).
 * - `usageAnalytics`: the optional analytics part: rows per token, owner, minute, scope and code,
 *   last use (tests skip themselves when `capabilities.usageAnalytics` is not true).
 * - `anomalyState`: the optional shared anomaly state: sightings per token and kind, bounded,
 *   atomic (tests skip themselves when `capabilities.anomalyState` is not true).
 * - `billing`: the optional billing part: spend per owner, pool and hour from usage batches,
 *   runs claimed and billed once (tests skip themselves when `capabilities.billing` is not true).
 * - `idempotentCreate`: the optional `insertOnce`: a token and its idempotency key in one write, the
 *   same request replayed, another refused, keys per owner and actor, expiry, and one insert of
 *   concurrent calls with one key (tests skip themselves when `capabilities.idempotentCreate` is not true).
 */
export const TOKEN_STORE_TEST_GROUPS = [
  "insert",
  "get",
  "findByHash",
  "list",
  "update",
  "revoke",
  "credits",
  "rateLimit",
  "meter",
  "pools",
  "nonces",
  "usage",
  "audit",
  "changeFeed",
  "delete",
  "races",
  "raw",
  "accounts",
  "usageAnalytics",
  "anomalyState",
  "billing",
  "idempotentCreate",
] as const;

/** One of {@link TOKEN_STORE_TEST_GROUPS}. */
export type TokenStoreTestGroup = (typeof TOKEN_STORE_TEST_GROUPS)[number];

/** @internal What `concurrency` and `timeoutMs` are when not given. */
export const SUITE_DEFAULTS = Object.freeze({ concurrency: 1000, timeoutMs: 60_000 });

const GROUPS: Record<TokenStoreTestGroup, (ctx: SuiteContext) => void> = {
  insert: insertGroup,
  get: getGroup,
  findByHash: findByHashGroup,
  list: listGroup,
  update: updateGroup,
  revoke: revokeGroup,
  credits: creditsGroup,
  rateLimit: rateLimitGroup,
  meter: meterGroup,
  pools: poolsGroup,
  nonces: noncesGroup,
  usage: usageGroup,
  audit: auditGroup,
  changeFeed: changeFeedGroup,
  delete: deleteGroup,
  races: racesGroup,
  raw: rawGroup,
  accounts: accountsGroup,
  usageAnalytics: usageAnalyticsGroup,
  anomalyState: anomalyStateGroup,
  billing: billingGroup,
  idempotentCreate: idempotentCreateGroup,
};

/** Options of {@link describeTokenStore}. */
export interface DescribeTokenStoreOptions {
  /**
   * Test groups to skip, each with the reason shown in the test report
   * (`{ changeFeed: "no LISTEN/NOTIFY here" }`), or a list of names. An
   * unknown name throws.
   */
  skip?: Partial<Record<TokenStoreTestGroup, string | undefined>> | readonly TokenStoreTestGroup[] | undefined;
  /**
   * Reads the database behind the adapter directly and returns everything it
   * holds (tokens, indexes, counters, logs) as text, the same text for the
   * same data (sort your rows). With it, the `raw` group checks that writes
   * reach the database and that rejected calls leave no trace in it, not
   * even in tables the API cannot see. (A store never receives a token, only
   * its hash, so there is no plaintext for the dump to leak.)
   */
  raw?: ((store: TokenStore) => string | Promise<string>) | undefined;
  /**
   * Opens another store over the same data as `store` (a new one from
   * `makeStore`), as a second process would: its own connection, pool or
   * client. With it, the `races` group splits each race between the two
   * stores. An adapter whose atomicity is a lock of its own process (a
   * mutex, a queue, the one connection of a synchronous driver) passes
   * every race on one store, and spends credits twice or accepts a nonce
   * twice when two processes share the database: only this catches it. The
   * `revoke` group revokes through it too: a cache of the adapter that only
   * its own writes drop never sees another process's revocation.
   * Closed after the test, before `store`.
   */
  peer?: ((store: TokenStore) => TokenStore | Promise<TokenStore>) | undefined;
  /**
   * Size of the races (default 1000, at least 2): credits and rate limits
   * race this many calls on a limit of half; updates, inserts and nonces race
   * min(this, 50 / 50 / 100) calls.
   */
  concurrency?: number | undefined;
  /**
   * Longest a test of the suite may take, ms (default 60 000, at least 1):
   * vitest's default of 5 s (or your `testTimeout`) is too short for the
   * races of 1 000 calls on a database, on a loaded CI machine.
   */
  timeoutMs?: number | undefined;
}

/**
 * Registers the `TokenStore` conformance suite with vitest: one `describe`
 * block named `TokenStore: ${name}`, a fresh store per test (from
 * `makeStore`, closed with `close()` after the test when it has one). The
 * tests call the store through `guardStore`, as `Keyward` does: input
 * validation is the guard's, so an adapter is never asked to reject invalid
 * input itself.
 *
 * @param name - shown in the test report.
 * @param makeStore - returns a new, empty store (or one whose data no other test sees).
 * @param options - groups to skip (with reasons), the `raw` hook, a `peer` store over the same data for the races, race sizes, the timeout of each test.
 * @throws {TypeError} on an unknown group name in `skip`.
 * @throws {RangeError} when `concurrency` is not an integer of at least 2, or `timeoutMs` not a positive integer.
 * @example
 * ```ts
 * // test/my-store.test.ts
 * import { describeTokenStore } from "keyward/testing";
 * import { MyStore } from "../src/my-store.js";
 *
 * describeTokenStore("MyStore", async () => MyStore.connect(process.env.DB_URL!), {
 *   skip: { changeFeed: "MyStore has no change feed yet" },
 *   raw: async (store) => (store as MyStore).dumpAllTables(),
 *   // A second connection to the same database: the races run across the two, as across processes.
 *   peer: () => MyStore.connect(process.env.DB_URL!),
 * });
 * ```
 */
export function describeTokenStore(
  name: string,
  makeStore: () => TokenStore | Promise<TokenStore>,
  options: DescribeTokenStoreOptions = {},
): void {
  const given = options.skip ?? {};
  const skip = new Map<string, string>(
    // A group whose reason is undefined (an optional value) is not skipped.
    Array.isArray(given) ? given.map((g) => [g, "skipped by the caller"]) : Object.entries(given).filter((e): e is [string, string] => e[1] !== undefined),
  );
  for (const g of skip.keys()) {
    if (!(TOKEN_STORE_TEST_GROUPS as readonly string[]).includes(g)) {
      throw new TypeError(`describeTokenStore: unknown test group "${g}" in skip`);
    }
  }
  const concurrency = options.concurrency ?? SUITE_DEFAULTS.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 2) {
    throw new RangeError("describeTokenStore: concurrency must be an integer of at least 2");
  }
  const timeout = options.timeoutMs ?? SUITE_DEFAULTS.timeoutMs;
  if (!Number.isInteger(timeout) || timeout < 1) throw new RangeError("describeTokenStore: timeoutMs must be a positive integer (ms)");
  const raw = options.raw;
  const openPeer = options.peer;
  if (!raw && !skip.has("raw")) skip.set("raw", "no raw hook given");

  describe(`TokenStore: ${name}`, { timeout }, () => {
    let adapter!: TokenStore;
    let store!: GuardedStore;
    /** The running test's peer, once a test asked for it. */
    let peer: TokenStore | undefined;
    const ctx: SuiteContext = {
      get store() {
        return store;
      },
      get adapter() {
        return adapter;
      },
      async stores() {
        if (openPeer === undefined) return [store];
        peer ??= await openPeer(adapter);
        return [store, guardStore(peer)];
      },
      raw,
      concurrency,
    };
    beforeEach(async () => {
      adapter = await makeStore();
      store = guardStore(adapter);
    });
    afterEach(async () => {
      const opened = peer;
      peer = undefined;
      await opened?.close?.();
      await adapter.close?.();
    });

    for (const g of TOKEN_STORE_TEST_GROUPS) {
      const reason = skip.get(g);
      if (reason === undefined) describe(g, () => GROUPS[g](ctx));
      else describe.skip(`${g} (skipped: ${reason})`, () => GROUPS[g](ctx));
    }
  });
}
