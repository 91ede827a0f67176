// The verifier's reads of a SQLite store: the token and its owner's account
// in one statement, answered at once; an account read for one request is
// never given to a later one, and a change written by another connection is
// seen by the next cold check.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backup, DatabaseSync } from "node:sqlite";
import { Keyward } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { SHARED_READS, sharedReadsOf } from "../../src/store/shared-reads.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-sqlite-reads-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `db-${process.pid}-${n++}.sqlite`);

describe("SQLite reads on the request path", () => {
  it("cold checks see account changes written by another connection at once", async () => {
    const path = file();
    const kw = new Keyward({ store: sqliteStore(path), prefix: "acme", cache: { maxEntries: 0 }, usage: { enabled: false } });
    const other = new Keyward({ store: sqliteStore(path), prefix: "acme", usage: { enabled: false } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read", "premium:read"] });
    expect((await kw.check({ token, scope: "premium:read" })).ok).toBe(true);
    await other.accounts.set("acct_1", { ceiling: ["core:read"] });
    expect(await kw.check({ token, scope: "premium:read" })).toMatchObject({ ok: false, code: "SCOPE_DENIED" });
    await other.accounts.set("acct_1", { ceiling: ["core:read", "premium:*"] });
    expect((await kw.check({ token, scope: "premium:read" })).ok).toBe(true);
  });

  it("after a restore from a backup, a revocation that reuses a revision number is seen within the bound", async () => {
    const path = file();
    const saved = file();
    const admin = new Keyward({ store: sqliteStore(path), prefix: "acme", usage: { enabled: false } });
    const { token, record } = await admin.tokens.create({ owner: "acct_1", kind: "secret" });
    const live = new DatabaseSync(path);
    await backup(live, saved); // the backup holds revision 1
    await admin.tokens.update(record.id, { name: "renamed" }); // revision 2, active
    const verifier = new Keyward({ store: sqliteStore(path), prefix: "acme", revocationBoundMs: 100, usage: { enabled: false } });
    expect((await verifier.check({ token })).ok).toBe(true); // holds revision 2
    // Restore in place (the backup API, as sqlite3 .restore does): back to revision 1.
    // The source held until the backup ends and then closed (Node 22's backup crashes the process when it is collected meanwhile).
    const source = new DatabaseSync(saved);
    await backup(source, path);
    source.close();
    const revoked = await admin.tokens.revoke(record.id);
    expect(revoked.revision).toBe(2);
    await new Promise((r) => setTimeout(r, 150));
    expect((await verifier.check({ token })).code).toBe("TOKEN_REVOKED");
    live.close();
  });

  it("an account read with a token is forgotten at the end of the run", async () => {
    const path = file();
    const store = sqliteStore(path);
    const kw = new Keyward({ store, prefix: "acme", usage: { enabled: false } });
    await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const reads = sharedReadsOf(store)!;
    const db = new DatabaseSync(path);
    // No account yet: the token's read says so...
    const hash = (await store.list("acct_1", { limit: 1, after: null }))[0]!.hash;
    expect(reads.findByHash(hash)?.owner).toBe("acct_1");
    // ...and an account created before the next run is read, not that old answer.
    await new Promise((r) => setTimeout(r, 0));
    await kw.accounts.set("acct_1", { ceiling: ["core:read"] });
    expect(reads.getAccount("acct_1")?.policy.ceiling).toEqual(["core:read"]);
    // Within one run, the account comes with the token (one statement).
    reads.findByHash(hash);
    db.prepare("DELETE FROM keyward_accounts").run();
    expect(reads.getAccount("acct_1")?.policy.ceiling).toEqual(["core:read"]);
    expect(reads.getAccount("acct_1")).toBeNull();
    db.close();
  });

  it("offers no such reads when a read is overridden (the override must be used)", () => {
    const store = sqliteStore(file());
    expect(store[SHARED_READS]()).not.toBeNull();
    (store as unknown as { findByHash: () => Promise<null> }).findByHash = async () => null;
    expect(store[SHARED_READS]()).toBeNull();
  });
});
