// What clock skew between servers can and cannot do (SECURITY.md, "Clocks").
import { describe, expect, it } from "vitest";
import { Keyward, type KeywardOptions, MemoryStore } from "keyward";

const T0 = Date.UTC(2026, 0, 1);
const SKEW = 60_000;

/** Two servers on one store; the second's clock is `SKEW` behind the first's. */
function fleet(options: Partial<KeywardOptions> = {}, store = new MemoryStore()) {
  const clock = { now: T0 + SKEW };
  const fast = new Keyward({ store, prefix: "acme", now: () => clock.now, ...options });
  const slow = new Keyward({ store, prefix: "acme", now: () => clock.now - SKEW, ...options });
  return { fast, slow, clock };
}

describe("clock skew", () => {
  for (const changeFeed of [true, false]) {
    it(`a revocation is final on a server whose clock is behind (change feed: ${changeFeed})`, async () => {
      const { fast, slow, clock } = fleet({}, new MemoryStore({ changeFeed }));
      const { token, record } = await fast.tokens.create({ owner: "o", kind: "secret" });
      expect((await slow.check({ token })).ok).toBe(true); // cached on the slow server
      await fast.tokens.revoke(record.id);
      // With a feed the slow server drops its entry at once; without, at the bound.
      clock.now += changeFeed ? 0 : 10_000;
      expect((await slow.check({ token })).code).toBe("TOKEN_REVOKED");
      clock.now += 10_000;
      expect((await slow.check({ token })).code).toBe("TOKEN_REVOKED");
    });
  }

  it("a wall clock stepped back does not keep a revoked token in the cache past the bound", async () => {
    const store = new MemoryStore({ changeFeed: false });
    const clock = { now: T0 };
    const admin = new Keyward({ store, prefix: "acme", now: () => clock.now });
    const server = new Keyward({ store, prefix: "acme", now: () => clock.now, revocationBoundMs: 100 });
    const { token, record } = await admin.tokens.create({ owner: "o", kind: "secret" });
    expect((await server.check({ token })).ok).toBe(true); // cached
    clock.now -= 3_600_000; // NTP steps the clock back an hour
    await admin.tokens.revoke(record.id);
    await new Promise((r) => setTimeout(r, 150)); // the bound passes on the monotonic clock
    expect((await server.check({ token })).code).toBe("TOKEN_REVOKED");
  });

  it("a stopped clock does not keep a revoked token in the cache past the bound (the monotonic clock is read again)", async () => {
    const store = new MemoryStore({ changeFeed: false });
    // A clock that never moves: a frozen test clock, a stuck or coarse time source.
    const admin = new Keyward({ store, prefix: "acme", now: () => T0 });
    const server = new Keyward({ store, prefix: "acme", now: () => T0, revocationBoundMs: 100 });
    const { token, record } = await admin.tokens.create({ owner: "o", kind: "secret" });
    expect((await server.check({ token })).ok).toBe(true); // cached
    await admin.tokens.revoke(record.id);
    await new Promise((r) => setTimeout(r, 150)); // the bound passes on the monotonic clock
    expect((await server.check({ token })).code).toBe("TOKEN_REVOKED");
  });

  it("an expiry set to the writer's now does not come back to life on a slow clock", async () => {
    const { fast, slow, clock } = fleet();
    const { token, record } = await fast.tokens.create({ owner: "o", kind: "secret" });
    await fast.tokens.update(record.id, { expiresAt: clock.now });
    expect((await fast.check({ token })).code).toBe("TOKEN_EXPIRED");
    expect((await slow.check({ token })).code).toBe("TOKEN_EXPIRED");
  });

  it("a slow server answers with the headers, and shows the token, of the revision it decided under", async () => {
    const { fast, slow, clock } = fleet();
    const { token, record } = await fast.tokens.create({ owner: "o", kind: "secret", rateLimit: { limit: 100, windowMs: 60_000 } });
    // A revision that drops the rate limit, due a moment after the writer's now; the writer's
    // next write (one that keeps the schedule as it is), after the cutover, makes it past for
    // every server, slow clocks included.
    await fast.tokens.update(record.id, { rateLimit: null }, { effectiveAt: clock.now + 1 });
    clock.now += 2;
    await fast.tokens.disable(record.id);
    await fast.tokens.enable(record.id);
    for (const kw of [fast, slow]) {
      const d = await kw.check({ token });
      expect(d.ok).toBe(true);
      expect(d.headers).not.toHaveProperty("ratelimit-policy");
      // The token the decision shows is that revision too.
      expect(d.token?.policy.rateLimit).toBeNull();
    }
  });

  it("a regeneration without grace stops the old secret on a slow clock too", async () => {
    const { fast, slow } = fleet();
    const old = await fast.tokens.create({ owner: "o", kind: "secret" });
    expect((await slow.check({ token: old.token })).ok).toBe(true);
    const next = await fast.tokens.regenerate(old.record.id);
    expect((await slow.check({ token: old.token })).code).toBe("TOKEN_UNKNOWN");
    expect((await slow.check({ token: next.token })).ok).toBe(true);
  });

  it("the end of a grace period that the writer saw pass is past on a slow clock", async () => {
    const { fast, slow, clock } = fleet();
    const old = await fast.tokens.create({ owner: "o", kind: "secret" });
    const { record } = await fast.tokens.regenerate(old.record.id, { graceMs: 1_000 });
    clock.now += 2_000;
    // The writer touches the record after the grace ended (any admin write does).
    await fast.tokens.update(record.id, { name: "after grace" });
    expect((await fast.check({ token: old.token })).code).toBe("TOKEN_UNKNOWN");
    expect((await slow.check({ token: old.token })).code).toBe("TOKEN_UNKNOWN");
  });
});

