// The conformance suite of the TokenStore contract (src/store/types.ts).
// Every adapter, built-in or third-party, runs it.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ErrorCode } from "../errors.js";
import type { AuditEntry, CreditsPolicy, StoredToken } from "../model/types.js";
import type { ChangeEvent, TokenStore } from "../store/types.js";
import { FIXTURE_TIME, makeAuditEntry, makeStoredToken, randomHash, randomId } from "./fixtures.js";

/**
 * Names of the test groups of {@link describeTokenStore}, usable in
 * {@link DescribeTokenStoreOptions.skip}:
 *
 * - `insert`: new tokens, duplicate id / hash / previous hash rejected with nothing written.
 * - `get`: lookup by id, copies.
 * - `findByHash`: lookup by current and previous hashes, copies.
 * - `list`: owner listing, order, pagination, limit and cursor validation.
 * - `update`: compare-and-set, hash changes, conflicts.
 * - `revoke`: revocation, idempotence, revision.
 * - `consumeCredits`: balances, refill, limit changes.
 * - `hitRateLimit`: sliding-window counter, Retry-After.
 * - `rememberNonce`: replay protection with expiry.
 * - `usage`: `recordUsage` / `getUsage`, hour and day buckets.
 * - `audit`: `appendAudit` / `listAudit`.
 * - `changeFeed`: `subscribe` events (tests skip themselves when `capabilities.changeFeed` is false).
 * - `races`: concurrent calls of every atomic operation.
 * - `raw`: checks through the {@link DescribeTokenStoreOptions.raw} hook (skipped without it).
 */
export const TOKEN_STORE_TEST_GROUPS = [
  "insert",
  "get",
  "findByHash",
  "list",
  "update",
  "revoke",
  "consumeCredits",
  "hitRateLimit",
  "rememberNonce",
  "usage",
  "audit",
  "changeFeed",
  "races",
  "raw",
] as const;

/** One of {@link TOKEN_STORE_TEST_GROUPS}. */
export type TokenStoreTestGroup = (typeof TOKEN_STORE_TEST_GROUPS)[number];

/** Options of {@link describeTokenStore}. */
export interface DescribeTokenStoreOptions {
  /** Test groups to skip (see {@link TOKEN_STORE_TEST_GROUPS}); an unknown name throws. */
  skip?: readonly TokenStoreTestGroup[];
  /**
   * Reads the database behind `store` directly and returns everything it
   * holds (tokens, indexes, counters, logs) as text, the same text for the
   * same data (sort your rows). With it, the `raw` group checks that writes
   * reach the database and that rejected calls leave no trace in it, not
   * even in tables the API cannot see. (A store never receives a token, only
   * its hash, so there is no plaintext for the dump to leak.)
   */
  raw?: (store: TokenStore) => string | Promise<string>;
  /**
   * Size of the races (default 1000, at least 2): credits and rate limits
   * race this many calls on a limit of half; updates, inserts and nonces race
   * min(this, 50 / 50 / 100) calls.
   */
  concurrency?: number;
}

/** A day-aligned instant every test uses as "now". */
const T = FIXTURE_TIME;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * Registers the `TokenStore` conformance suite with vitest: one `describe`
 * block named `TokenStore: ${name}`, a fresh store per test (from
 * `makeStore`, closed with `close()` after the test when it has one).
 *
 * @param name - shown in the test report.
 * @param makeStore - returns a new, empty store (or one whose data no other test sees).
 * @param options - groups to skip, the `raw` hook, race sizes.
 * @throws {TypeError} on an unknown group name in `skip`.
 * @throws {RangeError} when `concurrency` is not an integer of at least 2.
 * @example
 * ```ts
 * // test/my-store.test.ts
 * import { describeTokenStore } from "keyward/testing";
 * import { MyStore } from "../src/my-store.js";
 *
 * describeTokenStore("MyStore", async () => MyStore.connect(process.env.DB_URL!), {
 *   skip: ["changeFeed"],
 *   raw: async (store) => (store as MyStore).dumpAllTables(),
 * });
 * ```
 */
