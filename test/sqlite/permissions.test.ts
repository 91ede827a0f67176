// keyward/sqlite under a runtime's permission model: Node's --permission here,
// Deno's --allow-read / --allow-write in test/deno/deno.test.ts. SQLite opens
// the database file it was granted and writes its -wal beside it, but
// keyward measures that -wal file to bound it (walCheckpointBytes): refused
// a look at it, the bound was off without a word (every look failed, and the
// WAL grew). The store now refuses to start instead, naming the option.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundle, ROOT, run, scratchDir } from "../support/runtime.js";

const dir = scratchDir("sqlite-permissions");

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
