// What a store call costs on the request path: a store that keeps its
// records in this process answers at once, without a copy or a promise; a
// store that answers later shares one deadline timer with every other
// lookup (or meter call) instead of arming one each; a hung lookup or meter
// call is still abandoned at its deadline.
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Keyward, MemoryStore, type StoredToken } from "keyward";
import { SharedLookup } from "../../src/verify/cache.js";
import { DeadlineRace } from "../../src/verify/deadlines.js";
import type { MeterRequest, MeterResult } from "../../src/store/types.js";
import { SHARED_READS, sharedReadsOf } from "../../src/store/shared-reads.js";

const bounds = { maxEntries: 0, ttlMs: 10_000, negativeTtlMs: 1_000 };

/** A MemoryStore whose lookups by hash answer on a later tick, like a database. */
class AsyncStore extends MemoryStore {
  override async findByHash(hash: string): Promise<StoredToken | null> {
    await null;
    return super.findByHash(hash);
  }
}

/** A real MemoryStore whose lookups by hash wait until released, like a slow database. */
class SlowStore extends MemoryStore {
  gate: Promise<void> | null = null;
  override async findByHash(hash: string): Promise<StoredToken | null> {
    const found = await super.findByHash(hash);
    if (this.gate) await this.gate;
    return found;
  }
}

/** A real MemoryStore whose meter answers are rewritten by `answer` when set: a store answering what it should not. */
class RewrittenMeter extends MemoryStore {
  answer: ((real: MeterResult) => MeterResult) | null = null;
  override async meter(request: MeterRequest, now: number): Promise<MeterResult> {
    const real = await super.meter(request, now);
    return this.answer ? this.answer(real) : real;
  }
}

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("store lookups on the request path", () => {
  it("a store answering at once is answered at once: no promise, no timer", () => {
    const lookup = new SharedLookup<string>(bounds, (k) => `v:${k}`, 50);
    expect(lookup.fetch("a", 0)).toBe("v:a");
    expect(lookup.timersArmed).toBe(0);
  });

  it("lookups answered promptly share one timer, not one per lookup", async () => {
    const lookup = new SharedLookup<string>(bounds, (k) => Promise.resolve(`v:${k}`), 60_000);
    for (let i = 0; i < 1000; i++) expect(await lookup.fetch(`k${i}`, i)).toBe(`v:k${i}`);
    expect(lookup.timersArmed).toBe(1);
    expect(lookup.waiting).toBe(0);
  });

  it("a cold check on a database-like store arms no timer per check", async () => {
    const store = new AsyncStore();
    const kw = new Keyward({ store, prefix: "acme", cache: { maxEntries: 0 }, usage: { enabled: false } });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await kw.check({ token });
    const timers = vi.spyOn(globalThis, "setTimeout");
    for (let i = 0; i < 200; i++) expect((await kw.check({ token })).ok).toBe(true);
    expect(timers.mock.calls.length).toBeLessThanOrEqual(1);
  });

  it("a hung lookup is abandoned at its deadline, and each of many at its own", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
    const lookup = new SharedLookup<string>(bounds, () => new Promise<string>(() => {}), 50);
    const outcomes: string[] = [];
    const watch = (p: unknown, name: string) =>
      (p as Promise<string>).then(
        () => outcomes.push(`${name}: answered`),
        (e: Error) => outcomes.push(`${name}: ${e.message}`),
      );
    watch(lookup.fetch("a", 0), "a");
    await vi.advanceTimersByTimeAsync(30);
    watch(lookup.fetch("b", 0), "b");
    await vi.advanceTimersByTimeAsync(19);
    expect(outcomes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(outcomes).toEqual(["a: store lookup timed out"]);
    await vi.advanceTimersByTimeAsync(29);
    expect(outcomes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(outcomes).toEqual(["a: store lookup timed out", "b: store lookup timed out"]);
    expect(lookup.waiting).toBe(0);
    expect(lookup.timersArmed).toBe(2);
  });

  it("a hung store denies with STORE_UNAVAILABLE after lookupTimeoutMs, then recovers", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    let hang = true;
    class HungStore extends MemoryStore {
      override findByHash(hash: string): Promise<StoredToken | null> {
        return hang ? new Promise(() => {}) : super.findByHash(hash);
      }
    }
    const kw = new Keyward({ store: new HungStore(), prefix: "acme", lookupTimeoutMs: 1_000, usage: { enabled: false } });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const pending = kw.check({ token });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await pending).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    hang = false;
    expect((await kw.check({ token })).ok).toBe(true);
  });
});