describe("effective-dated changes", () => {
  it("without a change feed, an early cutover moves to the revocation bound so the fleet switches together", async () => {
    const store = new MemoryStore({ changeFeed: false });
    const clock = { now: T0 };
    const options = { store, prefix: "acme", now: () => clock.now, propagationDelayMs: 5_000, revocationBoundMs: 10_000 };
    const a = new Keyward(options);
    const b = new Keyward(options);
    const { token, record } = await a.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read", "premium:read"] });
    expect((await b.check({ token, scope: "premium:read" })).ok).toBe(true); // b caches the token
    const updated = await a.tokens.update(record.id, { scopes: ["core:read"] });
    expect(updated.scheduled.map((s) => s.effectiveAt)).toEqual([T0 + 10_000]);
    clock.now = T0 + 5_000;
    for (const kw of [a, b]) expect((await kw.check({ token, scope: "premium:read" })).ok).toBe(true);
    clock.now = T0 + 10_000;
    for (const kw of [a, b]) expect((await kw.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
  });

  it("keeps a cutover that is already past the bound, and immediate changes, as they are", async () => {
    const clock = { now: T0 };
    const kw = new Keyward({ store: new MemoryStore({ changeFeed: false }), prefix: "acme", now: () => clock.now });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const later = await kw.tokens.update(record.id, { scopes: ["premium:read"] }, { effectiveAt: T0 + 60_000 });
    expect(later.scheduled.map((s) => s.effectiveAt)).toEqual([T0 + 60_000]);
    const now = await kw.tokens.update(record.id, { ips: ["10.0.0.0/8"] }, { effectiveAt: T0 });
    expect(now.policy.ips).toEqual(["10.0.0.0/8"]);
  });

  it("with a change feed, an early cutover stays where it was asked", async () => {
    const clock = { now: T0 };
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => clock.now, propagationDelayMs: 2_000 });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const r = await kw.tokens.update(record.id, { scopes: ["premium:read"] });
    expect(r.scheduled.map((s) => s.effectiveAt)).toEqual([T0 + 2_000]);
  });
});

