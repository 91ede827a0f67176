// A reader that leaves before the output ends (`keyward list … | head -1`):
// the output stops there, quietly, and the command exits with its own code
// (docs/cli.md, "Exit codes"), never with a stack trace. An output that
// cannot be written (stdout on a full disk) is exit 6, in one line; a new
// token nobody could be shown is not left working, and none is made to be
// printed to /dev/null.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateToken } from "keyward";
import { beforeAll, describe, expect, it } from "vitest";
import { useCli } from "./helpers.js";

const cli = useCli({ KEYWARD_PREFIX: "acme" });
const bin = () => join(cli.dir, "cli.mjs");

/** Runs the bin with the read end of stdout or stderr closed before it writes a byte. */
function withClosed(stream: "stdout" | "stderr", args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin(), ...args], { cwd: cli.dir, env: { PATH: process.env.PATH ?? "", KEYWARD_PREFIX: "acme" } });
  child[stream].destroy();
  const other = stream === "stdout" ? child.stderr : child.stdout;
  let text = "";
  other.setEncoding("utf8").on("data", (d: string) => (text += d));
  return new Promise((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout: stream === "stdout" ? "" : text, stderr: stream === "stderr" ? "" : text })),
  );
}

describe("keyward CLI: a reader that closes early", () => {
  beforeAll(() => {
    expect(cli("init").code).toBe(0);
    for (let i = 0; i < 40; i++) expect(cli("create", "--owner", "acct_pipe").code).toBe(0);
  });

  it("list into a closed pipe: no stack trace, exit 0", async () => {
    const r = await withClosed("stdout", ["list", "--owner", "acct_pipe"]);
    expect(r).toEqual({ code: 0, signal: null, stdout: "", stderr: "" });
    const json = await withClosed("stdout", ["list", "--owner", "acct_pipe", "--json"]);
    expect(json).toEqual({ code: 0, signal: null, stdout: "", stderr: "" });
  });

  it("the exit code stays the command's: a scan that found a secret is exit 1 even when nobody reads its findings", async () => {
    writeFileSync(join(cli.dir, "leak.env"), `KEY=${generateToken({ prefix: "acme", kind: "secret", env: "live" })}\n`);
    const r = await withClosed("stdout", ["scan", "leak.env"]);
    expect([r.code, r.signal, r.stderr]).toEqual([1, null, "scanned 1 files: 1 tokens found (1 secret)\n"]);
  });

  it("a closed stderr is not an error either", async () => {
    const r = await withClosed("stderr", ["list", "--owner", "acct_nobody"]);
    expect(r).toEqual({ code: 0, signal: null, stdout: "", stderr: "" });
  });

  it("keyward list | head -1 in a shell: one line, and the pipeline's first status is 0", () => {
    const script = `"${process.execPath}" "${bin()}" list --owner acct_pipe 2>err.txt | head -1; echo "status \${PIPESTATUS[0]}"; cat err.txt`;
    const r = spawnSync("bash", ["-c", script], { cwd: cli.dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "", KEYWARD_PREFIX: "acme" } });
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^tok_/);
    expect(lines[1]).toBe("status 0");
  });
});

