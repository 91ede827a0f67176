// Races on one account, run on every store: 10 000 checks, 2 500 at a time, across
// 10 tokens of one account on a pool of 1 000 grant exactly 1 000, and the
// tokens' balances count exactly those grants (issue 10); concurrent changes
// of the account all land.
import type { Keyward } from "keyward";
import { expect } from "vitest";

export async function expectAccountRace(kw: Keyward, owner = "acct_1"): Promise<void> {
  await kw.accounts.set(owner, { credits: { limit: 1000 } });
  const tokens = await Promise.all(Array.from({ length: 10 }, () => kw.tokens.create({ owner, kind: "secret", credits: { limit: 400 } })));
  // The first wave races past the pool's end. In waves, no check waits behind more than 2 500 others: a store call's
  // deadline counts from its check's start, and 10 000 at once took 57 s on PostgreSQL under two CPU hogs, near
  // the longest lookupTimeoutMs (60 s).
  const ds = [];
  for (let wave = 0; wave < 4; wave++) {
    ds.push(...(await Promise.all(Array.from({ length: 2_500 }, (_, i) => kw.check({ token: tokens[i % 10]!.token })))));
  }
  expect(ds.filter((d) => d.ok)).toHaveLength(1000);
  expect(new Set(ds.filter((d) => !d.ok).map((d) => d.code))).toEqual(new Set(["CREDITS_EXHAUSTED"]));
  expect(await kw.credits.get({ owner })).toMatchObject({ limit: 1000, remaining: 0 });
  let spent = 0;
  for (const t of tokens) spent += 400 - (await kw.credits.get({ tokenId: t.record.id })).remaining;
  expect(spent).toBe(1000);
}

/**
 * Concurrent `kw.accounts.set` calls on different fields of one account (and
 * a `members.set`), from every Keyward given (each on its own connection):
 * without `expectedRevision` all of them land; with it, of two calls made on
 * the same revision exactly one does (compare-and-set).
 */
export async function expectConcurrentAccountChanges(instances: readonly Keyward[], owner = "acct_changes"): Promise<void> {
  const kw = (i: number) => instances[i % instances.length]!;
  await kw(0).accounts.set(owner, { credits: { limit: 100 } });
  const results = await Promise.allSettled([
    kw(0).accounts.set(owner, { rateLimit: { limit: 10, windowMs: 1000 } }, { actor: "billing" }),
    kw(1).accounts.set(owner, { ceiling: ["core:*"] }, { actor: "support" }),
    kw(2).accounts.set(owner, { pools: { premium: { limit: 5 } } }),
    kw(3).accounts.set(owner, { credits: { limit: 200 } }),
    kw(4).accounts.members.set(owner, "user:1", "owner"),
  ]);
  expect(results.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as { code?: string }).code))).toEqual(["ok", "ok", "ok", "ok", "ok"]);
  const account = (await kw(0).accounts.get(owner))!;
  expect(account.policy).toMatchObject({
    rateLimit: { limit: 10, windowMs: 1000 },
    ceiling: ["core:*"],
    pools: { premium: { limit: 5 } },
    credits: { limit: 200 },
  });
  expect(account.members).toEqual({ "user:1": "owner" });
  expect(account.revision).toBe(6);
  const audit = (await kw(0).tokens.audit({ owner })).items.map((e) => e.changes.join(","));
  expect(audit.sort()).toEqual(["ceiling", "credits", "credits", "pools", "rateLimit", "user:1=owner"]);
  const cas = await Promise.allSettled([
    kw(0).accounts.set(owner, { credits: { limit: 1 } }, { expectedRevision: 6 }),
    kw(1).accounts.set(owner, { credits: { limit: 2 } }, { expectedRevision: 6 }),
  ]);
  expect(cas.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  expect(cas.filter((r) => r.status === "rejected").map((r) => (r.reason as { code?: string }).code)).toEqual(["REVISION_CONFLICT"]);
}
