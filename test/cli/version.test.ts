// keyward --version: the version in the package's own package.json, read when
// the bin runs, as installed (package.json at the package's root, the bin in dist/).
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundle, CLI_RUN_TIMEOUT_MS, CLI_TEST_TIMEOUT_MS, ROOT, tempDir, useCli } from "./helpers.js";

const cli = useCli();
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string };

describe("keyward CLI: --version", () => {
  // The package as npm installs it: node_modules/keyward/{package.json,dist/cli.js}.
  const t = tempDir();
  const root = join(t.dir, "node_modules", "keyward");
  let bin = "";
  beforeAll(async () => {
    mkdirSync(join(root, "dist"), { recursive: true });
    writeFileSync(join(root, "package.json"), JSON.stringify(pkg));
    bin = await bundle("src/cli/index.ts", join(root, "dist", "cli.js"));
  }, CLI_TEST_TIMEOUT_MS);
  afterAll(() => t.cleanup());
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: t.dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "" }, timeout: CLI_RUN_TIMEOUT_MS });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it("--version and -V print the package's version, read from its package.json when the bin runs", () => {
    for (const flag of ["--version", "-V"]) expect(run(flag)).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    expect(run("--version", "--json")).toEqual({ code: 0, stdout: `${JSON.stringify({ name: "keyward", version: pkg.version }, null, 2)}\n`, stderr: "" });
    // Read at run time, not built in: a package.json changed after the build is what it prints.
    writeFileSync(join(root, "package.json"), JSON.stringify({ ...pkg, version: "9.8.7-rc.1" }));
    expect(run("--version").stdout).toBe("9.8.7-rc.1\n");
    // The main help names it.
    expect(run("--help").stdout).toMatch(/keyward --version prints the version/);
  });

  it("-v is not --version (curl's -V, as sign's -X, -d, -H are curl's); --version takes nothing else", () => {
    expect(run("-v").code).toBe(2);
    expect(run("--version", "list")).toMatchObject({ code: 2, stdout: "" });
  });

  it("without keyward's package.json above the bin, it says so: exit 6", () => {
    // useCli's bin is bundled alone in a temp folder.
    const r = cli("--version");
    expect([r.code, r.stdout, r.stderr]).toEqual([6, "", "keyward: cannot find keyward's package.json above the bin\n"]);
  });
});
