// Conformance group "accounts" of describeTokenStore: the optional AccountStore
// part. Its tests skip themselves when `capabilities.accounts` is not true.
import { expect, it } from "vitest";
import type { AccountCreditsPolicy, StoredAccount } from "../../model/account.js";
import type { CreditsPolicy } from "../../model/types.js";
import { CREDIT_KEY_RETENTION_MS, type CreditChange } from "../../store/kit/account-credits.js";
import type { CreditKey, CreditResult, MeterRequest } from "../../store/types.js";
import { makeAuditEntry, randomId } from "../fixtures.js";
import { callsAcross, expectCode, HOUR, type SuiteContext, T } from "../suite.js";

const pool = (limit: number, over: Partial<AccountCreditsPolicy> = {}): AccountCreditsPolicy => ({
  limit,
  refill: null,
  reset: null,
  overage: 0,
  ...over,
});

function makeAccount(owner: string, over: Partial<StoredAccount> = {}): StoredAccount {
  return {
    owner,
    policy: { ceiling: null, credits: null, rateLimit: null },
    scheduled: [],
    createdAt: T,
    updatedAt: T,
    revision: 1,
    ...over,
  };
}

/** Registers the "accounts" tests; `ctx.store` is the store of the running test. */
export function accountsGroup(ctx: SuiteContext): void {
  const on = () => ctx.store.capabilities.accounts === true;
  const charge = (tokenId: string, owner: string, cost: number, credits: AccountCreditsPolicy | null, extra: Partial<MeterRequest> = {}) =>
    ctx.store.meter({ tokenId, cost, rateLimit: null, credits: null, account: { owner, rateLimit: null, credits }, ...extra }, T);

  it("without the capability, every account call is STORE_UNSUPPORTED and nothing is metered", async (test) => {
    if (on()) return test.skip();
    await expectCode(ctx.store.getAccount("acct_1"), "STORE_UNSUPPORTED");
    await expectCode(charge(randomId("tok"), "acct_1", 1, pool(1)), "STORE_UNSUPPORTED");
  });

  it("putAccount is a compare-and-set from revision 0, with its audit entry; getAccount returns copies; nothing given is kept", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    expect(await ctx.store.getAccount(owner)).toBeNull();
    const a = makeAccount(owner, { policy: { ceiling: ["core:read"], credits: pool(10), rateLimit: null } });
    const audit = makeAuditEntry({ owner, tokenId: "*", action: "account", changes: ["ceiling"] });
    const auditCopy = structuredClone(audit);
    const saved = await ctx.store.putAccount(a, 0, audit);
    expect(saved.revision).toBe(1);
    const got = await ctx.store.getAccount(owner);
    expect(got).toEqual(saved);
    got!.policy.ceiling!.push("premium:read");
    got!.policy.credits!.limit = 1;
    // Neither what putAccount returned nor what it was given is linked to what it stored.
    const stored = structuredClone(saved);
    saved.policy.ceiling!.push("saved:write");
    a.policy.ceiling!.push("given:write");
    a.policy.credits!.limit = 2;
    audit.changes.push("mutated");
    expect(await ctx.store.getAccount(owner)).toEqual(stored);
    expect((await ctx.store.listAudit({ owner }, { limit: 10 })).items).toEqual([auditCopy]);
    await expectCode(ctx.store.putAccount({ ...a, updatedAt: T + 1 }, 0, makeAuditEntry({ owner })), "REVISION_CONFLICT");
    expect((await ctx.store.listAudit({ owner }, { limit: 10 })).items).toHaveLength(1);
    const second = await ctx.store.putAccount({ ...a, createdAt: T + 5, updatedAt: T + 2 }, 1);
    expect(second).toMatchObject({ revision: 2, createdAt: T, updatedAt: T + 2 });
  });

  it("keeps a suspension (now and scheduled) and its audit entry's reason as given", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const suspended = { ceiling: null, credits: null, rateLimit: null, suspended: { reason: "invoice 2026-11 unpaid" } };
    const a = makeAccount(owner, {
      policy: suspended,
      scheduled: [{ effectiveAt: T + HOUR, policy: { ...suspended, suspended: null } }],
    });
    const audit = makeAuditEntry({ owner, tokenId: "*", action: "account", changes: ["suspended"], reason: "invoice 2026-11 unpaid" });
    const saved = await ctx.store.putAccount(a, 0, structuredClone(audit));
    expect(await ctx.store.getAccount(owner)).toEqual(saved);
    expect(saved.policy.suspended).toEqual({ reason: "invoice 2026-11 unpaid" });
    expect(saved.scheduled[0]!.policy.suspended).toBeNull();
    expect((await ctx.store.listAudit({ owner }, { limit: 10 })).items).toEqual([audit]);
  });

  it("keeps when a suspension began (`since`, now and scheduled), and a suspension without one as it was", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const policy = { ceiling: null, credits: null, rateLimit: null };
    const a = makeAccount(owner, {
      policy: { ...policy, suspended: { reason: "invoice 2026-11 unpaid", since: T - HOUR } },
      scheduled: [{ effectiveAt: T + HOUR, policy: { ...policy, suspended: { reason: "final notice", since: T - HOUR } } }],
    });
    const saved = await ctx.store.putAccount(a, 0);
    expect(saved.policy.suspended).toEqual({ reason: "invoice 2026-11 unpaid", since: T - HOUR });
    expect(await ctx.store.getAccount(owner)).toEqual(saved);
    expect(saved.scheduled[0]!.policy.suspended).toEqual({ reason: "final notice", since: T - HOUR });
    // Written before stores kept `since` (or by a store that did not): no `since` is made up.
    const old = { ...saved, policy: { ...policy, suspended: { reason: "older" } }, scheduled: [] };
    await ctx.store.putAccount(old, 1);
    const got = await ctx.store.getAccount(owner);
    expect(got?.policy.suspended).toEqual({ reason: "older" });
    expect(got?.policy.suspended && "since" in got.policy.suspended).toBe(false);
  });

  it("charges the token and the account together: both or neither", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const [a, b] = [randomId("tok"), randomId("tok")];
    const tokenCredits = { limit: 3, refill: null };
    const r1 = await charge(a, owner, 2, pool(5), { credits: tokenCredits });
    expect(r1).toMatchObject({ granted: true, credits: { remaining: 1 }, account: { credits: { remaining: 3 } } });
    // The token is short: the account is not charged.
    const r2 = await charge(a, owner, 2, pool(5), { credits: tokenCredits });
    expect(r2).toMatchObject({ granted: false, deniedBy: "credits" });
    // Another token spends the pool: 3 left, so 3 passes and the pool is empty.
    expect((await charge(b, owner, 3, pool(5))).granted).toBe(true);
    // The pool is short: the token is not charged.
    const r3 = await charge(a, owner, 1, pool(5), { credits: tokenCredits });
    expect(r3).toMatchObject({ granted: false, deniedBy: "accountCredits", account: { credits: { granted: false, remaining: 0 } } });
    expect((await ctx.store.meter({ tokenId: a, cost: 0, rateLimit: null, credits: tokenCredits }, T)).credits?.remaining).toBe(1);
  });

  it("an account-wide rate limit counts every token of the account; a denial by it counts no token hit", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const acct = { owner, rateLimit: { limit: 2, windowMs: 1000 }, credits: null };
    const hit = (tokenId: string) =>
      ctx.store.meter({ tokenId, cost: 0, rateLimit: { limit: 5, windowMs: 1000 }, credits: null, account: acct }, T);
    const [a, b, c] = [randomId("tok"), randomId("tok"), randomId("tok")];
    expect((await hit(a)).granted).toBe(true);
    expect((await hit(b)).granted).toBe(true);
    const denied = await hit(c);
    expect(denied).toMatchObject({ granted: false, deniedBy: "accountRateLimit", rateLimit: { remaining: 5 } });
    expect(denied.account?.rateLimit?.retryAfterMs).toBeGreaterThan(0);
  });

  it("overage is room beyond the limit; a monthly pool is full again at 00:00 UTC on the 1st", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const p = pool(10, { reset: "month", overage: 2 });
    const at = (t: number, cost: number) =>
      ctx.store.meter({ tokenId: randomId("tok"), cost, rateLimit: null, credits: null, account: { owner, rateLimit: null, credits: p } }, t);
    const jan = Date.UTC(2025, 0, 20);
    expect((await at(jan, 12)).granted).toBe(true);
    const short = await at(jan + 1, 1);
    expect(short).toMatchObject({ granted: false, deniedBy: "accountCredits" });
    expect(short.account?.credits?.nextRefillAt).toBe(Date.UTC(2025, 1, 1));
    expect((await at(Date.UTC(2025, 1, 1) - 1, 1)).granted).toBe(false);
    const feb = await at(Date.UTC(2025, 1, 1), 1);
    expect(feb).toMatchObject({ granted: true, account: { credits: { remaining: 11 } } });
  });

  it("adjustCredits reads, tops up (kept across a refill) and resets, with its audit entry", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const p = pool(10, { refill: { amount: 10, intervalMs: 60_000 } });
    const key = { owner };
    await charge(randomId("tok"), owner, 8, p);
    expect((await ctx.store.adjustCredits({ key, policy: p, change: { op: "read" } }, T)).remaining).toBe(2);
    const audit = makeAuditEntry({ owner, tokenId: "*", action: "credits", changes: ["topUp"] });
    expect((await ctx.store.adjustCredits({ key, policy: p, change: { op: "topUp", amount: 100 } }, T, audit)).remaining).toBe(102);
    expect((await ctx.store.listAudit({ owner }, { limit: 10 })).items.map((e) => e.id)).toEqual([audit.id]);
    // A refill brings the plan's credits back up to the limit; it never takes a top-up away.
    expect((await ctx.store.adjustCredits({ key, policy: p, change: { op: "read" } }, T + 120_000)).remaining).toBe(110);
    // At T, the plan's 2 left are spent first, then 98 of the 100 bought.
    await charge(randomId("tok"), owner, 100, p, {});
    expect((await ctx.store.adjustCredits({ key, policy: p, change: { op: "read" } }, T + 240_000)).remaining).toBe(12);
    // A reset is a full balance: what was bought and not spent is dropped.
    expect((await ctx.store.adjustCredits({ key, policy: p, change: { op: "reset" } }, T + 240_000)).remaining).toBe(10);
    // A token's balance is the one meter uses.
    const tokenId = randomId("tok");
    const tp = { limit: 5, refill: null };
    await ctx.store.meter({ tokenId, cost: 5, rateLimit: null, credits: tp }, T);
    await ctx.store.adjustCredits({ key: { tokenId }, policy: pool(5), change: { op: "topUp", amount: 3 } }, T);
    expect((await ctx.store.meter({ tokenId, cost: 3, rateLimit: null, credits: tp }, T)).granted).toBe(true);
    expect((await ctx.store.meter({ tokenId, cost: 1, rateLimit: null, credits: tp }, T)).granted).toBe(false);
  });

  it("spend, then top up, then reset or refill: the top-up is kept until spent, and the plan's credits spent before it come back", async (test) => {
    if (!on()) return test.skip();
    const nov20 = Date.UTC(2026, 10, 20, 12);
    const dec1 = Date.UTC(2026, 11, 1, 0, 0, 1);
    const spend = (tokenId: string, cost: number, credits: CreditsPolicy, at: number) =>
      ctx.store.meter({ tokenId, cost, rateLimit: null, credits }, at);
    const adjust = (key: { tokenId: string } | { owner: string }, policy: AccountCreditsPolicy, change: { op: "read" } | { op: "topUp"; amount: number }, at: number) =>
      ctx.store.adjustCredits({ key, policy, change }, at);
    const read = async (key: { tokenId: string } | { owner: string }, policy: AccountCreditsPolicy, at: number) =>
      (await adjust(key, policy, { op: "read" }, at)).remaining;
    const topUp = async (key: { tokenId: string } | { owner: string }, policy: AccountCreditsPolicy, amount: number, at: number) =>
      (await adjust(key, policy, { op: "topUp", amount }, at)).remaining;

    // A token's monthly pool, exhausted, then topped up by 5: 15 in December, and the plan's are spent first.
    const monthly = { limit: 10, refill: null, reset: "month" as const };
    const a = randomId("tok");
    expect((await spend(a, 10, monthly, nov20)).granted).toBe(true);
    expect((await spend(a, 1, monthly, nov20)).granted).toBe(false);
    expect(await topUp({ tokenId: a }, pool(10, { reset: "month" }), 5, nov20)).toBe(5);
    expect(await read({ tokenId: a }, pool(10, { reset: "month" }), dec1)).toBe(15);
    expect((await spend(a, 12, monthly, dec1)).credits).toMatchObject({ granted: true, remaining: 3 });
    expect((await spend(a, 0, monthly, Date.UTC(2027, 0, 1))).credits?.remaining).toBe(13);

    // A token's hourly refill, 4 spent then a top-up of 5 (11): an hour later the plan's 10 and the 5.
    const hourly = { limit: 10, refill: { amount: 10, intervalMs: HOUR } };
    const b = randomId("tok");
    await spend(b, 4, hourly, T);
    expect(await topUp({ tokenId: b }, pool(10, { refill: hourly.refill }), 5, T)).toBe(11);
    expect((await spend(b, 0, hourly, T + HOUR)).credits?.remaining).toBe(15);

    // A flat token pool (no refill, no reset: one statement in SQL stores) spends the plan's first,
    // then the bought ones; a calendar reset added later gives back the plan's only.
    const flat = { limit: 10, refill: null };
    const c = randomId("tok");
    expect((await spend(c, 10, flat, nov20)).granted).toBe(true);
    expect(await topUp({ tokenId: c }, pool(10), 5, nov20)).toBe(5);
    expect((await spend(c, 3, flat, nov20)).credits).toMatchObject({ granted: true, remaining: 2 });
    expect((await spend(c, 3, flat, nov20)).credits).toMatchObject({ granted: false, remaining: 2 });
    expect((await spend(c, 0, monthly, dec1)).credits?.remaining).toBe(12);

    // An account's pool of 1000 a month, 900 spent, 500 bought: 1500 on December 1.
    const owner = randomId("acct");
    const p = pool(1000, { reset: "month" });
    const charged = await ctx.store.meter(
      { tokenId: randomId("tok"), cost: 900, rateLimit: null, credits: null, account: { owner, rateLimit: null, credits: p } },
      nov20,
    );
    expect(charged.granted).toBe(true);
    expect(await topUp({ owner }, p, 500, nov20)).toBe(600);
    expect(await read({ owner }, p, dec1)).toBe(1500);

    // With overage: the plan's credits, then the bought ones, then the overage.
    const over = randomId("acct");
    const po = pool(10, { reset: "month", overage: 5 });
    const at = (t: number, cost: number) =>
      ctx.store.meter({ tokenId: randomId("tok"), cost, rateLimit: null, credits: null, account: { owner: over, rateLimit: null, credits: po } }, t);
    expect((await at(nov20, 10)).account?.credits?.remaining).toBe(5);
    expect(await topUp({ owner: over }, po, 5, nov20)).toBe(10);
    expect((await at(nov20, 5)).account?.credits?.remaining).toBe(5);
    expect(await read({ owner: over }, po, dec1)).toBe(15);
    expect((await at(nov20 + 1, 6)).granted).toBe(false);
    expect((await at(nov20 + 1, 5)).account?.credits?.remaining).toBe(0);
  });

  it("a read stores nothing: after a policy change, a balance that was read answers as one that was not", async (test) => {
    if (!on()) return test.skip();
    const refill = { amount: 10, intervalMs: 60_000 };
    const token = async (tokenId: string, cost: number, credits: CreditsPolicy, at: number) =>
      (await ctx.store.meter({ tokenId, cost, rateLimit: null, credits }, at)).credits?.remaining;
    const account = async (owner: string, cost: number, credits: AccountCreditsPolicy, at: number) =>
      (await ctx.store.meter({ tokenId: randomId("tok"), cost, rateLimit: null, credits: null, account: { owner, rateLimit: null, credits } }, at))
        .account?.credits?.remaining;
    const [a, b, oa, ob] = [randomId("tok"), randomId("tok"), randomId("acct"), randomId("acct")];
    for (const t of [a, b]) expect(await token(t, 10, { limit: 10, refill }, T)).toBe(0);
    for (const o of [oa, ob]) expect(await account(o, 10, pool(10, { refill }), T)).toBe(0);
    // A refill is due: a read counts it.
    for (const key of [{ tokenId: a }, { owner: oa }]) {
      expect((await ctx.store.adjustCredits({ key, policy: pool(10, { refill }), change: { op: "read" } }, T + 60_000)).remaining).toBe(10);
    }
    // The refill is dropped from the policy: what was read and what was not answer alike, as spent.
    const later = T + 60_001;
    for (const t of [a, b]) expect(await token(t, 0, { limit: 10, refill: null }, later)).toBe(0);
    for (const o of [oa, ob]) expect(await account(o, 0, pool(10), later)).toBe(0);
  });

  it("a token's top-up is spent like credits under its limit: a cost above the limit is granted from it", async (test) => {
    if (!on()) return test.skip();
    const spend = (tokenId: string, cost: number, limit: number) =>
      ctx.store.meter({ tokenId, cost, rateLimit: null, credits: { limit, refill: null } }, T);
    const topUp = (tokenId: string, limit: number, amount: number) =>
      ctx.store.adjustCredits({ key: { tokenId }, policy: pool(limit), change: { op: "topUp", amount } }, T);
    // Prepaid: a limit of 0, only purchased credits.
    const prepaid = randomId("tok");
    expect((await topUp(prepaid, 0, 100)).remaining).toBe(100);
    expect((await spend(prepaid, 1, 0)).credits).toEqual({ granted: true, remaining: 99, nextRefillAt: null });
    expect((await spend(prepaid, 99, 0)).credits).toMatchObject({ granted: true, remaining: 0 });
    expect((await spend(prepaid, 1, 0)).credits).toMatchObject({ granted: false, remaining: 0 });
    // A limit of 10 topped up by 500: one request of 50 fits the balance of 510.
    const topped = randomId("tok");
    await spend(topped, 2, 10);
    expect((await topUp(topped, 10, 500)).remaining).toBe(508);
    expect((await spend(topped, 50, 10)).credits).toMatchObject({ granted: true, remaining: 458 });
    expect((await spend(topped, 459, 10)).credits).toMatchObject({ granted: false, remaining: 458 });
    expect((await spend(topped, 458, 10)).credits).toMatchObject({ granted: true, remaining: 0 });
  });

  it("refuses bad amounts with a coded error naming the field, and changes nothing", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const key = { owner };
    await charge(randomId("tok"), owner, 4, pool(10));
    for (const amount of [-1, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1e300]) {
      const err = await ctx.store.adjustCredits({ key, policy: pool(10), change: { op: "topUp", amount } }, T).catch((e) => e);
      expect(err).toMatchObject({ code: "INVALID_INPUT", field: "amount" });
    }
    for (const limit of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 1e300]) {
      await expectCode(charge(randomId("tok"), owner, 1, pool(limit)), "INVALID_INPUT");
    }
    // A top-up that would leave a balance above the maximum is refused inside the store.
    const err = await ctx.store
      .adjustCredits({ key, policy: pool(10), change: { op: "topUp", amount: 1e15 } }, T)
      .catch((e) => e);
    expect(err).toMatchObject({ code: "INVALID_INPUT", field: "amount" });
    expect((await ctx.store.adjustCredits({ key, policy: pool(10), change: { op: "read" } }, T)).remaining).toBe(6);
  });

  it("a top-up or reset with an idempotency key is applied once: the same operation again reads the balance, with no audit entry; the key with another balance, operation or amount is INVALID_INPUT", async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const tokenId = randomId("tok");
    const p = pool(10);
    const entry = (changes: string[]) => makeAuditEntry({ owner, tokenId: "*", action: "credits", changes });
    const adjust = (key: CreditKey, change: CreditChange, idempotencyKey: string, at = T, audit = entry([change.op])) =>
      ctx.store.adjustCredits({ key, policy: p, change, idempotencyKey }, at, audit);
    // What a call answers: the balance, and whether it was a repeat (`replayed: true`, absent otherwise).
    const answer = async (call: Promise<CreditResult>) => {
      const r = await call;
      return [r.remaining, r.replayed === true ? "replayed" : r.replayed === undefined ? "applied" : r.replayed];
    };
    const audited = async () => (await ctx.store.listAudit({ owner }, { limit: 100 })).items.length;
    const paid = randomId("evt");
    await charge(randomId("tok"), owner, 4, p);
    expect(await answer(adjust({ owner }, { op: "topUp", amount: 500 }, paid))).toEqual([506, "applied"]);
    // Delivered again (or retried after a lost reply): the balance now, nothing added, nothing audited.
    await charge(randomId("tok"), owner, 1, p);
    expect(await answer(adjust({ owner }, { op: "topUp", amount: 500 }, paid, T + 1000))).toEqual([505, "replayed"]);
    expect(await audited()).toBe(1);
    // The default pool named or not is one balance, so one operation.
    expect(await answer(adjust({ owner, pool: "default" }, { op: "topUp", amount: 500 }, paid))).toEqual([505, "replayed"]);
    // The key with another amount, operation, balance or pool: refused, and nothing is written.
    for (const [key, change] of [
      [{ owner }, { op: "topUp", amount: 501 }],
      [{ owner }, { op: "reset" }],
      [{ owner: randomId("acct") }, { op: "topUp", amount: 500 }],
      [{ owner, pool: "premium" }, { op: "topUp", amount: 500 }],
      [{ tokenId }, { op: "topUp", amount: 500 }],
    ] as [CreditKey, CreditChange][]) {
      const err = await adjust(key, change, paid).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "INVALID_INPUT", field: "idempotencyKey" });
    }
    expect(await answer(ctx.store.adjustCredits({ key: { tokenId }, policy: p, change: { op: "read" } }, T))).toEqual([10, "applied"]);
    expect(await answer(ctx.store.adjustCredits({ key: { owner }, policy: p, change: { op: "read" } }, T))).toEqual([505, "applied"]);
    expect(await audited()).toBe(1);
    // Keys are compared as given: one differing only in case (another payment event) is another key.
    const cased = paid.toUpperCase();
    expect(await answer(adjust({ owner }, { op: "topUp", amount: 1 }, cased))).toEqual([506, "applied"]);
    expect(await answer(adjust({ owner }, { op: "topUp", amount: 1 }, cased))).toEqual([506, "replayed"]);
    await charge(randomId("tok"), owner, 1, p);
    expect(await audited()).toBe(2);
    // A reset, keyed: once.
    const reset = randomId("req");
    expect(await answer(adjust({ owner }, { op: "reset" }, reset))).toEqual([10, "applied"]);
    await charge(randomId("tok"), owner, 3, p);
    expect(await answer(adjust({ owner }, { op: "reset" }, reset))).toEqual([7, "replayed"]);
    expect(await audited()).toBe(3);
    // A rejected change keeps no key: the same key then applies a valid one.
    const refused = randomId("evt");
    await expectCode(adjust({ tokenId }, { op: "topUp", amount: 1e15 }, refused), "INVALID_INPUT");
    expect(await answer(adjust({ tokenId }, { op: "topUp", amount: 5 }, refused, T, makeAuditEntry({ owner, tokenId, action: "credits", changes: ["topUp"] })))).toEqual([15, "applied"]);
    // A key is kept CREDIT_KEY_RETENTION_MS from its first use; after, it is new.
    expect(await audited()).toBe(4);
    expect(await answer(adjust({ owner }, { op: "topUp", amount: 500 }, paid, T + CREDIT_KEY_RETENTION_MS - 1))).toEqual([7, "replayed"]);
    expect(await audited()).toBe(4);
    expect(await answer(adjust({ owner }, { op: "topUp", amount: 7 }, paid, T + CREDIT_KEY_RETENTION_MS))).toEqual([14, "applied"]);
    expect(await answer(adjust({ owner }, { op: "topUp", amount: 7 }, paid, T + CREDIT_KEY_RETENTION_MS + 1))).toEqual([14, "replayed"]);
    expect(await audited()).toBe(5);
    // Checked before the store: a key of 1 to 255 characters, with a top-up or a reset only.
    // U+0000 and lone surrogates too: SQLite keeps "evt\uD800" and "evt\uDBFF" as one key, so the second top-up was not applied.
    for (const idempotencyKey of ["", "k".repeat(256), 42 as unknown as string, "evt\u0000a", "evt\uD800", "evt\uDBFF"]) {
      const err = await adjust({ owner }, { op: "topUp", amount: 1 }, idempotencyKey).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "INVALID_INPUT", field: "idempotencyKey" });
    }
    await expectCode(ctx.store.adjustCredits({ key: { owner }, policy: p, change: { op: "read" }, idempotencyKey: randomId("k") }, T), "INVALID_INPUT");
    expect(await answer(adjust({ owner }, { op: "topUp", amount: 1 }, "k".repeat(255), T + CREDIT_KEY_RETENTION_MS))).toEqual([15, "applied"]);
  });

  it(`${ctx.concurrency} concurrent top-ups with one idempotency key apply once; with one key on several balances, one of them is topped up`, async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const p = pool(10);
    const paid = randomId("evt");
    const topUp = (key: CreditKey, idempotencyKey: string, store = ctx.store) =>
      store.adjustCredits({ key, policy: p, change: { op: "topUp", amount: 100 }, idempotencyKey }, T, makeAuditEntry({ owner, tokenId: "*", action: "credits", changes: ["topUp"] }));
    const same = await Promise.all(await callsAcross(ctx, ctx.concurrency, (_, store) => topUp({ owner }, paid, store)));
    expect(same.every((r) => r.remaining === 110)).toBe(true);
    // The one that applied it is told apart from the repeats.
    expect(same.filter((r) => r.replayed === undefined)).toHaveLength(1);
    expect(same.filter((r) => r.replayed === true)).toHaveLength(ctx.concurrency - 1);
    expect((await ctx.store.listAudit({ owner }, { limit: 100 })).items).toHaveLength(1);
    const owners = Array.from({ length: 8 }, () => randomId("acct"));
    const shared = randomId("evt");
    const outcomes = await Promise.allSettled(owners.map((o) => topUp({ owner: o }, shared)));
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    for (const o of outcomes) if (o.status === "rejected") expect(o.reason).toMatchObject({ code: "INVALID_INPUT", field: "idempotencyKey" });
    const balances = await Promise.all(owners.map((o) => ctx.store.adjustCredits({ key: { owner: o }, policy: p, change: { op: "read" } }, T)));
    expect(balances.map((b) => b.remaining).sort((a, b) => b - a)).toEqual([110, 10, 10, 10, 10, 10, 10, 10]);
  });

  it(`${ctx.concurrency} concurrent meter calls across 10 tokens of one account on a pool of ${Math.floor(ctx.concurrency / 2)} grant exactly the pool`, async (test) => {
    if (!on()) return test.skip();
    const owner = randomId("acct");
    const limit = Math.floor(ctx.concurrency / 2);
    const tokens = Array.from({ length: 10 }, () => randomId("tok"));
    const tokenCredits = { limit, refill: null };
    const rs = await Promise.all(
      Array.from({ length: ctx.concurrency }, (_, i) => charge(tokens[i % 10]!, owner, 1, pool(limit), { credits: tokenCredits })),
    );
    expect(rs.filter((r) => r.granted)).toHaveLength(limit);
    // What the tokens were charged adds up to what the pool lost.
    let spent = 0;
    for (const t of tokens) {
      spent += limit - (await ctx.store.meter({ tokenId: t, cost: 0, rateLimit: null, credits: tokenCredits }, T)).credits!.remaining;
    }
    expect(spent).toBe(limit);
  });
}
