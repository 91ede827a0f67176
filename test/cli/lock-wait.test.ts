// A SQLite file whose write lock another process holds (a service in a long
// write, a backup, a stuck job): a command that writes waits at most
// KEYWARD_DATABASE_TIMEOUT_MS for it, then fails with STORE_UNAVAILABLE
// (exit 5) having written nothing; 0 waits without limit.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { useCli } from "./helpers.js";

const cli = useCli({ KEYWARD_PREFIX: "acme" });

/**
 * The least a run that ignored a KEYWARD_DATABASE_TIMEOUT_MS of 1 s would wait: the library's own wait for the
 * write lock, 5 s, tried four times (20 s), or the CLI's default, 10 s. A run that honours it ends well before,
 * though its start alone took 1-5 s on a loaded machine.
 */
const IGNORED_TIMEOUT_MS = 10_000;

/** Another process that holds the file's write lock (BEGIN IMMEDIATE) until it is killed, or for `forMs`. */
async function holdWriteLock(path: string, forMs?: number): Promise<ChildProcess> {
  const code = `const db = new (require("node:sqlite").DatabaseSync)(process.argv[1]);
    db.exec("BEGIN IMMEDIATE");
    process.stdout.write("locked\\n");
    setTimeout(() => { db.exec("ROLLBACK"); db.close(); }, Number(process.argv[2]) || 2 ** 31 - 1);`;
  const holder = spawn(process.execPath, ["--no-warnings", "-e", code, path, String(forMs ?? "")], { stdio: ["ignore", "pipe", "inherit"] });
  onTestFinished(() => void holder.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once("data", () => resolve());
    holder.once("exit", (c) => reject(new Error(`the lock holder exited (${c})`)));
  });
  return holder;
}

describe("keyward CLI: another process holds the SQLite write lock", () => {
  it("a command that writes fails within KEYWARD_DATABASE_TIMEOUT_MS (exit 5, STORE_UNAVAILABLE), having written nothing", async () => {
    expect(cli("init").code).toBe(0);
    const { record } = JSON.parse(cli("create", "--owner", "acct_lock", "--credits", "10", "--json").stdout);
    const holder = await holdWriteLock(join(cli.dir, "keyward.db"));
    for (const args of [
      ["revoke", record.id],
      ["credits", record.id, "--top-up", "5"],
      ["create", "--owner", "acct_lock"],
    ]) {
      const t0 = Date.now();
      const r = cli.run([...args, "--json"], { env: { KEYWARD_DATABASE_TIMEOUT_MS: "1000" } });
      const ms = Date.now() - t0;
      expect({ args, code: r.code, stdout: r.stdout, stderr: JSON.parse(r.stderr) }).toEqual({
        args,
        code: 5,
        stdout: "",
        stderr: {
          code: "STORE_UNAVAILABLE",
          message: "keyward.db is locked by another process (waited KEYWARD_DATABASE_TIMEOUT_MS, 1000 ms)",
          driverCode: "5",
        },
      });
      expect(ms).toBeLessThan(IGNORED_TIMEOUT_MS);
    }
    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.once("close", resolve));
    expect(JSON.parse(cli("show", record.id, "--json").stdout).revokedAt).toBeNull();
    expect(JSON.parse(cli("credits", record.id, "--json").stdout).remaining).toBe(10);
    expect(JSON.parse(cli("list", "--owner", "acct_lock", "--json").stdout).items).toHaveLength(1);
  });

  it("KEYWARD_DATABASE_TIMEOUT_MS=0 waits for the lock without limit, not at all", async () => {
    const { record } = JSON.parse(cli("create", "--owner", "acct_wait", "--json").stdout);
    await holdWriteLock(join(cli.dir, "keyward.db"), 1_500);
    const r = cli.run(["revoke", record.id], { env: { KEYWARD_DATABASE_TIMEOUT_MS: "0" } });
    expect([r.code, r.stderr]).toEqual([0, ""]);
  });
});
