import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { combineStores, Keyward, MemoryStore, type TokenStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "kw-disable-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const stores: [string, () => TokenStore][] = [
  ["MemoryStore", () => new MemoryStore()],
  ["SqliteStore", () => sqliteStore(join(dir, `db${files++}.sqlite`))],
];

describe.each(stores)("disable / enable on %s", (_name, makeStore) => {
  const bearer = (token: string) => new Request("https://api.test/x", { headers: { authorization: `Bearer ${token}` } });

  it("a disabled token is TOKEN_DISABLED (401) until enabled; both audited; idempotent", async () => {
    let now = 1_800_000_000_000;
    const kw = new Keyward({ store: makeStore(), prefix: "acme", now: () => now });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect(record.disabledAt).toBeNull();
    expect((await kw.verify(bearer(token))).ok).toBe(true);
    now += 1000;
    const off = await kw.tokens.disable(record.id, { actor: "user:1" });
    expect(off.disabledAt).toBe(now);
    const d = await kw.verify(bearer(token));
    expect([d.ok, d.code, d.status]).toEqual([false, "TOKEN_DISABLED", 401]);
    // A second disable writes nothing and keeps the first time.
    now += 1000;
    const again = await kw.tokens.disable(record.id);
    expect([again.disabledAt, again.revision]).toEqual([off.disabledAt, off.revision]);
    expect((await kw.tokens.get(record.id))?.disabledAt).toBe(off.disabledAt);
    const on = await kw.tokens.enable(record.id, { actor: "user:2" });
    expect(on.disabledAt).toBeNull();
    expect((await kw.verify(bearer(token))).ok).toBe(true);
    await kw.flush();
    const audit = (await kw.tokens.audit({ tokenId: record.id })).items;
    expect(audit.map((e) => [e.action, e.actor, e.changes])).toEqual([
      ["create", "system", expect.any(Array)],
      ["disable", "user:1", ["disabledAt"]],
      ["enable", "user:2", ["disabledAt"]],
    ]);
    expect(JSON.stringify(audit)).not.toContain(token);
  });

  it("a revoked token cannot be disabled or enabled (TOKEN_REVOKED), and nothing is written", async () => {
    const kw = new Keyward({ store: makeStore(), prefix: "acme" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const revoked = await kw.tokens.revoke(record.id);
    await expect(kw.tokens.disable(record.id)).rejects.toMatchObject({ code: "TOKEN_REVOKED" });
    await expect(kw.tokens.enable(record.id)).rejects.toMatchObject({ code: "TOKEN_REVOKED" });
    await expect(kw.tokens.disable("tok_nope")).rejects.toMatchObject({ code: "TOKEN_NOT_FOUND" });
    expect((await kw.tokens.get(record.id))?.revision).toBe(revoked.revision);
    expect((await kw.tokens.audit({ tokenId: record.id })).items.map((e) => e.action)).toEqual(["create", "revoke"]);
  });

  it("reaches another instance within revocationBoundMs (a record write, like revoke)", async () => {
    let now = 1_800_000_000_000;
    const store = makeStore();
    const admin = new Keyward({ store, prefix: "acme", now: () => now, revocationBoundMs: 5_000 });
    const server = new Keyward({ store, prefix: "acme", now: () => now, revocationBoundMs: 5_000 });
    const { token, record } = await admin.tokens.create({ owner: "o", kind: "secret" });
    expect((await server.verify(bearer(token))).ok).toBe(true); // cached on the other instance
    await admin.tokens.disable(record.id);
    now += 5_001;
    expect((await server.verify(bearer(token))).code).toBe("TOKEN_DISABLED");
    await admin.tokens.enable(record.id);
    now += 5_001;
    expect((await server.verify(bearer(token))).ok).toBe(true);
  });
});

describe.each(stores)("delete on %s", (_name, makeStore) => {
  const bearer = (token: string) => new Request("https://api.test/x", { headers: { authorization: `Bearer ${token}` } });

  it("removes the token for good with its counters and usage; audited with what was removed, never the secret", async () => {
    const now = 1_800_000_000_000;
    const kw = new Keyward({ store: makeStore(), prefix: "acme", now: () => now });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 10, refill: null } });
    expect((await kw.check({ token, cost: 4 })).ok).toBe(true);
    await kw.flush();
    expect(await kw.usage.get(record.id, { from: now - 3_600_000, to: now + 3_600_000 })).not.toEqual([]);
    const result = await kw.tokens.delete(record.id, { actor: "user:9" });
    expect(result).toEqual({ id: record.id, owner: "o", removed: { hashes: 1, credits: 1, rateLimits: 0, nonces: 0, usage: 1 } });
    expect(await kw.tokens.get(record.id)).toBeNull();
    expect((await kw.check({ token })).code).toBe("TOKEN_UNKNOWN"); // this instance's cache was dropped at once
    expect(await kw.usage.get(record.id, { from: now - 3_600_000, to: now + 3_600_000 })).toEqual([]);
    const audit = (await kw.tokens.audit({ tokenId: record.id })).items;
    expect(audit.at(-1)).toMatchObject({ action: "delete", actor: "user:9", changes: ["record", "hashes", "credits", "rateLimits", "nonces", "usage"] });
    expect(JSON.stringify(audit)).not.toContain(token);
    await expect(kw.tokens.delete(record.id)).rejects.toMatchObject({ code: "TOKEN_NOT_FOUND" });
    await expect(kw.tokens.disable(record.id)).rejects.toMatchObject({ code: "TOKEN_NOT_FOUND" });
  });

  it("usage still queued when the token is deleted goes with it (no row, no last use, no token in the owner's usage), and stays billed to its owner", async () => {
    const now = 1_800_000_000_000;
    const hour = now - (now % 3_600_000);
    const kw = new Keyward({ store: makeStore(), prefix: "acme", now: () => now, usage: { flushIntervalMs: 60_000 } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 10, refill: null } });
    expect((await kw.check({ token, cost: 3, ip: "203.0.113.7" })).ok).toBe(true);
    await kw.flush();
    // Made before the delete, still in the queue when it runs.
    expect((await kw.check({ token, cost: 2, ip: "203.0.113.8" })).ok).toBe(true);
    await kw.tokens.delete(record.id);
    await kw.flush();
    const range = { from: now - 3_600_000, to: now + 3_600_000 };
    // Before: the queued event was written after the delete and made the token's rows (hour, minute, last use: its IP) again.
    expect(await kw.usage.get(record.id, range)).toEqual([]);
    expect(await kw.usage.lastUsed(record.id)).toBeNull();
    expect(await kw.usage.get({ owner: "o" }, { ...range, groupBy: "token" })).toEqual([]);
    // Billing is per owner and kept: both requests' credits are billed.
    expect(await kw.billing.usage({ from: hour, to: hour + 3_600_000 })).toMatchObject([{ owner: "o", requests: 2, credits: 5 }]);
    await kw.close();
  });

  it("a revoked token can be deleted; another instance stops within revocationBoundMs", async () => {
    let now = 1_800_000_000_000;
    const store = makeStore();
    const admin = new Keyward({ store, prefix: "acme", now: () => now, revocationBoundMs: 5_000 });
    const server = new Keyward({ store, prefix: "acme", now: () => now, revocationBoundMs: 5_000 });
    const a = await admin.tokens.create({ owner: "o", kind: "secret" });
    await admin.tokens.revoke(a.record.id);
    await admin.tokens.delete(a.record.id);
    const b = await admin.tokens.create({ owner: "o", kind: "secret" });
    expect((await server.verify(bearer(b.token))).ok).toBe(true);
    await admin.tokens.delete(b.record.id);
    now += 5_001;
    expect((await server.verify(bearer(b.token))).code).toBe("TOKEN_UNKNOWN");
  });

  it("a delete racing checks: each check is allowed (before) or TOKEN_UNKNOWN (after), and the record never comes back", async () => {
    const kw = new Keyward({ store: makeStore(), prefix: "acme", usage: { enabled: false } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const checks = Array.from({ length: 50 }, () => kw.check({ token }));
    const [deleted, ...decisions] = await Promise.all([kw.tokens.delete(record.id), ...checks]);
    expect(deleted.id).toBe(record.id);
    for (const d of decisions) expect(d.ok || d.code === "TOKEN_UNKNOWN").toBe(true);
    expect(await kw.tokens.get(record.id)).toBeNull();
    expect((await kw.check({ token })).code).toBe("TOKEN_UNKNOWN");
  });
});