describe("meter calls on the request path", () => {
  /** A MemoryStore whose meter answers on a later tick, like a database. */
  class AsyncMeter extends MemoryStore {
    override async meter(request: MeterRequest, now: number): Promise<MeterResult> {
      await null;
      return super.meter(request, now);
    }
  }

  it("warm checks arm no timer, each in a turn of its own: the caches' ages read the monotonic clock once per check", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", usage: { enabled: false } });
    await kw.accounts.set("acct_1", { ceiling: ["core:read"] });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    // node:timers/promises' sleep goes through no global setTimeout: only keyward's timers are counted.
    const timers = vi.spyOn(globalThis, "setTimeout");
    for (let i = 0; i < 20; i++) {
      await sleep(2); // a check at a time, as a server under light load makes them
      expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    }
    expect(timers).not.toHaveBeenCalled();
    await kw.close();
  });

  it("metered checks on a database-like store share one deadline timer", async () => {
    const kw = new Keyward({ store: new AsyncMeter(), prefix: "acme", usage: { enabled: false } });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1_000 } });
    expect((await kw.check({ token })).ok).toBe(true);
    const timers = vi.spyOn(globalThis, "setTimeout");
    for (let i = 0; i < 200; i++) expect((await kw.check({ token })).ok).toBe(true);
    expect(timers.mock.calls.length).toBeLessThanOrEqual(1);
    expect((await kw.check({ token })).remaining).toBe(1_000 - 202);
  });

  it("MemoryStore's own meter runs in this process: no deadline, no timer (a subclass's meter gets one, above and below)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", usage: { enabled: false } });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1_000 } });
    const timers = vi.spyOn(globalThis, "setTimeout");
    for (let i = 0; i < 200; i++) expect((await kw.check({ token })).ok).toBe(true);
    expect(timers).not.toHaveBeenCalled();
  });

  it("a hung meter denies with STORE_UNAVAILABLE after lookupTimeoutMs (the token is cached), then recovers", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    let hang = false;
    class HungMeter extends MemoryStore {
      override meter(request: MeterRequest, now: number): Promise<MeterResult> {
        return hang ? new Promise(() => {}) : super.meter(request, now);
      }
    }
    const kw = new Keyward({ store: new HungMeter(), prefix: "acme", lookupTimeoutMs: 1_000, usage: { enabled: false } });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 10 } });
    expect((await kw.check({ token })).ok).toBe(true);
    hang = true;
    let answer: unknown;
    void kw.check({ token }).then((d) => {
      answer = d;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(answer).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(answer).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    hang = false;
    expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 8 });
  });

  it("a meter answer that is neither a grant nor a denial this version knows is STORE_UNAVAILABLE, never an allow", async () => {
    const store = new RewrittenMeter();
    const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 10 }, rateLimit: { limit: 100, windowMs: 1000 } });
    const odd: ((real: MeterResult) => MeterResult)[] = [
      (real) => ({ ...real, granted: false }), // refused, yet no check named
      (real) => ({ ...real, granted: false, deniedBy: "accountPool" as MeterResult["deniedBy"] }), // a denial of another version
      (real) => ({ ...real, granted: "yes" as unknown as boolean }),
    ];
    for (const f of odd) {
      store.answer = f;
      expect(await kw.check({ token })).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    }
    store.answer = null;
    expect((await kw.check({ token })).ok).toBe(true);
  });

  it("a grant that does not answer every check asked for, each passed, is STORE_UNAVAILABLE, never an allow", async () => {
    const store = new RewrittenMeter();
    const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
    await kw.accounts.set("o", { credits: { limit: 1000 }, rateLimit: { limit: 1000, windowMs: 1000 } });
    const { token } = await kw.tokens.create({
      owner: "o",
      kind: "secret",
      credits: { limit: 100 },
      rateLimit: { limit: 100, windowMs: 1000 },
      rateLimits: [{ limit: 100, windowMs: 60_000 }],
    });
    const refused = { granted: false, remaining: 0, nextRefillAt: null };
    const full = { allowed: false, remaining: 0, retryAfterMs: 500 };
    const hand: ((real: MeterResult) => MeterResult)[] = [
      (real) => ({ ...real, credits: refused }), // the credits' answer ignored when building the top level
      (real) => ({ ...real, credits: null }), // credits never charged
      (real) => ({ ...real, rateLimit: full }),
      (real) => ({ ...real, rateLimit: null }), // the rate limit never counted
      (real) => ({ ...real, rateLimits: [full] }),
      (real) => ({ ...real, rateLimits: [] }), // the more rate limits skipped
      (real) => ({ ...real, rateLimits: undefined }),
      (real) => ({ ...real, account: { rateLimit: real.account!.rateLimit, credits: refused } }),
      (real) => ({ ...real, account: { rateLimit: full, credits: real.account!.credits } }),
      (real) => ({ ...real, account: undefined }), // the account never charged
    ];
    for (const f of hand) {
      store.answer = f;
      expect(await kw.check({ token })).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    }
    store.answer = null;
    expect(await kw.check({ token })).toMatchObject({ ok: true, remaining: 100 - hand.length - 1 });
  });

  it("a race gives failed() when the call throws, rejects or its answer cannot be read, and ignores a late answer", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const race = new DeadlineRace(100);
    const failed = () => "failed";
    expect(await race.race(() => Promise.resolve(2), (n) => `done ${n}`, failed)).toBe("done 2");
    expect(
      await race.race(
        () => {
          throw new Error("sync");
        },
        () => "done",
        failed,
      ),
    ).toBe("failed");
    expect(await race.race(() => Promise.reject(new Error("x")), () => "done", failed)).toBe("failed");
    expect(
      await race.race(
        () => Promise.resolve(1),
        () => {
          throw new Error("unreadable");
        },
        failed,
      ),
    ).toBe("failed");
    let late!: (v: number) => void;
    const read: number[] = [];
    const pending = race.race(
      () => new Promise<number>((r) => (late = r)),
      (n) => {
        read.push(n);
        return `done ${n}`;
      },
      failed,
    );
    await vi.advanceTimersByTimeAsync(99);
    expect(race.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(race.waiting).toBe(0);
    expect(await pending).toBe("failed");
    late(3);
    await vi.advanceTimersByTimeAsync(0);
    expect(read).toEqual([]);
  });
});

