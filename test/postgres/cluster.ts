// A private PostgreSQL cluster for one test file, which it may stop, crash
// and start again (the shared server of KEYWARD_PG_URL serves other files in
// parallel: never restart that one). Set up as .ci/postgres.sh sets up the
// shared one, from its binaries (KEYWARD_PG_BIN): initdb into a temporary
// directory, password authentication over TCP on 127.0.0.1 only, a free
// port, fsync off; as the postgres user when run as root (initdb refuses root).
// Without KEYWARD_PG_BIN the tests that need one skip with the reason printed,
// except under CI=true, where it is a failure.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

const PG_BIN = process.env.KEYWARD_PG_BIN;

if (!PG_BIN) {
  if (process.env.CI === "true") throw new Error("CI=true but KEYWARD_PG_BIN is unset: run the tests under bash .ci/postgres.sh");
  console.warn("PostgreSQL restart tests skipped: KEYWARD_PG_BIN is unset (run: bash .ci/postgres.sh npx vitest run test/postgres)");
}

/** Whether tests may start a cluster of their own (`describe.runIf(canStartCluster)`). */
export const canStartCluster = PG_BIN !== undefined && PG_BIN !== "";

/** How a server stops: `fast` (every backend told 57P01 admin_shutdown, a checkpoint) or `immediate` (killed: crash recovery at the next start). */
export type ShutdownMode = "fast" | "immediate";

export interface Cluster {
  /** A connection string for the `postgres` database, as the superuser `keyward`. */
  readonly url: string;
  /** Stops the server as `pg_ctl stop -m <mode>` does; resolves once it is down. */
  stop(mode: ShutdownMode): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops the server (immediate) and deletes its data. */
  destroy(): Promise<void>;
}

const root = userInfo().uid === 0;

/** Runs a command; rejects with its stderr on failure. */
function exec(cmd: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // stdout ignored: the server started by pg_ctl keeps no pipe of ours open (its output goes to -l).
    const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${argv.join(" ")} exited with ${code}: ${stderr.trim()}`))));
  });
}

/** The command line of one of PostgreSQL's programs, as the postgres user when root. */
function command(program: string, args: string[]): [string, string[]] {
  return root ? ["runuser", ["-u", "postgres", "--", join(PG_BIN!, program), ...args]] : [join(PG_BIN!, program), args];
}

/** Runs one of PostgreSQL's programs, as the postgres user when root. */
const run = (program: string, args: string[]) => exec(...command(program, args));

/** A TCP port nothing listens on now on 127.0.0.1 (another process may take it before the server does: start retries). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** initdb and start a cluster of its own; `destroy()` it after the tests. */
export async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), "keyward-pg-own-"));
  const data = join(dir, "db");
  const pw = join(dir, "pw");
  chmodSync(dir, 0o755);
  writeFileSync(pw, "keyward\n");
  if (root) {
    await exec("id", ["postgres"]).catch(() => exec("useradd", ["--system", "--no-create-home", "postgres"]));
    await exec("chown", ["postgres", dir, pw]);
  }
  // A test process that ends without its afterAll (killed at a timeout, a crash) leaves no server running.
  const onExit = () => {
    const [cmd, argv] = command("pg_ctl", ["stop", "-D", data, "-m", "immediate"]);
    spawnSync(cmd, argv, { stdio: "ignore" });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", onExit);
  const destroy = async () => {
    process.off("exit", onExit);
    await run("pg_ctl", ["stop", "-D", data, "-m", "immediate"]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run("initdb", ["-D", data, "-U", "keyward", `--pwfile=${pw}`, "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync", "-E", "UTF8"]);
    let port = 0;
    const start = () =>
      run("pg_ctl", ["start", "-D", data, "-l", join(dir, "log"), "-w", "-o", `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=off -c max_connections=50`]);
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await start();
        break;
      } catch (err) {
        if (attempt === 3) throw err;
      }
    }
    return {
      url: `postgres://keyward:keyward@127.0.0.1:${port}/postgres`,
      stop: (mode) => run("pg_ctl", ["stop", "-D", data, "-m", mode, "-w"]),
      start,
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}