describe.runIf(existsSync("/dev/full"))("keyward CLI: an output that cannot be written (stdout on a full disk)", () => {
  /** Runs the bin with stdout on /dev/full (every write fails with ENOSPC). */
  const toFull = (...args: string[]) => {
    const fd = openSync("/dev/full", "w");
    try {
      const r = spawnSync(process.execPath, [bin(), ...args], {
        cwd: cli.dir,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", KEYWARD_PREFIX: "acme" },
        stdio: ["ignore", fd, "pipe"],
      });
      return { code: r.status, stderr: r.stderr };
    } finally {
      closeSync(fd);
    }
  };
  const idsOf = (owner: string) => JSON.parse(cli("list", "--owner", owner, "--json").stdout).items as { id: string; revokedAt: number | null }[];

  beforeAll(() => {
    expect(cli("init").code).toBe(0);
  });

  it("any command: one line on stderr and exit 6, not a stack trace and exit 1 (scan's code)", () => {
    expect(cli("create", "--owner", "acct_full").code).toBe(0);
    expect(toFull("list", "--owner", "acct_full")).toEqual({ code: 6, stderr: "keyward list: cannot write to stdout: no space left on device (ENOSPC)\n" });
    expect(toFull("list", "--owner", "acct_full", "--json")).toEqual({ code: 6, stderr: '{"code":"IO_ERROR","message":"cannot write to stdout: no space left on device (ENOSPC)"}\n' });
    expect(toFull("--help")).toEqual({ code: 6, stderr: "keyward: cannot write to stdout: no space left on device (ENOSPC)\n" });
  });

  it("create: the token nobody was shown is revoked, the error names its id, and no 'store it now' note", () => {
    for (const [owner, json] of [["acct_full_text", []], ["acct_full_json", ["--json"]]] as const) {
      const r = toFull("create", "--owner", owner, ...json);
      const [token] = idsOf(owner);
      const message = `cannot write to stdout: no space left on device (ENOSPC): token ${token!.id} was not shown and nobody has it; it is revoked`;
      // With --json, the error names the token's id in a field too.
      const stderr = json.length > 0 ? `${JSON.stringify({ code: "IO_ERROR", message, tokenId: token!.id })}\n` : `keyward create: ${message}\n`;
      expect(r).toEqual({ code: 6, stderr });
      expect(token!.revokedAt).not.toBeNull();
    }
  });

  it("create into a stdout closed before it: revoked as well (exit 6)", async () => {
    const r = await withClosed("stdout", ["create", "--owner", "acct_closed"]);
    const [token] = idsOf("acct_closed");
    expect([r.code, r.stderr]).toEqual([6, `keyward create: stdout was closed: token ${token!.id} was not shown and nobody has it; it is revoked\n`]);
    expect(token!.revokedAt).not.toBeNull();
  });

  it("regenerate: exit 6 naming the id; the token is not revoked (the old secret's grace period goes on)", () => {
    const created = cli("create", "--owner", "acct_full_regen");
    const old = created.stdout.trim();
    const id = idsOf("acct_full_regen")[0]!.id;
    const r = toFull("regenerate", id, "--grace", "1h");
    expect(r).toEqual({
      code: 6,
      stderr: `keyward regenerate: cannot write to stdout: no space left on device (ENOSPC): the new secret of ${id} was not shown and nobody has it (regenerate it again, or revoke it)\n`,
    });
    expect(r.stderr).not.toContain(old);
    const shown = JSON.parse(cli("show", id, "--json").stdout);
    expect(shown.revokedAt).toBeNull();
    expect(shown.graceUntil).toBeGreaterThan(Date.now());
  });

  it("a stderr that cannot be written does not fail a command whose output was written", () => {
    const fd = openSync("/dev/full", "w");
    try {
      const r = spawnSync(process.execPath, [bin(), "create", "--owner", "acct_full_err"], {
        cwd: cli.dir,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "", KEYWARD_PREFIX: "acme" },
        stdio: ["ignore", "pipe", fd],
      });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^acme_sk_live_\w+\n$/);
    } finally {
      closeSync(fd);
    }
  });
});

describe("keyward CLI: a new token printed to nobody (stdout on /dev/null, or closed by the shell's >&-)", () => {
  beforeAll(() => {
    expect(cli("init").code).toBe(0);
  });

  /** Runs the bin under sh with stdout redirected as `redirect` says (`>/dev/null`, `>&-`). */
  const redirected = (redirect: string, ...args: string[]) => {
    const r = spawnSync("/bin/sh", ["-c", `"$0" "$@" ${redirect}`, process.execPath, bin(), ...args], {
      cwd: cli.dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", KEYWARD_PREFIX: "acme" },
    });
    return { code: r.status, stderr: r.stderr };
  };

  it("create and regenerate refuse before doing anything (exit 6): no token nobody has, no secret replaced", () => {
    // Node reopens a closed stdout on /dev/null: the token went there, exit 0, and was shown to nobody.
    for (const redirect of [">/dev/null", ">&-"]) {
      const r = redirected(redirect, "create", "--owner", "acct_null");
      expect([redirect, r]).toEqual([redirect, { code: 6, stderr: "keyward create: stdout is /dev/null (or closed): the token would be shown to nobody; nothing was done\n" }]);
      expect(JSON.parse(cli("list", "--owner", "acct_null", "--json").stdout).items).toEqual([]);
    }
    const created = JSON.parse(cli("create", "--owner", "acct_null_regen", "--json").stdout);
    const r = redirected(">/dev/null", "regenerate", created.record.id);
    expect(r).toEqual({ code: 6, stderr: "keyward regenerate: stdout is /dev/null (or closed): the token would be shown to nobody; nothing was done\n" });
    expect(JSON.parse(cli("show", created.record.id, "--json").stdout).revision).toBe(created.record.revision);
    // Other commands print there as asked.
    expect(redirected(">/dev/null", "list", "--owner", "acct_null_regen").code).toBe(0);
  });
});
