// Per-account lifetimes and rotation, and unused tokens, on the store `make`
// opens: run on MemoryStore and SQLite (test/manager) and PostgreSQL (test/postgres).
import { Keyward, type LifecycleEvent, type TokenStore } from "keyward";
import { describe, expect, it } from "vitest";

export const DAY = 86_400_000;
export const T0 = 1_800_000_000_000;

/** The events of a scan, in order. */
export async function collect(it: AsyncIterable<LifecycleEvent>): Promise<LifecycleEvent[]> {
  const out: LifecycleEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Per-account rules and unused tokens on the store `make` opens (a fresh one per test). */
export function describeAccountLifecycle(name: string, make: () => TokenStore | Promise<TokenStore>): void {
  describe(`per-account rules and unused tokens (${name})`, () => {
    it("an account tightens the application's rules for its tokens only", async () => {
      const clock = { now: T0 };
      const kw = new Keyward({
        store: await make(),
        prefix: "acme",
        now: () => clock.now,
        tokens: { defaultLifetimeMs: 60 * DAY, maxLifetimeMs: 90 * DAY, rotationPeriodMs: 60 * DAY },
      });
      await kw.accounts.set("strict", { tokens: { maxLifetimeMs: 30 * DAY, rotationPeriodMs: 10 * DAY } }, { effectiveAt: T0 });
      // The default (60 days) is cut to the account's maximum; another owner keeps the application's.
      const strict = await kw.tokens.create({ owner: "strict", kind: "secret" });
      expect(strict.record.policy.expiresAt).toBe(T0 + 30 * DAY);
      expect((await kw.tokens.create({ owner: "easy", kind: "secret" })).record.policy.expiresAt).toBe(T0 + 60 * DAY);
      await expect(kw.tokens.create({ owner: "strict", kind: "secret", expiresAt: T0 + 31 * DAY })).rejects.toMatchObject({
        code: "LIFETIME_EXCEEDED",
        limit: "account.tokens.maxLifetimeMs",
        maxExpiresAt: T0 + 30 * DAY,
      });
      await expect(kw.tokens.update(strict.record.id, { expiresAt: T0 + 40 * DAY })).rejects.toMatchObject({ code: "LIFETIME_EXCEEDED" });
      expect((await kw.tokens.create({ owner: "easy", kind: "secret", expiresAt: T0 + 80 * DAY })).record.policy.expiresAt).toBe(T0 + 80 * DAY);
      // Rotation: due after the account's 10 days, not the application's 60.
      clock.now = T0 + 11 * DAY;
      expect((await kw.tokens.list("strict", { dueForRotation: true })).items.map((t) => t.id)).toEqual([strict.record.id]);
      expect((await kw.tokens.list("easy", { dueForRotation: true })).items).toEqual([]);
      expect((await collect(kw.tokens.scan("strict"))).map((e) => e.type)).toEqual(["rotation-due"]);
    });

    it("a maximum lifetime set after tokens were written: the scan reports those it would refuse now (lifetime-exceeded, with the latest expiry allowed), the account's tighter one too", async () => {
      const store = await make();
      const clock = { now: T0 };
      const before = new Keyward({ store, prefix: "acme", now: () => clock.now });
      const never = await before.tokens.create({ owner: "o", kind: "secret" });
      const far = await before.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 200 * DAY });
      const fine = await before.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 60 * DAY });
      const strict = await before.tokens.create({ owner: "strict", kind: "secret", expiresAt: T0 + 60 * DAY });
      await before.close();
      clock.now = T0 + DAY;
      const kw = new Keyward({ store, prefix: "acme", now: () => clock.now, tokens: { maxLifetimeMs: 90 * DAY } });
      await kw.accounts.set("strict", { tokens: { maxLifetimeMs: 30 * DAY } }, { effectiveAt: clock.now });
      const exceeded = async (owner: string) =>
        (await collect(kw.tokens.scan(owner))).filter((e) => e.type === "lifetime-exceeded").sort((a, b) => a.tokenId.localeCompare(b.tokenId));
      const at = clock.now + 90 * DAY;
      expect(await exceeded("o")).toEqual(
        [never, far].map((t) => ({ type: "lifetime-exceeded", tokenId: t.record.id, owner: "o", at })).sort((a, b) => a.tokenId.localeCompare(b.tokenId)),
      );
      expect(await exceeded("strict")).toEqual([{ type: "lifetime-exceeded", tokenId: strict.record.id, owner: "strict", at: clock.now + 30 * DAY }]);
      // Renewed to the latest expiry allowed: no longer reported.
      await kw.tokens.update(never.record.id, { expiresAt: at });
      await kw.tokens.update(far.record.id, { expiresAt: at });
      expect(await exceeded("o")).toEqual([]);
      expect(fine.record.policy.expiresAt).toBe(T0 + 60 * DAY);
      await kw.close();
    });

    it("a scheduled change of the expiry counts: the scan reports what servers will do (the change named by effectiveAt), and list's expiringBefore agrees", async () => {
      const store = await make();
      const clock = { now: T0 };
      const before = new Keyward({ store, prefix: "acme", now: () => clock.now });
      const token = async (expiresAt: number | null, scheduled: number | null, effectiveAt: number) => {
        const { record } = await before.tokens.create({ owner: "o", kind: "secret", expiresAt });
        await before.tokens.update(record.id, { expiresAt: scheduled }, { effectiveAt });
        return record.id;
      };
      // Renewed before it expires: not expiring soon.
      const renewed = await token(T0 + 3 * DAY, T0 + 60 * DAY, T0 + DAY);
      // Shortened: expires in 5 days, by the change.
      const shortened = await token(T0 + 60 * DAY, T0 + 5 * DAY, T0 + DAY);
      // Its expiry removed: it will never expire, beyond the maximum.
      const unbounded = await token(T0 + 30 * DAY, null, T0 + DAY);
      // No expiry yet, one within the maximum scheduled: not beyond it.
      const bounded = await token(null, T0 + 30 * DAY, T0 + DAY);
      // Expires in 2 days, its expiry removed 3 days later: both reported.
      const lapsing = await token(T0 + 2 * DAY, null, T0 + 5 * DAY);
      await before.close();
      const kw = new Keyward({ store, prefix: "acme", now: () => clock.now, tokens: { maxLifetimeMs: 90 * DAY } });
      const scan = async () => {
        const events = await collect(kw.tokens.scan("o"));
        return new Map([renewed, shortened, unbounded, bounded, lapsing].map((id) => [id, events.filter((e) => e.tokenId === id).map(({ tokenId, owner, ...e }) => e)]));
      };
      const max = (now: number) => ({ type: "lifetime-exceeded", at: now + 90 * DAY });
      expect(await scan()).toEqual(
        new Map([
          [renewed, []],
          [shortened, [{ type: "expiring-soon", at: T0 + 5 * DAY, effectiveAt: T0 + DAY }]],
          [unbounded, [{ ...max(T0), effectiveAt: T0 + DAY }]],
          [bounded, []],
          [lapsing, [{ type: "expiring-soon", at: T0 + 2 * DAY }, { ...max(T0), effectiveAt: T0 + 5 * DAY }]],
        ]),
      );
      const expiring = async (before: number) => (await kw.tokens.list("o", { expiringBefore: before })).items.map((t) => t.id).sort();
      expect(await expiring(T0 + 7 * DAY)).toEqual([shortened, lapsing].sort());
      // Once the changes are in force, the same verdicts, from the policy in force.
      clock.now = T0 + DAY;
      expect(await scan()).toEqual(
        new Map([
          [renewed, []],
          [shortened, [{ type: "expiring-soon", at: T0 + 5 * DAY }]],
          [unbounded, [max(clock.now)]],
          [bounded, []],
          [lapsing, [{ type: "expiring-soon", at: T0 + 2 * DAY }, { ...max(clock.now), effectiveAt: T0 + 5 * DAY }]],
        ]),
      );
      expect(await expiring(T0 + 7 * DAY)).toEqual([shortened, lapsing].sort());
      await kw.close();
    });

    it("list filters unusedSince and the scan reports unused tokens, from the last uses written with usage", async () => {
      const clock = { now: T0 };
      const kw = new Keyward({ store: await make(), prefix: "acme", now: () => clock.now, tokens: { unusedAfterMs: 30 * DAY } });
      const used = await kw.tokens.create({ owner: "o", kind: "secret" });
      const idle = await kw.tokens.create({ owner: "o", kind: "secret" });
      const never = await kw.tokens.create({ owner: "o", kind: "secret" });
      await kw.check({ token: idle.token });
      clock.now = T0 + 20 * DAY;
      await kw.check({ token: used.token });
      await kw.check({ token: never.token, scope: "nope:read" }); // a denial is no use
      await kw.flush();
      clock.now = T0 + 40 * DAY;
      // Created at the same instant: listed by id.
      const ids = (p: { items: { id: string }[] }) => p.items.map((t) => t.id);
      const sorted = (...xs: string[]) => xs.sort();
      expect(ids(await kw.tokens.list("o", { unusedSince: T0 + 10 * DAY }))).toEqual(sorted(idle.record.id, never.record.id));
      expect(ids(await kw.tokens.list("o", { unusedSince: T0 + 30 * DAY }))).toEqual(sorted(used.record.id, idle.record.id, never.record.id));
      expect((await collect(kw.tokens.scan("o"))).map((e) => [e.type, e.tokenId, e.at])).toEqual(
        sorted(idle.record.id, never.record.id).map((id) => ["unused", id, T0]),
      );
      await expect(kw.tokens.list("o", { unusedSince: Number.NaN })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "unusedSince" });
      await kw.close();
    });
  });
}