describe("a delete the store commits but answers without the record", () => {
  /** A MemoryStore without a change feed whose delete commits, then rejects as a connection cut after the commit would, or answers nothing. */
  class ReplyLost extends MemoryStore {
    constructor(readonly fault: "rejects" | "nothing") {
      super({ changeFeed: false });
    }
    override async delete(...args: Parameters<MemoryStore["delete"]>) {
      await super.delete(...args);
      if (this.fault === "nothing") return undefined as never;
      throw Object.assign(new Error("Connection terminated unexpectedly"), { code: "ECONNRESET" });
    }
  }

  it.each(["rejects", "nothing"] as const)("rejects with STORE_UNAVAILABLE, and this instance stops accepting the token at once (%s)", async (fault) => {
    const kw = new Keyward({ store: new ReplyLost(fault), prefix: "acme", revocationBoundMs: 60_000 });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect((await kw.check({ token })).ok).toBe(true); // cached here, with no change feed to learn of writes
    await expect(kw.tokens.delete(record.id)).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
    // The delete was stored: a retry finds nothing to delete, and this instance decides on it at once.
    await expect(kw.tokens.delete(record.id)).rejects.toMatchObject({ code: "TOKEN_NOT_FOUND" });
    expect((await kw.check({ token })).code).toBe("TOKEN_UNKNOWN");
  });
});

describe("delete on a store without hardDelete", () => {
  it("throws STORE_UNSUPPORTED and changes nothing", async () => {
    const counters = new MemoryStore();
    const kw = new Keyward({ store: combineStores({ records: new MemoryStore(), counters, usage: counters }), prefix: "acme" });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await expect(kw.tokens.delete(record.id)).rejects.toMatchObject({ code: "STORE_UNSUPPORTED", feature: "delete" });
    expect((await kw.check({ token })).ok).toBe(true);
    expect((await kw.tokens.audit({ tokenId: record.id })).items.map((e) => e.action)).toEqual(["create"]);
  });
});
