// Conformance group "insert" of describeTokenStore.
import { expect, it } from "vitest";
import { makeAuditEntry, makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { deepFreeze, expectCode, type SuiteContext, T } from "../suite.js";

/** Registers the "insert" tests; `ctx.store` is the store of the running test. */
export function insertGroup(ctx: SuiteContext): void {
    it("stores the token as given, revision included", async () => {
      const t = makeStoredToken({ revision: 7, metadata: { plan: "pro", tags: ["a"] } });
      await ctx.store.insert(t);
      expect(await ctx.store.get(t.id)).toEqual(t);
    });

    it("stores the longest owners keyward writes as given (256 UTF-16 code units, astral characters included), and lists and audits by them", async () => {
      // 256 characters (a VARCHAR(255) column truncates or refuses it), and 256 code units of which 130 are astral pairs (a byte-sized column too).
      for (const owner of [`o${"é".repeat(255)}`, `o${"é".repeat(125)}${"\u{1F600}".repeat(65)}`]) {
        const t = makeStoredToken({ owner });
        await ctx.store.insert(t, makeAuditEntry({ tokenId: t.id, owner }));
        expect(await ctx.store.get(t.id)).toEqual(t);
        expect(await ctx.store.findByHash(t.hash)).toEqual(t);
        expect((await ctx.store.list(owner)).items).toEqual([t]);
        expect((await ctx.store.listAudit({ owner })).items.map((e) => e.tokenId)).toEqual([t.id]);
        expect((await ctx.store.list(owner.slice(0, 254))).items).toEqual([]);
      }
    });

    it("keeps names and metadata as given: 256 code units with astral characters, combining marks, bidi text; JSON numbers exact", async () => {
      // A column of 3-byte UTF-8 (MySQL's utf8mb3) mangles the astral characters; one of 64 or 255 characters truncates.
      const name = `${"\u{1F511}".repeat(100)}e\u0301 \u05E9\u05DC\u05D5\u05DD ${"\u00E9".repeat(48)}`;
      const metadata = {
        label: "\u{1F600}\u{10FFFF}\u00E9e\u0301\u202E\uFEFF'\"\\%_",
        nested: { "\u{1F511}": ["\u{1D11E}", { deep: "\u4E2D\u6587" }] },
        numbers: [2 ** 53 - 1, -(2 ** 53 - 1), 0.1, 1.5e300, 5e-324, -0.5, 0],
        empty: "",
        flags: [true, false, null],
      };
      expect(name).toHaveLength(256);
      const t = makeStoredToken({ name, metadata });
      await ctx.store.insert(t);
      expect(await ctx.store.get(t.id)).toEqual(t);
      expect(await ctx.store.findByHash(t.hash)).toEqual(t);
      expect((await ctx.store.list(t.owner)).items).toEqual([t]);
    });

    it("owners and ids that differ only in case, accents or a trailing space are distinct: one never finds the other's tokens or entries", async () => {
      // What a case- or accent-insensitive collation, or one that ignores trailing spaces (PAD SPACE), would take for one:
      // an owner listing another's tokens. keyward's ids are base62: they differ by case alone.
      const base = `acct_${randomId("x").slice(2)}`;
      const owners = [`${base}_Ab\u00E9`, `${base}_aB\u00E9`, `${base}_Abe`, `${base}_Ab\u00E9 `];
      const id = `tok_${randomId("x").slice(2)}Ab`;
      const ts = owners.map((owner, i) => makeStoredToken({ owner, id: i === 0 ? id : i === 1 ? `${id.slice(0, -2)}aB` : i === 2 ? `${id.slice(0, -2)}Ae` : randomId("tok") }));
      for (const t of ts) await ctx.store.insert(t, makeAuditEntry({ tokenId: t.id, owner: t.owner }));
      for (const t of ts) {
        expect(await ctx.store.get(t.id)).toEqual(t);
        expect((await ctx.store.list(t.owner)).items).toEqual([t]);
        expect((await ctx.store.listAudit({ owner: t.owner })).items.map((e) => e.tokenId)).toEqual([t.id]);
        expect((await ctx.store.listAudit({ tokenId: t.id })).items.map((e) => e.owner)).toEqual([t.owner]);
      }
      expect(await ctx.store.get(`${id.slice(0, -2)}ab`)).toBeNull();
      // The ids keyward writes are ASCII, but a read by token id may name any text (kw.tokens.audit and kw.usage
      // pass the caller's): one with an accent, or a trailing space, is not a stored id without it.
      for (const other of [`${id.slice(0, -2)}A\u00E9`, `${id} `]) expect((await ctx.store.listAudit({ tokenId: other })).items).toEqual([]);
      expect((await ctx.store.list(`${base}_ab\u00E9`)).items).toEqual([]);
    });

    it("does not mutate its argument, nor keep a reference to it", async () => {
      const t = makeStoredToken({ previous: [{ hash: randomHash(), expiresAt: T + 1 }] });
      const snapshot = structuredClone(t);
      await ctx.store.insert(deepFreeze(structuredClone(t))); // a store that mutates it throws here
      expect(await ctx.store.get(t.id)).toEqual(snapshot);
      const mutable = makeStoredToken();
      await ctx.store.insert(mutable);
      mutable.name = "changed";
      mutable.policy.scopes.push("premium:read");
      const stored = await ctx.store.get(mutable.id);
      expect(stored?.name).toBe("fixture");
      expect(stored?.policy.scopes).toEqual(["core:read"]);
    });

    it("rejects a duplicate id with TOKEN_ALREADY_EXISTS and writes nothing", async () => {
      const a = makeStoredToken();
      await ctx.store.insert(a);
      const b = makeStoredToken({ id: a.id, owner: randomId("acct"), name: "other" });
      await expectCode(ctx.store.insert(b), "TOKEN_ALREADY_EXISTS");
      expect(await ctx.store.get(a.id)).toEqual(a);
      expect(await ctx.store.findByHash(b.hash)).toBeNull();
      expect((await ctx.store.list(b.owner)).items).toEqual([]);
    });

    it("rejects a duplicate current hash and writes nothing", async () => {
      const a = makeStoredToken();
      await ctx.store.insert(a);
      const b = makeStoredToken({ hash: a.hash, previous: [{ hash: randomHash(), expiresAt: T }] });
      await expectCode(ctx.store.insert(b), "TOKEN_ALREADY_EXISTS");
      expect(await ctx.store.get(b.id)).toBeNull();
      expect(await ctx.store.findByHash(b.previous[0]!.hash)).toBeNull();
      expect((await ctx.store.findByHash(a.hash))?.id).toBe(a.id);
    });

    it("rejects a hash that is another token's previous hash", async () => {
      const old = randomHash();
      const a = makeStoredToken({ previous: [{ hash: old, expiresAt: T + 1000 }] });
      await ctx.store.insert(a);
      const b = makeStoredToken({ hash: old });
      await expectCode(ctx.store.insert(b), "TOKEN_ALREADY_EXISTS");
      expect(await ctx.store.get(b.id)).toBeNull();
      expect((await ctx.store.findByHash(old))?.id).toBe(a.id);
    });

    it("rejects a previous hash that is another token's current or previous hash", async () => {
      const old = randomHash();
      const a = makeStoredToken({ previous: [{ hash: old, expiresAt: T + 1000 }] });
      await ctx.store.insert(a);
      const b = makeStoredToken({ previous: [{ hash: a.hash, expiresAt: T }] });
      await expectCode(ctx.store.insert(b), "TOKEN_ALREADY_EXISTS");
      const c = makeStoredToken({ previous: [{ hash: old, expiresAt: T }] });
      await expectCode(ctx.store.insert(c), "TOKEN_ALREADY_EXISTS");
      expect(await ctx.store.get(b.id)).toBeNull();
      expect(await ctx.store.get(c.id)).toBeNull();
      expect(await ctx.store.findByHash(b.hash)).toBeNull();
      expect(await ctx.store.findByHash(c.hash)).toBeNull();
    });

    it("accepts many tokens of one owner", async () => {
      const owner = randomId("acct");
      const ts = Array.from({ length: 20 }, (_, i) => makeStoredToken({ owner, createdAt: T + i }));
      for (const t of ts) await ctx.store.insert(t);
      for (const t of ts) expect((await ctx.store.findByHash(t.hash))?.id).toBe(t.id);
    });
}
