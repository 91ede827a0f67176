// kw.tokens.reportLeak: revokes (or flags) a live token with a `leak` audit
// entry; anything else changes nothing and never throws for the token's content.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { generateToken, InvalidInputError, Keyward, MemoryStore, type TokenRecord } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { holdable } from "../admin/server.js";

async function setup() {
  let now = Date.UTC(2026, 0, 1);
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => now });
  const issued = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
  const tick = (ms: number) => {
    now += ms;
  };
  return { kw, issued, tick };
}

describe("tokens.reportLeak", () => {
  it("revokes a live token in one step with a leak audit entry (no separate revoke entry)", async () => {
    const { kw, issued } = await setup();
    const report = await kw.tokens.reportLeak(issued.token, { source: "pastebin", url: `https://paste.test/raw?k=${issued.token}` });
    expect(report).toEqual({ outcome: "revoked", tokenId: issued.record.id, owner: "acct_1", kind: "secret" });
    expect((await kw.check({ token: issued.token })).code).toBe("TOKEN_REVOKED");
    const entries = (await kw.tokens.audit({ tokenId: issued.record.id })).items;
    expect(entries.map((e) => e.action)).toEqual(["create", "leak"]);
    // The URL is kept with the leaked token in it redacted.
    expect(entries[1]!.changes).toEqual(["revokedAt", "source:pastebin", "url:https://paste.test/raw?k=acme_sk_live_[redacted]"]);
    expect(entries[1]!.actor).toBe("leak:pastebin");
    expect(JSON.stringify(entries)).not.toContain(issued.token);
    // A second report: inactive, nothing more written.
    expect((await kw.tokens.reportLeak(issued.token, { source: "pastebin" })).outcome).toBe("inactive");
    expect((await kw.tokens.audit({ tokenId: issued.record.id })).items).toHaveLength(2);
  });

  it("keeps the URL without the reported token however it is percent-encoded there (%5F or %5f for _, every character or some)", async () => {
    const { kw, issued } = await setup();
    const { token } = issued;
    const hex = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
    const forms = [token.replaceAll("_", "%5F"), token.replaceAll("_", "%5f"), [...token].map(hex).join(""), `${token.slice(0, 20)}${[...token.slice(20)].map(hex).join("")}`];
    const url = `https://paste.test/raw?${forms.map((f, i) => `k${i}=${f}`).join("&")}`;
    expect((await kw.tokens.reportLeak(token, { source: "support", url, action: "flag" })).outcome).toBe("flagged");
    const entries = (await kw.tokens.audit({ tokenId: issued.record.id })).items;
    const redacted = "acme_sk_live_[redacted]";
    expect(entries.at(-1)!.changes).toEqual(["source:support", `url:https://paste.test/raw?k0=${redacted}&k1=${redacted}&k2=${redacted}&k3=${redacted}`]);
    // Still live (flagged): nothing in the audit log may hold its secret, in any form.
    const secret = token.slice("acme_sk_live_".length);
    for (const form of [secret, ...forms.map((f) => f.slice(-20))]) expect(JSON.stringify(entries)).not.toContain(form);
  });

  it("keeps the URL without any other token either, percent-encoded or not (another token of the store, another application's)", async () => {
    const { kw, issued } = await setup();
    const other = await kw.tokens.create({ owner: "acct_2", kind: "secret" });
    const foreign = generateToken({ prefix: "zed", kind: "publishable", env: "test" });
    const hex = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
    const forms = [other.token, other.token.replaceAll("_", "%5F"), [...other.token].map(hex).join(""), foreign.replaceAll("_", "%5f")];
    const url = `https://paste.test/raw?k=${issued.token}&${forms.map((f, i) => `o${i}=${f}`).join("&")}`;
    expect((await kw.tokens.reportLeak(issued.token, { source: "support", url })).outcome).toBe("revoked");
    const changes = (await kw.tokens.audit({ tokenId: issued.record.id })).items.at(-1)!.changes;
    const [sk, pk] = ["acme_sk_live_[redacted]", "zed_pk_test_[redacted]"];
    expect(changes).toEqual(["revokedAt", "source:support", `url:https://paste.test/raw?k=${sk}&o0=${sk}&o1=${sk}&o2=${sk}&o3=${pk}`]);
    // The other token works still: no part of its secret may be in the log.
    for (const secret of [other.token, foreign].map((t) => t.slice(t.lastIndexOf("_") + 1))) {
      for (const part of [secret.slice(0, 10), secret.slice(-10), [...secret.slice(-10)].map(hex).join("")]) expect(JSON.stringify(changes)).not.toContain(part);
    }
  });

  it('action "flag" audits and leaves the token working', async () => {
    const { kw, issued } = await setup();
    const report = await kw.tokens.reportLeak(issued.token, { source: "support", action: "flag", actor: "user:7" });
    expect(report.outcome).toBe("flagged");
    expect((await kw.check({ token: issued.token })).ok).toBe(true);
    const last = (await kw.tokens.audit({ tokenId: issued.record.id })).items.at(-1)!;
    expect([last.action, last.actor, last.changes]).toEqual(["leak", "user:7", ["source:support"]]);
  });

  it("an old secret in its grace period is live; after it, inactive", async () => {
    const { kw, issued, tick } = await setup();
    await kw.tokens.regenerate(issued.record.id, { graceMs: 60_000 });
    tick(61_000);
    expect((await kw.tokens.reportLeak(issued.token, { source: "github" })).outcome).toBe("inactive");
    const { kw: kw2, issued: other } = await setup();
    await kw2.tokens.regenerate(other.record.id, { graceMs: 60_000 });
    expect((await kw2.tokens.reportLeak(other.token, { source: "github" })).outcome).toBe("revoked");
  });

  it("unknown, foreign-prefix and malformed tokens change nothing; bad options throw", async () => {
    const { kw, issued } = await setup();
    const foreign = generateToken({ prefix: "other", kind: "secret", env: "live" });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.constant(foreign), fc.constant(`${issued.token}x`)), async (s) => {
        expect((await kw.tokens.reportLeak(s, { source: "github" })).outcome).toBe("unknown");
      }),
      { numRuns: 100 },
    );
    expect((await kw.tokens.audit({ tokenId: issued.record.id })).items).toHaveLength(1);
    await expect(kw.tokens.reportLeak(issued.token, { source: "GitHub!" })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(kw.tokens.reportLeak(issued.token, { source: "x", url: "u".repeat(2049) })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(kw.tokens.reportLeak(issued.token, { source: "x", action: "delete" as "flag" })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(kw.tokens.reportLeak(issued.token, { source: "x", publishable: "delete" as "flag" })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(kw.tokens.reportLeak(42 as unknown as string, { source: "x" })).rejects.toBeInstanceOf(TypeError);
    expect((await kw.check({ token: issued.token })).ok).toBe(true);
  });

  describe.each([
    ["MemoryStore", () => new MemoryStore()],
    ["SQLite", () => sqliteStore(":memory:")],
  ])("an imported legacy key the verifier accepts, on %s", (_name, makeStore) => {
    const legacy = (tag: string) => `sk_${tag}_${"0123456789abcdef".repeat(2)}`;
    const legacyHash = (key: string) => createHash("sha256").update(key).digest("hex");

    it("is found like any token: a live secret revoked, a publishable flagged, a look-alike unknown", async () => {
      const store = makeStore();
      const kw = new Keyward({ store, prefix: "acme", acceptForeignTokens: { prefix: "sk_", minLength: 32 } });
      const secret = await kw.tokens.import({ hash: legacyHash(legacy("secret")), owner: "acct_1", kind: "secret" });
      const web = await kw.tokens.import({ hash: legacyHash(legacy("public")), owner: "acct_1", kind: "publishable", domains: ["app.example.com"] });
      expect((await kw.check({ token: legacy("secret") })).ok).toBe(true);

      const report = await kw.tokens.reportLeak(legacy("secret"), { source: "support", url: "https://pastebin.com/x" });
      expect(report).toEqual({ outcome: "revoked", tokenId: secret.id, owner: "acct_1", kind: "secret" });
      expect((await kw.check({ token: legacy("secret") })).code).toBe("TOKEN_REVOKED");
      const entries = (await kw.tokens.audit({ tokenId: secret.id })).items;
      expect(entries.map((e) => [e.action, e.actor, e.changes])).toEqual([
        ["import", "system", expect.any(Array)],
        ["leak", "leak:support", ["revokedAt", "source:support", "url:https://pastebin.com/x"]],
      ]);
      expect((await kw.tokens.reportLeak(legacy("secret"), { source: "support" })).outcome).toBe("inactive");

      // Its kind is the stored one: the string of an imported publishable key does not say it.
      const flagged = await kw.tokens.reportLeak(legacy("public"), { source: "github", publishable: "flag" });
      expect(flagged).toEqual({ outcome: "flagged", tokenId: web.id, owner: "acct_1", kind: "publishable" });
      expect((await kw.check({ token: legacy("public"), origin: "https://app.example.com" })).ok).toBe(true);

      // What the verifier would not look up is not looked up here either.
      for (const s of [legacy("other"), "sk_short", `pk_${legacy("secret").slice(3)}`, `${legacy("secret")}${"x".repeat(512)}`]) {
        expect([s.slice(0, 12), (await kw.tokens.reportLeak(s, { source: "github" })).outcome]).toEqual([s.slice(0, 12), "unknown"]);
      }
      await kw.close();
      // Without acceptForeignTokens the verifier refuses the key, and a report does not find it.
      const strict = new Keyward({ store, prefix: "acme" });
      expect((await strict.check({ token: legacy("public"), origin: "https://app.example.com" })).code).toBe("TOKEN_MALFORMED");
      expect((await strict.tokens.reportLeak(legacy("public"), { source: "github" })).outcome).toBe("unknown");
      await strict.close();
      await store.close();
    });

    it("keeps the URL it was seen at without the key, as it is or percent-encoded, even when only flagged", async () => {
      const store = makeStore();
      const kw = new Keyward({ store, prefix: "acme", acceptForeignTokens: { prefix: "sk_", minLength: 32 } });
      // A base64 legacy key: "+", "/" and "=" are percent-encoded in a query.
      const key = "sk_Qm9vL+base64/legacy+key/0123456789abcdef==";
      const record = await kw.tokens.import({ hash: legacyHash(key), owner: "acct_1", kind: "secret" });
      // As it is, percent-encoded, in lowercase hex, or only its "/" encoded.
      const encoded = encodeURIComponent(key);
      const url = `https://paste.test/raw?k=${key}&e=${encoded}&l=${encoded.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())}&p=${key.replaceAll("/", "%2F")}`;
      expect((await kw.tokens.reportLeak(key, { source: "support", url, action: "flag" })).outcome).toBe("flagged");
      const entries = (await kw.tokens.audit({ tokenId: record.id })).items;
      expect(entries.at(-1)!.changes).toEqual(["source:support", "url:https://paste.test/raw?k=sk_[redacted]&e=sk_[redacted]&l=sk_[redacted]&p=sk_[redacted]"]);
      // The key is still live (flagged, not revoked): nothing in the audit log may hold it.
      expect((await kw.check({ token: key })).ok).toBe(true);
      expect(JSON.stringify(entries)).not.toContain(key.slice(3));
      expect(JSON.stringify(entries)).not.toContain(encodeURIComponent(key).slice(3));
      await kw.close();
      await store.close();
    });
  });

  describe.each([
    ["MemoryStore", () => new MemoryStore()],
    ["SQLite", () => sqliteStore(":memory:")],
  ])("racing another write on %s", (_name, makeStore) => {
    /** A report whose read found the token live, and `meanwhile` done before its revoke, on a clock that moves by `stepMs` per call. */
    async function race(stepMs: number, meanwhile: (kw: Keyward, record: TokenRecord) => Promise<unknown>) {
      const inner = makeStore();
      const held = holdable(inner);
      let now = Date.UTC(2026, 0, 1);
      const kw = new Keyward({ store: held.store, prefix: "acme", now: () => (now += stepMs) });
      const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
      const hold = held.hold("findByHash");
      const reported = kw.tokens.reportLeak(token, { source: "github", url: "https://github.com/o/r/blob/main/.env" });
      await hold.reached;
      await meanwhile(kw, record);
      hold.release();
      const report = await reported;
      const entries = (await kw.tokens.audit({ tokenId: record.id })).items;
      await kw.close();
      await inner.close();
      return { report, entries };
    }

    // A clock that moves: the other revoke is at another millisecond; a frozen one: at the same.
    it.each([1, 0])("a revoke made meanwhile (clock step %i ms) keeps the report's leak entry, without claiming the revocation", async (stepMs) => {
      const { report, entries } = await race(stepMs, (kw, record) => kw.tokens.revoke(record.id, { actor: "user:console" }));
      expect(report.outcome).toBe("revoked");
      expect(entries.map((e) => [e.action, e.actor])).toEqual([
        ["create", "system"],
        ["revoke", "user:console"],
        ["leak", "leak:github"],
      ]);
      expect(entries[2]!.changes).toEqual(["source:github", "url:https://github.com/o/r/blob/main/.env"]);
    });

    it.each([1, 0])("an update made meanwhile (clock step %i ms): the report revokes, one leak entry", async (stepMs) => {
      const { report, entries } = await race(stepMs, (kw, record) => kw.tokens.update(record.id, { name: "ci" }, { expectedRevision: record.revision }));
      expect(report.outcome).toBe("revoked");
      expect(entries.map((e) => e.action)).toEqual(["create", "update", "leak"]);
      expect(entries[2]!.changes).toEqual(["revokedAt", "source:github", "url:https://github.com/o/r/blob/main/.env"]);
    });
  });
});