describe("effectiveAt", () => {
  it("takes epoch ms, a Date or an ISO-8601 string, and refuses seconds", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => T0 });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const iso = await kw.tokens.update(record.id, { scopes: ["premium:read"] }, { effectiveAt: "2026-01-02T00:00:00Z" });
    expect(iso.scheduled.map((s) => s.effectiveAt)).toEqual([Date.UTC(2026, 0, 2)]);
    await expect(kw.tokens.update(record.id, { scopes: ["core:read"] }, { effectiveAt: T0 / 1000 })).rejects.toMatchObject({
      code: "TIME_IN_SECONDS",
      field: "effectiveAt",
    });
    await expect(kw.tokens.update(record.id, { scopes: ["core:read"] }, { effectiveAt: "tomorrow" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "effectiveAt",
    });
  });

  it("a later write by an admin whose clock is behind keeps past what the last writer held for past", async () => {
    const { fast, slow, clock } = fleet();
    // An ended grace period: the fast admin renames the token after its grace; the slow one renames it again.
    const old = await fast.tokens.create({ owner: "o", kind: "secret" });
    await fast.tokens.regenerate(old.record.id, { graceMs: 1_000 });
    clock.now += 2_000;
    await fast.tokens.update(old.record.id, { name: "after grace" });
    const renamed = await slow.tokens.update(old.record.id, { name: "renamed on the slow clock" });
    expect(renamed.updatedAt).toBe(clock.now); // not moved back
    expect(renamed.graceUntil).toBeNull();
    // An expiry set to the fast admin's now; the slow one disables and enables the token.
    const expired = await fast.tokens.create({ owner: "o", kind: "secret" });
    await fast.tokens.update(expired.record.id, { expiresAt: clock.now }, { effectiveAt: clock.now });
    await slow.tokens.disable(expired.record.id);
    await slow.tokens.enable(expired.record.id);
    // A regeneration with grace on the slow clock after the fast one's: the grace counts from the record's last write.
    const regenerated = await fast.tokens.create({ owner: "o", kind: "secret" });
    await fast.tokens.update(regenerated.record.id, { name: "touched" });
    const next = await slow.tokens.regenerate(regenerated.record.id, { graceMs: 1_000 });
    expect(next.record.graceUntil).toBe(clock.now + 1_000);
    clock.now += 1;
    for (const kw of [fast, slow]) {
      expect((await kw.check({ token: old.token })).code).toBe("TOKEN_UNKNOWN");
      expect((await kw.check({ token: expired.token })).code).toBe("TOKEN_EXPIRED");
      expect((await kw.check({ token: regenerated.token })).ok).toBe(true);
    }
  });

  it("a revocation by an admin whose clock is behind, or by a leak report there, does not move the record back", async () => {
    const { fast, slow, clock } = fleet();
    for (const revoke of [(id: string) => slow.tokens.revoke(id), async (id: string, token: string) => (await slow.tokens.reportLeak(token, { source: "test" })) && slow.tokens.get(id)]) {
      const { token, record } = await fast.tokens.create({ owner: "o", kind: "secret" });
      const regenerated = await fast.tokens.regenerate(record.id, { graceMs: 1_000 });
      clock.now += 2_000;
      const last = await fast.tokens.update(record.id, { name: "after grace" });
      const revoked = await revoke(record.id, regenerated.token);
      expect(revoked?.revokedAt).toBe(last.updatedAt); // not before the last write
      expect(revoked?.updatedAt).toBe(last.updatedAt);
      // The grace the last writer saw end stays ended, on every instance.
      for (const kw of [fast, slow]) expect((await kw.tokens.get(record.id))?.graceUntil).toBeNull();
      expect((await slow.check({ token })).code).toBe("TOKEN_UNKNOWN");
    }
  });

  it("an admin whose clock is behind is shown the record as the servers judge it", async () => {
    const { fast, slow, clock } = fleet();
    const old = await fast.tokens.create({ owner: "o", kind: "secret" });
    await fast.tokens.regenerate(old.record.id, { graceMs: 1_000 });
    clock.now += 2_000;
    await fast.tokens.update(old.record.id, { name: "after grace" });
    expect((await slow.check({ token: old.token })).code).toBe("TOKEN_UNKNOWN");
    expect((await slow.tokens.get(old.record.id))?.graceUntil).toBeNull();
    expect((await slow.tokens.list("o")).items[0]?.graceUntil).toBeNull();
  });

  it("an admin whose clock is behind scans a token as the servers judge it: an expiry the writer set to its now is expired", async () => {
    const { fast, slow, clock } = fleet();
    const { token, record } = await fast.tokens.create({ owner: "o", kind: "secret" });
    await fast.tokens.update(record.id, { expiresAt: clock.now }, { effectiveAt: clock.now });
    expect((await slow.check({ token })).code).toBe("TOKEN_EXPIRED");
    const events = [];
    for await (const e of slow.tokens.scan("o")) events.push(e);
    expect(events).toEqual([{ type: "expired", tokenId: record.id, owner: "o", at: clock.now }]);
  });

  it("a leak report on an instance whose clock is behind finds an old secret whose grace the writer saw end inactive: the token stays live", async () => {
    const { fast, slow, clock } = fleet();
    const old = await fast.tokens.create({ owner: "o", kind: "secret" });
    const current = await fast.tokens.regenerate(old.record.id, { graceMs: 1_000 });
    clock.now += 2_000;
    await fast.tokens.update(old.record.id, { name: "after grace" });
    expect(await slow.tokens.reportLeak(old.token, { source: "github" })).toMatchObject({ outcome: "inactive", tokenId: old.record.id });
    expect((await slow.check({ token: current.token })).ok).toBe(true);
    expect((await fast.tokens.get(old.record.id))?.revokedAt).toBeNull();
  });
});

