// Runs every example in examples/ against src/ (vitest maps "keyward" to src/)
// and checks what it prints.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCHEMA_VERSION } from "keyward/sqlite";
import { afterEach, describe, expect, it, vi } from "vitest";

function captureLog() {
  const lines: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));
  return lines;
}

afterEach(() => vi.restoreAllMocks());

describe("examples", () => {
  it("quickstart runs end to end", async () => {
    const lines = captureLog();
    // Its keyward.db goes where it runs, as a reader's would: a folder of the test's own, not the repository.
    const cwd = process.cwd();
    const dir = mkdtempSync(join(tmpdir(), "keyward-quickstart-"));
    process.chdir(dir);
    let mod: typeof import("../../examples/quickstart.js");
    try {
      mod = await import("../../examples/quickstart.js");
    } finally {
      process.chdir(cwd);
    }
    rmSync(dir, { recursive: true, force: true });
    expect(lines[0]).toMatch(/^issued tok_[0-9A-Za-z]{22} acme_sk_live_[0-9A-Za-z]{4}$/);
    expect(lines[1]).toMatch(/^rotated; old secret valid until \d{4}-/);
    expect(lines[2]).toBe("audit: create, update, regenerate");
    expect(lines[3]).toBe("revoked true");
    expect(mod.token).toMatch(/^acme_sk_live_/);
    // The token never reached the log.
    expect(lines.join("\n")).not.toContain(mod.token);
  });
});

describe("README", () => {
  it("shows the quickstart example verbatim", async () => {
    const { readFile } = await import("node:fs/promises");
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const example = await readFile(new URL("../../examples/quickstart.ts", import.meta.url), "utf8");
    const body = example
      .split("\n")
      .slice(2)
      .filter((l) => !l.startsWith("export {"))
      .join("\n")
      .trim();
    expect(readme).toContain(body);
  });
});

describe("examples/verify-requests", () => {
  it("allows, then denies with stable codes", async () => {
    const lines = captureLog();
    await import("../../examples/verify-requests.js");
    expect(lines).toEqual(['allowed 200 limits left "requests";r=9, "credits";r=95', "denied 403 IP_DENIED", "denied 401 TOKEN_MALFORMED"]);
  });
});

describe("examples/sqlite", () => {
  it("keeps tokens and balances across a restart", async () => {
    const lines = captureLog();
    await import("../../examples/sqlite.js");
    expect(lines).toEqual([
      `schema version ${SCHEMA_VERSION}`,
      "before restart true credits left 60",
      "after restart true credits left 20",
      "then CREDITS_EXHAUSTED",
      "revoked TOKEN_REVOKED",
    ]);
  });
});

describe("examples/signed-requests", () => {
  it("signs with the client, verifies with kw.verify, refuses a replay", async () => {
    const lines = captureLog();
    await import("../../examples/signed-requests.js");
    expect(lines).toEqual(["200 prices", "401 REPLAYED"]);
  });
});

describe("examples: imports", () => {
  it("import only keyward and node: modules, which an app that installs keyward has (not keyward's own dependencies)", async () => {
    const { readdir, readFile } = await import("node:fs/promises");
    const dir = new URL("../../examples/", import.meta.url);
    const imported: string[] = [];
    for (const name of await readdir(dir)) {
      const text = await readFile(new URL(name, dir), "utf8");
      for (const m of text.matchAll(/^import [^;]*?from "([^"]+)";/gms)) imported.push(`${name}: ${m[1]}`);
    }
    expect(imported.length).toBeGreaterThan(5);
    expect(imported.filter((i) => !/: (keyward(\/[a-z]+)?|node:[a-z/]+)$/.test(i))).toEqual([]);
  });
});