export function describeTokenStore(
  name: string,
  makeStore: () => TokenStore | Promise<TokenStore>,
  options: DescribeTokenStoreOptions = {},
): void {
  const skip = new Set<string>(options.skip ?? []);
  for (const g of skip) {
    if (!(TOKEN_STORE_TEST_GROUPS as readonly string[]).includes(g)) {
      throw new TypeError(`describeTokenStore: unknown test group "${g}" in skip`);
    }
  }
  const concurrency = options.concurrency ?? 1000;
  if (!Number.isInteger(concurrency) || concurrency < 2) {
    throw new RangeError("describeTokenStore: concurrency must be an integer of at least 2");
  }
  const raw = options.raw;

  describe(`TokenStore: ${name}`, () => {
    let store!: TokenStore;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close?.();
    });

    const group = (g: TokenStoreTestGroup, body: () => void) =>
      skip.has(g) || (g === "raw" && !raw) ? describe.skip(g, body) : describe(g, body);

    group("insert", () => {
      it("stores the token as given, revision included", async () => {
        const t = makeStoredToken({ revision: 7, metadata: { plan: "pro", tags: ["a"] } });
        await store.insert(t);
        expect(await store.get(t.id)).toEqual(t);
      });

      it("does not mutate its argument, nor keep a reference to it", async () => {
        const t = makeStoredToken({ previous: [{ hash: randomHash(), expiresAt: T + 1 }] });
        const snapshot = structuredClone(t);
        await store.insert(deepFreeze(structuredClone(t))); // a store that mutates it throws here
        expect(await store.get(t.id)).toEqual(snapshot);
        const mutable = makeStoredToken();
        await store.insert(mutable);
        mutable.name = "changed";
        mutable.policy.scopes.push("premium:read");
        const stored = await store.get(mutable.id);
        expect(stored?.name).toBe("fixture");
        expect(stored?.policy.scopes).toEqual(["core:read"]);
      });

      it("rejects a duplicate id with TOKEN_ALREADY_EXISTS and writes nothing", async () => {
        const a = makeStoredToken();
        await store.insert(a);
        const b = makeStoredToken({ id: a.id, owner: randomId("acct"), name: "other" });
        await expectCode(store.insert(b), "TOKEN_ALREADY_EXISTS");
        expect(await store.get(a.id)).toEqual(a);
        expect(await store.findByHash(b.hash)).toBeNull();
        expect((await store.list(b.owner)).items).toEqual([]);
      });

      it("rejects a duplicate current hash and writes nothing", async () => {
        const a = makeStoredToken();
        await store.insert(a);
        const b = makeStoredToken({ hash: a.hash, previous: [{ hash: randomHash(), expiresAt: T }] });
        await expectCode(store.insert(b), "TOKEN_ALREADY_EXISTS");
        expect(await store.get(b.id)).toBeNull();
        expect(await store.findByHash(b.previous[0]!.hash)).toBeNull();
        expect((await store.findByHash(a.hash))?.id).toBe(a.id);
      });

      it("rejects a hash that is another token's previous hash", async () => {
        const old = randomHash();
        const a = makeStoredToken({ previous: [{ hash: old, expiresAt: T + 1000 }] });
        await store.insert(a);
        const b = makeStoredToken({ hash: old });
        await expectCode(store.insert(b), "TOKEN_ALREADY_EXISTS");
        expect(await store.get(b.id)).toBeNull();
        expect((await store.findByHash(old))?.id).toBe(a.id);
      });

      it("rejects a previous hash that is another token's current or previous hash", async () => {
        const old = randomHash();
        const a = makeStoredToken({ previous: [{ hash: old, expiresAt: T + 1000 }] });
        await store.insert(a);
        const b = makeStoredToken({ previous: [{ hash: a.hash, expiresAt: T }] });
        await expectCode(store.insert(b), "TOKEN_ALREADY_EXISTS");
        const c = makeStoredToken({ previous: [{ hash: old, expiresAt: T }] });
        await expectCode(store.insert(c), "TOKEN_ALREADY_EXISTS");
        expect(await store.get(b.id)).toBeNull();
        expect(await store.get(c.id)).toBeNull();
        expect(await store.findByHash(b.hash)).toBeNull();
        expect(await store.findByHash(c.hash)).toBeNull();
      });

      it("accepts many tokens of one owner", async () => {
        const owner = randomId("acct");
        const ts = Array.from({ length: 20 }, (_, i) => makeStoredToken({ owner, createdAt: T + i }));
        for (const t of ts) await store.insert(t);
        for (const t of ts) expect((await store.findByHash(t.hash))?.id).toBe(t.id);
      });
    });

    group("get", () => {
      it("returns null for an unknown id", async () => {
        expect(await store.get(randomId("tok"))).toBeNull();
      });

      it("returns a copy: mutating it does not change the store", async () => {
        const t = makeStoredToken({ metadata: { a: 1 }, previous: [{ hash: randomHash(), expiresAt: T }] });
        await store.insert(t);
        const got = (await store.get(t.id))!;
        got.name = "mutated";
        got.metadata.a = 2;
        got.policy.scopes.push("premium:read");
        got.previous.pop();
        got.revision = 99;
        expect(await store.get(t.id)).toEqual(t);
        expect(await store.get(t.id)).not.toBe(await store.get(t.id));
      });
    });

    group("findByHash", () => {
      it("finds a token by its current hash", async () => {
        const t = makeStoredToken();
        await store.insert(t);
        expect(await store.findByHash(t.hash)).toEqual(t);
      });

      it("finds a token by each previous hash, even an expired one", async () => {
        const p1 = randomHash();
        const p2 = randomHash();
        const t = makeStoredToken({
          previous: [
            { hash: p1, expiresAt: T - 1 },
            { hash: p2, expiresAt: T + 60_000 },
          ],
        });
        await store.insert(t);
        expect(await store.findByHash(p1)).toEqual(t);
        expect(await store.findByHash(p2)).toEqual(t);
      });

      it("returns null for an unknown hash", async () => {
        await store.insert(makeStoredToken());
        expect(await store.findByHash(randomHash())).toBeNull();
      });

      it("returns a copy: mutating it does not change the store", async () => {
        const t = makeStoredToken();
        await store.insert(t);
        const got = (await store.findByHash(t.hash))!;
        got.hash = randomHash();
        got.policy.ips.push("10.0.0.0/8");
        expect(await store.findByHash(t.hash)).toEqual(t);
      });

      it("finds revoked tokens (the caller decides)", async () => {
        const t = makeStoredToken();
        await store.insert(t);
        await store.revoke(t.id, T + 5);
        expect((await store.findByHash(t.hash))?.revokedAt).toBe(T + 5);
      });
    });

    group("list", () => {
      it("returns an empty page for an owner without tokens", async () => {
        expect(await store.list(randomId("acct"))).toEqual({ items: [], nextCursor: null });
      });

      it("lists oldest first by createdAt, then id, revoked tokens included, other owners excluded", async () => {
        const owner = randomId("acct");
        const mk = (createdAt: number, idPrefix: string) =>
          makeStoredToken({ owner, createdAt, id: `tok_${idPrefix}${randomId("x").slice(2)}` });
        const expected = [mk(T, "a"), mk(T + 1, "a"), mk(T + 1, "b"), mk(T + 1, "c"), mk(T + 2, "0")];
        const shuffled = [expected[3]!, expected[0]!, expected[4]!, expected[2]!, expected[1]!];
        for (const t of shuffled) await store.insert(t);
        await store.insert(makeStoredToken({ owner: randomId("acct"), createdAt: T + 1 }));
        await store.revoke(expected[2]!.id, T + 10);
        const page = await store.list(owner);
        expect(page.items.map((t) => t.id)).toEqual(expected.map((t) => t.id));
        expect(page.items[2]?.revokedAt).toBe(T + 10);
        expect(page.items[0]).toEqual(expected[0]);
        expect(page.nextCursor).toBeNull();
      });

      it("paginates with limit and cursor without skipping or repeating", async () => {
        const owner = randomId("acct");
        const ts = Array.from({ length: 7 }, (_, i) => makeStoredToken({ owner, createdAt: T + i }));
        for (const t of ts) await store.insert(t);
        const seen = await listAll(store, owner, 3);
        expect(seen.ids).toEqual(ts.map((t) => t.id));
        expect(seen.pages).toBeLessThanOrEqual(4);
        const first = await store.list(owner, { limit: 3 });
        expect(first.items).toHaveLength(3);
        expect(typeof first.nextCursor).toBe("string");
      });

      it("defaults to 100 items per page", async () => {
        const owner = randomId("acct");
        for (let i = 0; i < 101; i++) await store.insert(makeStoredToken({ owner, createdAt: T + i }));
        const first = await store.list(owner);
        expect(first.items).toHaveLength(100);
        expect(first.nextCursor).not.toBeNull();
        const second = await store.list(owner, { cursor: first.nextCursor });
        expect(second.items).toHaveLength(1);
        expect(second.items[0]?.createdAt).toBe(T + 100);
      });

      it("accepts limit 1 and 1000, rejects other limits with INVALID_INPUT", async () => {
        const owner = randomId("acct");
        await store.insert(makeStoredToken({ owner }));
        await store.insert(makeStoredToken({ owner, createdAt: T + 1 }));
        expect((await store.list(owner, { limit: 1 })).items).toHaveLength(1);
        expect((await store.list(owner, { limit: 1000 })).items).toHaveLength(2);
        for (const limit of [0, -1, 1001, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await expectCode(store.list(owner, { limit }), "INVALID_INPUT");
        }
      });

      it("rejects an invalid cursor with INVALID_INPUT", async () => {
        const owner = randomId("acct");
        await store.insert(makeStoredToken({ owner }));
        for (const cursor of ["%%% not a cursor %%%", "\u0000\uffff"]) {
          await expectCode(store.list(owner, { cursor }), "INVALID_INPUT");
        }
      });

      it("is stable under inserts between pages", async () => {
        const owner = randomId("acct");
        const before = Array.from({ length: 4 }, (_, i) => makeStoredToken({ owner, createdAt: T + i }));
        for (const t of before) await store.insert(t);
        const first = await store.list(owner, { limit: 2 });
        const after = Array.from({ length: 3 }, (_, i) => makeStoredToken({ owner, createdAt: T + 100 + i }));
        for (const t of after) await store.insert(t);
        const ids = first.items.map((t) => t.id);
        let cursor = first.nextCursor;
        for (let i = 0; cursor !== null && i < 10; i++) {
          const page = await store.list(owner, { limit: 2, cursor });
          ids.push(...page.items.map((t) => t.id));
          cursor = page.nextCursor;
        }
        expect(ids).toEqual([...before, ...after].map((t) => t.id));
      });

      it("returns copies", async () => {
        const owner = randomId("acct");
        const t = makeStoredToken({ owner });
        await store.insert(t);
        const page = await store.list(owner);
        page.items[0]!.name = "mutated";
        expect(await store.get(t.id)).toEqual(t);
      });
    });

    group("update", () => {
      it("replaces the token and increments the revision when the revision matches", async () => {
        const t = makeStoredToken({ revision: 3 });
        await store.insert(t);
        const next = { ...structuredClone(t), name: "renamed", updatedAt: T + 1, metadata: { k: "v" } };
        const stored = await store.update(next, 3);
        expect(stored).toEqual({ ...next, revision: 4 });
        expect(await store.get(t.id)).toEqual(stored);
        const again = await store.update({ ...stored, name: "again" }, 4);
        expect(again.revision).toBe(5);
      });

      it("stores expectedRevision + 1 whatever next.revision says", async () => {
        const t = makeStoredToken({ revision: 1 });
        await store.insert(t);
        expect((await store.update({ ...t, revision: 41 }, 1)).revision).toBe(2);
        expect((await store.get(t.id))?.revision).toBe(2);
      });

      it("does not mutate its argument and returns a copy", async () => {
        const t = makeStoredToken();
        await store.insert(t);
        const next = deepFreeze({ ...structuredClone(t), name: "frozen" });
        const stored = await store.update(next, t.revision);
        stored.name = "mutated";
        stored.policy.scopes.push("x:write");
        expect((await store.get(t.id))?.name).toBe("frozen");
        expect((await store.get(t.id))?.policy.scopes).toEqual(["core:read"]);
      });

      it("rejects a stale revision with REVISION_CONFLICT and writes nothing", async () => {
        const t = makeStoredToken({ revision: 5 });
        await store.insert(t);
        const newHash = randomHash();
        for (const rev of [4, 6, 0]) {
          await expectCode(store.update({ ...t, name: "lost", hash: newHash }, rev), "REVISION_CONFLICT");
        }
        expect(await store.get(t.id)).toEqual(t);
        expect(await store.findByHash(newHash)).toBeNull();
        expect((await store.findByHash(t.hash))?.id).toBe(t.id);
      });

      it("rejects an unknown id with TOKEN_NOT_FOUND", async () => {
        const t = makeStoredToken();
        await expectCode(store.update(t, t.revision), "TOKEN_NOT_FOUND");
        expect(await store.get(t.id)).toBeNull();
        expect(await store.findByHash(t.hash)).toBeNull();
      });

      it("rejects a new hash that belongs to another token with TOKEN_ALREADY_EXISTS and writes nothing", async () => {
        const oldOfB = randomHash();
        const a = makeStoredToken();
        const b = makeStoredToken({ previous: [{ hash: oldOfB, expiresAt: T + 1000 }] });
        await store.insert(a);
        await store.insert(b);
        const cases: StoredToken[] = [
          { ...a, hash: b.hash, name: "x" },
          { ...a, hash: oldOfB, name: "x" },
          { ...a, hash: randomHash(), previous: [{ hash: a.hash, expiresAt: T }, { hash: b.hash, expiresAt: T }] },
          { ...a, previous: [{ hash: oldOfB, expiresAt: T }] },
        ];
        for (const next of cases) {
          await expectCode(store.update(next, a.revision), "TOKEN_ALREADY_EXISTS");
          expect(await store.get(a.id)).toEqual(a);
          expect(await store.get(b.id)).toEqual(b);
          expect((await store.findByHash(a.hash))?.id).toBe(a.id);
          expect((await store.findByHash(b.hash))?.id).toBe(b.id);
          expect((await store.findByHash(oldOfB))?.id).toBe(b.id);
          if (next.hash !== a.hash) expect((await store.findByHash(next.hash))?.id ?? null).not.toBe(a.id);
        }
      });

      it("rotation: the new hash and the kept previous hash both find the token", async () => {
        const t = makeStoredToken();
        await store.insert(t);
        const newHash = randomHash();
        const rotated = await store.update(
          { ...t, hash: newHash, previous: [{ hash: t.hash, expiresAt: T + 60_000 }] },
          t.revision,
        );
        expect((await store.findByHash(newHash))?.id).toBe(t.id);
        expect((await store.findByHash(t.hash))?.id).toBe(t.id);
        expect(await store.findByHash(newHash)).toEqual(rotated);
      });

      it("dropped hashes stop finding the token and become free; new hashes find it", async () => {
        const p = randomHash();
        const t = makeStoredToken({ previous: [{ hash: p, expiresAt: T + 1 }] });
        await store.insert(t);
        const h2 = randomHash();
        const p2 = randomHash();
        await store.update({ ...t, hash: h2, previous: [{ hash: p2, expiresAt: T + 2 }] }, t.revision);
        expect(await store.findByHash(t.hash)).toBeNull();
        expect(await store.findByHash(p)).toBeNull();
        expect((await store.findByHash(h2))?.id).toBe(t.id);
        expect((await store.findByHash(p2))?.id).toBe(t.id);
        const reuse = makeStoredToken({ hash: t.hash, previous: [{ hash: p, expiresAt: T }] });
        await store.insert(reuse);
        expect((await store.findByHash(t.hash))?.id).toBe(reuse.id);
      });

      it("keeping the same hashes is not a conflict", async () => {
        const t = makeStoredToken({ previous: [{ hash: randomHash(), expiresAt: T }] });
        await store.insert(t);
        await store.update({ ...t, name: "same hashes" }, t.revision);
        expect((await store.findByHash(t.previous[0]!.hash))?.name).toBe("same hashes");
      });

      it("moves the token in listings when owner or createdAt change", async () => {
        const o1 = randomId("acct");
        const o2 = randomId("acct");
        const a = makeStoredToken({ owner: o1, createdAt: T });
        const b = makeStoredToken({ owner: o1, createdAt: T + 1 });
        await store.insert(a);
        await store.insert(b);
        await store.update({ ...a, createdAt: T + 2 }, a.revision);
        expect((await store.list(o1)).items.map((t) => t.id)).toEqual([b.id, a.id]);
        await store.update({ ...b, owner: o2 }, b.revision);
        expect((await store.list(o1)).items.map((t) => t.id)).toEqual([a.id]);
        expect((await store.list(o2)).items.map((t) => t.id)).toEqual([b.id]);
      });
    });

    group("revoke", () => {
      it("sets revokedAt, increments the revision and returns what is stored", async () => {
        const t = makeStoredToken({ revision: 2 });
        await store.insert(t);
        const r = await store.revoke(t.id, T + 500);
        expect(r.revokedAt).toBe(T + 500);
        expect(r.updatedAt).toBe(T + 500);
        expect(r.revision).toBe(3);
        expect(r.hash).toBe(t.hash);
        expect(r.name).toBe(t.name);
        expect(await store.get(t.id)).toEqual(r);
      });

      it("is idempotent: a second revoke keeps the first time and still bumps the revision", async () => {
        const t = makeStoredToken({ revision: 1 });
        await store.insert(t);
        await store.revoke(t.id, T + 1);
        const again = await store.revoke(t.id, T + 2);
        expect(again.revokedAt).toBe(T + 1);
        expect(again.revision).toBe(3);
        expect((await store.get(t.id))?.revokedAt).toBe(T + 1);
      });

      it("rejects an unknown id with TOKEN_NOT_FOUND", async () => {
        await expectCode(store.revoke(randomId("tok"), T), "TOKEN_NOT_FOUND");
      });

      it("makes an update based on the revision before it conflict", async () => {
        const t = makeStoredToken();
        await store.insert(t);
        await store.revoke(t.id, T + 1);
        await expectCode(store.update({ ...t, name: "stale", revokedAt: null }, t.revision), "REVISION_CONFLICT");
        expect((await store.get(t.id))?.revokedAt).toBe(T + 1);
      });

      it("is final: an update at the current revision rejects with TOKEN_REVOKED and cannot un-revoke", async () => {
        const t = makeStoredToken();
        await store.insert(t);
        const r = await store.revoke(t.id, T + 1);
        await expectCode(store.update({ ...r, name: "back", revokedAt: null }, r.revision), "TOKEN_REVOKED");
        expect(await store.get(t.id)).toEqual(r);
      });

      it("returns a copy", async () => {
        const t = makeStoredToken();
        await store.insert(t);
        const r = await store.revoke(t.id, T + 1);
        r.revokedAt = null;
        expect((await store.get(t.id))?.revokedAt).toBe(T + 1);
      });
    });

    group("consumeCredits", () => {
      const flat = (limit: number): CreditsPolicy => ({ limit, refill: null });
      let id: string;
      beforeEach(async () => {
        const t = makeStoredToken();
        await store.insert(t);
        id = t.id;
      });

      it("grants while the balance suffices and deducts the cost", async () => {
        expect(await store.consumeCredits(id, 3, flat(10), T)).toEqual({ granted: true, remaining: 7, nextRefillAt: null });
        expect(await store.consumeCredits(id, 7, flat(10), T)).toMatchObject({ granted: true, remaining: 0 });
        expect(await store.consumeCredits(id, 1, flat(10), T)).toMatchObject({ granted: false, remaining: 0 });
      });

      it("denies a cost above the balance and deducts nothing", async () => {
        await store.consumeCredits(id, 3, flat(5), T);
        expect(await store.consumeCredits(id, 3, flat(5), T)).toMatchObject({ granted: false, remaining: 2 });
        expect(await store.consumeCredits(id, 2, flat(5), T)).toMatchObject({ granted: true, remaining: 0 });
        for (let i = 0; i < 5; i++) {
          expect((await store.consumeCredits(id, 1, flat(5), T + i)).remaining).toBe(0);
        }
      });

      it("cost 0 reads the balance without changing it", async () => {
        expect((await store.consumeCredits(id, 0, flat(10), T)).remaining).toBe(10);
        await store.consumeCredits(id, 4, flat(10), T);
        expect((await store.consumeCredits(id, 0, flat(10), T)).remaining).toBe(6);
        expect((await store.consumeCredits(id, 0, flat(10), T)).remaining).toBe(6);
        await store.consumeCredits(id, 6, flat(10), T);
        expect((await store.consumeCredits(id, 0, flat(10), T)).remaining).toBe(0);
      });

      it("rejects a cost that is not a finite non-negative integer, deducting nothing", async () => {
        for (const cost of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await expectCode(store.consumeCredits(id, cost, flat(10), T), "INVALID_INPUT");
        }
        expect((await store.consumeCredits(id, 0, flat(10), T)).remaining).toBe(10);
      });

      it("refills amount per interval since the first consumption, never above the limit", async () => {
        const p: CreditsPolicy = { limit: 10, refill: { amount: 4, intervalMs: 1000 } };
        expect(await store.consumeCredits(id, 10, p, T + 500)).toEqual({
          granted: true,
          remaining: 0,
          nextRefillAt: T + 1500,
        });
        expect(await store.consumeCredits(id, 1, p, T + 1499)).toMatchObject({ granted: false, remaining: 0 });
        expect(await store.consumeCredits(id, 0, p, T + 1500)).toEqual({
          granted: true,
          remaining: 4,
          nextRefillAt: T + 2500,
        });
        expect(await store.consumeCredits(id, 0, p, T + 3000)).toMatchObject({ remaining: 8, nextRefillAt: T + 3500 });
        expect((await store.consumeCredits(id, 0, p, T + 60_000)).remaining).toBe(10);
        expect(await store.consumeCredits(id, 3, p, T + 60_000)).toMatchObject({ granted: true, remaining: 7 });
      });

      it("applies a raised or lowered limit at once (the store keeps the amount used)", async () => {
        await store.consumeCredits(id, 5, flat(5), T);
        expect((await store.consumeCredits(id, 0, flat(8), T)).remaining).toBe(3);
        expect(await store.consumeCredits(id, 3, flat(8), T)).toMatchObject({ granted: true, remaining: 0 });
        expect((await store.consumeCredits(id, 0, flat(20), T)).remaining).toBe(12);
        expect(await store.consumeCredits(id, 1, flat(4), T)).toMatchObject({ granted: false, remaining: 0 });
        expect((await store.consumeCredits(id, 0, flat(20), T)).remaining).toBe(12);
      });

      it("keeps each token's balance separate", async () => {
        const other = makeStoredToken();
        await store.insert(other);
        await store.consumeCredits(id, 9, flat(10), T);
        expect((await store.consumeCredits(other.id, 0, flat(10), T)).remaining).toBe(10);
        expect(await store.consumeCredits(other.id, 10, flat(10), T)).toMatchObject({ granted: true, remaining: 0 });
        expect((await store.consumeCredits(id, 0, flat(10), T)).remaining).toBe(1);
      });
    });

    group("hitRateLimit", () => {
      it("allows up to limit hits per window, then denies with retryAfterMs > 0", async () => {
        const key = randomId("rl");
        const results = [];
        for (let i = 0; i < 4; i++) results.push(await store.hitRateLimit(key, 3, 1000, T + 100 + i));
        expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
        expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
        expect(results.slice(0, 3).every((r) => r.retryAfterMs === 0)).toBe(true);
        expect(results[3]!.retryAfterMs).toBeGreaterThan(0);
        expect(results[3]!.retryAfterMs).toBeLessThanOrEqual(2000);
      });

      it("does not count denied hits", async () => {
        const key = randomId("rl");
        for (let i = 0; i < 3; i++) expect((await store.hitRateLimit(key, 3, 1000, T + 100)).allowed).toBe(true);
        for (let i = 0; i < 50; i++) expect((await store.hitRateLimit(key, 3, 1000, T + 200)).allowed).toBe(false);
        // Previous window weighted by half: 1.5 of 3, so at least one more fits.
        expect((await store.hitRateLimit(key, 3, 1000, T + 1500)).allowed).toBe(true);
      });

      it("allows the full limit again once two windows have passed", async () => {
        const key = randomId("rl");
        for (let i = 0; i < 3; i++) await store.hitRateLimit(key, 3, 1000, T + 900);
        let allowed = 0;
        for (let i = 0; i < 5; i++) if ((await store.hitRateLimit(key, 3, 1000, T + 2000)).allowed) allowed++;
        expect(allowed).toBe(3);
      });

      it("slides: a burst at a window edge cannot double the rate", async () => {
        const key = randomId("rl");
        for (let i = 0; i < 10; i++) expect((await store.hitRateLimit(key, 10, 1000, T + 900)).allowed).toBe(true);
        let allowed = 0;
        let denied: { retryAfterMs: number } | undefined;
        for (let i = 0; i < 10; i++) {
          const r = await store.hitRateLimit(key, 10, 1000, T + 1100);
          if (r.allowed) allowed++;
          else denied ??= r;
        }
        // Estimate at T+1100: 10 × 0.9 + current, so about one more hit fits.
        expect(allowed).toBeGreaterThanOrEqual(1);
        expect(allowed).toBeLessThanOrEqual(2);
        expect(denied?.retryAfterMs).toBeGreaterThan(0);
      });

      it("allows a hit once retryAfterMs has passed", async () => {
        const key = randomId("rl");
        for (let i = 0; i < 10; i++) await store.hitRateLimit(key, 10, 1000, T + 900);
        let now = T + 1100;
        let r = await store.hitRateLimit(key, 10, 1000, now);
        while (r.allowed) r = await store.hitRateLimit(key, 10, 1000, now);
        expect(r.retryAfterMs).toBeGreaterThan(0);
        expect(r.retryAfterMs).toBeLessThanOrEqual(2000);
        now += r.retryAfterMs;
        expect((await store.hitRateLimit(key, 10, 1000, now)).allowed).toBe(true);
      });

      it("weighs hits by cost", async () => {
        const key = randomId("rl");
        expect(await store.hitRateLimit(key, 5, 1000, T, 3)).toMatchObject({ allowed: true, remaining: 2 });
        expect((await store.hitRateLimit(key, 5, 1000, T, 3)).allowed).toBe(false);
        expect(await store.hitRateLimit(key, 5, 1000, T, 2)).toMatchObject({ allowed: true, remaining: 0 });
      });

      it("keeps keys separate", async () => {
        const a = randomId("rl");
        const b = randomId("rl");
        for (let i = 0; i < 2; i++) await store.hitRateLimit(a, 2, 1000, T);
        expect((await store.hitRateLimit(a, 2, 1000, T)).allowed).toBe(false);
        expect(await store.hitRateLimit(b, 2, 1000, T)).toMatchObject({ allowed: true, remaining: 1 });
      });
    });

    group("rememberNonce", () => {
      it("returns true the first time and false while the entry lives", async () => {
        const key = randomId("nonce");
        expect(await store.rememberNonce(key, T + 1000, T)).toBe(true);
        expect(await store.rememberNonce(key, T + 1000, T)).toBe(false);
        expect(await store.rememberNonce(key, T + 5000, T + 999)).toBe(false);
        expect(await store.rememberNonce(randomId("nonce"), T + 1000, T)).toBe(true);
      });

      it("returns true again after expiry, with the new expiry", async () => {
        const key = randomId("nonce");
        expect(await store.rememberNonce(key, T + 1000, T)).toBe(true);
        expect(await store.rememberNonce(key, T + 5000, T + 1001)).toBe(true);
        expect(await store.rememberNonce(key, T + 9000, T + 4999)).toBe(false);
        expect(await store.rememberNonce(key, T + 9000, T + 5001)).toBe(true);
      });
    });

    group("usage", () => {
      let id: string;
      beforeEach(async () => {
        const t = makeStoredToken();
        await store.insert(t);
        id = t.id;
        await store.recordUsage([
          { tokenId: id, at: T + 10 * 60_000, ok: true, cost: 2 },
          { tokenId: id, at: T + 20 * 60_000, ok: false, cost: 0 },
          { tokenId: id, at: T + HOUR + 5 * 60_000, ok: true, cost: 1 },
          { tokenId: id, at: T + DAY + 60_000, ok: true, cost: 3 },
        ]);
      });

      it("aggregates per UTC hour, ascending, only hours that have usage", async () => {
        expect(await store.getUsage(id, { from: T, to: T + 2 * DAY, granularity: "hour" })).toEqual([
          { start: T, allowed: 1, denied: 1, credits: 2 },
          { start: T + HOUR, allowed: 1, denied: 0, credits: 1 },
          { start: T + DAY, allowed: 1, denied: 0, credits: 3 },
        ]);
      });

      it("sums hours per UTC day", async () => {
        expect(await store.getUsage(id, { from: T, to: T + 2 * DAY, granularity: "day" })).toEqual([
          { start: T, allowed: 2, denied: 1, credits: 3 },
          { start: T + DAY, allowed: 1, denied: 0, credits: 3 },
        ]);
      });

      it("includes from and excludes to", async () => {
        const hours = await store.getUsage(id, { from: T + HOUR, to: T + DAY, granularity: "hour" });
        expect(hours.map((b) => b.start)).toEqual([T + HOUR]);
        const first = await store.getUsage(id, { from: T, to: T + HOUR, granularity: "hour" });
        expect(first.map((b) => b.start)).toEqual([T]);
        const days = await store.getUsage(id, { from: T + DAY, to: T + 2 * DAY, granularity: "day" });
        expect(days).toEqual([{ start: T + DAY, allowed: 1, denied: 0, credits: 3 }]);
        expect(await store.getUsage(id, { from: T + 2 * DAY, to: T + 3 * DAY, granularity: "day" })).toEqual([]);
      });

      it("accumulates across calls and keeps tokens separate", async () => {
        const other = makeStoredToken();
        await store.insert(other);
        await store.recordUsage([
          { tokenId: id, at: T + 30 * 60_000, ok: true, cost: 5 },
          { tokenId: other.id, at: T, ok: true, cost: 1 },
        ]);
        await store.recordUsage([]);
        const hours = await store.getUsage(id, { from: T, to: T + HOUR, granularity: "hour" });
        expect(hours).toEqual([{ start: T, allowed: 2, denied: 1, credits: 7 }]);
        expect(await store.getUsage(other.id, { from: T, to: T + DAY, granularity: "day" })).toEqual([
          { start: T, allowed: 1, denied: 0, credits: 1 },
        ]);
        expect(await store.getUsage(randomId("tok"), { from: T, to: T + DAY, granularity: "hour" })).toEqual([]);
      });
    });

    group("audit", () => {
      it("insert, update and revoke append their audit entry with the write, and only when it commits", async () => {
        const t = makeStoredToken();
        const created = makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "create", at: T });
        await store.insert(t, created);
        // A rejected insert (same id) writes neither the token nor its entry.
        await expectCode(store.insert(t, makeAuditEntry({ tokenId: t.id, owner: t.owner, at: T + 1 })), "TOKEN_ALREADY_EXISTS");
        // A conflicting update writes neither.
        await expectCode(
          store.update({ ...t, name: "lost" }, t.revision + 5, makeAuditEntry({ tokenId: t.id, owner: t.owner, at: T + 2 })),
          "REVISION_CONFLICT",
        );
        const updated = makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "update", at: T + 3 });
        await store.update({ ...t, name: "renamed" }, t.revision, updated);
        const revoked = makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "revoke", at: T + 4 });
        await store.revoke(t.id, T + 4, revoked);
        // Unknown token: nothing written.
        await expectCode(store.revoke(randomId("tok"), T + 5, makeAuditEntry({ owner: t.owner, at: T + 5 })), "TOKEN_NOT_FOUND");
        const { items } = await store.listAudit({ owner: t.owner });
        expect(items).toEqual([created, updated, revoked]);
      });

      it("a malformed audit entry rejects the write with INVALID_INPUT and writes nothing", async () => {
        const t = makeStoredToken();
        await expectCode(store.insert(t, { ...makeAuditEntry(), id: "" }), "INVALID_INPUT");
        expect(await store.get(t.id)).toBeNull();
      });

      const owner = randomId("acct");
      const tokA = randomId("tok");
      const tokB = randomId("tok");
      const entries: AuditEntry[] = [
        makeAuditEntry({ tokenId: tokA, owner, at: T + 1, action: "create", changes: [] }),
        makeAuditEntry({ tokenId: tokA, owner, at: T + 2, action: "update", changes: ["name"], effectiveAt: T + 10 }),
        makeAuditEntry({ tokenId: tokB, owner, at: T + 3, action: "create", changes: [] }),
        makeAuditEntry({ tokenId: tokA, owner, at: T + 4, action: "revoke", changes: ["revokedAt"], actor: "user:42" }),
        makeAuditEntry({ tokenId: tokB, owner, at: T + 5, action: "regenerate", changes: ["hash"] }),
      ];
      const elsewhere = makeAuditEntry({ at: T + 3 });
      beforeEach(async () => {
        await store.appendAudit(elsewhere);
        for (const e of entries) await store.appendAudit(e);
      });

      it("lists a token's entries oldest first", async () => {
        const page = await store.listAudit({ tokenId: tokA });
        expect(page.items).toEqual([entries[0], entries[1], entries[3]]);
        expect(page.nextCursor).toBeNull();
      });

      it("lists an owner's entries across tokens, oldest first", async () => {
        expect((await store.listAudit({ owner })).items).toEqual(entries);
        expect((await store.listAudit({ owner: elsewhere.owner })).items).toEqual([elsewhere]);
        expect((await store.listAudit({ owner: randomId("acct") })).items).toEqual([]);
      });

      it("paginates with limit and cursor", async () => {
        const ids: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await store.listAudit({ owner }, { limit: 2, cursor });
          expect(page.items.length).toBeLessThanOrEqual(2);
          ids.push(...page.items.map((e) => e.id));
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== null && pages < 10);
        expect(ids).toEqual(entries.map((e) => e.id));
        expect(pages).toBeLessThanOrEqual(4);
      });

      it("rejects a bad limit or cursor with INVALID_INPUT", async () => {
        await expectCode(store.listAudit({ owner }, { limit: 0 }), "INVALID_INPUT");
        await expectCode(store.listAudit({ owner }, { limit: 1001 }), "INVALID_INPUT");
        await expectCode(store.listAudit({ tokenId: tokA }, { cursor: "%%% not a cursor %%%" }), "INVALID_INPUT");
      });

      it("returns copies and keeps what it was given", async () => {
        const page = await store.listAudit({ tokenId: tokB });
        page.items[0]!.changes.push("mutated");
        page.items[0]!.actor = "mallory";
        expect((await store.listAudit({ tokenId: tokB })).items).toEqual([entries[2], entries[4]]);
      });
    });

    group("changeFeed", () => {
      it("announces the capability consistently", async () => {
        expect(typeof store.capabilities.changeFeed).toBe("boolean");
        if (store.capabilities.changeFeed) expect(typeof store.subscribe).toBe("function");
      });

      it("announces insert, update and revoke with every old and new hash", async (ctx) => {
        if (!store.capabilities.changeFeed || !store.subscribe) return ctx.skip();
        const events: ChangeEvent[] = [];
        const off = store.subscribe((e) => events.push(e));
        const prev = randomHash();
        const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T }] });
        await store.insert(t);
        await waitFor(() => events.some((e) => e.tokenId === t.id));
        expect(events.find((e) => e.tokenId === t.id)?.hashes).toEqual(expect.arrayContaining([t.hash, prev]));

        events.length = 0;
        const h2 = randomHash();
        const updated = await store.update({ ...t, hash: h2, previous: [{ hash: t.hash, expiresAt: T }] }, t.revision);
        await waitFor(() => events.some((e) => e.tokenId === t.id));
        expect(events.find((e) => e.tokenId === t.id)?.hashes).toEqual(expect.arrayContaining([t.hash, prev, h2]));

        events.length = 0;
        await store.revoke(t.id, T + 1);
        await waitFor(() => events.some((e) => e.tokenId === t.id));
        expect(events.find((e) => e.tokenId === t.id)?.hashes).toEqual(expect.arrayContaining([h2, t.hash]));
        expect(updated.revision).toBe(t.revision + 1);
        off();
      });

      it("stops calling a listener once unsubscribed", async (ctx) => {
        if (!store.capabilities.changeFeed || !store.subscribe) return ctx.skip();
        const gone: ChangeEvent[] = [];
        const kept: ChangeEvent[] = [];
        const off = store.subscribe((e) => gone.push(e));
        const offKept = store.subscribe((e) => kept.push(e));
        off();
        off();
        const t = makeStoredToken();
        await store.insert(t);
        await waitFor(() => kept.some((e) => e.tokenId === t.id));
        await sleep(20);
        expect(gone).toEqual([]);
        offKept();
      });

      it("survives a listener that throws", async (ctx) => {
        if (!store.capabilities.changeFeed || !store.subscribe) return ctx.skip();
        const seen: ChangeEvent[] = [];
        const offBad = store.subscribe(() => {
          throw new Error("listener failure");
        });
        const offGood = store.subscribe((e) => seen.push(e));
        const t = makeStoredToken();
        await store.insert(t);
        await store.revoke(t.id, T + 1);
        await waitFor(() => seen.filter((e) => e.tokenId === t.id).length >= 2);
        expect((await store.get(t.id))?.revokedAt).toBe(T + 1);
        offBad();
        offGood();
      });
    });

    group("races", () => {
      const settle = <R>(n: number, f: (i: number) => Promise<R>) =>
        Promise.allSettled(Array.from({ length: n }, (_, i) => f(i)));
      const fulfilled = <R>(rs: PromiseSettledResult<R>[]) =>
        rs.filter((r): r is PromiseFulfilledResult<R> => r.status === "fulfilled").map((r) => r.value);
      const codes = (rs: PromiseSettledResult<unknown>[]) =>
        rs.filter((r) => r.status === "rejected").map((r) => (r.reason as { code?: unknown }).code);

      it(`${concurrency} concurrent consumeCredits of 1 on a limit of ${Math.floor(concurrency / 2)} grant exactly the limit`, async () => {
        const t = makeStoredToken();
        await store.insert(t);
        const limit = Math.floor(concurrency / 2);
        const rs = await settle(concurrency, () => store.consumeCredits(t.id, 1, { limit, refill: null }, T));
        expect(codes(rs)).toEqual([]);
        const results = fulfilled(rs);
        expect(results.filter((r) => r.granted)).toHaveLength(limit);
        expect(results.every((r) => r.remaining >= 0)).toBe(true);
        expect((await store.consumeCredits(t.id, 0, { limit, refill: null }, T)).remaining).toBe(0);
      });

      it("concurrent compare-and-set updates on one revision: exactly one wins", async () => {
        const n = Math.min(concurrency, 50);
        const t = makeStoredToken({ revision: 1 });
        await store.insert(t);
        const rs = await settle(n, (i) => store.update({ ...t, name: `writer-${i}` }, 1));
        const wins = fulfilled(rs);
        expect(wins).toHaveLength(1);
        expect(codes(rs)).toEqual(Array(n - 1).fill("REVISION_CONFLICT"));
        const stored = await store.get(t.id);
        expect(stored?.revision).toBe(2);
        expect(stored?.name).toBe(wins[0]?.name);
      });

      it("concurrent rememberNonce of one key: exactly one true", async () => {
        const n = Math.min(concurrency, 100);
        const key = randomId("nonce");
        const rs = await settle(n, () => store.rememberNonce(key, T + 60_000, T));
        expect(codes(rs)).toEqual([]);
        expect(fulfilled(rs).filter((x) => x)).toHaveLength(1);
      });

      it("concurrent inserts of one id: exactly one succeeds", async () => {
        const n = Math.min(concurrency, 50);
        const id = randomId("tok");
        const ts = Array.from({ length: n }, () => makeStoredToken({ id }));
        const rs = await settle(n, (i) => store.insert(ts[i]!));
        expect(fulfilled(rs)).toHaveLength(1);
        expect(codes(rs)).toEqual(Array(n - 1).fill("TOKEN_ALREADY_EXISTS"));
        const winner = ts[rs.findIndex((r) => r.status === "fulfilled")]!;
        expect(await store.get(id)).toEqual(winner);
        for (const t of ts) expect(await store.findByHash(t.hash)).toEqual(t === winner ? winner : null);
      });

      it("concurrent inserts of one hash: exactly one succeeds", async () => {
        const n = Math.min(concurrency, 50);
        const hash = randomHash();
        const ts = Array.from({ length: n }, () => makeStoredToken({ hash }));
        const rs = await settle(n, (i) => store.insert(ts[i]!));
        expect(fulfilled(rs)).toHaveLength(1);
        expect(codes(rs)).toEqual(Array(n - 1).fill("TOKEN_ALREADY_EXISTS"));
        const winner = ts[rs.findIndex((r) => r.status === "fulfilled")]!;
        expect((await store.findByHash(hash))?.id).toBe(winner.id);
        for (const t of ts) if (t !== winner) expect(await store.get(t.id)).toBeNull();
      });

      it(`${concurrency} concurrent rate-limit hits on a limit of ${Math.floor(concurrency / 2)} allow exactly the limit`, async () => {
        const limit = Math.floor(concurrency / 2);
        const key = randomId("rl");
        const rs = await settle(concurrency, () => store.hitRateLimit(key, limit, 60_000, T + 1));
        expect(codes(rs)).toEqual([]);
        expect(fulfilled(rs).filter((r) => r.allowed)).toHaveLength(limit);
      });

      it("a revocation never loses against a concurrent update", async () => {
        for (let round = 0; round < 10; round++) {
          const t = makeStoredToken();
          await store.insert(t);
          const update = () => store.update({ ...t, name: "concurrent" }, t.revision);
          const revoke = () => store.revoke(t.id, T + 7);
          const rs = await Promise.allSettled(round % 2 ? [update(), revoke()] : [revoke(), update()]);
          const rev = rs[round % 2 ? 1 : 0]!;
          expect(rev.status).toBe("fulfilled");
          const stored = await store.get(t.id);
          expect(stored?.revokedAt).toBe(T + 7);
          expect(stored?.revision).toBe(t.revision + (rs.every((r) => r.status === "fulfilled") ? 2 : 1));
        }
      });
    });

    group("raw", () => {
      const dump = async () => (raw ? await raw(store) : "");

      it("writes reach the database: the dump holds the id and the hashes", async () => {
        const prev = randomHash();
        const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T }] });
        await store.insert(t);
        const text = await dump();
        for (const s of [t.id, t.hash, prev]) expect(text).toContain(s);
      });

      it("a rejected insert leaves no trace", async () => {
        const a = makeStoredToken({ previous: [{ hash: randomHash(), expiresAt: T }] });
        await store.insert(a);
        const before = await dump();
        const dupId = makeStoredToken({ id: a.id, previous: [{ hash: randomHash(), expiresAt: T }] });
        await expectCode(store.insert(dupId), "TOKEN_ALREADY_EXISTS");
        const dupPrev = makeStoredToken({ previous: [{ hash: a.previous[0]!.hash, expiresAt: T }] });
        await expectCode(store.insert(dupPrev), "TOKEN_ALREADY_EXISTS");
        const after = await dump();
        expect(after).toBe(before);
        for (const s of [dupId.hash, dupId.previous[0]!.hash, dupPrev.id, dupPrev.hash]) {
          expect(after).not.toContain(s);
        }
      });

      it("a rejected update leaves no trace", async () => {
        const a = makeStoredToken();
        const b = makeStoredToken();
        await store.insert(a);
        await store.insert(b);
        const before = await dump();
        const fresh = randomHash();
        await expectCode(store.update({ ...a, hash: fresh }, a.revision + 1), "REVISION_CONFLICT");
        await expectCode(
          store.update({ ...a, hash: fresh, previous: [{ hash: b.hash, expiresAt: T }] }, a.revision),
          "TOKEN_ALREADY_EXISTS",
        );
        await expectCode(store.update(makeStoredToken({ hash: fresh }), 1), "TOKEN_NOT_FOUND");
        await expectCode(store.revoke(randomId("tok"), T), "TOKEN_NOT_FOUND");
        const after = await dump();
        expect(after).toBe(before);
        expect(after).not.toContain(fresh);
      });

      it("rejected counters leave no trace", async () => {
        const a = makeStoredToken();
        await store.insert(a);
        await store.consumeCredits(a.id, 1, { limit: 1, refill: null }, T);
        const before = await dump();
        await expectCode(store.consumeCredits(a.id, -1, { limit: 5, refill: null }, T), "INVALID_INPUT");
        expect((await store.consumeCredits(a.id, 1, { limit: 1, refill: null }, T)).granted).toBe(false);
        expect(await dump()).toBe(before);
      });
    });
  });
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const outcome = await promise.then(
    () => ({ fulfilled: true as const }),
    (error: unknown) => ({ fulfilled: false as const, error }),
  );
  expect(outcome.fulfilled, `expected a rejection with ${code}`).toBe(false);
  if (outcome.fulfilled) return;
  // Checked by shape, not instanceof: an adapter may load another copy of keyward's errors.
  expect(outcome.error).toBeInstanceOf(Error);
  expect((outcome.error as { code?: unknown }).code).toBe(code);
}

async function listAll(store: TokenStore, owner: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await store.list(owner, { limit, cursor });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    ids.push(...page.items.map((t) => t.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== null && pages < 1000);
  return { ids, pages };
}

function deepFreeze<V>(value: V): V {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Change events may arrive asynchronously (from another process): poll for up to 5 s. */
async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a change event");
    await sleep(5);
  }
}
