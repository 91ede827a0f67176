// The guard checks what an adapter's reads answer: a get of another token's record, a listing
// with another owner's tokens or out of order are STORE_UNAVAILABLE, never shown or written back.
import { type AuditFilter, Keyward, MemoryStore, type PageQuery, type StoredToken } from "keyward";
import { makeAuditEntry, makeStoredToken } from "keyward/testing";
import { describe, expect, it } from "vitest";
import { guardStore } from "../../src/store/guard.js";

/** A MemoryStore whose reads answer what `wrong` says, when set. */
class WrongReads extends MemoryStore {
  wrong: { get?: (id: string) => unknown; list?: (owner: string, page: PageQuery) => unknown; listAudit?: (f: AuditFilter, page: PageQuery) => unknown } = {};
  override async get(id: string) {
    return (this.wrong.get ? this.wrong.get(id) : super.get(id)) as StoredToken | null;
  }
  override async list(owner: string, page: PageQuery) {
    return (this.wrong.list ? this.wrong.list(owner, page) : super.list(owner, page)) as StoredToken[];
  }
  override async listAudit(filter: AuditFilter, page: PageQuery) {
    return (this.wrong.listAudit ? this.wrong.listAudit(filter, page) : super.listAudit(filter, page)) as never;
  }
}

const unavailable = { code: "STORE_UNAVAILABLE" };

describe("the guard checks the answers of reads", () => {
  it("get: another token's record, a record without id or undefined is STORE_UNAVAILABLE; null and the token's record pass", async () => {
    const adapter = new WrongReads();
    const store = guardStore(adapter);
    const [a, b] = [makeStoredToken(), makeStoredToken()];
    await store.insert(a);
    await store.insert(b);
    for (const answer of [b, {}, undefined, "tok"]) {
      adapter.wrong.get = () => structuredClone(answer);
      await expect(store.get(a.id)).rejects.toMatchObject(unavailable);
    }
    adapter.wrong = {};
    expect(await store.get(a.id)).toEqual(a);
    expect(await store.get("tok_none")).toBeNull();
  });

  it("an update through kw.tokens never writes the record a wrong get answered to its own token", async () => {
    const adapter = new WrongReads();
    const kw = new Keyward({ store: adapter, prefix: "acme" });
    const a = await kw.tokens.create({ owner: "acct_a", kind: "secret", name: "A" });
    const b = await kw.tokens.create({ owner: "acct_b", kind: "secret", name: "B" });
    adapter.wrong.get = () => MemoryStore.prototype.get.call(adapter, b.record.id);
    await expect(kw.tokens.get(a.record.id)).rejects.toMatchObject(unavailable);
    await expect(kw.tokens.update(a.record.id, { name: "renamed" })).rejects.toMatchObject(unavailable);
    adapter.wrong = {};
    expect((await kw.tokens.get(b.record.id))?.name).toBe("B");
  });

  it("list and listAudit: a row of another owner or token, rows not after the cursor or out of order are STORE_UNAVAILABLE", async () => {
    const adapter = new WrongReads();
    const store = guardStore(adapter);
    const owner = "acct_a";
    const mine = [1, 2, 3, 4].map((createdAt) => makeStoredToken({ owner, createdAt }));
    const other = makeStoredToken({ owner: "acct_b" });
    for (const t of [...mine, other]) await store.insert(t, makeAuditEntry({ tokenId: t.id, owner: t.owner, at: t.createdAt }));
    const { nextCursor } = await store.list(owner, { limit: 1 });
    const inner = (o: string, p: PageQuery) => MemoryStore.prototype.list.call(adapter, o, p);
    const lists: ((o: string, p: PageQuery) => unknown)[] = [
      (_, p) => inner("acct_b", p), // another owner's tokens
      async (o, p) => [...(await inner(o, p)), other],
      (o, p) => inner(o, { ...p, after: null }), // the cursor ignored: the first page again, forever
      async (o, p) => (await inner(o, p)).reverse(),
      (o, p) => inner(o, { ...p, limit: p.limit + 5 }), // more than asked
      () => [null],
      () => undefined,
    ];
    for (const list of lists) {
      adapter.wrong.list = list;
      await expect(store.list(owner, { limit: 1, cursor: nextCursor })).rejects.toMatchObject(unavailable);
    }
    const audit = (f: AuditFilter, p: PageQuery) => MemoryStore.prototype.listAudit.call(adapter, f, p);
    for (const listAudit of [(_: AuditFilter, p: PageQuery) => audit({ owner: "acct_b" }, p), (_: AuditFilter, p: PageQuery) => audit({ tokenId: other.id }, p)]) {
      adapter.wrong.listAudit = listAudit;
      await expect(store.listAudit({ owner }, { limit: 10 })).rejects.toMatchObject(unavailable);
      await expect(store.listAudit({ tokenId: mine[0]!.id }, { limit: 10 })).rejects.toMatchObject(unavailable);
    }
    adapter.wrong = {};
    expect((await store.list(owner, { limit: 1, cursor: nextCursor })).items).toEqual([mine[1]]);
    expect((await store.listAudit({ owner }, { limit: 10 })).items.map((e) => e.tokenId)).toEqual(mine.map((t) => t.id));
  });
});
