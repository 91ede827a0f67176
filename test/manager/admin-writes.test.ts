// Admin writes: ids never echoed, exact revisions, old secrets ended, audit entries written with their change.
import { describe, expect, it } from "vitest";
import { guardStore, isKeywardError, Keyward, MemoryStore } from "keyward";
import { ed25519KeyPair } from "../client/helpers.js";

const T0 = Date.UTC(2026, 0, 1);
const setup = () => {
  const clock = { now: T0 };
  const store = new MemoryStore();
  return { kw: new Keyward({ store, prefix: "acme", now: () => clock.now }), store, clock };
};

describe("admin writes: ids, revisions, old secrets, audit", () => {
  it("a token passed where an id is expected is never echoed in the error", async () => {
    const { kw } = setup();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    for (const call of [() => kw.tokens.revoke(token), () => kw.tokens.update(token, { name: "x" }), () => kw.tokens.regenerate(token)]) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(isKeywardError(err, "TOKEN_NOT_FOUND")).toBe(true);
      expect(JSON.stringify(err)).not.toContain(token.slice(14));
      expect(String(err)).not.toContain(token.slice(14));
    }
  });

  it("an expectedRevision other than the stored one conflicts, even a newer one", async () => {
    const { kw, store } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const b = await kw.tokens.update(record.id, { ips: ["203.0.113.0/24"] });
    const before = await store.get(record.id);
    for (const expectedRevision of [record.revision, b.revision + 1]) {
      const err = await kw.tokens.update(record.id, { name: "a" }, { expectedRevision }).catch((e: unknown) => e);
      expect(isKeywardError(err, "REVISION_CONFLICT")).toBe(true);
    }
    expect(await store.get(record.id)).toEqual(before);
    expect((await kw.tokens.update(record.id, { name: "a" }, { expectedRevision: b.revision })).policy.ips).toEqual(["203.0.113.0/24"]);
  });

  it("regenerate at an expectedRevision: once per revision, checked on the read it writes over", async () => {
    const { kw, store } = setup();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const results = await Promise.allSettled([1, 1].map((expectedRevision) => kw.tokens.regenerate(record.id, { expectedRevision })));
    const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    expect(won).toHaveLength(1);
    expect(results.flatMap((r) => (r.status === "rejected" ? [(r.reason as { code: string }).code] : []))).toEqual(["REVISION_CONFLICT"]);
    const stale = await kw.tokens.regenerate(record.id, { expectedRevision: 1 }).catch((e: unknown) => e);
    expect(isKeywardError(stale, "REVISION_CONFLICT")).toBe(true);
    expect((await store.get(record.id))?.revision).toBe(2);
    expect((await kw.check({ token: won[0]!.token })).ok).toBe(true);
    expect((await kw.check({ token })).code).toBe("TOKEN_UNKNOWN");
    const bad = await kw.tokens.regenerate(record.id, { expectedRevision: 1.5 }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: "INVALID_INPUT", field: "expectedRevision" });
    expect((await kw.tokens.regenerate(record.id, { expectedRevision: 2 })).record.revision).toBe(3);
  });

  it("regenerate without grace ends every old secret, including one still in an earlier grace period", async () => {
    const { kw } = setup();
    const first = await kw.tokens.create({ owner: "o", kind: "secret" });
    const second = await kw.tokens.regenerate(first.record.id, { graceMs: 3_600_000 });
    expect((await kw.check({ token: first.token })).ok).toBe(true);
    const third = await kw.tokens.regenerate(first.record.id);
    expect((await kw.check({ token: first.token })).code).toBe("TOKEN_UNKNOWN");
    expect((await kw.check({ token: second.token })).code).toBe("TOKEN_UNKNOWN");
    expect((await kw.check({ token: third.token })).ok).toBe(true);
    expect(third.record.graceUntil).toBeNull();
  });

  it("changing the signing settings drops the old HMAC keys of a grace period", async () => {
    const store = new MemoryStore();
    const kw = new Keyward({ store, prefix: "acme", sealingKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
    await kw.tokens.regenerate(record.id, { graceMs: 60_000 });
    expect((await store.get(record.id))?.previous[0]?.sealed).toBeDefined();
    await kw.tokens.update(record.id, { signing: { alg: "ed25519", publicKey: ed25519KeyPair().publicKey } });
    const stored = await store.get(record.id);
    expect(stored?.previous).toHaveLength(1);
    expect(stored?.previous[0]?.sealed).toBeUndefined();
  });

  it("an admin action and its audit entry are written together", async () => {
    const { kw, store } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    // A rejected write leaves no audit entry behind.
    await kw.tokens.import({ hash: (await store.get(record.id))!.hash, owner: "o", kind: "secret" }).catch(() => {});
    expect((await guardStore(store).listAudit({ owner: "o" })).items.map((e) => e.action)).toEqual(["create"]);
  });
});
