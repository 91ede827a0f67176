// Reading a database this user may not write: an auditor, or an operator, on a file the service's user owns.
// sqliteStore(path) refuses such a file (it would open read-only and deny every metered request), so the CLI
// opens it read-only itself for a command that only reads, and --read-only asks for that whatever the file.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { servedDatabase } from "../support/another-user.js";
import { useCli } from "./helpers.js";

const cli = useCli({ KEYWARD_PREFIX: "acme" });

/** The bin, run as a user who may read the database and not write it (nor its folder). */
const other = (...args: string[]) => cli.run(args, { asNobody: true });

describe("keyward CLI on a database this user may read and not write", () => {
  it("runs the commands that only read (read-only, automatically); a command that writes fails exit 5 with nothing written, and --read-only refuses it at once (READ_ONLY)", async () => {
    expect(cli("init").code).toBe(0);
    const { record } = JSON.parse(cli("create", "--owner", "acct_ro", "--name", "ci", "--credits", "100", "--json").stdout);
    const db = join(cli.dir, "keyward.db");
    // The service runs on it, and others may read it, not write it: its connection keeps the -wal and -shm files.
    const service = servedDatabase(db, [cli.bin]);
    try {
      expect(existsSync(`${db}-shm`)).toBe(true);
      const before = readFileSync(db);
      for (const args of [
        ["list", "--owner", "acct_ro"],
        ["show", record.id],
        ["audit", "--token", record.id],
        ["usage", record.id],
        ["credits", record.id],
        ["members", "--owner", "acct_ro"],
        ["lifecycle", "--owner", "acct_ro"],
        ["billing", "--from", "30d", "--to", "0"],
        ["list", "--owner", "acct_ro", "--read-only"],
      ]) {
        const r = other(...args, "--json");
        expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
      }
      expect(JSON.parse(other("list", "--owner", "acct_ro", "--json").stdout).items.map((t: { id: string }) => t.id)).toEqual([record.id]);
      expect(JSON.parse(other("credits", record.id, "--json").stdout).remaining).toBe(100);

      // A command that writes opens for writing, and SQLite refuses the file: exit 5, as before.
      const revoke = other("revoke", record.id, "--json");
      expect(revoke.code).toBe(5);
      const refused = JSON.parse(revoke.stderr);
      expect(refused).toMatchObject({ code: "STORE_UNAVAILABLE", driverCode: "8" });
      expect(refused.message).toBe("this command writes, and this user may not write keyward.db (the commands that only read, such as list, show or audit, open it read-only)");
      // With --read-only, refused before the database is opened, whoever runs it.
      for (const run of [other, cli]) {
        for (const args of [
          ["revoke", record.id],
          ["credits", record.id, "--top-up", "5"],
          ["members", "--owner", "acct_ro", "--set", "bob=viewer"],
          ["init"],
        ]) {
          const r = run(...args, "--read-only", "--json");
          expect({ args, code: r.code }).toEqual({ args, code: 2 });
          expect(JSON.parse(r.stderr)).toMatchObject({ code: "READ_ONLY" });
        }
      }
      expect(readFileSync(db).equals(before)).toBe(true);
      expect(JSON.parse(cli("show", record.id, "--json").stdout).revokedAt).toBeNull();
    } finally {
      await service.close();
    }
  });

  it("without -wal and -shm files (no process has it open) in a folder it may not write, a read fails exit 5 with SQLite's reason, writing nothing", () => {
    const db = join(cli.dir, "keyward.db");
    // The service's last connection closed: SQLite removed them.
    expect(existsSync(`${db}-wal`) || existsSync(`${db}-shm`)).toBe(false);
    const r = other("list", "--owner", "acct_ro", "--json");
    expect(r.code).toBe(5);
    const error = JSON.parse(r.stderr);
    expect(error).toMatchObject({ code: "STORE_UNAVAILABLE", driverCode: "1544" });
    expect(error.message).toContain("-wal and -shm");
    expect(existsSync(`${db}-wal`) || existsSync(`${db}-shm`)).toBe(false);
  });

  it("--read-only opens a path SQLite's URI syntax would misread (?, #, %, a space) as the file it names", () => {
    mkdirSync(join(cli.dir, "we ird?#%25"));
    const db = ["--database", "we ird?#%25/k ey?x#y%41.db"];
    expect(cli("init", ...db).code).toBe(0);
    const { record } = JSON.parse(cli("create", ...db, "--owner", "acct_path", "--json").stdout);
    const r = cli("list", ...db, "--owner", "acct_path", "--read-only", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).items.map((t: { id: string }) => t.id)).toEqual([record.id]);
  });
});
