// keyward/sqlite under a runtime's permission model: Node's --permission here,
// Deno's --allow-read / --allow-write in test/deno/deno.test.ts. SQLite opens
// the database file it was granted and writes its -wal beside it, but
// keyward measures that -wal file to bound it (walCheckpointBytes): refused
// a look at it, the bound was off without a word (every look failed, and the
// WAL grew). The store now refuses to start instead, naming the option.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { AS_NOBODY } from "../support/another-user.js";
import { bundle, ROOT, run, scratchDir } from "../support/runtime.js";

const dir = scratchDir("sqlite-permissions");

/**
 * The timeout of a test that starts node 21 times, one after the other: about 0.5 s each alone, up to 5 s on a
 * loaded 2-core machine (22 s seen for the read-only test beside the CLI's tests, against the default 20 s).
 */
const OPENS_TIMEOUT_MS = 120_000;

describe("sqliteStore under Node's permission model", () => {
  it("refuses the WAL bound it cannot keep (the -wal file not readable) with INVALID_CONFIG naming walCheckpointBytes; opens with it off", async () => {
    const script = await bundle(dir, "open", { path: join(ROOT, "test/sqlite/open-under-permissions.ts") });
    const db = join(dir, "only-this-file.sqlite");
    const { code, stdout, stderr } = await run(process.execPath, ["--permission", `--allow-fs-read=${script}`, `--allow-fs-read=${db}`, `--allow-fs-write=${db}`, script, db], dir);
    expect(code, stderr).toBe(0);
    // Refused before any table was written.
    expect(JSON.parse(stdout)).toEqual({ bounded: { code: "INVALID_CONFIG", field: "walCheckpointBytes" }, tables: 0, unbounded: "opened" });
  });
});

describe("sqliteStore on a database file this process may not write", () => {
  it("refuses to open it unless asked for read-only (STORE_UNAVAILABLE, SQLite's SQLITE_READONLY as driverCode) rather than serve it and deny every metered check", async () => {
    // SQLite opens a file it may read but not write read-only, without a word: the store opened, and then every
    // write of the request path (a credit, a nonce, usage) was STORE_UNAVAILABLE, request after request. As when
    // a server runs as another user than the one that created the file (an operator's CLI run, a deploy).
    const source = `import { sqliteStore } from ${JSON.stringify(join(ROOT, "src/sqlite/index.js"))};
      try { await sqliteStore(process.argv[2]).close(); console.log(JSON.stringify("opened")); }
      catch (err) { console.log(JSON.stringify({ code: err.code, driverCode: err.driverCode })); }`;
    const script = await bundle(dir, "open-read-only", { source });
    const shared = join(dir, "not-mine");
    mkdirSync(shared, { mode: 0o777 });
    chmodSync(shared, 0o777);
    const db = join(shared, "keyward.sqlite");
    await sqliteStore(db).close();
    // Root writes whatever the mode: the script then runs as nobody, to whom the file is another user's.
    chmodSync(db, 0o444);
    chmodSync(script, 0o444);
    chmodSync(dir, 0o755);
    const open = (path: string) => JSON.parse(execFileSync(process.execPath, [script, path], { cwd: shared, encoding: "utf8", ...AS_NOBODY }));
    expect(open(db)).toEqual({ code: "STORE_UNAVAILABLE", driverCode: "8" });
    // Read-only when asked for: a file: URI with mode=ro, or immutable, opens, for reads. In every writing SQLite
    // reads as such: a percent-escape, a boolean as yes, true, on or a number, one parameter among others.
    for (const query of ["mode=ro", "immutable=1", "immutable=true", "immutable=YES", "immutable=on", "immutable=2", "mode=r%6F", "cache=shared&mode=ro", "mode=rw&mode=ro", "im%6dutable=1"]) {
      expect(open(`file:${db}?${query}`), query).toBe("opened");
    }
    // Not asked for: SQLite's false booleans, a misspelt parameter, one after the fragment, read-write asked.
    for (const query of ["immutable=0", "immutable=no", "immutable=off", "immutable=maybe", "Mode=ro", "immutable", "x=1#&mode=ro", "mode=rw"]) {
      expect(open(`file:${db}?${query}`), query).toEqual({ code: "STORE_UNAVAILABLE", driverCode: "8" });
    }
  }, OPENS_TIMEOUT_MS);
});
