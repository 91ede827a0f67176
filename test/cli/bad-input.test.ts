// Every command given wrong arguments or a bad database: a clear error, a
// documented non-zero exit code, and nothing changed.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { type ErrorCode, generateToken, KeywardError } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { describeError } from "../../src/cli/io.js";
import { SQLITE_DIALECT } from "../../src/sqlite/store.js";
import { SCHEMA_VERSION, tableNames } from "../../src/store/sql/schema.js";
import { codeUnions, readRepoFile } from "../support/code-unions.js";
import { schemaAt } from "../support/schema-at.js";
import { makeCli, tempDir, useCli } from "./helpers.js";

const cli = useCli();
const SEALING_KEY = Buffer.alloc(32, 7).toString("base64");

const COMMANDS = ["init", "migrate", "create", "list", "show", "update", "revoke", "regenerate", "credits", "usage", "billing", "members", "suspend", "lifecycle", "disable", "enable", "delete", "audit", "keygen", "sign", "scan"];

describe("keyward CLI: bad input", () => {
  it("--help on every command; no command, an unknown command or option is exit 2", () => {
    for (const name of COMMANDS) {
      const r = cli(name, "--help");
      expect([name, r.code, r.stdout.split("\n")[0]]).toEqual([name, 0, expect.stringMatching(new RegExp(`^usage: keyward ${name}\\b`))]);
      expect(r.stdout).toContain("--json");
    }
    expect(cli().code).toBe(2);
    // The package ships no docs/: the help names the exit codes' page online, at a heading docs/cli.md has.
    expect(cli("--help").stdout).toContain("Exit codes: https://github.com/keyward/keyward/blob/main/docs/cli.md#exit-codes\n");
    expect(readRepoFile("docs/cli.md")).toMatch(/^## Exit codes$/m);
    // `help <command>` is that command's help, as `<command> --help`.
    expect([cli("help", "list").code, cli("help", "list").stdout]).toEqual([0, cli("list", "--help").stdout]);
    const unknown = cli("frobnicate");
    // One line, as every error: not the whole help.
    expect([unknown.code, unknown.stdout, unknown.stderr]).toEqual([2, "", 'keyward: unknown command "frobnicate" (run keyward --help)\n']);
    // An option before the command (as other tools take --database first) is said to be one, and not echoed.
    for (const args of [["--database", "x.db", "list"], ["-v"]]) {
      const first = cli(...args);
      expect([args[0], first.code, first.stdout, first.stderr]).toEqual([args[0], 2, "", "keyward: options go after the command: keyward <command> [options] (run keyward --help)\n"]);
    }
    const bad = cli("list", "--owner", "a", "--colour");
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/^keyward list: Unknown option '--colour'/)]);
  });

  it("an option that takes one value, given twice, is exit 2 (OPTION_REPEATED) and nothing is done; a repeatable one is taken", () => {
    expect(cli("init", "--database", "repeat.db").code).toBe(0);
    const db = ["--database", "repeat.db"];
    for (const [args, option] of [
      [["create", "--owner", "acct_a", "--owner", "acct_b", ...db], "--owner"],
      [["create", "--owner=acct_a", "--expires-at", "+1d", "--expires-at=+30d", ...db], "--expires-at"],
      [["create", "--owner", "acct_a", "--database", "repeat.db", "--database", "other.db"], "--database"],
      [["list", "--owner", "acct_a", "--limit", "1", "--limit", "2", ...db], "--limit"],
      [["sign", "https://api.example.com/", "--key-id", "tok_a", "-X", "GET", "--method", "POST"], "--method"],
    ] as const) {
      const text = cli(...args);
      expect([args, text.code, text.stdout, text.stderr]).toEqual([args, 2, "", `keyward ${args[0]}: OPTION_REPEATED: ${option} is given more than once: it takes one value\n`]);
      const json = cli(...args, "--json");
      expect([json.code, JSON.parse(json.stderr)]).toEqual([2, { code: "OPTION_REPEATED", message: `${option} is given more than once: it takes one value`, option }]);
    }
    expect(existsSync(join(cli.dir, "other.db"))).toBe(false);
    expect(JSON.parse(cli("list", "--owner", "acct_a", ...db, "--json").stdout).items).toEqual([]);
    // Repeatable (--help says so) and flags: taken as before.
    const created = cli("create", "--owner", "acct_a", "--scope", "a:read", "--scope", "b:read", "--json", "--json", ...db);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).record.policy.scopes).toEqual(["a:read", "b:read"]);
  });

  it("a page option the library refuses (--limit, --cursor of list and audit) is named as the option, as every other", () => {
    expect(cli("init", "--database", "page.db").code).toBe(0);
    for (const [args, option, message] of [
      [["list", "--owner", "a", "--limit", "0"], "--limit", "must be an integer from 1 to 1000"],
      [["audit", "--owner", "a", "--limit", "1001"], "--limit", "must be an integer from 1 to 1000"],
      [["list", "--owner", "a", "--cursor", "zzz"], "--cursor", "invalid cursor"],
    ] as const) {
      const text = cli(...args, "--database", "page.db");
      expect([args, text.code, text.stderr]).toEqual([args, 2, `keyward ${args[0]}: INVALID_INPUT: ${option}: ${message}\n`]);
      expect(JSON.parse(cli(...args, "--database", "page.db", "--json").stderr)).toMatchObject({ code: "INVALID_INPUT", message: `${option}: ${message}`, option });
    }
  });

  it("every error code exits with the status docs/cli.md gives it; a code it does not list, 2", () => {
    const table = readRepoFile("docs/cli.md").split("## Exit codes")[1]!.split("\n\n").find((part) => part.trimStart().startsWith("|"))!;
    const documented = new Map<string, number>();
    for (const [, exit, text] of table.matchAll(/^\| (\d) \|([^\n]+)\|$/gm)) for (const [, code] of text!.matchAll(/`([A-Z_]+)`/g)) documented.set(code!, Number(exit));
    const unions = codeUnions("src");
    const codes = [...unions.get("src/errors.ts#ErrorCode")!, ...unions.get("src/errors.ts#InputErrorCode")!] as ErrorCode[];
    for (const code of codes) {
      expect([code, describeError(new KeywardError(code, "x")).exitCode]).toEqual([code, documented.get(code) ?? 2]);
    }
  });

  it("a missing database is never created, except by init", () => {
    for (const args of [["list", "--owner", "a"], ["show", "tok_x"], ["create", "--owner", "a"], ["revoke", "tok_x"], ["credits", "tok_x"], ["usage", "tok_x"], ["audit", "--owner", "a"]]) {
      const r = cli(...args);
      expect([args[0], r.code, r.stderr]).toEqual([args[0], 5, `keyward ${args[0]}: no database at keyward.db (create it with: keyward init --database keyward.db)\n`]);
    }
    expect(existsSync(join(cli.dir, "keyward.db"))).toBe(false);
    expect(cli("init", "--database", "other.db").code).toBe(0);
    expect(cli("list", "--owner", "a", "--database", "other.db").stderr).toBe("no tokens\n");
    // KEYWARD_DATABASE names the default.
    expect(cli.run(["list", "--owner", "a"], { env: { KEYWARD_DATABASE: "other.db" } }).code).toBe(0);
  });

  it("init creates the database readable by its owner only (0600), whatever the umask; an existing file keeps its mode", () => {
    // Under the usual umask (022) the file was 0644: every local user could read the owners, metadata and audit log.
    const run = (file: string) =>
      spawnSync("/bin/sh", ["-c", `umask 022 && exec "$0" "$1" init --database "$2"`, process.execPath, cli.bin, file], { cwd: cli.dir, encoding: "utf8" });
    expect(run("private.db").status).toBe(0);
    // The server's WAL and shared-memory files take the database's mode, as SQLite gives them.
    const store = sqliteStore(join(cli.dir, "private.db"));
    try {
      for (const f of ["private.db", "private.db-wal", "private.db-shm"]) expect([f, statSync(join(cli.dir, f)).mode & 0o777]).toEqual([f, 0o600]);
    } finally {
      store.close();
    }
    writeFileSync(join(cli.dir, "shared.db"), "");
    chmodSync(join(cli.dir, "shared.db"), 0o640);
    expect(run("shared.db").status).toBe(0);
    expect(statSync(join(cli.dir, "shared.db")).mode & 0o777).toBe(0o640);
  });

  it("a bad or missing setting from the environment is named by its variable, with what it must be, and changes nothing", () => {
    cli("init");
    const before = readFileSync(join(cli.dir, "keyward.db"));
    for (const [args, env, stderr] of [
      [["create", "--owner", "a"], { KEYWARD_PREFIX: "Acme" }, "keyward create: KEYWARD_PREFIX must match /^[a-z][a-z0-9]{0,15}$/\n"],
      [["create", "--owner", "a"], { KEYWARD_SEALING_KEY: "short" }, "keyward create: KEYWARD_SEALING_KEY must be 32 bytes in base64 or base64url (openssl rand -base64 32)\n"],
      [["create", "--owner", "a"], { KEYWARD_SEALING_KEY: `${SEALING_KEY},short` }, "keyward create: KEYWARD_SEALING_KEY: key 2 must be 32 bytes in base64 or base64url (openssl rand -base64 32)\n"],
      [["create", "--owner", "a", "--hmac"], {}, "keyward create: SEALING_KEY_REQUIRED: HMAC signing keys need KEYWARD_SEALING_KEY, 32 random bytes in base64 (openssl rand -base64 32)\n"],
    ] as const) {
      const r = cli.run([...args], { env });
      expect([args, env, r.code, r.stdout, r.stderr]).toEqual([args, env, 2, "", stderr]);
    }
    expect(readFileSync(join(cli.dir, "keyward.db")).equals(before)).toBe(true);
  });

  it("an empty KEYWARD_DATABASE is not set, as every other KEYWARD_ variable: ./keyward.db", async () => {
    const t = tempDir();
    try {
      const own = await makeCli(t.dir, { KEYWARD_DATABASE: "" });
      const missing = own("list", "--owner", "a");
      expect([missing.code, missing.stderr]).toEqual([5, "keyward list: no database at keyward.db (create it with: keyward init --database keyward.db)\n"]);
      const init = own("init");
      expect([init.code, init.stderr]).toEqual([0, ""]);
      expect(existsSync(join(t.dir, "keyward.db"))).toBe(true);
      const created = own("create", "--owner", "a", "--json");
      expect(created.code).toBe(0);
      expect(own("list", "--owner", "a", "--json").stdout).toContain(JSON.parse(created.stdout).record.id);
    } finally {
      t.cleanup();
    }
  });

  it("a corrupt database file is STORE_UNAVAILABLE (exit 5) and left as it was", () => {
    const junk = "this is not a SQLite database, just text that is long enough".repeat(100);
    writeFileSync(join(cli.dir, "corrupt.db"), junk);
    for (const args of [["init"], ["list", "--owner", "a"], ["create", "--owner", "a"]]) {
      const r = cli(...args, "--database", "corrupt.db");
      expect([args[0], r.code, r.stdout]).toEqual([args[0], 5, ""]);
      expect(r.stderr).toMatch(new RegExp(`^keyward ${args[0]}: STORE_UNAVAILABLE: `));
    }
    expect(readFileSync(join(cli.dir, "corrupt.db"), "utf8")).toBe(junk);
  });

  it("an empty file, or a SQLite database of another application, is not a keyward database: exit 5, not a byte written", () => {
    writeFileSync(join(cli.dir, "empty.db"), "");
    const other = new DatabaseSync(join(cli.dir, "other-app.db"));
    other.exec("PRAGMA journal_mode = DELETE; CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hello')");
    other.close();
    for (const file of ["empty.db", "other-app.db"]) {
      const before = readFileSync(join(cli.dir, file));
      for (const args of [["list", "--owner", "a"], ["create", "--owner", "a"], ["show", "tok_x"]]) {
        const r = cli(...args, "--database", file);
        expect([file, args[0], readFileSync(join(cli.dir, file)).equals(before)]).toEqual([file, args[0], true]);
        expect([file, args[0], r.code, r.stdout, r.stderr]).toEqual([
          file,
          args[0],
          5,
          "",
          `keyward ${args[0]}: ${file} is not a keyward database (create one with: keyward init --database ${file})\n`,
        ]);
      }
      expect(readdirSync(cli.dir).filter((f) => f.startsWith(`${file}-`))).toEqual([]);
    }
    // init makes an empty file a keyward database.
    expect(cli("init", "--database", "empty.db").code).toBe(0);
    expect(cli("list", "--owner", "a", "--database", "empty.db")).toMatchObject({ code: 0, stderr: "no tokens\n" });
  });

  it("init on another application's database with a table of keyward's name: INVALID_CONFIG (exit 2), not a byte written; still not a keyward database", () => {
    const path = join(cli.dir, "clash.db");
    const other = new DatabaseSync(path);
    other.exec("CREATE TABLE notes (body TEXT); CREATE TABLE keyward_anomaly_seen (x INTEGER)");
    other.close();
    const before = readFileSync(path);
    expect(cli("init", "--database", "clash.db")).toMatchObject({
      code: 2,
      stdout: "",
      stderr: "keyward init: INVALID_CONFIG: tablePrefix: table or index keyward_anomaly_seen exists and is not keyward's: use another tablePrefix\n",
    });
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(cli.dir).filter((f) => f.startsWith("clash.db-"))).toEqual([]);
    expect(cli("list", "--owner", "a", "--database", "clash.db")).toMatchObject({ code: 5, stderr: expect.stringContaining("clash.db is not a keyward database") });
  });

  it("a FIFO, a folder or a device as --database: DATABASE_NOT_A_FILE (exit 5) at once, never opened", () => {
    // A FIFO blocked the command for good: SQLite's first read waits for a writer that never comes.
    spawnSync("mkfifo", [join(cli.dir, "fifo.db")]);
    mkdirSync(join(cli.dir, "folder.db"), { recursive: true });
    for (const [database, kind] of [["fifo.db", "a FIFO"], ["folder.db", "a folder"], ["/dev/null", "a character device"]] as const) {
      for (const args of [["list", "--owner", "a"], ["init"]]) {
        const r = cli(...args, "--database", database);
        expect([args[0], database, r.code, r.stderr]).toEqual([
          args[0],
          database,
          5,
          `keyward ${args[0]}: DATABASE_NOT_A_FILE: ${database} is ${kind}, not a SQLite database file\n`,
        ]);
      }
    }
    // Through a symbolic link too, and named by KEYWARD_DATABASE.
    symlinkSync("fifo.db", join(cli.dir, "link.db"));
    expect(cli.run(["list", "--owner", "a"], { env: { KEYWARD_DATABASE: "link.db" } }).code).toBe(5);
    expect(statSync(join(cli.dir, "fifo.db")).isFIFO()).toBe(true);
  });

  it("a schema older than the CLI's: exit 5 naming the CLI's command (keyward migrate), not a library call", () => {
    const db = new DatabaseSync(join(cli.dir, "old.db"));
    for (const sql of schemaAt(SCHEMA_VERSION - 1, tableNames("keyward_"), SQLITE_DIALECT)) db.exec(sql);
    db.close();
    const r = cli("list", "--owner", "a", "--database", "old.db");
    expect([r.code, r.stderr]).toEqual([5, expect.stringMatching(/^keyward list: STORE_UNAVAILABLE: database schema version \d+, expected \d+: run keyward migrate\n$/)]);
  });

  it("missing or wrong arguments: exit 2 with the reason, nothing written", () => {
    cli("init");
    const cases: [string[], RegExp][] = [
      [["create"], /missing --owner/],
      [["create", "--owner", "a", "--kind", "admin"], /--kind must be publishable or secret/],
      [["create", "--owner", "a", "--credits", "-5"], /--credits: expected a whole number|ambiguous|requires a value/],
      [["create", "--owner", "a", "--credits", "ten"], /--credits: expected a whole number/],
      [["create", "--owner", "a", "--rate-limit", "100"], /--rate-limit: expected <n>\/<duration>/],
      [["create", "--owner", "a", "--refill", "5/1d"], /--refill needs --credits/],
      [["create", "--owner", "a", "--reset", "day"], /--reset needs --credits/],
      [["create", "--owner", "a", "--credits", "5", "--reset", "week"], /--reset: expected day or month/],
      [["create", "--owner", "a", "--pool", "premium"], /--pool: expected <name>=<n>/],
      [["create", "--owner", "a", "--pool", "default=5"], /INVALID_INPUT.*pools\.default/],
      // Not a prototype set and lost (the token was created with no pool): a bad pool name like any other.
      [["create", "--owner", "a", "--pool", "__proto__=5"], /INVALID_INPUT.*pools\.__proto__/],
      [["create", "--owner", "a", "--pool", "premium=5", "--pool", "premium=6/day"], /--pool: premium is given twice/],
      [["create", "--owner", "a", "--pool", "premium=5/week"], /--pool: expected day or month/],
      [["create", "--owner", "a", "--rate-limit", "1/1s", "--rate-limit", "0/1d"], /INVALID_INPUT: --rate-limit: |--rate-limit: expected a whole number/],
      [["create", "--owner", "a", "--expires-at", "tomorrow"], /--expires-at: expected an ISO-8601 time/],
      // Read as the library reads a time (RFC 3339), not as Date.parse: 2027-02-30 was taken for March 2, a time
      // without a zone for the operator's local time (another instant on every machine), and other text it reads.
      [["create", "--owner", "a", "--expires-at", "2027-02-30"], /--expires-at: expected an ISO-8601 time with its zone/],
      // A past date typed as a date is past, not seconds (it said TIME_IN_SECONDS: "multiply by 1000").
      [["create", "--owner", "a", "--expires-at", "1999-01-01"], /INVALID_INPUT: --expires-at: must be in the future/],
      [["update", "tok_x", "--name", "n", "--effective-at", "2027-07-01T00:00"], /--effective-at: expected an ISO-8601 time with its zone/],
      [["list", "--owner", "a", "--expiring-before", "2027-01-01 12:00 PST"], /--expiring-before: expected an ISO-8601 time/],
      [["billing", "--from", "2026-11-01T00:00", "--to", "2026-12-01T00:00"], /--from: expected an ISO-8601 time with its zone/],
      [["usage", "tok_x", "--from", "2026-11-01(then)"], /--from: expected an ISO-8601 time/],
      // A Unix time is not a count of milliseconds ago: 1780000000 (seconds) was read as 20 days ago, and a cleanup
      // by --unused-since took tokens used within the last months for unused ones.
      [["list", "--owner", "a", "--unused-since", "1780000000"], /--unused-since: 1780000000 looks like a Unix time: give an ISO-8601 time/],
      [["usage", "tok_x", "--from", "1780000000"], /--from: 1780000000 looks like a Unix time/],
      [["create", "--owner", "a", "--scope", "not a scope"], /INVALID_INPUT/],
      [["create", "--owner", "a", "--kind", "publishable", "--scope", "datasets:write"], /SCOPE_NOT_ALLOWED/],
      [["create", "--owner", "a", "--hmac"], /SEALING_KEY_REQUIRED/],
      [["create", "--owner", "a", "--ed25519-public-key", "short"], /INVALID/],
      [["list"], /missing --owner/],
      [["list", "--owner", "a", "--limit", "0"], /INVALID_INPUT/],
      [["show"], /expected <id>, got 0/],
      [["show", "a", "b"], /expected <id>, got 2/],
      [["update", "tok_x"], /nothing to change/],
      [["update", "tok_x", "--name", "n", "--effective-at", "soon"], /--effective-at: expected/],
      [["regenerate", "tok_x", "--grace", "forever"], /--grace: expected a duration/],
      [["usage", "tok_x", "--granularity", "week"], /--granularity must be hour or day/],
      [["credits", "tok_x", "--owner", "a"], /give <id> or --owner, not both/],
      [["credits", "tok_x", "--owner", "a", "--reset"], /give <id> or --owner, not both/],
      [["credits", "tok_x", "--owner", "a", "--top-up", "5"], /give <id> or --owner, not both/],
      [["audit"], /exactly one of --token or --owner/],
      [["audit", "--token", "a", "--owner", "b"], /exactly one of --token or --owner/],
      [["sign", "https://x.test/"], /missing --key-id/],
      [["sign", "not a url", "--key-id", "tok_x"], /<url> must be an absolute URL/],
      [["sign", "https://x.test/", "--key-id", "tok_x"], /no signing key/],
      [["sign", "https://x.test/", "--key-id", "tok_x", "--hmac"], /KEYWARD_TOKEN/],
      [["keygen", "extra"], /expected no arguments/],
    ];
    const before = readFileSync(join(cli.dir, "keyward.db"));
    for (const [args, message] of cases) {
      const r = cli(...args);
      expect([args.join(" "), r.code, r.stdout]).toEqual([args.join(" "), 2, ""]);
      expect(r.stderr).toMatch(message);
    }
    expect(readFileSync(join(cli.dir, "keyward.db")).equals(before)).toBe(true);
    expect(cli("list", "--owner", "a").stdout).toBe("");
  });

  it("update --expires-at at or before now (+0s, a past date) or before its --effective-at is INVALID_INPUT, exit 2, nothing written: disable or revoke stop a token now", () => {
    // Before: exit 0, the token expired at once (or from the change on) without a word; create refused the same.
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_expiry", "--json").stdout);
    const shown = () => cli("show", record.id, "--json").stdout;
    const before = shown();
    const future = /^keyward update: INVALID_INPUT: --expires-at: must be in the future \(hint: to stop a token now, disable it \(enable undoes it\) or revoke it\)\n$/;
    for (const [args, message] of [
      [["--expires-at", "+0s"], future],
      [["--expires-at", "+0"], future],
      [["--expires-at", "2020-01-01"], future],
      [["--expires-at", "+30m", "--effective-at", "+1h"], /^keyward update: INVALID_INPUT: --expires-at: must be after --effective-at\n$/],
      [["--expires-at", "+1h", "--effective-at", "+1h"], /^keyward update: INVALID_INPUT: --expires-at: must be after --effective-at\n$/],
      // A negative duration is none.
      [["--expires-at", "+-5s"], /^keyward update: --expires-at: expected a duration/],
    ] as const) {
      const r = cli("update", record.id, ...args);
      expect([args.join(" "), r.code, r.stdout]).toEqual([args.join(" "), 2, ""]);
      expect(r.stderr).toMatch(message);
    }
    const asJson = cli("update", record.id, "--expires-at", "+0s", "--json");
    expect(JSON.parse(asJson.stderr)).toMatchObject({ code: "INVALID_INPUT", field: "expiresAt", option: "--expires-at" });
    expect(shown()).toBe(before);
    // An expiry later than now (and than the change) is set.
    expect(cli("update", record.id, "--expires-at", "+2h", "--effective-at", "+1h").code).toBe(0);
    expect(cli("update", record.id, "--expires-at", "+1h").code).toBe(0);
  });

  it("a duration refused for its size names the limit in the unit it was typed in (or in units as show writes them), never in milliseconds", () => {
    // Before: `--grace 40d` said "from 0 to 2592000000", `--rate-limit 1/3000000s` "<=2678400000".
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_units", "--json").stdout);
    for (const [args, message] of [
      [["create", "--owner", "a", "--rate-limit", "1/100d"], "keyward create: INVALID_INPUT: --rate-limit: Too big: expected number to be <=31d\n"],
      [["create", "--owner", "a", "--rate-limit", "1/3000000s"], "keyward create: INVALID_INPUT: --rate-limit: Too big: expected number to be <=2678400s\n"],
      [["create", "--owner", "a", "--rate-limit", "1/1h", "--rate-limit", "5/800h"], "keyward create: INVALID_INPUT: --rate-limit: Too big: expected number to be <=744h\n"],
      // Typed in two units: as show writes a duration.
      [["create", "--owner", "a", "--rate-limit", "1/1s", "--rate-limit", "5/800h"], "keyward create: INVALID_INPUT: --rate-limit: Too big: expected number to be <=31d\n"],
      // Not a whole number of minutes: as show writes it.
      [["create", "--owner", "a", "--credits", "5", "--refill", "5/0m"], "keyward create: INVALID_INPUT: --refill: Too small: expected number to be >=1s\n"],
      [["regenerate", record.id, "--grace", "40d"], "keyward regenerate: INVALID_INPUT: --grace: must be an integer from 0d to 30d\n"],
      [["regenerate", record.id, "--grace", "50000m"], "keyward regenerate: INVALID_INPUT: --grace: must be an integer from 0m to 43200m\n"],
      [["lifecycle", "--owner", "a", "--max-lifetime", "0s"], "keyward lifecycle: INVALID_CONFIG: --max-lifetime: Too small: expected number to be >=1ms\n"],
    ] as const) {
      const r = cli(...args);
      expect([args.join(" "), r.code, r.stderr]).toEqual([args.join(" "), 2, message]);
    }
    // Plain milliseconds stay milliseconds, with their unit.
    expect(cli("regenerate", record.id, "--grace", "2592000001").stderr).toBe("keyward regenerate: INVALID_INPUT: --grace: must be an integer from 0ms to 2592000000ms\n");
  });

  it("a token typed as the command, an option or a path is never echoed, not even in part", () => {
    const token = generateToken({ prefix: "kw", kind: "secret", env: "live" });
    const body = token.slice("kw_sk_live_".length);
    const unknown = cli(token);
    expect([unknown.code, unknown.stderr]).toEqual([2, "keyward: unknown command (not shown: it is not a command name) (run keyward --help)\n"]);
    for (const [args, message] of [
      [["list", "--owner", "a", `--${token}`], `keyward list: Unknown option '--kw_sk_live_[redacted]'`],
      [["scan", token], "keyward scan: cannot read kw_sk_live_[redacted]: no such file or directory (ENOENT)\n"],
      [["scan", `dir/${token.slice(0, 30)}`], "keyward scan: cannot read dir/kw_sk_live_[redacted]: no such file or directory (ENOENT)\n"],
      [["create", "--owner", "a", "--credits", token], `keyward create: --credits: expected a whole number from 0 to ${Number.MAX_SAFE_INTEGER}\n`],
    ] as const) {
      const r = cli(...args);
      expect(r.code).not.toBe(0);
      expect(r.stderr.startsWith(message)).toBe(true);
      // No 8 characters of the body in a row (random ones would not be in the help text).
      for (let i = 0; i + 8 <= body.length; i++) expect(r.stderr).not.toContain(body.slice(i, i + 8));
    }
    // A database named after a token works, and is shown redacted.
    const init = cli("init", "--database", `${token}.db`);
    expect([init.code, init.stdout]).toEqual([0, expect.stringMatching(/^kw_sk_live_\[redacted\]\.db: schema version \d+\n$/)]);
    expect(JSON.parse(cli("init", "--database", `${token}.db`, "--json").stdout).database).toBe("kw_sk_live_[redacted].db");
  });

  it("an unknown id is exit 3 with TOKEN_NOT_FOUND, whatever the command; a token passed by mistake as an id is not echoed", () => {
    cli("init");
    const token = `acme_sk_live_${"a".repeat(49)}`;
    const unknown = "tok_aaaaaaaaaaaaaaaaaaaaaa";
    for (const id of [unknown, "tok_doesnotexist", token]) {
      for (const args of [["show", id], ["revoke", id], ["regenerate", id], ["update", id, "--name", "x"], ["update", id, "--credits", "5"], ["credits", id], ["usage", id], ["delete", id, "--yes"]]) {
        const r = cli(...args);
        expect([args, r.code, r.stderr]).toEqual([args, 3, `keyward ${args[0]}: TOKEN_NOT_FOUND: token not found\n`]);
      }
    }
  });

  it("what an id names and is not there is exit 3, whatever it names: a token, a member, an account", () => {
    cli("init");
    // Before: an unknown account was exit 2, as a usage error, while an unknown token or member was 3.
    for (const args of [["account", "--owner", "acct_typo"], ["suspend", "--owner", "acct_typo", "--lift"], ["credits", "--owner", "acct_typo"]]) {
      const r = cli(...args);
      expect([args, r.code, r.stderr]).toEqual([args, 3, `keyward ${args[0]}: ACCOUNT_NOT_FOUND: account not found\n`]);
    }
    expect(cli("show", "tok_doesnotexist").code).toBe(3);
    expect(cli("members", "--owner", "acct_typo", "--remove", "user:1").code).toBe(3);
  });

  it("a value the library refuses names the option that gave it, not the library's setting, in text and JSON", () => {
    expect(cli("init").code).toBe(0);
    const { record } = JSON.parse(cli("create", "--owner", "acct_options", "--json").stdout);
    const cases: [string[], string, string, string][] = [
      [["lifecycle", "--owner", "acct_options", "--max-lifetime", "0s"], "max-lifetime", "tokens.maxLifetimeMs", "INVALID_CONFIG"],
      [["lifecycle", "--owner", "acct_options", "--rotation-period", "0"], "rotation-period", "tokens.rotationPeriodMs", "INVALID_CONFIG"],
      [["lifecycle", "--owner", "acct_options", "--unused-after", "30s"], "unused-after", "tokens.unusedAfterMs", "INVALID_CONFIG"],
      [["lifecycle", "--owner", "acct_options", "--expiring-within", "999999999999d"], "expiring-within", "tokens.expiringSoonMs", "INVALID_CONFIG"],
      [["regenerate", record.id, "--grace", "31d"], "grace", "graceMs", "INVALID_INPUT"],
      [["create", "--owner", "acct_options", "--rate-limit", "1/0s"], "rate-limit", "rateLimit.windowMs", "INVALID_INPUT"],
      [["update", record.id, "--rate-limit", "1/1s", "--rate-limit", "1/0s"], "rate-limit", "rateLimits.0.windowMs", "INVALID_INPUT"],
      [["update", record.id, "--credits", "5", "--refill", "5/0s"], "refill", "credits.refill.intervalMs", "INVALID_INPUT"],
    ];
    for (const [args, option, field, code] of cases) {
      const text = cli(...args);
      expect([args, text.code, text.stdout]).toEqual([args, 2, ""]);
      expect(text.stderr).toMatch(new RegExp(`^keyward ${args[0]}: ${code}: --${option}: \\S`));
      expect(text.stderr).not.toContain(field);
      const json = cli(...args, "--json");
      expect(JSON.parse(json.stderr)).toMatchObject({ code, message: expect.stringMatching(new RegExp(`^--${option}: `)), field, option: `--${option}` });
    }
    // Nothing was done: no old secret kept for a grace period, no setting changed, no token created.
    expect(JSON.parse(cli("show", record.id, "--json").stdout)).toMatchObject({ graceUntil: null, revision: 1, policy: { credits: null, rateLimit: null } });
    expect(JSON.parse(cli("list", "--owner", "acct_options", "--json").stdout).items).toHaveLength(1);
  });
});
