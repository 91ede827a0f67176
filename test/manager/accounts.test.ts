import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { combineStores, Keyward, MAX_CEILING_CHECK_TOKENS, MAX_SCHEDULED, MemoryStore, type TokenStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { scopeGrants } from "keyward/policy";
import { scopesOverlap } from "../../src/manager/accounts.js";
import { expectAccountRace, expectConcurrentAccountChanges } from "../support/account-race.js";

const T0 = Date.UTC(2026, 0, 10);

function setup(store: TokenStore = new MemoryStore(), options: { revocationBoundMs?: number } = {}) {
  let now = T0;
  const kw = new Keyward({ store, prefix: "acme", env: "test", now: () => now, ...options });
  return { kw, store, tick: (ms: number) => (now += ms), at: () => now };
}

describe("kw.accounts: plan ceiling", () => {
  it("removing premium:* from the plan cuts every token of the account at once", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { ceiling: ["core:read", "premium:*"] });
    const tokens = await Promise.all(
      [0, 1, 2].map(() => kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] })),
    );
    for (const t of tokens) expect((await kw.check({ token: t.token, scope: "premium:read" })).ok).toBe(true);
    await kw.accounts.set("acct_1", { ceiling: ["core:read"] });
    for (const t of tokens) {
      const d = await kw.check({ token: t.token, scope: "premium:read" });
      expect(d).toMatchObject({ ok: false, code: "SCOPE_DENIED", scope: "premium:read" });
      expect((await kw.check({ token: t.token, scope: "core:read" })).ok).toBe(true);
    }
    // The tokens keep their own scopes: they come back when the plan does.
    expect((await kw.tokens.get(tokens[0]!.record.id))?.policy.scopes).toEqual(["core:read", "premium:read"]);
  });

  it("is effective-dated like token policies, and audited", async () => {
    const { kw, tick } = setup();
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] });
    const at = T0 + 60_000;
    const acct = await kw.accounts.set("acct_1", { ceiling: ["core:read"] }, { effectiveAt: at, actor: "user:1" });
    expect(acct.policy.ceiling).toBeNull();
    expect(acct.scheduled).toEqual([{ effectiveAt: at, policy: { ceiling: ["core:read"], credits: null, rateLimit: null } }]);
    expect((await kw.check({ token, scope: "premium:read" })).ok).toBe(true);
    tick(60_000);
    expect((await kw.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
    const audit = await kw.tokens.audit({ owner: "acct_1" });
    expect(audit.items.at(-1)).toMatchObject({ action: "account", tokenId: "*", actor: "user:1", changes: ["ceiling"], effectiveAt: at });
  });

  it("refuses an unknown field in its options: a misspelt effectiveAt or expectedRevision is not applied at once, nothing written", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] });
    await kw.accounts.set("acct_1", { rateLimit: null });
    for (const misspelt of [{ effectivAt: T0 + 86_400_000 }, { expectedrevision: 1 }, { actor: "user:1", effective_at: "2026-02-01T00:00:00Z" }]) {
      await expect(kw.accounts.set("acct_1", { ceiling: ["core:read"] }, misspelt as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
    }
    expect((await kw.accounts.get("acct_1"))?.revision).toBe(1);
    expect((await kw.check({ token, scope: "premium:read" })).ok).toBe(true);
  });

  it("checks a new ceiling against the owner's live tokens: a history of more than MAX_CEILING_CHECK_TOKENS revoked ones does not bar it", async () => {
    const { kw } = setup();
    for (let i = 0; i < MAX_CEILING_CHECK_TOKENS; i++) {
      const { record } = await kw.tokens.create({ owner: "acct_h", kind: "secret", scopes: ["premium:read"] });
      await kw.tokens.revoke(record.id);
    }
    const { token } = await kw.tokens.create({ owner: "acct_h", kind: "secret", scopes: ["core:read", "premium:read"] });
    await kw.accounts.set("acct_h", { ceiling: ["core:read"] });
    expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    expect((await kw.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
  }, 30_000);

  it("an owner with more than MAX_CEILING_CHECK_TOKENS live tokens cannot hold its plan: checkTokens: false cuts it unchecked", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_big", { ceiling: ["core:read", "premium:*"] });
    // What a developer may do through keyward/admin: publishable tokens, as many as they like.
    for (let i = 0; i < MAX_CEILING_CHECK_TOKENS; i++) await kw.tokens.create({ owner: "acct_big", kind: "publishable", scopes: ["core:read"] });
    const { token } = await kw.tokens.create({ owner: "acct_big", kind: "secret", scopes: ["premium:read"] });
    const before = await kw.accounts.get("acct_big");
    await expect(kw.accounts.set("acct_big", { ceiling: ["core:read"] })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "ceiling" });
    await expect(kw.accounts.set("acct_big", { ceiling: ["core:read"] }, { checkTokens: "no" as never })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "checkTokens",
    });
    expect(await kw.accounts.get("acct_big")).toEqual(before);
    expect((await kw.check({ token, scope: "premium:read" })).ok).toBe(true);
    // The plan is cut all the same; the token left with no scope is denied, fail closed.
    await kw.accounts.set("acct_big", { ceiling: ["core:read"] }, { checkTokens: false, actor: "billing" });
    expect((await kw.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
    expect((await kw.accounts.get("acct_big"))?.policy.ceiling).toEqual(["core:read"]);
  }, 60_000);

  it("keeps at most MAX_SCHEDULED changes pending, like a token's policy", async () => {
    const { kw } = setup();
    for (let i = 0; i < MAX_SCHEDULED; i++) await kw.accounts.set("acct_s", { rateLimit: { limit: i + 1, windowMs: 1000 } }, { effectiveAt: T0 + 60_000 * (i + 1) });
    const before = await kw.accounts.get("acct_s");
    await expect(kw.accounts.set("acct_s", { rateLimit: null }, { effectiveAt: T0 + 3_600_000 })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "effectiveAt" });
    expect(await kw.accounts.get("acct_s")).toEqual(before);
    expect((await kw.accounts.set("acct_s", { rateLimit: null }, { effectiveAt: T0 })).scheduled).toHaveLength(MAX_SCHEDULED);
  });

  it("refuses a ceiling that would leave a token with no scope, or an empty one, naming the field; nothing changes", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { ceiling: ["core:read", "premium:*"] });
    const { record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["premium:read"] });
    await expect(kw.accounts.set("acct_1", { ceiling: ["core:read"] })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "ceiling" });
    await expect(kw.accounts.set("acct_1", { ceiling: [] })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "ceiling" });
    await expect(kw.accounts.set("acct_1", { ceiling: ["not a scope"] })).rejects.toMatchObject({ field: "ceiling.0" });
    expect((await kw.accounts.get("acct_1"))?.policy.ceiling).toEqual(["core:read", "premium:*"]);
    // Once the token is revoked, nothing is left without scope.
    await kw.tokens.revoke(record.id);
    expect((await kw.accounts.set("acct_1", { ceiling: ["core:read"] })).revision).toBe(2);
  });

  it("a ceiling is refused only when a token would keep no scope: a trailing * reaches deeper scopes, either way", async () => {
    const { kw } = setup();
    await kw.tokens.create({ owner: "acct_d", kind: "secret", scopes: ["datasets/a/b:read"] });
    expect((await kw.accounts.set("acct_d", { ceiling: ["datasets/*:read"] })).policy.ceiling).toEqual(["datasets/*:read"]);
    expect((await kw.accounts.set("acct_d", { ceiling: ["*:*"] })).policy.ceiling).toEqual(["*:*"]);
    await expect(kw.accounts.set("acct_d", { ceiling: ["datasets/*/c:read"] })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "ceiling" });
  });

  it("scopesOverlap is true exactly when some scope is granted by both (property, against the grants of docs/scopes.md)", () => {
    const segments = ["a", "b", "c"];
    const actions = ["read", "write", "x"];
    const concrete: string[] = [];
    const paths = (n: number): string[][] => (n === 0 ? [[]] : paths(n - 1).flatMap((p) => segments.map((s) => [...p, s])));
    for (let n = 1; n <= 4; n++) for (const p of paths(n)) for (const a of actions) concrete.push(`${p.join("/")}:${a}`);
    const pattern = fc
      .tuple(fc.array(fc.constantFrom("a", "b", "*"), { minLength: 1, maxLength: 3 }), fc.constantFrom("read", "write", "*"))
      .map(([p, a]) => `${p.join("/")}:${a}`);
    fc.assert(
      fc.property(pattern, pattern, (x, y) => {
        const both = concrete.some((s) => scopeGrants(x, s) && scopeGrants(y, s));
        expect(scopesOverlap(x, y), `${x} ${y}`).toBe(both);
      }),
      { numRuns: 2_000 },
    );
  });

  it("tokens may hold only scopes within the ceiling (create and update); nothing is written otherwise", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { ceiling: ["core:read", "datasets/*:read"] });
    await expect(kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] })).rejects.toMatchObject({
      code: "SCOPE_NOT_ALLOWED",
      scope: "premium:read",
    });
    // A wildcard is held only when the ceiling covers all of it.
    await expect(kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["datasets/*:*"] })).rejects.toMatchObject({ code: "SCOPE_NOT_ALLOWED" });
    expect((await kw.tokens.list("acct_1")).items).toEqual([]);
    const { record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["datasets/prices:read"] });
    await expect(kw.tokens.update(record.id, { scopes: ["premium:read"] })).rejects.toMatchObject({ code: "SCOPE_NOT_ALLOWED" });
    expect((await kw.tokens.get(record.id))?.policy.scopes).toEqual(["datasets/prices:read"]);
    // Another owner has no ceiling.
    expect((await kw.tokens.create({ owner: "acct_2", kind: "secret", scopes: ["premium:read"] })).record.owner).toBe("acct_2");
  });

  it("refuses bad pools and limits with coded errors naming the field, and no state change", async () => {
    const { kw } = setup();
    const bad: [unknown, string][] = [
      [{ credits: { limit: -1 } }, "credits.limit"],
      [{ credits: { limit: 1.5 } }, "credits.limit"],
      [{ credits: { limit: Number.NaN } }, "credits.limit"],
      [{ credits: { limit: Number.POSITIVE_INFINITY } }, "credits.limit"],
      [{ credits: { limit: 1e300 } }, "credits.limit"],
      [{ credits: { limit: 10, overage: -1 } }, "credits.overage"],
      [{ credits: { limit: 10, reset: "week" } }, "credits.reset"],
      [{ credits: { limit: 10, reset: "month", refill: { amount: 1, intervalMs: 60_000 } } }, "credits.reset"],
      [{ rateLimit: { limit: 0, windowMs: 1000 } }, "rateLimit.limit"],
      [{ plan: "gold" }, "plan"],
      [{ pools: { default: { limit: 1 } } }, "pools.default"],
      [{ pools: JSON.parse('{"__proto__":{"limit":1}}') }, "pools.__proto__"],
    ];
    for (const [patch, field] of bad) {
      await expect(kw.accounts.set("acct_1", patch as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field });
    }
    expect(await kw.accounts.get("acct_1")).toBeNull();
    expect((await kw.tokens.audit({ owner: "acct_1" })).items).toEqual([]);
  });

  it("a field given as undefined is absent: kept as it is, not named in the audit (a value from an optional variable)", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { ceiling: ["core:read"], credits: { limit: 100 }, rateLimit: { limit: 5, windowMs: 1000 } });
    const before = (await kw.accounts.get("acct_1"))!.policy;
    const none: undefined = process.env.KEYWARD_TEST_UNSET as undefined;
    for (const field of ["ceiling", "credits", "pools", "rateLimit", "tokens"] as const) {
      const account = await kw.accounts.set("acct_1", { [field]: none, ...(field === "credits" ? { ceiling: ["core:read"] } : { credits: { limit: 100 } }) });
      expect(account.policy, field).toEqual(before);
    }
    const changes = (await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "account").map((e) => e.changes);
    expect(changes).toEqual([["ceiling", "credits", "rateLimit"], ["credits"], ["ceiling"], ["credits"], ["credits"], ["credits"]]);
  });

  it("on a store without accounts: STORE_UNSUPPORTED, and tokens still work", async () => {
    const m = new MemoryStore();
    const store: TokenStore = { ...combineStores({ records: m, counters: m, usage: m }), capabilities: { changeFeed: false } };
    delete store.getAccount;
    const { kw } = setup(store);
    await expect(kw.accounts.set("acct_1", { ceiling: ["core:read"] })).rejects.toMatchObject({ code: "STORE_UNSUPPORTED", feature: "accounts" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
  });

  it("looks accounts up through a cache bounded by revocationBoundMs, never once per request", async () => {
    let reads = 0;
    class Counting extends MemoryStore {
      override getAccount(owner: string) {
        reads++;
        return super.getAccount(owner);
      }
    }
    const store = new Counting();
    const { kw, tick } = setup(store, { revocationBoundMs: 5_000 });
    await kw.accounts.set("acct_1", { rateLimit: { limit: 1000, windowMs: 1000 } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const { token: other } = await kw.tokens.create({ owner: "acct_2", kind: "secret" });
    reads = 0;
    for (let i = 0; i < 100; i++) {
      await kw.check({ token });
      await kw.check({ token: other });
    }
    expect(reads).toBe(2); // one per owner, "no account" included
    tick(5_000);
    await kw.check({ token });
    expect(reads).toBe(3);
  });
});

describe("kw.accounts.set: concurrent changes", () => {
  it("MemoryStore: changes of different fields all land without expectedRevision; with it, one of two", async () => {
    const { kw } = setup();
    await expectConcurrentAccountChanges([kw]);
  });

  it("SQLite: the same from two connections to one file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyward-accounts-"));
    const stores = [sqliteStore(join(dir, "kw.db")), sqliteStore(join(dir, "kw.db"))];
    const instances = stores.map((store) => setup(store).kw);
    try {
      await expectConcurrentAccountChanges(instances);
    } finally {
      for (const kw of instances) await kw.close();
      for (const store of stores) await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("many at once, through one instance or two on one SQLite file, all land (an instance writes an account's changes one at a time)", async () => {
    /** 20 changes of one account per instance at once: fields and members; every one lands, each audited. */
    const burst = async (instances: Keyward[]) => {
      await instances[0]!.accounts.members.set("acct_burst", "user:root", "owner");
      const changes = instances.flatMap((kw, k) =>
        Array.from({ length: 20 }, (_, i) =>
          i % 2 ? kw.accounts.members.set("acct_burst", `user:${k}-${i}`, "developer") : kw.accounts.set("acct_burst", { rateLimit: { limit: 1 + i, windowMs: 1000 } }),
        ),
      );
      const results = await Promise.allSettled(changes);
      expect(results.filter((r) => r.status === "rejected").map((r) => (r.reason as { code?: string }).code)).toEqual([]);
      const account = (await instances[0]!.accounts.get("acct_burst"))!;
      expect(Object.keys(account.members ?? {})).toHaveLength(1 + 10 * instances.length);
      expect(account.revision).toBe(1 + 20 * instances.length);
    };
    await burst([setup().kw]);
    const dir = mkdtempSync(join(tmpdir(), "keyward-accounts-"));
    const stores = [sqliteStore(join(dir, "kw.db")), sqliteStore(join(dir, "kw.db"))];
    const instances = stores.map((store) => setup(store).kw);
    try {
      await burst(instances);
    } finally {
      for (const kw of instances) await kw.close();
      for (const store of stores) await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("kw.accounts: writes the store stores but answers without the account", () => {
  /** A MemoryStore without a change feed whose putAccount commits, then answers `undefined` or rejects (a reply lost after the commit). */
  class Unanswered extends MemoryStore {
    fault: "nothing" | "rejects" | null = null;
    override async putAccount(...args: Parameters<MemoryStore["putAccount"]>) {
      const saved = await super.putAccount(...args);
      if (this.fault === "rejects") throw Object.assign(new Error("Connection terminated unexpectedly"), { code: "ECONNRESET" });
      return this.fault === "nothing" ? (undefined as never) : saved;
    }
  }

  for (const fault of ["nothing", "rejects"] as const) {
    it(`reject with STORE_UNAVAILABLE, and this instance decides on the change at once (${fault})`, async () => {
      const store = new Unanswered({ changeFeed: false });
      const kw = new Keyward({ store, prefix: "acme" });
      const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] });
      await kw.accounts.set("acct_1", { ceiling: ["core:read", "premium:read"] });
      expect((await kw.check({ token, scope: "premium:read" })).ok).toBe(true); // the account cached here
      store.fault = fault;
      await expect(kw.accounts.set("acct_1", { ceiling: ["core:read"] })).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
      await expect(kw.accounts.members.set("acct_1", "user:1", "owner")).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
      // The change was stored: this instance, which has no change feed to learn of it, decides on it at once.
      expect((await kw.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
      store.fault = null;
      expect((await kw.accounts.get("acct_1"))?.policy.ceiling).toEqual(["core:read"]);
    });
  }
});

describe("account metering: token and account charged together", () => {
  for (const [name, make] of [
    ["MemoryStore", () => new MemoryStore()],
    ["SQLite", () => sqliteStore(":memory:")],
  ] as const) {
    it(`${name}: 10 000 checks, 2 500 at a time, across 10 tokens of one account on a pool of 1 000 grant exactly 1 000`, async () => {
      const store = make();
      const { kw } = setup(store);
      await expectAccountRace(kw);
      await kw.close();
      await store.close();
    });
  }

  it("an account-wide rate limit and a monthly pool with overage apply across tokens", async () => {
    const { kw, tick } = setup();
    await kw.accounts.set("acct_1", { credits: { limit: 3, reset: "month", overage: 1 }, rateLimit: { limit: 100, windowMs: 1000 } });
    const a = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const b = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    expect((await kw.check({ token: a.token, cost: 2 })).ok).toBe(true);
    const d = await kw.check({ token: b.token, cost: 2 });
    expect(d).toMatchObject({ ok: true, remaining: 0 });
    const denied = await kw.check({ token: a.token });
    expect(denied).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED" });
    expect(denied.retryAfterMs).toBe(Date.UTC(2026, 1, 1) - T0);
    tick(Date.UTC(2026, 1, 1) - T0);
    expect((await kw.check({ token: a.token })).ok).toBe(true);
  });

  it("a token's rate limit and its account's both full: Retry-After is the longer wait, after which the request is allowed", async () => {
    const { kw, tick } = setup();
    await kw.accounts.set("acct_1", { rateLimit: { limit: 2, windowMs: 60_000 } });
    const a = await kw.tokens.create({ owner: "acct_1", kind: "secret", rateLimit: { limit: 1, windowMs: 10_000 } });
    const b = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    expect((await kw.check({ token: a.token })).ok).toBe(true);
    expect((await kw.check({ token: b.token })).ok).toBe(true);
    tick(1000);
    const limited = await kw.check({ token: a.token });
    expect(limited).toMatchObject({ ok: false, code: "RATE_LIMITED" });
    // The account's window holds both hits until 66 s (ten buckets of 6 s after the one holding them).
    expect(limited.retryAfterMs).toBe(65_000);
    expect(limited.headers.ratelimit).toBe('"requests";r=0;t=65, "account-requests";r=0;t=65');
    tick(limited.retryAfterMs! - 1);
    expect((await kw.check({ token: a.token })).code).toBe("RATE_LIMITED");
    tick(1);
    expect((await kw.check({ token: a.token })).ok).toBe(true);
  });

  it("RateLimit fields describe the account's limits as policies of their own: a denial names the one that denied it", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { credits: { limit: 4, refill: { amount: 4, intervalMs: 60_000 }, overage: 1 }, rateLimit: { limit: 3, windowMs: 10_000 } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", rateLimit: { limit: 10, windowMs: 1000 }, credits: { limit: 9 } });
    const policy = '"requests";q=10;w=1, "credits";q=9, "account-requests";q=3;w=10, "account-credits";q=5;w=60';
    // Allowed: each counter under its own policy; `remaining` is the tighter of the token and the account.
    const ok = await kw.check({ token, cost: 4 });
    expect(ok).toMatchObject({ ok: true, remaining: 1 });
    expect(ok.headers).toEqual({ "ratelimit-policy": policy, ratelimit: '"requests";r=9, "credits";r=5, "account-requests";r=2, "account-credits";r=1' });
    // The account's pool is short (1 left of 5 with the overage): 402 names the account's pool; the token, not charged, is not shown.
    const short = await kw.check({ token, cost: 2 });
    expect(short).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED", status: 402, remaining: 1 });
    expect(short.headers["ratelimit-policy"]).toBe(policy);
    expect(short.headers.ratelimit).toBe(`"requests";r=9, "account-requests";r=2, "account-credits";r=1;t=${short.headers["retry-after"]}`);
    // The account's rate limit is full (3 in 10 s), the token's is not: 429 names the account's, with the wait of Retry-After.
    expect((await kw.check({ token, cost: 0 })).ok).toBe(true);
    expect((await kw.check({ token, cost: 0 })).ok).toBe(true);
    const limited = await kw.check({ token, cost: 0 });
    expect(limited).toMatchObject({ ok: false, code: "RATE_LIMITED", status: 429 });
    expect(limited.headers["ratelimit-policy"]).toBe(policy);
    expect(limited.headers.ratelimit).toBe(`"requests";r=7, "account-requests";r=0;t=${limited.headers["retry-after"]}`);
  });
});

describe("kw.credits: admin operations on tokens and accounts", () => {
  it("reads, tops up and resets, each audited", async () => {
    const { kw } = setup();
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 2 } });
    await kw.check({ token });
    await kw.check({ token });
    expect((await kw.check({ token })).code).toBe("CREDITS_EXHAUSTED");
    expect(await kw.credits.get({ tokenId: record.id })).toEqual({ limit: 2, remaining: 0, nextRefillAt: null, replayed: false });
    expect((await kw.credits.topUp({ tokenId: record.id }, 5, { actor: "user:9" })).remaining).toBe(5);
    expect((await kw.check({ token })).ok).toBe(true);
    expect((await kw.credits.reset({ tokenId: record.id })).remaining).toBe(2);
    await kw.accounts.set("acct_1", { credits: { limit: 100 } });
    expect((await kw.credits.topUp({ owner: "acct_1" }, 50)).remaining).toBe(150);
    const audit = (await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "credits");
    expect(audit.map((e) => [e.tokenId, e.changes[0], e.amount, e.actor])).toEqual([
      [record.id, "topUp", 5, "user:9"],
      [record.id, "reset", undefined, "system"],
      ["*", "topUp", 50, "system"],
    ]);
  });

  it("a top-up or reset with an idempotency key is applied once (a webhook delivered twice, a retry): the balance now, no second audit entry", async () => {
    const { kw, tick } = setup();
    await kw.accounts.set("acct_1", { credits: { limit: 100 } });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 10 } });
    const event = { id: "evt_1NqL2b", amount: 500 };
    // The first delivery applies it: not a repeat, so the webhook sends its receipt.
    expect(await kw.credits.topUp({ owner: "acct_1" }, event.amount, { actor: "stripe", idempotencyKey: event.id })).toMatchObject({ remaining: 600, replayed: false });
    expect((await kw.check({ token, cost: 5 })).ok).toBe(true);
    tick(3 * 86_400_000);
    // Delivered again three days later: nothing added; the balance now (the 5 spent since counted), told as a repeat (no second receipt).
    expect(await kw.credits.topUp({ owner: "acct_1" }, event.amount, { actor: "stripe", idempotencyKey: event.id })).toMatchObject({ remaining: 595, replayed: true });
    // The key is the operation's: another amount, another balance, a reset, refused and nothing changed.
    for (const call of [
      () => kw.credits.topUp({ owner: "acct_1" }, 50, { idempotencyKey: event.id }),
      () => kw.credits.topUp({ tokenId: record.id }, 500, { idempotencyKey: event.id }),
      () => kw.credits.reset({ owner: "acct_1" }, { idempotencyKey: event.id }),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: "INVALID_INPUT", field: "idempotencyKey" });
    }
    expect(await kw.credits.get({ owner: "acct_1" })).toMatchObject({ remaining: 595, replayed: false });
    expect(await kw.credits.get({ tokenId: record.id })).toMatchObject({ remaining: 5, replayed: false });
    // A reset with a key: once, too.
    expect(await kw.credits.reset({ tokenId: record.id }, { idempotencyKey: "reset:42" })).toMatchObject({ remaining: 10, replayed: false });
    expect((await kw.check({ token, cost: 4 })).ok).toBe(true);
    expect(await kw.credits.reset({ tokenId: record.id }, { idempotencyKey: "reset:42" })).toMatchObject({ remaining: 6, replayed: true });
    const audit = (await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "credits");
    expect(audit.map((e) => [e.tokenId, e.changes[0], e.amount, e.actor])).toEqual([
      ["*", "topUp", 500, "stripe"],
      [record.id, "reset", undefined, "system"],
    ]);
    // Without a key, every call applies, as before.
    expect(await kw.credits.topUp({ owner: "acct_1" }, 1)).toMatchObject({ replayed: false });
    expect(await kw.credits.topUp({ owner: "acct_1" }, 1)).toEqual({ limit: 100, remaining: 593, nextRefillAt: null, replayed: false }); // 595, 4 spent by the check, 2 added
  });

  it("refuses an unknown field in credit options: a misspelt idempotency key would turn the protection off without a word", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { credits: { limit: 10 } });
    const misspelt = { idempotency_key: "evt_1" } as never;
    await expect(kw.credits.topUp({ owner: "acct_1" }, 5, misspelt)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
    await expect(kw.credits.reset({ owner: "acct_1" }, misspelt)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
    expect((await kw.credits.get({ owner: "acct_1" })).remaining).toBe(10);
  });

  it("refuses an idempotency key that is empty, too long, not a string, a token or unsafe text, naming the field, before any write", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { credits: { limit: 10 } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (const idempotencyKey of ["", "k".repeat(256), 42, null, token, `evt ${token}`, "evt_1\n2026-01-01 INFO forged", "a\u202eb"]) {
      const err = await kw.credits.topUp({ owner: "acct_1" }, 5, { idempotencyKey: idempotencyKey as string }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err).toMatchObject({ code: "INVALID_INPUT", field: "idempotencyKey" });
      expect(err?.message).not.toContain(token);
      await expect(kw.credits.reset({ owner: "acct_1" }, { idempotencyKey: idempotencyKey as string })).rejects.toMatchObject({ field: "idempotencyKey" });
    }
    expect((await kw.credits.topUp({ owner: "acct_1" }, 5, { idempotencyKey: "k".repeat(255) })).remaining).toBe(15);
    expect((await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "credits")).toHaveLength(1);
  });

  it("SQLite: top-ups with one idempotency key from two connections to one file, at once, apply once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyward-credits-"));
    const stores = [sqliteStore(join(dir, "kw.db")), sqliteStore(join(dir, "kw.db"))];
    const [a, b] = stores.map((store) => setup(store).kw) as [Keyward, Keyward];
    try {
      await a.accounts.set("acct_1", { credits: { limit: 100 } });
      const topUps = Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).credits.topUp({ owner: "acct_1" }, 500, { idempotencyKey: "evt_9" }));
      const answers = await Promise.all(topUps);
      expect(answers.map((r) => r.remaining)).toEqual(Array(20).fill(600));
      expect(answers.filter((r) => !r.replayed)).toHaveLength(1);
      expect((await b.credits.get({ owner: "acct_1" })).remaining).toBe(600);
      expect((await a.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "credits")).toHaveLength(1);
    } finally {
      for (const kw of [a, b]) await kw.close();
      for (const store of stores) await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a revoked token's balance is read, never topped up or reset (TOKEN_REVOKED): a paid top-up would go to a dead token and be receipted", async () => {
    const { kw } = setup();
    const { record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 10 } });
    await kw.tokens.revoke(record.id);
    const keyed = { actor: "stripe", idempotencyKey: "stripe:evt_revoked" };
    await expect(kw.credits.topUp({ tokenId: record.id }, 500, keyed)).rejects.toMatchObject({ code: "TOKEN_REVOKED" });
    await expect(kw.credits.reset({ tokenId: record.id })).rejects.toMatchObject({ code: "TOKEN_REVOKED" });
    expect(await kw.credits.get({ tokenId: record.id })).toEqual({ limit: 10, remaining: 10, nextRefillAt: null, replayed: false });
    expect((await kw.tokens.audit({ tokenId: record.id })).items.map((e) => e.action)).toEqual(["create", "revoke"]);
    // The refused call kept no key: the event, paid for, can still be applied to a live balance.
    await kw.accounts.set("acct_1", { credits: { limit: 100 } });
    expect(await kw.credits.topUp({ owner: "acct_1" }, 500, keyed)).toMatchObject({ remaining: 600, replayed: false });
  });

  it("refuses bad amounts, unknown owners and tokens without credits with coded errors; nothing changes", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { credits: { limit: 10 } });
    for (const amount of [-5, 0, 2.5, Number.NaN, Number.POSITIVE_INFINITY, 1e300, "5"]) {
      await expect(kw.credits.topUp({ owner: "acct_1" }, amount as number)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "amount" });
    }
    await expect(kw.credits.topUp({ owner: "acct_unknown" }, 5)).rejects.toMatchObject({ code: "ACCOUNT_NOT_FOUND" });
    await expect(kw.credits.get({ tokenId: "tok_nope" })).rejects.toMatchObject({ code: "TOKEN_NOT_FOUND" });
    const { record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await expect(kw.credits.reset({ tokenId: record.id })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "target" });
    expect((await kw.credits.get({ owner: "acct_1" })).remaining).toBe(10);
    expect((await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "credits")).toEqual([]);
  });

  it("refuses a target naming both a token and an owner, or neither, or a token id or owner of the wrong type, on every operation; nothing changes", async () => {
    const { kw } = setup();
    const { record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: 10 } });
    const targets: [unknown, string][] = [
      [{ owner: "acct_x", tokenId: record.id }, "target"], // was: the token topped up, the owner ignored
      [{ owner: "acct_1", tokenId: record.id }, "target"],
      [{}, "target"],
      [{ pool: "premium" }, "target"],
      [{ tokenId: 5 }, "target.tokenId"], // was: TOKEN_NOT_FOUND with an empty id
      [{ tokenId: null }, "target.tokenId"],
      [{ owner: 5 }, "target.owner"],
      [{ owner: "" }, "target.owner"],
      [{ tokenId: record.id, pool: "Pro" }, "target.pool"],
      [{ owner: "acct_1", pol: "premium" }, "target"], // was: the default pool topped up, the misspelt pool ignored
      ["acct_1", "target"],
      [null, "target"],
    ];
    for (const [target, field] of targets) {
      const t = target as { tokenId: string };
      for (const call of [() => kw.credits.get(t), () => kw.credits.topUp(t, 5), () => kw.credits.reset(t)]) {
        await expect(call()).rejects.toMatchObject({ code: "INVALID_INPUT", field });
      }
    }
    expect(await kw.credits.get({ tokenId: record.id, owner: undefined } as never)).toMatchObject({ remaining: 10 });
    expect((await kw.tokens.audit({ owner: "acct_1" })).items.filter((e) => e.action === "credits")).toEqual([]);
  });
});
