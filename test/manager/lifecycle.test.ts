import { combineStores, Keyward, type KeywardOptions, type LifecycleEvent, MemoryStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { collect, DAY, describeAccountLifecycle, T0 } from "../support/lifecycle-suite.js";

function app(tokens: KeywardOptions["tokens"], clock = { now: T0 }) {
  return new Keyward({ store: new MemoryStore(), prefix: "acme", tokens, now: () => clock.now });
}

describe("lifetimes", () => {
  it("a create without expiresAt gets the default lifetime; within the maximum is fine", async () => {
    const kw = app({ defaultLifetimeMs: 30 * DAY, maxLifetimeMs: 90 * DAY });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect(record.policy.expiresAt).toBe(T0 + 30 * DAY);
    const exact = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 90 * DAY });
    expect(exact.record.policy.expiresAt).toBe(T0 + 90 * DAY);
  });

  it("beyond the maximum, or no expiry while a maximum is set: LIFETIME_EXCEEDED naming the limit; nothing written", async () => {
    const kw = app({ maxLifetimeMs: 90 * DAY });
    for (const expiresAt of [T0 + 90 * DAY + 1, null, undefined]) {
      await expect(kw.tokens.create({ owner: "o", kind: "secret", expiresAt })).rejects.toMatchObject({
        code: "LIFETIME_EXCEEDED",
        field: "expiresAt",
        limit: "tokens.maxLifetimeMs",
        maxExpiresAt: T0 + 90 * DAY,
      });
    }
    expect((await kw.tokens.list("o")).items).toEqual([]);
    const err = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toContain("tokens.maxLifetimeMs");
  });

  it("an update beyond the maximum from now is refused and changes nothing; within it is fine", async () => {
    const clock = { now: T0 };
    const kw = app({ defaultLifetimeMs: 10 * DAY, maxLifetimeMs: 30 * DAY }, clock);
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    clock.now += 20 * DAY;
    await expect(kw.tokens.update(record.id, { expiresAt: clock.now + 31 * DAY }, { effectiveAt: clock.now })).rejects.toMatchObject({ code: "LIFETIME_EXCEEDED" });
    await expect(kw.tokens.update(record.id, { expiresAt: null })).rejects.toMatchObject({ code: "LIFETIME_EXCEEDED" });
    expect((await kw.tokens.get(record.id))?.revision).toBe(record.revision);
    const renewed = await kw.tokens.update(record.id, { expiresAt: clock.now + 30 * DAY }, { effectiveAt: clock.now });
    expect(renewed.policy.expiresAt).toBe(clock.now + 30 * DAY);
  });

  it("zero, negative, fractional or inverted lifetimes are INVALID_CONFIG naming the option", () => {
    const cases: [KeywardOptions["tokens"], string][] = [
      [{ maxLifetimeMs: 0 }, "tokens.maxLifetimeMs"],
      [{ defaultLifetimeMs: -1 }, "tokens.defaultLifetimeMs"],
      [{ rotationPeriodMs: 1.5 }, "tokens.rotationPeriodMs"],
      [{ defaultLifetimeMs: 2 * DAY, maxLifetimeMs: DAY }, "tokens.defaultLifetimeMs"],
      [{ unknown: 1 } as never, "tokens"],
    ];
    for (const [tokens, field] of cases) expect(() => app(tokens)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: expect.stringContaining(field) }));
  });
});

