// Conformance group "audit" of describeTokenStore.
import { beforeEach, expect, it } from "vitest";
import type { AuditEntry } from "../../model/types.js";
import { makeAuditEntry, makeStoredToken, randomId } from "../fixtures.js";
import { expectCode, type SuiteContext, T } from "../suite.js";

/** Registers the "audit" tests; `ctx.store` is the store of the running test. */
export function auditGroup(ctx: SuiteContext): void {
    it("insert, update and revoke append their audit entry with the write, and only when it commits", async () => {
      const t = makeStoredToken();
      const created = makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "create", at: T });
      await ctx.store.insert(t, created);
      // A rejected insert (same id) writes neither the token nor its entry.
      await expectCode(ctx.store.insert(t, makeAuditEntry({ tokenId: t.id, owner: t.owner, at: T + 1 })), "TOKEN_ALREADY_EXISTS");
      // A conflicting update writes neither.
      await expectCode(
        ctx.store.update({ ...t, name: "lost" }, t.revision + 5, makeAuditEntry({ tokenId: t.id, owner: t.owner, at: T + 2 })),
        "REVISION_CONFLICT",
      );
      const updated = makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "update", at: T + 3 });
      await ctx.store.update({ ...t, name: "renamed" }, t.revision, updated);
      const revoked = makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "revoke", at: T + 4 });
      await ctx.store.revoke(t.id, T + 4, revoked);
      // Unknown token: nothing written.
      await expectCode(ctx.store.revoke(randomId("tok"), T + 5, makeAuditEntry({ owner: t.owner, at: T + 5 })), "TOKEN_NOT_FOUND");
      const { items } = await ctx.store.listAudit({ owner: t.owner });
      expect(items).toEqual([created, updated, revoked]);
    });

    it("an entry id already used is INVALID_INPUT: appendAudit keeps the first entry, and insert, update or revoke with it write nothing", async () => {
      const t = makeStoredToken();
      const first = makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "create", at: T });
      await ctx.store.insert(t, first);
      const reused = (at: number) => makeAuditEntry({ id: first.id, tokenId: t.id, owner: t.owner, at, changes: ["scopes"] });
      await expectCode(ctx.store.appendAudit(reused(T + 1)), "INVALID_INPUT");
      const other = makeStoredToken({ owner: t.owner });
      await expectCode(ctx.store.insert(other, reused(T + 2)), "INVALID_INPUT");
      await expectCode(ctx.store.update({ ...t, name: "lost" }, t.revision, reused(T + 3)), "INVALID_INPUT");
      await expectCode(ctx.store.revoke(t.id, T + 4, reused(T + 4)), "INVALID_INPUT");
      expect(await ctx.store.get(other.id)).toBeNull();
      expect(await ctx.store.findByHash(other.hash)).toBeNull();
      expect(await ctx.store.get(t.id)).toEqual(t);
      expect((await ctx.store.list(t.owner)).items).toEqual([t]);
      expect((await ctx.store.listAudit({ owner: t.owner })).items).toEqual([first]);
    });

    it("keeps copies of the entries it is given: the caller mutating them afterwards changes nothing stored", async () => {
      const t = makeStoredToken();
      const given = [
        makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "create", at: T }),
        makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "update", at: T + 1 }),
        makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "update", at: T + 2 }),
        makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "revoke", at: T + 3, changes: ["revokedAt"] }),
      ];
      const expected = structuredClone(given);
      await ctx.store.insert(t, given[0]);
      const saved = await ctx.store.update({ ...t, name: "renamed" }, t.revision, given[1]);
      await ctx.store.appendAudit(given[2]!);
      await ctx.store.revoke(t.id, T + 3, given[3]);
      for (const e of given) {
        e.actor = "mallory";
        e.at = T + 99;
        e.changes.push("mutated");
      }
      expect((await ctx.store.listAudit({ tokenId: t.id })).items).toEqual(expected);
      expect((await ctx.store.listAudit({ owner: t.owner })).items).toEqual(expected);
      expect(saved.name).toBe("renamed");
    });

    const owner = randomId("acct");
    const tokA = randomId("tok");
    const tokB = randomId("tok");
    const entries: AuditEntry[] = [
      makeAuditEntry({ tokenId: tokA, owner, at: T + 1, action: "create", changes: [] }),
      makeAuditEntry({ tokenId: tokA, owner, at: T + 2, action: "update", changes: ["name"], effectiveAt: T + 10 }),
      makeAuditEntry({ tokenId: tokB, owner, at: T + 3, action: "create", changes: [] }),
      makeAuditEntry({ tokenId: tokA, owner, at: T + 4, action: "revoke", changes: ["revokedAt"], actor: "user:42" }),
      makeAuditEntry({ tokenId: tokB, owner, at: T + 5, action: "regenerate", changes: ["secret"], graceUntil: T + 3_600_000 }),
      // Entries about the whole account, with every field a members change writes (a role of null: removed).
      makeAuditEntry({ tokenId: "*", owner, at: T + 6, action: "members", changes: ["x=y=admin"], role: "owner", member: "x=y", memberRole: "admin" }),
      makeAuditEntry({ tokenId: "*", owner, at: T + 7, action: "members", changes: ["remove x=y"], member: "x=y", memberRole: null }),
    ];
    const elsewhere = makeAuditEntry({ at: T + 3 });
    beforeEach(async () => {
      await ctx.store.appendAudit(elsewhere);
      for (const e of entries) await ctx.store.appendAudit(e);
    });

    it("lists a token's entries oldest first", async () => {
      const page = await ctx.store.listAudit({ tokenId: tokA });
      expect(page.items).toEqual([entries[0], entries[1], entries[3]]);
      expect(page.nextCursor).toBeNull();
    });

    it("lists an owner's entries across tokens, oldest first", async () => {
      expect((await ctx.store.listAudit({ owner })).items).toEqual(entries);
      expect((await ctx.store.listAudit({ owner: elsewhere.owner })).items).toEqual([elsewhere]);
      expect((await ctx.store.listAudit({ owner: randomId("acct") })).items).toEqual([]);
    });

    it("paginates with limit and cursor", async () => {
      const ids: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await ctx.store.listAudit({ owner }, { limit: 2, cursor });
        expect(page.items.length).toBeLessThanOrEqual(2);
        ids.push(...page.items.map((e) => e.id));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      expect(ids).toEqual(entries.map((e) => e.id));
      expect(pages).toBeLessThanOrEqual(4);
    });

    it("returns copies and keeps what it was given", async () => {
      const page = await ctx.store.listAudit({ tokenId: tokB });
      page.items[0]!.changes.push("mutated");
      page.items[0]!.actor = "mallory";
      expect((await ctx.store.listAudit({ tokenId: tokB })).items).toEqual([entries[2], entries[4]]);
    });
}
