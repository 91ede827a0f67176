// The CLI on PostgreSQL: `--database postgres://…` (the pg driver, an optional peer).
import { spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import fc from "fast-check";
import { Keyward } from "keyward";
import { postgresStore } from "keyward/postgres";
import { afterAll, describe, expect, it } from "vitest";
import { POSTGRES_DIALECT } from "../../src/postgres/store.js";
import { SCHEMA_VERSION, tableNames } from "../../src/store/sql/schema.js";
import { hasPostgres, openPool, PG_URL, testPool } from "../postgres/server.js";
import { schemaAt } from "../support/schema-at.js";
import { type Run, useCli } from "./helpers.js";

const cli = useCli({ KEYWARD_PREFIX: "acme" });

/**
 * The least a run that ignored KEYWARD_DATABASE_TIMEOUT_MS would wait: the default, 10 s, on top of its start. A run
 * that honours a timeout of 1 s or less ends well before, though its start alone took 1-5 s on a loaded machine.
 */
const IGNORED_TIMEOUT_MS = 10_000;

/** Runs the bin without blocking this process (a server of the test must answer), killed after `killMs`. */
function runAsync(args: string[], env: Record<string, string>, killMs: number): Promise<Run & { ms: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [join(cli.dir, "cli.mjs"), ...args], { cwd: cli.dir, env: { PATH: process.env.PATH ?? "", ...env } });
  const kill = setTimeout(() => child.kill("SIGKILL"), killMs);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(kill);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - t0 });
    }),
  );
}

