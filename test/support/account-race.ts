// The account race of issue 10, run on every store: 10 000 concurrent checks
// across 10 tokens of one account on a pool of 1 000 grant exactly 1 000,
// and the tokens' balances count exactly those grants.
import type { Keyward } from "keyward";
import { expect } from "vitest";

export async function expectAccountRace(kw: Keyward, owner = "acct_1"): Promise<void> {
  await kw.accounts.set(owner, { credits: { limit: 1000 } });
  const tokens = await Promise.all(Array.from({ length: 10 }, () => kw.tokens.create({ owner, kind: "secret", credits: { limit: 400 } })));
  const ds = await Promise.all(Array.from({ length: 10_000 }, (_, i) => kw.check({ token: tokens[i % 10]!.token })));
  expect(ds.filter((d) => d.ok)).toHaveLength(1000);
  expect(new Set(ds.filter((d) => !d.ok).map((d) => d.code))).toEqual(new Set(["CREDITS_EXHAUSTED"]));
  expect(await kw.credits.get({ owner })).toMatchObject({ limit: 1000, remaining: 0 });
  let spent = 0;
  for (const t of tokens) spent += 400 - (await kw.credits.get({ tokenId: t.record.id })).remaining;
  expect(spent).toBe(1000);
}
