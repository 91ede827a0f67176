// Conformance group "pools" of describeTokenStore: named credit pools, several
// rate limits per token and calendar resets, all through `meter`, all or
// nothing, under races. Account pools run when `capabilities.accounts` is true.
import { expect, it } from "vitest";
import type { AccountCreditsPolicy } from "../../model/account.js";
import type { CreditsPolicy, RateLimitPolicy } from "../../model/types.js";
import type { MeterRequest } from "../../store/types.js";
import { makeStoredToken, randomId } from "../fixtures.js";
import { callsAcross, type SuiteContext, T } from "../suite.js";

const SECOND = 1000;
const MINUTE = 60_000;
const flat = (limit: number): CreditsPolicy => ({ limit, refill: null });

/** Registers the "pools" tests; `ctx.store` is the store of the running test. */
export function poolsGroup(ctx: SuiteContext): void {
  const spend = (tokenId: string, pool: string | undefined, credits: CreditsPolicy | null, cost: number, now: number, more: Partial<MeterRequest> = {}) =>
    ctx.store.meter({ tokenId, cost, rateLimit: null, credits, ...(pool === undefined ? {} : { pool }), ...more }, now);

  it("each named pool is its own balance; the default pool is the token's credits as before pools", async () => {
    const id = randomId("tok");
    expect((await spend(id, "premium", flat(3), 3, T)).credits).toMatchObject({ granted: true, remaining: 0 });
    expect((await spend(id, "premium", flat(3), 1, T + 1)).deniedBy).toBe("credits");
    // The default pool, named or not, is untouched.
    expect((await spend(id, undefined, flat(5), 2, T + 2)).credits).toMatchObject({ granted: true, remaining: 3 });
    expect((await spend(id, "default", flat(5), 0, T + 3)).credits?.remaining).toBe(3);
    expect((await spend(id, "core", flat(4), 0, T + 4)).credits?.remaining).toBe(4);
    // Another token's pool of the same name is another balance.
    expect((await spend(randomId("tok"), "premium", flat(3), 1, T + 5)).granted).toBe(true);
  });

  it("several rate limits count every request together; a full one counts nothing anywhere and spends nothing", async () => {
    const id = randomId("tok");
    const req = (now: number) =>
      ctx.store.meter({ tokenId: id, cost: 1, rateLimit: { limit: 2, windowMs: SECOND }, rateLimits: [{ limit: 3, windowMs: MINUTE }], credits: flat(10) }, now);
    expect((await req(T)).granted).toBe(true);
    expect((await req(T + 1)).granted).toBe(true);
    const perSecond = await req(T + 2);
    expect(perSecond).toMatchObject({ granted: false, deniedBy: "rateLimit", rateLimit: { allowed: false } });
    // The per-minute limit had room: its answer counts this request as not made.
    expect(perSecond.rateLimits).toEqual([expect.objectContaining({ allowed: true, remaining: 1 })]);
    const third = await req(T + 2 * SECOND);
    expect(third).toMatchObject({ granted: true, rateLimit: { allowed: true }, rateLimits: [{ allowed: true, remaining: 0 }] });
    const perMinute = await req(T + 4 * SECOND);
    expect(perMinute).toMatchObject({ granted: false, deniedBy: "rateLimit", rateLimit: { allowed: true, remaining: 2 }, rateLimits: [{ allowed: false }] });
    expect(perMinute.rateLimits![0]!.retryAfterMs).toBeGreaterThan(SECOND);
    // Three requests were granted: 7 credits left; the denied ones took no hit of the per-second limit either.
    expect((await spend(id, undefined, flat(10), 0, T + 5 * SECOND)).credits?.remaining).toBe(7);
    const probe = await ctx.store.meter({ tokenId: id, cost: 0, rateLimit: { limit: 2, windowMs: SECOND }, credits: null }, T + 4 * SECOND + 1);
    expect(probe.rateLimit).toMatchObject({ allowed: true, remaining: 1 });
  });

  it("a request short of credits in its pool counts no hit on any rate limit", async () => {
    const id = randomId("tok");
    const limits: RateLimitPolicy[] = [{ limit: 5, windowMs: MINUTE }, { limit: 9, windowMs: 3_600_000 }];
    const r = await spend(id, "premium", flat(0), 1, T, { rateLimit: { limit: 3, windowMs: SECOND }, rateLimits: limits });
    expect(r).toMatchObject({ granted: false, deniedBy: "credits", rateLimit: { remaining: 3 } });
    expect(r.rateLimits?.map((x) => x.remaining)).toEqual([5, 9]);
    const after = await spend(id, undefined, null, 0, T + 1, { rateLimits: limits });
    expect(after.rateLimits?.map((x) => x.remaining)).toEqual([4, 8]);
  });

  it("a daily pool is full again at 00:00 UTC and announces that instant", async () => {
    const id = randomId("tok");
    const daily: CreditsPolicy = { limit: 2, refill: null, reset: "day" };
    const lastMs = T + 86_400_000 - 1;
    expect((await spend(id, "premium", daily, 2, T + 3_600_000)).granted).toBe(true);
    const short = await spend(id, "premium", daily, 1, lastMs);
    expect(short).toMatchObject({ granted: false, credits: { remaining: 0, nextRefillAt: T + 86_400_000 } });
    const next = await spend(id, "premium", daily, 2, T + 86_400_000);
    expect(next.credits).toMatchObject({ granted: true, remaining: 0, nextRefillAt: T + 2 * 86_400_000 });
  });

  it("a monthly pool resets on the first of the month, UTC, whatever the month's length (leap February)", async () => {
    const id = randomId("tok");
    const monthly: CreditsPolicy = { limit: 1, refill: null, reset: "month" };
    const feb29 = Date.UTC(2028, 1, 29, 23, 59, 59, 999);
    expect((await spend(id, undefined, monthly, 1, Date.UTC(2028, 1, 1))).granted).toBe(true);
    expect(await spend(id, undefined, monthly, 1, feb29)).toMatchObject({ granted: false, credits: { nextRefillAt: Date.UTC(2028, 2, 1) } });
    expect((await spend(id, undefined, monthly, 1, Date.UTC(2028, 2, 1))).granted).toBe(true);
  });

  it("concurrent requests on a pool and several rate limits grant exactly the pool and never more hits than any limit", async () => {
    const id = randomId("tok");
    const n = Math.min(ctx.concurrency, 100);
    const req: MeterRequest = {
      tokenId: id,
      cost: 1,
      rateLimit: { limit: 40, windowMs: MINUTE },
      rateLimits: [{ limit: 30, windowMs: 3_600_000 }],
      credits: flat(20),
      pool: "premium",
    };
    const other: MeterRequest = { ...req, credits: flat(25), pool: "core", rateLimit: null, rateLimits: [] };
    const rs = await Promise.all(await callsAcross(ctx, n, (i, store) => store.meter(i % 2 === 0 ? req : other, T)));
    const granted = (pool: string) => rs.filter((r, i) => r.granted && (i % 2 === 0 ? "premium" : "core") === pool).length;
    expect(granted("premium")).toBe(Math.min(20, Math.ceil(n / 2)));
    expect(granted("core")).toBe(Math.min(25, Math.floor(n / 2)));
    // The hour limit counted exactly the granted premium requests.
    const probe = await ctx.store.meter({ tokenId: id, cost: 0, rateLimit: null, rateLimits: req.rateLimits, credits: null }, T + 1);
    expect(probe.rateLimits?.[0]?.remaining).toBe(30 - granted("premium") - 1);
  });

  it("a token and its account draw from their pools of the same name: both or neither", async (test) => {
    if (ctx.store.capabilities.accounts !== true) return test.skip();
    const owner = randomId("acct");
    const acct = (limit: number): AccountCreditsPolicy => ({ limit, refill: null, reset: null, overage: 0 });
    const charge = (tokenId: string, cost: number, tokenLimit: number) =>
      ctx.store.meter(
        { tokenId, cost, rateLimit: null, credits: flat(tokenLimit), pool: "premium", account: { owner, rateLimit: null, credits: acct(4) } },
        T,
      );
    const [a, b] = [randomId("tok"), randomId("tok")];
    expect(await charge(a, 3, 10)).toMatchObject({ granted: true, credits: { remaining: 7 }, account: { credits: { remaining: 1 } } });
    // The account's premium pool is short: the token's premium pool is not charged.
    expect(await charge(b, 2, 10)).toMatchObject({ granted: false, deniedBy: "accountCredits" });
    expect((await spend(b, "premium", flat(10), 0, T)).credits?.remaining).toBe(10);
    // The account's default pool is another balance.
    const dflt = await ctx.store.meter({ tokenId: b, cost: 2, rateLimit: null, credits: null, account: { owner, rateLimit: null, credits: acct(4) } }, T);
    expect(dflt).toMatchObject({ granted: true, account: { credits: { remaining: 2 } } });
    // Admin reads name the pool too.
    const read = await ctx.store.adjustCredits!({ key: { owner, pool: "premium" }, policy: acct(4), change: { op: "read" } }, T);
    expect(read.remaining).toBe(1);
  });

  it("concurrent requests of several tokens on an account's named pool grant exactly the pool; its default pool is untouched", async (test) => {
    if (ctx.store.capabilities.accounts !== true) return test.skip();
    const owner = randomId("acct");
    const acct = (limit: number): AccountCreditsPolicy => ({ limit, refill: null, reset: null, overage: 0 });
    const tokens = Array.from({ length: 5 }, () => randomId("tok"));
    const n = Math.min(ctx.concurrency, 200);
    const rs = await Promise.all(
      await callsAcross(ctx, n, (i, store) =>
        store.meter(
          {
            tokenId: tokens[i % tokens.length]!,
            cost: 1,
            rateLimit: null,
            rateLimits: [{ limit: n, windowMs: MINUTE }],
            credits: null,
            pool: "premium",
            account: { owner, rateLimit: null, credits: acct(Math.floor(n / 4)) },
          },
          T,
        ),
      ),
    );
    expect(rs.filter((r) => r.granted)).toHaveLength(Math.floor(n / 4));
    expect(rs.filter((r) => r.deniedBy === "accountCredits")).toHaveLength(n - Math.floor(n / 4));
    const dflt = await ctx.store.adjustCredits!({ key: { owner }, policy: acct(7), change: { op: "read" } }, T);
    expect(dflt.remaining).toBe(7);
  });

  it("a hard delete removes the counters of the token's named pools and extra rate limits", async (test) => {
    if (ctx.store.capabilities.hardDelete !== true) return test.skip();
    const token = makeStoredToken();
    await ctx.store.insert(token);
    await spend(token.id, "premium", flat(5), 2, T, { rateLimits: [{ limit: 9, windowMs: MINUTE }] });
    await spend(token.id, undefined, flat(5), 1, T);
    const { removed } = await ctx.store.delete(token.id);
    expect(removed).toMatchObject({ credits: 2, rateLimits: 1 });
    expect((await spend(token.id, "premium", flat(5), 0, T + 1)).credits?.remaining).toBe(5);
  });
}
