// With --json, an error is one JSON object on stderr (its code, its message,
// its structured fields), with the exit code it has in text.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useCli } from "./helpers.js";

const cli = useCli();

/** The run's stderr as the one JSON object docs/cli.md promises: a single line. */
function jsonError(r: { stderr: string }): Record<string, unknown> {
  expect(r.stderr).toMatch(/^\{[^\n]*\}\n$/);
  return JSON.parse(r.stderr);
}

describe("keyward CLI: errors with --json", () => {
  it("a library error: its code, its message without the code, its fields; the exit code of text", () => {
    expect(cli("init").code).toBe(0);
    const { record } = JSON.parse(cli("create", "--owner", "acct_1", "--json").stdout);
    expect(cli("delete", record.id, "--yes").code).toBe(0);
    const text = cli("show", record.id);
    const r = cli("show", record.id, "--json");
    expect([text.code, r.code, r.stdout]).toEqual([3, 3, ""]);
    expect(jsonError(r)).toEqual({ code: "TOKEN_NOT_FOUND", message: "token not found", tokenId: record.id });
    // An input error names its field.
    const bad = cli("create", "--owner", "acct_1", "--pool", "__proto__=5", "--json");
    expect(bad.code).toBe(2);
    expect(jsonError(bad)).toMatchObject({ code: "INVALID_INPUT", field: "pools.__proto__", message: expect.stringContaining("pools.__proto__") });
  });

  it("the CLI's own errors: a usage error is USAGE, a missing database STORE_UNAVAILABLE, an unreadable file IO_ERROR", () => {
    const cases: [string[], number, string, unknown][] = [
      [["list", "--json"], 2, "USAGE", "missing --owner"],
      [["list", "--owner", "a", "--colour", "--json"], 2, "USAGE", expect.stringMatching(/^Unknown option '--colour'/)],
      [["list", "--owner", "a", "--database", "missing.db", "--json"], 5, "STORE_UNAVAILABLE", "no database at missing.db (create it with: keyward init --database missing.db)"],
      [["scan", "nope", "--json"], 6, "IO_ERROR", "cannot read nope: no such file or directory (ENOENT)"],
      // Before a command is found: --json anywhere asks for JSON.
      [["lst", "--json"], 2, "USAGE", 'unknown command "lst" (run keyward --help)'],
      [["--json", "list"], 2, "USAGE", "options go after the command: keyward <command> [options] (run keyward --help)"],
    ];
    for (const [args, exit, code, message] of cases) {
      const r = cli(...args);
      expect([args, r.code, r.stdout, jsonError(r)]).toEqual([args, exit, "", { code, message }]);
    }
    // The message is the text line's, without its label (`keyward list: `).
    expect(cli("list").stderr).toBe("keyward list: missing --owner\n");
  });

  it("a token in what was typed is redacted in the JSON too; an argument after -- is not an option", () => {
    const token = `kw_sk_live_${"A".repeat(49)}`;
    const r = cli("show", token, "--json");
    expect(r.stderr).not.toContain(token.slice(11));
    expect(jsonError(r).code).toBe("TOKEN_NOT_FOUND");
    // `--json` after `--` is a positional: the error is text, as without --json.
    expect(cli("scan", "--", "--json").stderr).toMatch(/^keyward scan: /);
  });
});

describe("keyward CLI: warnings with --json", () => {
  it("a Node warning (from a preloaded module, say) is a line of JSON before the output's error, as the CLI's own warnings are", () => {
    // A module preloaded as an APM agent is (NODE_OPTIONS=--import), warning once the command has run.
    writeFileSync(
      join(cli.dir, "warns.mjs"),
      `let once = false;\nprocess.on("beforeExit", () => { if (!once) { once = true; process.emitWarning("the agent's \\u001b[31mwarning", "AgentWarning"); } });\n`,
    );
    const env = { NODE_OPTIONS: "--import ./warns.mjs" };
    const text = cli.run(["list"], { env });
    expect([text.code, text.stderr]).toEqual([2, "keyward list: missing --owner\nkeyward: warning: AgentWarning: the agent's \\u{1b}[31mwarning\n"]);
    const json = cli.run(["list", "--json"], { env });
    expect(json.code).toBe(2);
    const lines = json.stderr.split("\n");
    expect(lines.map((l) => (l === "" ? l : JSON.parse(l)))).toEqual([
      { code: "USAGE", message: "missing --owner" },
      { level: "warning", code: "NODE_WARNING", message: "AgentWarning: the agent's \\u{1b}[31mwarning", name: "AgentWarning" },
      "",
    ]);
  });
});
