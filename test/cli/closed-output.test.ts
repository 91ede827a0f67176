// A reader that leaves before the output ends (`keyward list … | head -1`):
// the output stops there, quietly, and the command exits with its own code
// (docs/cli.md, "Exit codes"), never with a stack trace.
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
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
