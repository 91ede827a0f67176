// Suspending an account (`kw.accounts.set(owner, { suspended })`): every
// request of each of its tokens is ACCOUNT_SUSPENDED (403) until lifted,
// spending and writing nothing; effective-dated, compare-and-set and audited
// (with the operator's reason) like every account change; reaching other
// instances within the revocation bound.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Keyward, MemoryStore, problemDetails, type TokenStore } from "keyward";
import { signRequest } from "keyward/signing";
import { sqliteStore } from "keyward/sqlite";
import type { MeterRequest, MeterResult, NonceKey } from "../../src/store/types.js";
import { ed25519KeyPair } from "../client/helpers.js";

const T0 = Date.UTC(2026, 0, 10);
const REASON = "invoice 2026-11 unpaid (ticket 81)";
const dir = mkdtempSync(join(tmpdir(), "kw-suspend-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const stores: [string, () => TokenStore][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SqliteStore", () => sqliteStore(join(dir, `db${files++}.sqlite`))],
];

function setup(store: TokenStore, options: { revocationBoundMs?: number } = {}) {
  let now = T0;
  const kw = new Keyward({ store, prefix: "acme", env: "test", now: () => now, ...options });
  return { kw, tick: (ms: number) => (now += ms), at: () => now };
}

describe.each(stores)("account suspension on %s", (_name, makeStore) => {
  it("denies every token of the account with ACCOUNT_SUSPENDED (403) until lifted; other accounts untouched", async () => {
    const { kw } = setup(makeStore());
    const a = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
    const b = await kw.tokens.create({ owner: "acct_1", kind: "publishable" });
    const other = await kw.tokens.create({ owner: "acct_2", kind: "secret" });
    const saved = await kw.accounts.set("acct_1", { suspended: { reason: REASON } }, { actor: "billing" });
    expect(saved.policy.suspended).toEqual({ reason: REASON, since: T0 });
    expect((await kw.accounts.get("acct_1"))?.policy.suspended).toEqual({ reason: REASON, since: T0 });
    for (const t of [a.token, b.token]) {
      const d = await kw.check({ token: t, scope: "core:read" });
      expect([d.ok, d.code, d.status]).toEqual([false, "ACCOUNT_SUSPENDED", 403]);
      expect(d.headers["www-authenticate"]).toBeUndefined();
      // The caller is told the account is suspended, never the operator's reason.
      expect(problemDetails(d)).toEqual({
        type: "urn:keyward:problem:account-suspended",
        title: "Account suspended",
        status: 403,
        detail: expect.any(String),
        code: "ACCOUNT_SUSPENDED",
      });
      expect(JSON.stringify({ d, p: problemDetails(d) })).not.toContain("ticket 81");
    }
    expect((await kw.check({ token: other.token })).ok).toBe(true);
    // The tokens themselves are untouched: nothing to undo but the suspension.
    expect((await kw.tokens.get(a.record.id))?.revision).toBe(a.record.revision);
    const lifted = await kw.accounts.set("acct_1", { suspended: null }, { actor: "billing" });
    expect(lifted.policy.suspended).toBeNull();
    expect((await kw.check({ token: a.token, scope: "core:read" })).ok).toBe(true);
    expect((await kw.check({ token: b.token })).ok).toBe(true);
  });

  it("revoked, expired and disabled tokens keep their own codes; a scope the token lacks is still SCOPE_DENIED", async () => {
    const { kw, tick } = setup(makeStore());
    const revoked = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const expiring = await kw.tokens.create({ owner: "acct_1", kind: "secret", expiresAt: T0 + 1000 });
    const disabled = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.tokens.revoke(revoked.record.id);
    await kw.tokens.disable(disabled.record.id);
    await kw.accounts.set("acct_1", { suspended: { reason: REASON } });
    tick(2000);
    expect((await kw.check({ token: revoked.token })).code).toBe("TOKEN_REVOKED");
    expect((await kw.check({ token: expiring.token })).code).toBe("TOKEN_EXPIRED");
    expect((await kw.check({ token: disabled.token })).code).toBe("TOKEN_DISABLED");
    // The token's own scope check comes first too (no account read for a scope the token cannot use).
    const narrow = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
    expect((await kw.check({ token: narrow.token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
    expect((await kw.check({ token: narrow.token, scope: "core:read" })).code).toBe("ACCOUNT_SUSPENDED");
  });

  it("is audited with the reason (lifting without one); the reason is checked as stored text", async () => {
    const { kw } = setup(makeStore());
    await kw.accounts.set("acct_1", { suspended: { reason: REASON } }, { actor: "billing" });
    await kw.accounts.set("acct_1", { suspended: null }, { actor: "support:7" });
    const audit = (await kw.tokens.audit({ owner: "acct_1" })).items;
    expect(audit.map((e) => [e.action, e.tokenId, e.actor, e.changes, e.reason])).toEqual([
      ["account", "*", "billing", ["suspended"], REASON],
      ["account", "*", "support:7", ["suspended"], undefined],
    ]);
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const revision = (await kw.accounts.get("acct_1"))?.revision;
    for (const reason of ["", "   ", "x".repeat(501), "line\nbreak", "a\u202Eb", `see ${token}`, 42, null]) {
      await expect(kw.accounts.set("acct_1", { suspended: { reason } as never })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    // Since when is keyward's to write, never given.
    for (const bad of [true, "yes", {}, { reason: "x", note: "y" }, { reason: "x", since: T0 - 1000 }]) {
      await expect(kw.accounts.set("acct_1", { suspended: bad as never })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    expect((await kw.accounts.get("acct_1"))?.revision).toBe(revision);
    expect((await kw.check({ token })).ok).toBe(true);
  });

  it("effective-dated and compare-and-set like every account change", async () => {
    const { kw, tick } = setup(makeStore(), { revocationBoundMs: 5_000 });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const set = await kw.accounts.set("acct_1", { suspended: { reason: REASON } }, { effectiveAt: T0 + 60_000 });
    expect(set.policy.suspended ?? null).toBeNull();
    expect(set.scheduled).toEqual([{ effectiveAt: T0 + 60_000, policy: expect.objectContaining({ suspended: { reason: REASON, since: T0 + 60_000 } }) }]);
    tick(59_999);
    expect((await kw.check({ token })).ok).toBe(true);
    tick(1);
    expect((await kw.check({ token })).code).toBe("ACCOUNT_SUSPENDED");
    await expect(kw.accounts.set("acct_1", { suspended: null }, { expectedRevision: set.revision - 1 })).rejects.toMatchObject({
      code: "REVISION_CONFLICT",
    });
    expect((await kw.check({ token })).code).toBe("ACCOUNT_SUSPENDED");
    await kw.accounts.set("acct_1", { suspended: null }, { expectedRevision: set.revision });
    expect((await kw.check({ token })).ok).toBe(true);
  });

  it("a plan change leaves a suspension in force, and a suspension keeps the plan", async () => {
    const { kw } = setup(makeStore());
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] });
    await kw.accounts.set("acct_1", { suspended: { reason: REASON }, ceiling: ["core:read", "premium:read"] });
    await kw.accounts.set("acct_1", { ceiling: ["core:read"] });
    expect((await kw.check({ token, scope: "core:read" })).code).toBe("ACCOUNT_SUSPENDED");
    await kw.accounts.set("acct_1", { suspended: null });
    expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    expect((await kw.check({ token, scope: "premium:read" })).code).toBe("SCOPE_DENIED");
  });

  it("members.can answers as keyward/admin does: no create, update, limits, regenerate or delete while suspended (scheduled too); reads and taking access away still", async () => {
    const { kw, tick } = setup(makeStore());
    await kw.accounts.members.set("acct_1", "user:1", "owner");
    const can = (action: Parameters<typeof kw.accounts.members.can>[2]) => kw.accounts.members.can("acct_1", "user:1", action);
    await kw.accounts.set("acct_1", { suspended: { reason: REASON } }, { effectiveAt: T0 + 60_000 });
    expect(await can("tokens.create.secret")).toBe(true);
    tick(60_000);
    for (const action of ["tokens.create.publishable", "tokens.create.secret", "tokens.update", "tokens.limits", "tokens.regenerate", "tokens.delete"] as const) {
      expect([action, await can(action)]).toEqual([action, false]);
    }
    for (const action of ["tokens.read", "tokens.revoke", "tokens.disable", "members.manage"] as const) {
      expect([action, await can(action)]).toEqual([action, true]);
    }
    await kw.accounts.set("acct_1", { suspended: null });
    expect(await can("tokens.create.secret")).toBe(true);
  });

  it("keeps when the suspension began: its effective time, kept by a new reason while suspended, anew after a lift", async () => {
    const store = makeStore();
    const { kw, tick } = setup(store);
    const since = async () => (await kw.accounts.get("acct_1"))?.policy.suspended?.since;
    await kw.accounts.set("acct_1", { suspended: { reason: "first" } });
    tick(1000);
    // A new reason (with another field) while suspended: still since the first.
    const second = await kw.accounts.set("acct_1", { suspended: { reason: "second" }, credits: { limit: 5 } });
    expect(second.policy.suspended).toEqual({ reason: "second", since: T0 });
    // Backdated before it began: since the change's time.
    await kw.accounts.set("acct_1", { suspended: { reason: "third" } }, { effectiveAt: T0 - 5000 });
    expect(await since()).toBe(T0 - 5000);
    await kw.accounts.set("acct_1", { suspended: null });
    tick(1000);
    await kw.accounts.set("acct_1", { suspended: { reason: "again" } });
    expect(await since()).toBe(T0 + 2000);
    // Scheduled on an active account: since its effective time, and a later one (a new reason) keeps it.
    await kw.accounts.set("acct_2", { suspended: { reason: "notice" } }, { effectiveAt: T0 + 60_000 });
    const later = await kw.accounts.set("acct_2", { suspended: { reason: "final notice" } }, { effectiveAt: T0 + 120_000 });
    expect(later.scheduled.map((s) => s.policy.suspended)).toEqual([
      { reason: "notice", since: T0 + 60_000 },
      { reason: "final notice", since: T0 + 60_000 },
    ]);
    tick(120_000);
    expect((await kw.accounts.get("acct_2"))?.policy.suspended).toEqual({ reason: "final notice", since: T0 + 60_000 });
    // A suspension written before `since` was kept: a new reason does not make one up; a lift and a suspension do.
    const old = (await store.getAccount!("acct_1"))!;
    await store.putAccount!({ ...old, policy: { ...old.policy, suspended: { reason: "old" } } }, old.revision);
    await kw.accounts.set("acct_1", { suspended: { reason: "still" } });
    expect((await kw.accounts.get("acct_1"))?.policy.suspended).toEqual({ reason: "still" });
    await kw.accounts.set("acct_1", { suspended: null });
    await kw.accounts.set("acct_1", { suspended: { reason: "new" } });
    expect(await since()).toBe(T0 + 122_000);
  });

  it("a suspension or lift at once applies to the revisions scheduled after it too: the answer's `scheduled` shows what is left", async () => {
    const { kw, tick } = setup(makeStore());
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const due = T0 + 86_400_000;
    await kw.accounts.set("acct_1", { suspended: { reason: "invoice unpaid" }, credits: { limit: 5 } }, { effectiveAt: due });
    // Suspended at once: the revision scheduled later is suspended too, its other fields kept.
    const abuse = await kw.accounts.set("acct_1", { suspended: { reason: REASON } });
    expect(abuse.scheduled).toEqual([
      { effectiveAt: due, policy: expect.objectContaining({ suspended: { reason: REASON, since: T0 }, credits: expect.objectContaining({ limit: 5 }) }) },
    ]);
    // Lifted at once: the suspension scheduled for later is lifted with it, and must be scheduled again.
    const lifted = await kw.accounts.set("acct_1", { suspended: null });
    expect(lifted.scheduled).toEqual([{ effectiveAt: due, policy: expect.objectContaining({ suspended: null, credits: expect.objectContaining({ limit: 5 }) }) }]);
    tick(due - T0);
    expect((await kw.check({ token })).ok).toBe(true);
  });
});

describe("account suspension spends and writes nothing", () => {
  /** A MemoryStore that counts the request path's writes. */
  class Counting extends MemoryStore {
    meters = 0;
    usage: { code?: string | undefined; cost: number }[] = [];
    override meter(request: MeterRequest, now: number): Promise<MeterResult> {
      this.meters++;
      return super.meter(request, now);
    }
    override recordUsage(...args: Parameters<MemoryStore["recordUsage"]>) {
      this.usage.push(...args[0].map((e) => ({ code: e.code, cost: e.cost })));
      return super.recordUsage(...args);
    }
    nonces = 0;
    override rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean> {
      this.nonces++;
      return super.rememberNonce(key, expiresAt, now);
    }
  }

  it("a signed request stores no nonce (SECURITY.md: a refused request stores none): once lifted, the same request passes", async () => {
    const store = new Counting();
    const { kw, at } = setup(store);
    const { seed, publicKey } = ed25519KeyPair();
    const { record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", signing: { alg: "ed25519", publicKey } });
    await kw.accounts.set("acct_1", { suspended: { reason: REASON } });
    const signed = await signRequest(new Request("https://api.example.com/v1/prices"), {
      keyId: record.id,
      key: { alg: "ed25519", privateKey: seed },
      created: Math.floor(at() / 1000),
      nonce: true,
    });
    expect((await kw.verify(signed)).code).toBe("ACCOUNT_SUSPENDED");
    expect(store.nonces).toBe(0);
    await kw.accounts.set("acct_1", { suspended: null });
    expect((await kw.verify(signed)).ok).toBe(true);
    expect(store.nonces).toBe(1);
    expect((await kw.verify(signed)).code).toBe("REPLAYED");
  });

  it("no meter call, no credit or rate spent, only the decision's usage event (cost 0)", async () => {
    const store = new Counting();
    const { kw } = setup(store);
    await kw.accounts.set("acct_1", { credits: { limit: 10 }, rateLimit: { limit: 3, windowMs: 60_000 } });
    const { token, record } = await kw.tokens.create({
      owner: "acct_1",
      kind: "secret",
      credits: { limit: 5 },
      rateLimit: { limit: 3, windowMs: 60_000 },
    });
    await kw.accounts.set("acct_1", { suspended: { reason: REASON } });
    store.meters = 0;
    for (let i = 0; i < 20; i++) expect((await kw.check({ token, cost: 1 })).code).toBe("ACCOUNT_SUSPENDED");
    await kw.flush();
    expect(store.meters).toBe(0);
    expect(store.usage).toHaveLength(20);
    expect(store.usage.every((e) => e.code === "ACCOUNT_SUSPENDED" && e.cost === 0)).toBe(true);
    expect((await kw.credits.get({ tokenId: record.id })).remaining).toBe(5);
    expect((await kw.credits.get({ owner: "acct_1" })).remaining).toBe(10);
    await kw.accounts.set("acct_1", { suspended: null });
    // The rate limits were not spent either: three requests pass, the fourth is limited.
    for (let i = 0; i < 3; i++) expect((await kw.check({ token, cost: 1 })).ok).toBe(true);
    expect((await kw.check({ token, cost: 1 })).code).toBe("RATE_LIMITED");
  });
});

describe("account suspension across instances", () => {
  it("SQLite: two Keyward instances on one file, each with its own connection: within revocationBoundMs both ways", async () => {
    const file = join(dir, "shared.sqlite");
    let now = T0;
    const clock = { now: () => now, prefix: "acme", env: "test" as const, revocationBoundMs: 5_000 };
    const admin = new Keyward({ store: sqliteStore(file), ...clock });
    const server = new Keyward({ store: sqliteStore(file), ...clock });
    try {
      const { token } = await admin.tokens.create({ owner: "acct_1", kind: "secret" });
      expect((await server.check({ token })).ok).toBe(true); // the account ("none") is cached on the server
      await admin.accounts.set("acct_1", { suspended: { reason: REASON } });
      expect((await admin.check({ token })).code).toBe("ACCOUNT_SUSPENDED"); // at once where it was made
      now += 5_001;
      expect((await server.check({ token })).code).toBe("ACCOUNT_SUSPENDED");
      await admin.accounts.set("acct_1", { suspended: null });
      now += 5_001;
      expect((await server.check({ token })).ok).toBe(true);
    } finally {
      await Promise.all([admin.close(), server.close()]);
    }
  });
});