describe("rotation and scans", () => {
  it("list filters expiringBefore and dueForRotation; regenerate resets the rotation clock", async () => {
    const clock = { now: T0 };
    const kw = app({ rotationPeriodMs: 90 * DAY }, clock);
    const old = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 100 * DAY });
    clock.now += 50 * DAY;
    const young = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 400 * DAY });
    const never = await kw.tokens.create({ owner: "o", kind: "secret" });
    clock.now = T0 + 91 * DAY;
    const ids = async (o: Parameters<typeof kw.tokens.list>[1]) => (await kw.tokens.list("o", o)).items.map((r) => r.id);
    expect(await ids({ dueForRotation: true })).toEqual([old.record.id]);
    expect((await ids({ dueForRotation: false })).sort()).toEqual([young.record.id, never.record.id].sort());
    expect(await ids({ expiringBefore: T0 + 200 * DAY })).toEqual([old.record.id]);
    await kw.tokens.regenerate(old.record.id);
    expect(await ids({ dueForRotation: true })).toEqual([]);
    await expect(kw.tokens.list("o", { expiringBefore: "soon" as never })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "expiringBefore" });
    await expect(app({}).tokens.list("o", { dueForRotation: true })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "dueForRotation" });
  });

  it("the times of list filters and of a scan are read like every admin time: seconds refused (TIME_IN_SECONDS), a Date or ISO string taken", async () => {
    const clock = { now: T0 };
    const kw = app({ rotationPeriodMs: 30 * DAY }, clock);
    const soon = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 10 * DAY });
    clock.now = T0 + 31 * DAY;
    // In seconds, each would silently match nothing (January 1970): a nightly job would report no token at all.
    const inSeconds = Math.floor((T0 + 20 * DAY) / 1000);
    for (const [field, call] of [
      ["expiringBefore", () => kw.tokens.list("o", { expiringBefore: inSeconds })],
      ["unusedSince", () => kw.tokens.list("o", { unusedSince: inSeconds })],
      ["now", () => collect(kw.tokens.scan("o", { now: inSeconds }))],
    ] as const) {
      await expect(call(), field).rejects.toMatchObject({ code: "TIME_IN_SECONDS", field, hint: expect.stringContaining("1000") });
    }
    const ids = async (o: Parameters<typeof kw.tokens.list>[1]) => (await kw.tokens.list("o", o)).items.map((r) => r.id);
    expect(await ids({ expiringBefore: new Date(T0 + 20 * DAY) })).toEqual([soon.record.id]);
    expect(await ids({ expiringBefore: new Date(T0 + 20 * DAY).toISOString() })).toEqual([soon.record.id]);
    expect(await ids({ expiringBefore: new Date(T0 + 5 * DAY).toISOString() })).toEqual([]);
    const events = await collect(kw.tokens.scan("o", { now: new Date(T0 + 9 * DAY) }));
    expect(events.map((e) => e.type)).toEqual(["expiring-soon"]);
  });

  it("list filters pass revoked tokens over, as the scan and dueForRotation do: a hygiene job is not told of tokens already ended", async () => {
    const clock = { now: T0 };
    const kw = app({ rotationPeriodMs: 30 * DAY }, clock);
    const live = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 10 * DAY });
    const revoked = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 10 * DAY });
    await kw.tokens.revoke(revoked.record.id);
    clock.now = T0 + 40 * DAY;
    const ids = async (o: Parameters<typeof kw.tokens.list>[1]) => (await kw.tokens.list("o", o)).items.map((r) => r.id);
    expect(await ids({ expiringBefore: T0 + 20 * DAY })).toEqual([live.record.id]);
    expect(await ids({ unusedSince: T0 + 20 * DAY })).toEqual([live.record.id]);
    expect((await collect(kw.tokens.scan("o"))).map((e) => e.tokenId)).toEqual([live.record.id]);
    expect((await ids({})).sort()).toEqual([live.record.id, revoked.record.id].sort());
  });

  it("scan yields expired, expiring-soon and rotation-due events from the records alone, revoked tokens skipped", async () => {
    const clock = { now: T0 };
    const kw = app({ rotationPeriodMs: 30 * DAY, expiringSoonMs: 7 * DAY }, clock);
    const soon = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 35 * DAY });
    const expired = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 10 * DAY });
    const revoked = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 10 * DAY });
    await kw.tokens.revoke(revoked.record.id);
    const fresh = await kw.tokens.create({ owner: "o", kind: "publishable" });
    await kw.tokens.create({ owner: "other", kind: "secret", expiresAt: T0 + 10 * DAY });
    expect(await collect(kw.tokens.scan("o"))).toEqual([]);
    const events = await collect(kw.tokens.scan("o", { now: T0 + 31 * DAY }));
    // Tokens created at the same instant come in id order: compare as a set.
    const expected = [
      { type: "expiring-soon", tokenId: soon.record.id, owner: "o", at: T0 + 35 * DAY },
      { type: "rotation-due", tokenId: soon.record.id, owner: "o", at: T0 + 30 * DAY },
      { type: "expired", tokenId: expired.record.id, owner: "o", at: T0 + 10 * DAY },
      { type: "rotation-due", tokenId: fresh.record.id, owner: "o", at: T0 + 30 * DAY },
    ];
    expect(events).toHaveLength(expected.length);
    expect(events).toEqual(expect.arrayContaining(expected));
    await expect(collect(kw.tokens.scan("o", { now: 1.5 }))).rejects.toMatchObject({ code: "INVALID_INPUT", field: "now" });
    // Options that are not an object are refused with a code, like every other method's.
    await expect(collect(kw.tokens.scan("o", null as never))).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
    await expect(kw.tokens.list("o", null as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
  });

  it("a scan reads each token once, a page of 1000 at a time (no timer, no per-token lookup)", async () => {
    const store = new MemoryStore();
    const kw = new Keyward({ store, prefix: "acme", now: () => T0, tokens: { rotationPeriodMs: DAY } });
    for (let i = 0; i < 1500; i++) await kw.tokens.create({ owner: "o", kind: "publishable" });
    let lists = 0;
    let gets = 0;
    const list = store.list.bind(store);
    const get = store.get.bind(store);
    store.list = (...a) => {
      lists++;
      return list(...a);
    };
    store.get = (...a) => {
      gets++;
      return get(...a);
    };
    const events = await collect(kw.tokens.scan("o", { now: T0 + 2 * DAY }));
    expect(events).toHaveLength(1500);
    expect([lists, gets]).toEqual([2, 0]);
  });
});