describe("clock skew and accounts", () => {
  /**
   * An account whose plan narrows at a cutover the fast admin then sees pass
   * and touches the account after (a member change, which keeps the
   * schedule as it is): the cutover is past for every server.
   */
  async function narrowedPlan(fast: Keyward, clock: { now: number }) {
    const { token } = await fast.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read", "premium:read"] });
    await fast.accounts.set("o", { credits: { limit: 1_000 }, tokens: null });
    const at = clock.now + 10_000;
    await fast.accounts.set("o", { ceiling: ["core:read"], credits: { limit: 100 }, tokens: { maxLifetimeMs: 86_400_000 } }, { effectiveAt: at });
    clock.now = at + 1;
    await fast.accounts.members.set("o", "user:1", "owner");
    return token;
  }

  it("a plan revision the writer saw come due is in force on a server whose clock is behind", async () => {
    const { fast, slow, clock } = fleet();
    const token = await narrowedPlan(fast, clock);
    for (const kw of [fast, slow]) {
      expect((await kw.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
      expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    }
    // An admin whose clock is behind is shown, and applies, the plan in force too.
    expect((await slow.accounts.get("o"))?.policy.ceiling).toEqual(["core:read"]);
    expect((await slow.credits.get({ owner: "o" })).limit).toBe(100);
    await expect(slow.tokens.create({ owner: "o", kind: "secret", scopes: ["premium:read"], expiresAt: clock.now + 3_600_000 })).rejects.toMatchObject({ code: "SCOPE_NOT_ALLOWED" });
    await expect(slow.tokens.create({ owner: "o", kind: "secret", expiresAt: clock.now + 2 * 86_400_000 })).rejects.toMatchObject({
      code: "LIFETIME_EXCEEDED",
    });
  });

  it("an admin whose clock is behind does not move an account back: a due revision stays in force after its writes", async () => {
    const { fast, slow, clock } = fleet();
    const token = await narrowedPlan(fast, clock);
    const members = await slow.accounts.members.set("o", "user:2", "viewer");
    expect(members.map((m) => m.id)).toEqual(["user:1", "user:2"]);
    const account = await slow.accounts.set("o", { rateLimit: { limit: 100, windowMs: 60_000 } });
    expect(account.updatedAt).toBe(clock.now); // not moved back
    expect(account.policy.ceiling).toEqual(["core:read"]);
    expect(account.scheduled).toEqual([]);
    for (const kw of [fast, slow]) expect((await kw.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
  });

  it("an admin whose clock is behind reads and changes a token's balance under the credits in force", async () => {
    const { fast, slow, clock } = fleet();
    const { record } = await fast.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1_000 } });
    await fast.tokens.update(record.id, { credits: { limit: 100 } }, { effectiveAt: clock.now + 1 });
    clock.now += 2;
    // Writes after the cutover that keep the schedule as it is.
    await fast.tokens.disable(record.id);
    await fast.tokens.enable(record.id);
    expect(await slow.credits.get({ tokenId: record.id })).toMatchObject({ limit: 100, remaining: 100 });
    expect(await slow.credits.topUp({ tokenId: record.id }, 5)).toMatchObject({ limit: 100, remaining: 105 });
  });

  it("an admin whose clock is behind checks a new ceiling against each token's scopes in force", async () => {
    const { fast, slow, clock } = fleet();
    const { record } = await fast.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read", "premium:read"] });
    await fast.tokens.update(record.id, { scopes: ["premium:read"] }, { effectiveAt: clock.now + 1 });
    clock.now += 2;
    // Writes after the cutover that keep the schedule as it is.
    await fast.tokens.disable(record.id);
    await fast.tokens.enable(record.id);
    await expect(slow.accounts.set("o", { ceiling: ["core:read"] })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "ceiling" });
    expect(await slow.accounts.get("o")).toBeNull();
  });
});
