// Tiered credits, several rate limits and calendar resets, end to end (issue
// 14 item 4): a route names the pool it draws from; every limit of the token
// and its account is charged together or not at all.
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  guardStore,
  InvalidInputError,
  isKeywardError,
  Keyward,
  type KeywardOptions,
  MAX_CREDIT_BALANCE,
  MemoryStore,
  type StoredToken,
} from "keyward";
import { problemDetails } from "../../src/http/problem.js";
import { createRoute } from "../../src/http/core.js";

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function setup(options: Partial<KeywardOptions> = {}) {
  const store = new MemoryStore();
  const clock = { now: T0 };
  const kw = new Keyward({ store, prefix: "acme", now: () => clock.now, ...options });
  return { kw, store, clock };
}

async function refused(p: Promise<unknown>, field: string) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected INVALID_INPUT on ${field}`).toBeInstanceOf(InvalidInputError);
  expect(isKeywardError(err, "INVALID_INPUT")).toBe(true);
  expect((err as InvalidInputError).field).toBe(field);
}

describe("named credit pools", () => {
  it("a route draws from the pool it names; the default route from credits", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({
      owner: "o",
      kind: "secret",
      credits: { limit: 5 },
      pools: { premium: { limit: 2 } },
    });
    const p1 = await kw.check({ token, pool: "premium", cost: 2 });
    expect(p1).toMatchObject({ ok: true, cost: 2, remaining: 0, pool: "premium" });
    expect(p1.headers["ratelimit-policy"]).toBe('"credits-premium";q=2');
    expect(p1.headers.ratelimit).toBe('"credits-premium";r=0');
    const short = await kw.check({ token, pool: "premium" });
    expect(short).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED", status: 402, remaining: 0 });
    expect(problemDetails(short)).toMatchObject({ code: "CREDITS_EXHAUSTED", remaining: 0, pool: "premium" });
    // The default pool is untouched.
    const core = await kw.check({ token });
    expect(core).toMatchObject({ ok: true, remaining: 4, pool: undefined });
    expect(core.headers["ratelimit-policy"]).toBe('"credits";q=5');
    expect((await kw.check({ token, pool: "default" })).remaining).toBe(3);
  });

  it("a token holding pools but not the route's is denied POOL_UNKNOWN (403); one with no pool at all is unmetered", async () => {
    const { kw } = setup();
    const metered = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 5 } });
    const d = await kw.check({ token: metered.token, pool: "premium" });
    expect(d).toMatchObject({ ok: false, code: "POOL_UNKNOWN", status: 403, tokenId: metered.record.id });
    expect(problemDetails(d)).toMatchObject({ code: "POOL_UNKNOWN", pool: "premium", title: "Pool not available" });
    // Nothing was spent.
    expect((await kw.check({ token: metered.token, cost: 0 })).remaining).toBe(5);
    const onlyPremium = await kw.tokens.create({ owner: "o", kind: "secret", pools: { premium: { limit: 1 } } });
    // credits null: the default route is unmetered, as ever.
    expect(await kw.check({ token: onlyPremium.token, cost: 3 })).toMatchObject({ ok: true, cost: 0 });
    expect((await kw.check({ token: onlyPremium.token, pool: "gold" })).code).toBe("POOL_UNKNOWN");
    const free = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect(await kw.check({ token: free.token, pool: "premium", cost: 9 })).toMatchObject({ ok: true, cost: 0 });
  });

  it("an account's pool of the route's name is charged with the token's: both or neither", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { credits: { limit: 100 }, pools: { premium: { limit: 3 } } }, { effectiveAt: T0 });
    const a = await kw.tokens.create({ owner: "acct_1", kind: "secret", pools: { premium: { limit: 10 } } });
    const b = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    expect(await kw.check({ token: a.token, pool: "premium", cost: 2 })).toMatchObject({ ok: true, remaining: 1 });
    const short = await kw.check({ token: a.token, pool: "premium", cost: 2 });
    expect(short).toMatchObject({ ok: false, code: "CREDITS_EXHAUSTED", remaining: 1 });
    // b has no pool of its own: the account's premium pool is what limits it.
    expect(await kw.check({ token: b.token, pool: "premium" })).toMatchObject({ ok: true, remaining: 0 });
    expect(await kw.check({ token: b.token, pool: "gold" })).toMatchObject({ ok: false, code: "POOL_UNKNOWN" });
    // The token's own premium pool was charged once only (2 of 10).
    expect(await kw.credits.get({ tokenId: a.record.id, pool: "premium" })).toMatchObject({ limit: 10, remaining: 8 });
    expect(await kw.credits.get({ owner: "acct_1", pool: "premium" })).toMatchObject({ limit: 3, remaining: 0 });
    expect(await kw.credits.get({ owner: "acct_1" })).toMatchObject({ limit: 100, remaining: 100 });
  });

  it("a daily pool is full again at 00:00 UTC; 402 says when", async () => {
    const { kw, clock } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1, reset: "day" } });
    clock.now = T0 + 23 * 3_600_000;
    expect((await kw.check({ token })).ok).toBe(true);
    const d = await kw.check({ token });
    expect(d).toMatchObject({ code: "CREDITS_EXHAUSTED", retryAfterMs: 3_600_000 });
    expect(d.headers["ratelimit-policy"]).toBe('"credits";q=1;w=86400');
    expect(d.headers.ratelimit).toBe('"credits";r=0;t=3600');
    clock.now = T0 + DAY;
    expect((await kw.check({ token })).ok).toBe(true);
  });
});

describe("several rate limits", () => {
  it("every limit counts each request; a full one denies with the longest wait and counts nothing", async () => {
    const { kw, clock } = setup();
    const { token, record } = await kw.tokens.create({
      owner: "o",
      kind: "secret",
      credits: { limit: 100 },
      rateLimit: { limit: 2, windowMs: 1000 },
      rateLimits: [{ limit: 3, windowMs: DAY }],
    });
    const first = await kw.check({ token });
    expect(first.headers["ratelimit-policy"]).toBe('"requests";q=2;w=1, "requests-86400s";q=3;w=86400, "credits";q=100');
    expect(first.headers.ratelimit).toBe('"requests";r=1, "requests-86400s";r=2, "credits";r=99');
    expect((await kw.check({ token })).ok).toBe(true);
    const perSecond = await kw.check({ token });
    expect(perSecond).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    expect(perSecond.headers.ratelimit).toContain('"requests-86400s";r=1');
    clock.now = T0 + 2000;
    expect((await kw.check({ token })).ok).toBe(true);
    clock.now = T0 + 4000;
    const perDay = await kw.check({ token });
    expect(perDay.code).toBe("RATE_LIMITED");
    expect(perDay.retryAfterMs).toBeGreaterThan(DAY / 2);
    expect(perDay.headers.ratelimit).toMatch(/^"requests";r=2, "requests-86400s";r=0;t=\d+/);
    // Three requests charged, no more.
    expect((await kw.credits.get({ tokenId: record.id })).remaining).toBe(97);
  });

  it("records stored before pools (no pools, no rateLimits) decide as before and can gain them", async () => {
    const { kw, store } = setup();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 3 } });
    const stored = (await store.get(record.id)) as StoredToken;
    expect(Object.keys(stored.policy)).not.toContain("pools");
    expect(Object.keys(stored.policy)).not.toContain("rateLimits");
    expect(stored.policy.credits).toEqual({ limit: 3, refill: null });
    expect((await kw.check({ token })).remaining).toBe(2);
    await kw.tokens.update(record.id, { pools: { premium: { limit: 1 } }, rateLimits: [{ limit: 5, windowMs: 60_000 }] }, { effectiveAt: T0 });
    expect(await kw.check({ token, pool: "premium" })).toMatchObject({ ok: true, remaining: 0 });
    expect((await kw.check({ token })).remaining).toBe(1);
    await kw.tokens.update(record.id, { pools: null, rateLimits: null }, { effectiveAt: T0 });
    expect((await kw.check({ token, pool: "premium" })).code).toBe("POOL_UNKNOWN");
  });
});

describe("bad input: a coded error naming the field, nothing written", () => {
  it("tokens: unknown or malformed pool names, zero and negative limits, clashing windows, reset with refill", async () => {
    const { kw, store } = setup();
    const create = (over: Record<string, unknown>) => kw.tokens.create({ owner: "o", kind: "secret", ...over } as never);
    await refused(create({ pools: { default: { limit: 1 } } }), "pools.default");
    await refused(create({ pools: { "Pro Plan": { limit: 1 } } }), "pools.Pro Plan");
    await refused(create({ pools: { premium: { limit: -1 } } }), "pools.premium.limit");
    await refused(create({ pools: { premium: { limit: 1, refill: { amount: 0, intervalMs: 1000 } } } }), "pools.premium.refill.amount");
    await refused(create({ pools: { premium: { limit: 1, extra: 1 } } }), "pools.premium.extra");
    await refused(create({ pools: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, { limit: 1 }])) }), "pools");
    await refused(create({ rateLimits: [{ limit: 0, windowMs: 1000 }] }), "rateLimits.0.limit");
    await refused(create({ rateLimits: [{ limit: 1, windowMs: 0 }] }), "rateLimits.0.windowMs");
    await refused(create({ rateLimits: [{ limit: -3, windowMs: 1000 }] }), "rateLimits.0.limit");
    await refused(create({ rateLimits: [{ limit: 1, windowMs: 1000 }, { limit: 2, windowMs: 1000 }] }), "rateLimits.1.windowMs");
    await refused(create({ rateLimit: { limit: 1, windowMs: 1000 }, rateLimits: [{ limit: 5, windowMs: 1000 }] }), "rateLimits.0.windowMs");
    await refused(create({ credits: { limit: 1, reset: "week" } }), "credits.reset");
    await refused(create({ credits: { limit: 1, reset: "day", refill: { amount: 1, intervalMs: 1000 } } }), "credits.reset");
    expect((await guardStore(store).list("o")).items).toEqual([]);
    expect((await guardStore(store).listAudit({ owner: "o" })).items).toEqual([]);

    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", rateLimit: { limit: 1, windowMs: 1000 } });
    const before = await store.get(record.id);
    await refused(kw.tokens.update(record.id, { rateLimits: [{ limit: 5, windowMs: 1000 }] }), "rateLimits.0.windowMs");
    await refused(kw.tokens.update(record.id, { pools: { premium: { limit: 0.5 } } }), "pools.premium.limit");
    expect(await store.get(record.id)).toEqual(before);
  });

  it("amounts above 10^15 (MAX_CREDIT_BALANCE): a token's limits and refills, and a route's cost, refused naming the field", async () => {
    const { kw, store } = setup();
    const create = (over: Record<string, unknown>) => kw.tokens.create({ owner: "o", kind: "secret", ...over } as never);
    await refused(create({ credits: { limit: MAX_CREDIT_BALANCE + 1 } }), "credits.limit");
    await refused(create({ credits: { limit: 10, refill: { amount: 2e15, intervalMs: 1000 } } }), "credits.refill.amount");
    await refused(create({ pools: { premium: { limit: 5e15 } } }), "pools.premium.limit");
    expect((await guardStore(store).list("o")).items).toEqual([]);
    // At the bound, every balance operation works on the token (above it, each was refused naming an internal field).
    const { record, token } = await create({ credits: { limit: MAX_CREDIT_BALANCE }, pools: { premium: { limit: MAX_CREDIT_BALANCE } } });
    const before = await store.get(record.id);
    await refused(kw.tokens.update(record.id, { pools: { premium: { limit: 2e15 } } }), "pools.premium.limit");
    await refused(kw.tokens.update(record.id, { credits: { limit: Number.MAX_SAFE_INTEGER } }), "credits.limit");
    expect(await store.get(record.id)).toEqual(before);
    expect(await kw.check({ token, cost: MAX_CREDIT_BALANCE })).toMatchObject({ ok: true, remaining: 0 });
    expect(await kw.credits.get({ tokenId: record.id, pool: "premium" })).toMatchObject({ remaining: MAX_CREDIT_BALANCE });
    expect(await kw.credits.reset({ tokenId: record.id })).toMatchObject({ remaining: MAX_CREDIT_BALANCE });
    // A cost no balance can hold is a setup error, not a request that is always denied.
    await expect(kw.check({ token, cost: MAX_CREDIT_BALANCE + 1 })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "cost" });
    expect(() => createRoute({ cost: 2 ** 52 })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "cost" }));
    expect(createRoute({ cost: MAX_CREDIT_BALANCE }).check).toEqual({ cost: MAX_CREDIT_BALANCE });
  });

  it("accounts: malformed pools and resets", async () => {
    const { kw, store } = setup();
    await refused(kw.accounts.set("acct_1", { pools: { default: { limit: 1 } } }), "pools.default");
    await refused(kw.accounts.set("acct_1", { pools: { premium: { limit: -1 } } }), "pools.premium.limit");
    await refused(kw.accounts.set("acct_1", { credits: { limit: 1, reset: "week" as never } }), "credits.reset");
    expect(await store.getAccount("acct_1")).toBeNull();
  });

  it("routes: a malformed pool name is a setup error, never a request outcome", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await expect(kw.check({ token, pool: "Premium" })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "pool" });
    await expect(kw.check({ token, pool: "" })).rejects.toBeInstanceOf(InvalidInputError);
    expect(() => createRoute({ pool: "pre mium" })).toThrow(ConfigError);
    expect(createRoute({ pool: "premium", cost: 2 }).check).toEqual({ pool: "premium", cost: 2 });
  });
});
