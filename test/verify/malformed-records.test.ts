// A store that answers a malformed record or account (a field of the wrong
// type, null where an object belongs, undefined instead of null): every
// request is denied with STORE_UNAVAILABLE, on the first lookup and on the
// cached path alike, kw.check and kw.verify never throw nor reject, nothing
// is allowed, and the bad answer is not cached (a store that recovers is
// read again at once).
import { describe, expect, it } from "vitest";
import { type Decision, Keyward, MemoryStore, type StoredAccount, type StoredToken } from "keyward";

const T0 = Date.UTC(2026, 0, 1);

/** A real MemoryStore whose reads of one token go through `mangle` (a copy of the stored record). */
class MalformedStore extends MemoryStore {
  mangle: ((t: StoredToken) => unknown) | null = null;
  account: (() => unknown) | null = null;

  override async findByHash(hash: string): Promise<StoredToken | null> {
    const t = await super.findByHash(hash);
    return t && this.mangle ? (this.mangle(structuredClone(t)) as StoredToken) : t;
  }

  override async get(id: string): Promise<StoredToken | null> {
    const t = await super.get(id);
    return t && this.mangle ? (this.mangle(structuredClone(t)) as StoredToken) : t;
  }

  override getAccount(owner: string): Promise<StoredAccount | null> {
    return this.account ? (this.account() as Promise<StoredAccount | null>) : super.getAccount(owner);
  }
}

async function setup(options: { expiresAt?: number; ips?: string[] } = {}) {
  const store = new MalformedStore();
  const clock = { now: T0 };
  const kw = new Keyward({ store, prefix: "acme", now: () => clock.now });
  const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"], ...options });
  return { kw, store, clock, token, record };
}

const request = (token: string) => new Request("https://api.test/v1/x", { headers: { authorization: `Bearer ${token}` } });

/** What a call gave: its decision's code, or how it failed. */
async function outcome(call: () => Promise<Decision>): Promise<string> {
  let p: Promise<Decision>;
  try {
    p = call();
  } catch (err) {
    return `threw ${String(err)}`;
  }
  try {
    const d = await p;
    return d.ok ? "ALLOWED" : d.code;
  } catch (err) {
    return `rejected ${String(err)}`;
  }
}

describe("a malformed record from the store", () => {
  it("a null policy is STORE_UNAVAILABLE for verify and check, first lookup and after, never a throw", async () => {
    const { kw, store, token } = await setup();
    store.mangle = (t) => ({ ...t, policy: null });
    expect(await outcome(() => kw.verify(request(token)))).toBe("STORE_UNAVAILABLE");
    expect(await outcome(() => kw.verify(request(token)))).toBe("STORE_UNAVAILABLE");
    expect(await outcome(() => kw.check({ token }))).toBe("STORE_UNAVAILABLE");
    expect(await outcome(() => kw.check({ token, scope: "core:read" }))).toBe("STORE_UNAVAILABLE");
    await kw.close();
  });

  it("is not cached: once the store answers well-formed records again, the next request is decided on them", async () => {
    const { kw, store, token } = await setup();
    store.mangle = (t) => ({ ...t, policy: null });
    expect(await outcome(() => kw.check({ token }))).toBe("STORE_UNAVAILABLE");
    store.mangle = null;
    expect(await outcome(() => kw.check({ token }))).toBe("ALLOWED");
    await kw.close();
  });

  it("an expiry stored as a string never lets an expired token through (as a revocation time stored as a string)", async () => {
    const { kw, store, clock, token } = await setup({ expiresAt: T0 + 1000 });
    clock.now = T0 + 5000;
    store.mangle = (t) => ({ ...t, policy: { ...t.policy, expiresAt: new Date(t.policy.expiresAt!).toISOString() } });
    expect(await outcome(() => kw.check({ token }))).toBe("STORE_UNAVAILABLE");
    expect(await outcome(() => kw.verify(request(token)))).toBe("STORE_UNAVAILABLE");
    store.mangle = (t) => ({ ...t, revokedAt: String(T0) });
    expect(await outcome(() => kw.check({ token }))).toBe("STORE_UNAVAILABLE");
    store.mangle = null;
    expect(await outcome(() => kw.check({ token }))).toBe("TOKEN_EXPIRED");
    await kw.close();
  });

  it("revisions out of order are STORE_UNAVAILABLE, never decided on a policy no longer in force", async () => {
    const { kw, store, clock, token, record } = await setup();
    // Premium granted from T0 + 1 s, taken away again from T0 + 2 s: at T0 + 3 s it is not held.
    await kw.tokens.update(record.id, { scopes: ["core:read", "premium:read"] }, { effectiveAt: T0 + 1000 });
    await kw.tokens.update(record.id, { scopes: ["core:read"] }, { effectiveAt: T0 + 2000 });
    clock.now = T0 + 3000;
    // Read in order, the last revision due is the earlier one: premium again.
    store.mangle = (t) => ({ ...t, scheduled: [...t.scheduled].reverse() });
    expect(await outcome(() => kw.check({ token, scope: "premium:read" }))).toBe("STORE_UNAVAILABLE");
    expect(await outcome(() => kw.verify(request(token), { scope: "premium:read" }))).toBe("STORE_UNAVAILABLE");
    // Two revisions at one instant: which one is in force is not said.
    store.mangle = (t) => ({ ...t, scheduled: [t.scheduled[0], { ...t.scheduled[1]!, effectiveAt: t.scheduled[0]!.effectiveAt }] });
    expect(await outcome(() => kw.check({ token, scope: "premium:read" }))).toBe("STORE_UNAVAILABLE");
    store.mangle = null;
    expect(await outcome(() => kw.check({ token, scope: "premium:read" }))).toBe("SCOPE_DENIED");
    await kw.close();
  });

  const malformed: [string, (t: StoredToken) => unknown][] = [
    ["undefined instead of null", () => undefined],
    ["a string", () => "tok"],
    ["an empty object", () => ({})],
    ["a scheduled revision without a policy", (t) => ({ ...t, scheduled: [{ effectiveAt: 0, policy: null }] })],
    ["scopes as a string", (t) => ({ ...t, policy: { ...t.policy, scopes: "core:read" } })],
    ["no ips list", (t) => ({ ...t, policy: { ...t.policy, ips: undefined } })],
    ["domains as a string", (t) => ({ ...t, policy: { ...t.policy, domains: "example.com" } })],
    ["an expiry as a numeric string", (t) => ({ ...t, policy: { ...t.policy, expiresAt: "1" } })],
    ["a rate limit of the wrong types", (t) => ({ ...t, policy: { ...t.policy, rateLimit: { limit: "ten", windowMs: -1 } } })],
    ["credits of the wrong types", (t) => ({ ...t, policy: { ...t.policy, credits: { limit: -5, refill: "x" } } })],
    ["requireSignedRequests absent", (t) => ({ ...t, policy: { ...t.policy, requireSignedRequests: undefined } })],
    ["no revokedAt", (t) => ({ ...t, revokedAt: undefined })],
    ["previous null", (t) => ({ ...t, previous: null })],
    ["updatedAt a string", (t) => ({ ...t, updatedAt: "yesterday" })],
    ["revision a string", (t) => ({ ...t, revision: "1" })],
    ["metadata null", (t) => ({ ...t, metadata: null })],
    ["an unknown kind", (t) => ({ ...t, kind: "admin" })],
    ["start not a string", (t) => ({ ...t, start: 5 })],
    ["signing of an unknown algorithm", (t) => ({ ...t, signing: { alg: "none" } })],
    ["a policy that throws when read", (t) => Object.defineProperty({ ...t }, "policy", { get: () => { throw new Error("boom"); }, enumerable: true })],
  ];

  it.each(malformed)("%s: STORE_UNAVAILABLE for check and verify", async (_name, mangle) => {
    const { kw, store, token } = await setup();
    store.mangle = mangle;
    expect(await outcome(() => kw.check({ token, scope: "core:read" }))).toBe("STORE_UNAVAILABLE");
    expect(await outcome(() => kw.verify(request(token), { scope: "core:read" }))).toBe("STORE_UNAVAILABLE");
    await kw.close();
  });
});

