// Tokens in SQLite survive a restart: issue a token, close everything,
// reopen the same file as a new process would, and check it there.
// Run with `node examples/sqlite.ts` after `npm run build`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Keyward } from "keyward";
import { migrate, sqliteStore } from "keyward/sqlite";

const dir = mkdtempSync(join(tmpdir(), "keyward-example-"));
const file = join(dir, "keyward.db");

// First run: migrate (sqliteStore also does it), issue a metered token, shut down.
console.log("schema version", migrate(new DatabaseSync(file)));
let store = sqliteStore(file);
let kw = new Keyward({ store, prefix: "acme" });
const { token, record } = await kw.tokens.create({
  owner: "acct_1",
  kind: "secret",
  credits: { limit: 100 },
  rateLimit: { limit: 10, windowMs: 1_000 },
});
const first = await kw.check({ token, cost: 40 });
console.log("before restart", first.ok, "credits left", first.remaining);
await kw.close(); // flushes usage
await store.close();

// After a restart: same file, new objects. The token and its balance are there.
store = sqliteStore(file, { synchronous: "FULL" });
kw = new Keyward({ store, prefix: "acme" });
const again = await kw.check({ token, cost: 40 });
console.log("after restart", again.ok, "credits left", again.remaining);
console.log("then", (await kw.check({ token, cost: 40 })).code);
await kw.tokens.revoke(record.id);
console.log("revoked", (await kw.check({ token })).code);
await kw.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
