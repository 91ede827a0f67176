// The account commands (suspend, credits, billing) given what an operator types by mistake: a clear error that
// names the option typed, a documented exit code, and nothing written.
import { join } from "node:path";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { useCli } from "./helpers.js";

const cli = useCli({ KEYWARD_PREFIX: "acme" });

/** The account and the audit log of `owner`, read from the database. */
async function stored(owner: string) {
  const store = sqliteStore(join(cli.dir, "keyward.db"));
  try {
    return { account: await store.getAccount(owner), audit: await store.listAudit({ owner }, { limit: 100, after: null }) };
  } finally {
    store.close();
  }
}

/** The error line of a run with --json, parsed. */
const errorOf = (...args: string[]) => {
  const r = cli(...args, "--json");
  return { code: r.code, stdout: r.stdout, error: r.stderr === "" ? null : JSON.parse(r.stderr) };
};

describe("keyward CLI: accounts", () => {
  it("suspend of an owner with neither an account nor a token (a mistyped id) is ACCOUNT_NOT_FOUND, and writes nothing", async () => {
    expect(cli("init").code).toBe(0);
    // Before: `suspend --owner acct_l --lift` said "suspension lifted now", exit 0, made an account "acct_l",
    // and acct_1 stayed suspended; `--reason` "suspended" an account no token belongs to.
    for (const args of [["--lift"], ["--reason", "abuse"], ["--reason", "abuse", "--effective-at", "+1d"]]) {
      const r = errorOf("suspend", "--owner", "acct_typo", ...args);
      expect([args, r.code, r.stdout, r.error]).toEqual([args, 3, "", { code: "ACCOUNT_NOT_FOUND", message: "account not found", owner: "acct_typo" }]);
      expect(cli("suspend", "--owner", "acct_typo", ...args).stderr).toBe("keyward suspend: ACCOUNT_NOT_FOUND: account not found\n");
    }
    expect(await stored("acct_typo")).toEqual({ account: null, audit: [] });
    // An owner with tokens and no account yet is suspended (the account is made), and lifted.
    expect(cli("create", "--owner", "acct_tokens").code).toBe(0);
    expect(cli("suspend", "--owner", "acct_tokens", "--reason", "abuse").stdout).toBe("acct_tokens: suspended now\n");
    expect(cli("suspend", "--owner", "acct_tokens", "--lift").stdout).toBe("acct_tokens: suspension lifted now\n");
    // An account without tokens (a team set up first) is one too.
    expect(cli("members", "--owner", "acct_team", "--set", "user:1=owner").code).toBe(0);
    expect(cli("suspend", "--owner", "acct_team", "--reason", "abuse").code).toBe(0);
  });

  it("a value the library refuses names the option typed, not the library's field", async () => {
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_opt", "--credits", "10", "--json").stdout);
    const cases: [string[], string, string][] = [
      [["credits", record.id, "--top-up", "0"], "INVALID_INPUT", "--top-up"],
      [["credits", record.id, "--top-up", "5", "--idempotency-key", "a\u0007b"], "INVALID_INPUT", "--idempotency-key"],
      [["credits", record.id, "--top-up", "5", "--actor", ""], "INVALID_INPUT", "--actor"],
      // Before: a blank actor was audited as it was, naming nobody.
      [["credits", record.id, "--top-up", "5", "--actor", " "], "INVALID_INPUT", "--actor"],
      [["suspend", "--owner", "acct_opt", "--reason", "abuse", "--actor", "\t "], "INVALID_INPUT", "--actor"],
      [["members", "--owner", "acct_opt", "--set", "user:1=owner", "--actor", "   "], "INVALID_INPUT", "--actor"],
      // Every command that takes --actor names it (these named the library's `actor`).
      ...["revoke", "disable", "enable", "regenerate", "reseal"].map((command): [string[], string, string] => [[command, record.id, "--actor", " "], "INVALID_INPUT", "--actor"]),
      [["delete", record.id, "--yes", "--actor", " "], "INVALID_INPUT", "--actor"],
      [["members", "--owner", "acct_opt", "--set", "user:1=owner", "--actor", "a\u0007"], "INVALID_INPUT", "--actor"],
      [["suspend", "--owner", "acct_opt", "--reason", " "], "INVALID_INPUT", "--reason"],
      [["update", record.id, "--name", "x", "--effective-at", "+99999999999d"], "INVALID_INPUT", "--effective-at"],
      [["usage", record.id, "--from", "1d", "--to", "2d"], "INVALID_INPUT", "--from"],
      [["billing", "--from", "2026-02-01T00:30:00Z", "--to", "2026-03-01"], "INVALID_INPUT", "--from"],
    ];
    for (const [args, code, option] of cases) {
      const r = errorOf(...args);
      expect([args, r.code, r.error.code, r.error.option, r.error.message.startsWith(`${option}: `)]).toEqual([args, 2, code, option, true]);
    }
    // Nothing written by any: the token's creation is its only audit entry.
    expect((await stored("acct_opt")).audit.map((e) => e.action)).toEqual(["create"]);
  });

  it("credits of an account without a pool, or of a token without credits, names what was typed, not the library's `target`", () => {
    cli("init");
    expect(cli("members", "--owner", "acct_nopool", "--set", "user:1=owner").code).toBe(0);
    const { record } = JSON.parse(cli("create", "--owner", "acct_nopool", "--json").stdout);
    // Before: "INVALID_INPUT: target: has no credit limit", for either.
    expect(cli("credits", "--owner", "acct_nopool")).toEqual({
      code: 2,
      stdout: "",
      stderr: "keyward credits: INVALID_INPUT: --owner acct_nopool: the account has no credit pool (give it one with kw.accounts.set, docs/accounts.md)\n",
    });
    expect(errorOf("credits", "--owner", "acct_nopool", "--top-up", "5").error).toEqual({
      code: "INVALID_INPUT",
      message: "--owner acct_nopool: the account has no credit pool (give it one with kw.accounts.set, docs/accounts.md)",
      field: "target",
      option: "--owner",
      owner: "acct_nopool",
    });
    expect(cli("credits", record.id, "--reset")).toEqual({
      code: 2,
      stdout: "",
      stderr: `keyward credits: INVALID_INPUT: ${record.id}: the token has no credit limit (give it one: keyward update ${record.id} --credits <n>)\n`,
    });
    expect(errorOf("credits", record.id).error).toMatchObject({ code: "INVALID_INPUT", field: "target", tokenId: record.id });
  });

  it("a time before 1973-03-03 (which the library reads as seconds) is a usage error naming the option, not TIME_IN_SECONDS", () => {
    cli("init");
    const { record } = JSON.parse(cli("create", "--owner", "acct_old", "--json").stdout);
    for (const args of [
      ["suspend", "--owner", "acct_old", "--reason", "x", "--effective-at", "1970-01-01"],
      ["update", record.id, "--name", "x", "--effective-at", "1972-12-31T00:00:00Z"],
      ["billing", "--from", "1970-01-01", "--to", "2026-01-01"],
      ["usage", record.id, "--from", "20000d"],
    ]) {
      const r = errorOf(...args);
      const option = args.find((a) => a === "--effective-at" || a === "--from")!;
      expect([args, r.code, r.error]).toEqual([args, 2, { code: "USAGE", message: `${option}: must be a time from 1973-03-03T09:46:40.000Z on` }]);
    }
  });

  it("credits, create and update take every amount up to the documented 10^15; a larger one is refused naming its option", () => {
    cli("init");
    // Before: `--credits 1000000000000000` (the maximum, 16 digits) was "expected a whole number".
    const created = cli("create", "--owner", "acct_max", "--credits", "1000000000000000", "--pool", "premium=1000000000000000/month", "--json");
    expect(created.code).toBe(0);
    const { record } = JSON.parse(created.stdout);
    expect(record.policy.credits.limit).toBe(1e15);
    const low = JSON.parse(cli("create", "--owner", "acct_max", "--credits", "0", "--json").stdout).record;
    expect(JSON.parse(cli("credits", low.id, "--top-up", "1000000000000000", "--json").stdout).remaining).toBe(1e15);
    // (A pool's is named by its field, `pools.premium.limit`: the pool, which --pool alone would not say.)
    for (const [args, option] of [
      [["credits", low.id, "--top-up", "1"], "--top-up"],
      [["update", record.id, "--credits", "1000000000000001"], "--credits"],
    ] as const) {
      const r = errorOf(...args);
      expect([args, r.code, r.error.code, r.error.message.startsWith(`${option}: `)]).toEqual([args, 2, "INVALID_INPUT", true]);
    }
    // Past what a number holds exactly: refused before the library, never rounded.
    for (const n of ["9007199254740993", "99999999999999999999"]) {
      const r = errorOf("credits", low.id, "--top-up", n);
      expect([n, r.code, r.error]).toEqual([n, 2, { code: "USAGE", message: `--top-up: expected a whole number from 0 to ${Number.MAX_SAFE_INTEGER}` }]);
    }
  });

  it("billing: --month with --from or --to is refused, not one of them silently ignored; a month before 1974 names --month", () => {
    cli("init");
    for (const args of [
      ["--month", "2026-02", "--from", "7d", "--to", "0"],
      ["--month", "2026-02", "--from", "7d"],
    ]) {
      const r = errorOf("billing", ...args);
      expect([args, r.code, r.stdout, r.error]).toEqual([args, 2, "", { code: "USAGE", message: "give --month, or --from and --to, not both" }]);
    }
    // Before: Date.UTC read the year 0026 as 1926, and the error named the library's `from`.
    for (const month of ["0026-02", "1969-12"]) {
      const r = errorOf("billing", "--month", month);
      expect([month, r.code, r.error.code, r.error.option, r.error.message]).toEqual([month, 2, "INVALID_INPUT", "--month", '--month: must be a month from "1974-01" on']);
    }
    expect(cli("billing", "--month", "2024-02").stdout).toBe("owner,pool,from,to,requests,credits\r\n");
  });
});
