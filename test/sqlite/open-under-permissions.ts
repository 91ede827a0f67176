// Run by test/sqlite/permissions.test.ts (Node with --permission) and
// test/deno/deno.test.ts (Deno), bundled, with read and write access to the
// database file given as the argument and to nothing beside it: opens it
// with the WAL bound (the default), counts the tables that left, and opens
// it without (walCheckpointBytes: 0). Prints one JSON line: "opened", or the
// error's code and field.
import { DatabaseSync } from "node:sqlite";
import { sqliteStore } from "../../src/sqlite/index.js";
import type { SqliteStoreOptions } from "../../src/sqlite/store.js";

const path = process.argv[2]!;
async function open(options: SqliteStoreOptions) {
  try {
    await sqliteStore(path, options).close();
    return "opened";
  } catch (err) {
    return { code: (err as { code?: string }).code, field: (err as { field?: string }).field };
  }
}
const bounded = await open({});
const db = new DatabaseSync(path);
const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number }).n;
db.close();
console.log(JSON.stringify({ bounded, tables, unbounded: await open({ walCheckpointBytes: 0 }) }));