describeAccountLifecycle("MemoryStore", () => new MemoryStore());
describeAccountLifecycle("SQLite", () => sqliteStore(":memory:"));

describe("per-account lifetimes and rotation", () => {
  it("rules looser than the application's are LIFETIME_EXCEEDED naming the limit; nothing changes", async () => {
    const kw = app({ maxLifetimeMs: 90 * DAY, rotationPeriodMs: 30 * DAY });
    const cases = [
      [{ maxLifetimeMs: 91 * DAY }, "patch.tokens.maxLifetimeMs", "tokens.maxLifetimeMs"],
      [{ rotationPeriodMs: 31 * DAY }, "patch.tokens.rotationPeriodMs", "tokens.rotationPeriodMs"],
      [{ defaultLifetimeMs: 91 * DAY }, "patch.tokens.defaultLifetimeMs", "tokens.maxLifetimeMs"],
      [{ maxLifetimeMs: 10 * DAY, defaultLifetimeMs: 11 * DAY }, "patch.tokens.defaultLifetimeMs", "patch.tokens.maxLifetimeMs"],
    ] as const;
    for (const [tokens, field, limit] of cases) {
      await expect(kw.accounts.set("o", { tokens })).rejects.toMatchObject({ code: "LIFETIME_EXCEEDED", field, limit });
    }
    for (const bad of [{ maxLifetimeMs: 0 }, { maxLifetimeMs: -1 }, { rotationPeriodMs: 1.5 }, { ttl: 5 }]) {
      await expect(kw.accounts.set("o", { tokens: bad as never })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    expect(await kw.accounts.get("o")).toBeNull();
  });
});

describe("unused tokens", () => {
  it("needs a store with last uses: unusedAfterMs is INVALID_CONFIG and unusedSince STORE_UNSUPPORTED without one", async () => {
    const store = combineStores({ records: new MemoryStore(), counters: new MemoryStore(), usage: noAnalytics() });
    expect(() => new Keyward({ store, prefix: "acme", tokens: { unusedAfterMs: DAY } })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "tokens.unusedAfterMs" }),
    );
    const kw = new Keyward({ store, prefix: "acme" });
    await expect(kw.tokens.list("o", { unusedSince: T0 })).rejects.toMatchObject({ code: "STORE_UNSUPPORTED" });
  });
});

/** A usage part without analytics (hour buckets only). */
function noAnalytics() {
  const m = new MemoryStore();
  return { capabilities: { changeFeed: false }, recordUsage: m.recordUsage.bind(m), getUsage: m.getUsage.bind(m) };
}

describe("onLifecycle", () => {
  it("receives each event the scan yields, in order; a throwing hook stops nothing", async () => {
    const clock = { now: T0 };
    const heard: LifecycleEvent[] = [];
    let calls = 0;
    const kw = new Keyward({
      store: new MemoryStore(),
      prefix: "acme",
      now: () => clock.now,
      tokens: {
        rotationPeriodMs: 30 * DAY,
        onLifecycle: (e) => {
          calls++;
          if (calls === 1) throw new Error("mailer down");
          heard.push(e);
        },
      },
    });
    await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 40 * DAY });
    await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: T0 + 33 * DAY });
    clock.now = T0 + 31 * DAY;
    const yielded = await collect(kw.tokens.scan("o"));
    expect(yielded.map((e) => e.type).sort()).toEqual(["expiring-soon", "rotation-due", "rotation-due"]);
    expect(calls).toBe(3);
    expect(heard).toEqual(yielded.slice(1));
    expect(() => new Keyward({ store: new MemoryStore(), prefix: "acme", tokens: { onLifecycle: "mail" as never } })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "tokens.onLifecycle" }),
    );
  });
});