describe("a malformed account from the store", () => {
  const answers: [string, () => unknown][] = [
    ["undefined instead of null", () => Promise.resolve(undefined)],
    ["a number, not a promise", () => 42],
    ["an account without a policy", () => Promise.resolve({ owner: "acct_1", policy: null, scheduled: [], createdAt: T0, updatedAt: T0, revision: 1 })],
    ["an account with a revision as a string", () => Promise.resolve({ owner: "acct_1", policy: { ceiling: null, credits: null, rateLimit: null }, scheduled: [], createdAt: T0, updatedAt: T0, revision: "1" })],
    ["a suspension as true, not { reason }", () => Promise.resolve({ owner: "acct_1", policy: { ceiling: null, credits: null, rateLimit: null, suspended: true }, scheduled: [], createdAt: T0, updatedAt: T0, revision: 1 })],
    [
      "a suspension whose start is a string",
      () =>
        Promise.resolve({
          owner: "acct_1",
          policy: { ceiling: null, credits: null, rateLimit: null, suspended: { reason: "x", since: "yesterday" } },
          scheduled: [],
          createdAt: T0,
          updatedAt: T0,
          revision: 1,
        }),
    ],
    [
      "a scheduled suspension without a reason",
      () =>
        Promise.resolve({
          owner: "acct_1",
          policy: { ceiling: null, credits: null, rateLimit: null },
          scheduled: [{ effectiveAt: T0 + 1, policy: { ceiling: null, credits: null, rateLimit: null, suspended: {} } }],
          createdAt: T0,
          updatedAt: T0,
          revision: 1,
        }),
    ],
    [
      "revisions out of order (a suspension lifted, then made: suspended now)",
      () =>
        Promise.resolve({
          owner: "acct_1",
          policy: { ceiling: null, credits: null, rateLimit: null },
          scheduled: [
            { effectiveAt: T0 - 1000, policy: { ceiling: null, credits: null, rateLimit: null, suspended: { reason: "unpaid" } } },
            { effectiveAt: T0 - 2000, policy: { ceiling: null, credits: null, rateLimit: null } },
          ],
          createdAt: T0 - 5000,
          updatedAt: T0 - 5000,
          revision: 3,
        }),
    ],
  ];

  it.each(answers)("%s: STORE_UNAVAILABLE, not cached", async (_name, answer) => {
    const { kw, store, token } = await setup();
    store.account = answer;
    expect(await outcome(() => kw.check({ token }))).toBe("STORE_UNAVAILABLE");
    expect(await outcome(() => kw.verify(request(token)))).toBe("STORE_UNAVAILABLE");
    store.account = null;
    expect(await outcome(() => kw.check({ token }))).toBe("ALLOWED");
    await kw.close();
  });
});