describe("MemoryStore's records on the request path", () => {
  it("are read without a copy, and are frozen: no caller can change the store through them", async () => {
    const store = new MemoryStore();
    const kw = new Keyward({ store, prefix: "acme", cache: { maxEntries: 0 }, usage: { enabled: false } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"], ips: ["10.0.0.0/8"] });
    const clone = vi.spyOn(globalThis, "structuredClone");
    expect((await kw.check({ token, scope: "core:read", ip: "10.1.2.3" })).ok).toBe(true);
    expect(clone).not.toHaveBeenCalled();
    clone.mockRestore();

    const shared = store[SHARED_READS]()!;
    const held = shared.get(record.id)!;
    expect(Object.isFrozen(held) && Object.isFrozen(held.policy) && Object.isFrozen(held.policy.scopes)).toBe(true);
    expect(() => {
      held.policy.scopes.push("admin:write");
    }).toThrow(TypeError);
    expect(() => {
      (held as { revokedAt: number | null }).revokedAt = null;
    }).toThrow(TypeError);
    // A write replaces the record (copy-on-write): what a reader held is unchanged.
    await kw.tokens.update(record.id, { scopes: ["premium:read"] });
    expect(held.policy.scopes).toEqual(["core:read"]);
    expect(shared.get(record.id)?.policy.scopes).toEqual(["premium:read"]);
    // The contract's reads still give copies the caller owns.
    const copy = (await store.get(record.id))!;
    copy.policy.scopes.push("x:write");
    expect(Object.isFrozen(copy)).toBe(false);
    expect(shared.get(record.id)?.policy.scopes).toEqual(["premium:read"]);
  });

  it("a subclass that overrides a read is read through its override", () => {
    expect(sharedReadsOf(new AsyncStore())).toBeNull();
    expect(sharedReadsOf(new MemoryStore())).not.toBeNull();
  });
});

describe("slow and hung store lookups", () => {
  it("a request arriving after a revocation does not join a lookup that started before it", async () => {
    const store = new SlowStore();
    const kw = new Keyward({ store, prefix: "acme" });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    let release = () => {};
    store.gate = new Promise((r) => {
      release = r;
    });
    const before = kw.check({ token });
    await kw.tokens.revoke(record.id);
    const after = kw.check({ token });
    release();
    expect((await after).code).toBe("TOKEN_REVOKED");
    await before;
  });

  it("a leak report's audit write that hangs is abandoned after lookupTimeoutMs: kw.flush() and kw.close() answer, and the token is reported when seen again", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    let hang = false;
    class HungAudit extends MemoryStore {
      override appendAudit(...args: Parameters<MemoryStore["appendAudit"]>): Promise<void> {
        return hang ? new Promise(() => {}) : super.appendAudit(...args);
      }
    }
    const kw = new Keyward({ store: new HungAudit(), prefix: "acme", lookupTimeoutMs: 1_000, usage: { enabled: false } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    hang = true;
    expect((await kw.verify(new Request(`https://api.test/x?key=${token}`))).code).toBe("TOKEN_IN_URL");
    let flushed = false;
    void kw.flush().then(() => {
      flushed = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(flushed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(flushed).toBe(true);
    hang = false;
    // Not written: the next request that shows it reports it.
    expect((await kw.verify(new Request(`https://api.test/x?key=${token}`))).code).toBe("TOKEN_IN_URL");
    await kw.close();
    expect((await kw.tokens.audit({ tokenId: record.id })).items.map((e) => e.action)).toEqual(["create", "leak"]);
  });

  it("a hung store lookup is abandoned after lookupTimeoutMs and denied", async () => {
    const store = new SlowStore();
    const kw = new Keyward({ store, prefix: "acme", lookupTimeoutMs: 50 });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    store.gate = new Promise(() => {}); // never settles
    const d = await kw.check({ token });
    expect(d).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    store.gate = null;
    expect((await kw.check({ token })).ok).toBe(true);
  });
});