describe("keyward CLI: a PostgreSQL server that never answers", () => {
  it("accepted and never answered: exit 5 (STORE_UNAVAILABLE) within KEYWARD_DATABASE_TIMEOUT_MS, not a hang", async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => void sockets.add(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    try {
      const db = `postgres://u:pw@127.0.0.1:${port}/db`;
      const r = await runAsync(["list", "--owner", "a", "--database", db], { KEYWARD_DATABASE_TIMEOUT_MS: "500" }, 30_000);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^keyward list: STORE_UNAVAILABLE: .*timeout/);
      expect(r.ms).toBeLessThan(IGNORED_TIMEOUT_MS);
      expect(sockets.size).toBeGreaterThan(0); // it did connect: the silence is what timed out
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it("KEYWARD_DATABASE_TIMEOUT_MS is a whole number of ms (exit 2 otherwise)", () => {
    const r = cli.run(["list", "--owner", "a", "--database", "postgres://u@127.0.0.1:1/db"], { env: { KEYWARD_DATABASE_TIMEOUT_MS: "10s" } });
    expect([r.code, r.stderr]).toEqual([2, "keyward list: KEYWARD_DATABASE_TIMEOUT_MS must be a whole number of ms, at most 86400000\n"]);
  });
});

describe.runIf(hasPostgres)("keyward CLI on PostgreSQL", () => {
  const pool = testPool();

  /** A database of its own on the test server (dropped after the file), and its URL. */
  const databases: string[] = [];
  afterAll(async () => {
    for (const name of databases) await pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  async function freshDatabase(): Promise<string> {
    const name = `kw_cli_${process.pid}_${databases.length}_${Math.random().toString(36).slice(2, 8)}`;
    await pool.query(`CREATE DATABASE ${name}`);
    databases.push(name);
    const url = new URL(PG_URL!);
    url.pathname = `/${name}`;
    return url.href;
  }

  it("init, create, list, credits, revoke against a real server; the password never printed", () => {
    const db = ["--database", PG_URL!];
    const owner = `acct_${Date.now()}`;
    const init = cli("init", ...db, "--json");
    expect(init.code).toBe(0);
    expect(init.stdout).not.toContain(":keyward@");
    const created = cli("create", ...db, "--owner", owner, "--credits", "10", "--json");
    expect(created.code).toBe(0);
    const { record } = JSON.parse(created.stdout);
    expect(JSON.parse(cli("list", ...db, "--owner", owner, "--json").stdout).items.map((r: { id: string }) => r.id)).toEqual([record.id]);
    // A token without an account: its balance is read through its meter.
    expect(JSON.parse(cli("credits", record.id, ...db, "--json").stdout).remaining).toBe(10);
    // --read-only: the commands that read run in read-only transactions; one that writes is refused unopened.
    for (const args of [["list", "--owner", owner], ["show", record.id], ["credits", record.id], ["audit", "--token", record.id]]) {
      const r = cli(...args, ...db, "--read-only", "--json");
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" });
    }
    expect(JSON.parse(cli("revoke", record.id, ...db, "--read-only", "--json").stderr)).toMatchObject({ code: "READ_ONLY" });
    expect(cli("revoke", record.id, ...db).code).toBe(0);
    expect(JSON.parse(cli("show", record.id, ...db, "--json").stdout).revokedAt).not.toBeNull();
  });

  it("account: the account as it stands, with its balance and suspension, read in a read-only transaction", async () => {
    const db = ["--database", PG_URL!];
    const owner = `acct_${Date.now()}`;
    expect(cli("init", ...db).code).toBe(0);
    expect(cli("create", ...db, "--owner", owner, "--json").code).toBe(0);
    const kw = new Keyward({ store: await postgresStore(pool, { changeFeed: false }), prefix: "acme" });
    await kw.accounts.set(owner, { credits: { limit: 50, reset: "day" } });
    expect(cli("credits", ...db, "--owner", owner, "--top-up", "5").code).toBe(0);
    expect(cli("suspend", ...db, "--owner", owner, "--reason", "chargeback").code).toBe(0);
    const suspension = (await kw.tokens.audit({ owner })).items.at(-1)!;
    const r = cli("account", ...db, "--owner", owner, "--read-only", "--json");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(JSON.parse(r.stdout)).toEqual({
      owner,
      account: await kw.accounts.get(owner),
      suspended: { reason: "chargeback", since: suspension.at },
      balances: { default: { limit: 50, remaining: 55, nextRefillAt: expect.any(Number) } },
    });
    // Nothing written by the read: the same audit log.
    expect((await kw.tokens.audit({ owner })).items.at(-1)).toEqual(suspension);
    const missing = cli("account", ...db, "--owner", `${owner}_typo`, "--read-only", "--json");
    expect([missing.code, JSON.parse(missing.stderr).code]).toEqual([3, "ACCOUNT_NOT_FOUND"]);
  });

  it("account: since when from the account, also once the log is pruned; a suspension written before, from its log while that is short", async () => {
    const db = ["--database", PG_URL!];
    const owner = `acct_old_${Date.now()}`;
    expect(cli("init", ...db).code).toBe(0);
    expect(cli("create", ...db, "--owner", owner, "--json").code).toBe(0);
    const store = await postgresStore(pool, { changeFeed: false });
    const kw = new Keyward({ store, prefix: "acme" });
    const since = () => JSON.parse(cli("account", ...db, "--owner", owner, "--json").stdout).suspended;
    // Suspended as the version before wrote it: no since in the account, the start in the audit log.
    await kw.accounts.set(owner, { suspended: { reason: "before since" } });
    const a = (await store.getAccount(owner))!;
    await store.putAccount({ ...a, policy: { ...a.policy, suspended: { reason: "before since" } } }, a.revision);
    const entry = (await kw.tokens.audit({ owner })).items.at(-1)!;
    expect(since()).toEqual({ reason: "before since", since: entry.at });
    // Its log pruned: not known.
    await pool.query("DELETE FROM keyward_audit WHERE owner = $1", [owner]);
    expect(since()).toEqual({ reason: "before since", since: null });
    // Lifted and suspended again: kept by the account, the log pruned again.
    await kw.accounts.set(owner, { suspended: null });
    expect(cli("suspend", ...db, "--owner", owner, "--reason", "again").code).toBe(0);
    const again = (await kw.tokens.audit({ owner })).items.at(-1)!;
    await pool.query("DELETE FROM keyward_audit WHERE owner = $1", [owner]);
    expect(since()).toEqual({ reason: "again", since: again.at });
  });

  it("a revoke run by the CLI reaches a listening server at once, not at its revocation bound", async () => {
    const db = ["--database", PG_URL!];
    expect(cli("init", ...db).code).toBe(0);
    const store = await postgresStore(pool);
    const kw = new Keyward({ store, prefix: "acme", revocationBoundMs: 60_000 });
    try {
      const { token, record } = await kw.tokens.create({ owner: `acct_${Date.now()}`, kind: "secret" });
      expect((await kw.check({ token })).ok).toBe(true); // cached for up to 60 s
      expect(cli("revoke", record.id, ...db).code).toBe(0);
      const deadline = Date.now() + 5_000;
      let code: string | null = null;
      while (code !== "TOKEN_REVOKED" && Date.now() < deadline) {
        code = (await kw.check({ token })).code;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(code).toBe("TOKEN_REVOKED");
    } finally {
      await kw.close();
      await store.close();
    }
  });

  it("the password from PGPASSWORD or KEYWARD_DATABASE, as docs/cli.md advises: never on the command line", () => {
    const url = new URL(PG_URL!);
    const password = decodeURIComponent(url.password);
    url.password = "";
    const owner = `acct_${Date.now()}`;
    const viaPgPassword = cli.run(["create", "--owner", owner, "--database", url.href], { env: { KEYWARD_PREFIX: "acme", PGPASSWORD: password } });
    expect([viaPgPassword.code, viaPgPassword.stderr]).toEqual([0, expect.stringMatching(/^token tok_/)]);
    const viaEnv = cli.run(["list", "--owner", owner, "--json"], { env: { KEYWARD_DATABASE: PG_URL! } });
    expect([viaEnv.code, JSON.parse(viaEnv.stdout).items.length]).toEqual([0, 1]);
  });

  it("a wrong password is a store error with no password in it", () => {
    const wrong = PG_URL!.replace(/:[^:@/]*@/, ":not-the-password@");
    const r = cli("list", "--database", wrong, "--owner", "o");
    expect(r.code).toBe(5);
    expect(r.stderr + r.stdout).not.toContain("not-the-password");
  });

  it("no output names the password, in whichever form pg reads it: user:p@ss@word@host, ?password=, percent-encoded", async () => {
    const url = new URL(await freshDatabase());
    expect(cli("init", "--database", url.href).code).toBe(0);
    const role = `kw_cli_role_${process.pid}`;
    await pool.query(`DROP ROLE IF EXISTS ${role}`);
    await pool.query(`CREATE ROLE ${role} LOGIN`);
    const admin = openPool({ connectionString: url.href, max: 1 });
    try {
      await admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
      const base = `${url.protocol}//${url.host}${url.pathname}`;
      const shown = `postgres://${url.host}${url.pathname}`;
      const at = (userinfo: string, query = "") => `${url.protocol}//${userinfo}@${url.host}${url.pathname}${query}`;
      const check = async (password: string) => {
        await pool.query(`ALTER ROLE ${role} PASSWORD '${password.replaceAll("'", "''")}'`);
        const forms = [
          at(`${role}:${encodeURIComponent(password)}`),
          at(role, `?password=${encodeURIComponent(password)}`),
          `${base}?user=${role}&password=${encodeURIComponent(password)}&sslmode=disable`,
        ];
        // Unescaped, as people write it: pg reads the userinfo up to the last @ before the host.
        if (!/[/?#%\s]/.test(password)) forms.push(at(`${role}:${password}`));
        for (const db of forms) {
          const init = cli("init", "--json", "--database", db);
          expect(init.code, init.stderr).toBe(0);
          expect(JSON.parse(init.stdout).database).toBe(shown);
          for (const secret of [password, encodeURIComponent(password)]) expect(init.stdout + init.stderr).not.toContain(secret);
          // An error names the database too (here one that does not exist): without the password.
          const missing = cli("list", "--owner", "acct_pw", "--database", db.replace(url.pathname, "/kw_no_such_db"));
          expect(missing.code).toBe(5);
          for (const secret of [password, encodeURIComponent(password)]) expect(missing.stdout + missing.stderr).not.toContain(secret);
        }
      };
      await check("p@ss@word");
      const text = cli("init", "--database", at(`${role}:p@ss@word`));
      expect([text.code, text.stdout]).toEqual([0, `${shown}: schema version ${JSON.parse(cli("init", "--json", "--database", url.href).stdout).schemaVersion}\n`]);
      const chars = fc.constantFrom(..."abcXYZ0189@:!$&'()*+,;=[]~-._%/?# ");
      await fc.assert(
        fc.asyncProperty(fc.array(chars, { minLength: 10, maxLength: 24 }).map((a) => `${a.join("")}@Q`), check),
        { numRuns: 5 },
      );
    } finally {
      await admin.end();
    }
  });

  it("a table another session holds locked: exit 5 (STORE_UNAVAILABLE) within KEYWARD_DATABASE_TIMEOUT_MS, not a wait without end", async () => {
    const db = await freshDatabase();
    expect(cli("init", "--database", db).code).toBe(0);
    const holder = openPool({ connectionString: db, max: 1 });
    const c = await holder.connect();
    try {
      await c.query("BEGIN");
      await c.query("LOCK TABLE keyward_tokens IN ACCESS EXCLUSIVE MODE");
      for (const args of [["list", "--owner", "acct_lock"], ["create", "--owner", "acct_lock"]]) {
        const r = await runAsync([...args, "--database", db], { KEYWARD_DATABASE_TIMEOUT_MS: "1000" }, 30_000);
        expect([r.code, r.stdout]).toEqual([5, ""]);
        expect(r.stderr).toMatch(new RegExp(`^keyward ${args[0]}: STORE_UNAVAILABLE: .*timeout`));
        expect(r.ms).toBeLessThan(IGNORED_TIMEOUT_MS);
      }
    } finally {
      await c.query("ROLLBACK");
      c.release();
      await holder.end();
    }
    // Nothing was written meanwhile, and the lock gone, the same commands work.
    expect(cli("list", "--owner", "acct_lock", "--database", db, "--json").stdout).toContain('"items": []');
  });

  it("a database without keyward's tables is refused as on SQLite: exit 5, naming keyward init; another application's keyward_tokens too", async () => {
    const db = await freshDatabase();
    const refused = (r: Run) => {
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^keyward list: postgres:\/\/[^@]*\/kw_cli_\w+ is not a keyward database \(create its tables with: keyward init\)\n$/);
    };
    refused(cli("list", "--owner", "a", "--database", db));
    const admin = openPool({ connectionString: db, max: 1 });
    try {
      await admin.query("CREATE TABLE keyward_tokens (id int)");
    } finally {
      await admin.end();
    }
    refused(cli("list", "--owner", "a", "--database", db));
    // init would add keyward's tables next to another application's of the same name: a configuration problem (exit 2).
    const init = cli("init", "--database", db);
    expect([init.code, init.stderr]).toEqual([2, expect.stringMatching(/^keyward init: INVALID_CONFIG: .*keyward_tokens exists and is not keyward's/)]);
  });

  it("an older schema names the CLI's command (keyward migrate), not a library call", async () => {
    const db = await freshDatabase();
    const admin = openPool({ connectionString: db, max: 1 });
    try {
      for (const sql of schemaAt(SCHEMA_VERSION - 1, tableNames("keyward_"), POSTGRES_DIALECT)) await admin.query(sql);
    } finally {
      await admin.end();
    }
    const r = cli("list", "--owner", "a", "--database", db);
    expect([r.code, r.stderr]).toEqual([5, expect.stringMatching(/^keyward list: STORE_UNAVAILABLE: database schema version \d+, expected \d+: run keyward migrate\n$/)]);
  });
});
