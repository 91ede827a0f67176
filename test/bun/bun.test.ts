// keyward on Bun, in a real Bun (docs/stores.md, DESIGN.md: the core and
// keyward/sqlite run there):
// - keyward/sqlite over a bun:sqlite Database passes the whole TokenStore
//   conformance suite (keyward/testing), run by Bun's own test runner.
//   bun:sqlite answers `null` where node:sqlite and better-sqlite3 answer
//   `undefined` (no row): before the store read both alike, usage analytics,
//   billing, anomaly state and usage batches failed there (17 tests).
// - A Bun.serve route guarded by keyward/fetch answers Bun's fetch: a bearer
//   token, none, one revoked, a request signed by keyward/client (serve.ts).
//
// The Bun binary: KEYWARD_BUN (.ci/run installs Bun from the npm registry and
// sets it). Without it the tests skip with the reason printed, except under
// CI=true, where a missing Bun is a failure.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

const BUN = process.env.KEYWARD_BUN;
if (!BUN) {
  if (process.env.CI === "true") throw new Error("CI=true but KEYWARD_BUN is unset: .ci/run installs Bun and sets it");
  console.warn("Bun tests skipped: KEYWARD_BUN is unset (npm i --prefix /tmp/bun bun, then KEYWARD_BUN=/tmp/bun/node_modules/.bin/bun)");
}

/** How long a Bun run may take (the conformance suite: 3 to 12 s here) before it is killed as a hang. */
const RUN_TIMEOUT_MS = 150_000;

const dir = mkdtempSync(join(tmpdir(), "keyward-bun-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs Bun with `args`; resolves with its exit code and output (stdout and stderr, where bun:test reports). */
function bun(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(BUN!, args, { cwd: dir, env: { PATH: process.env.PATH ?? "", NO_COLOR: "1" } });
    let output = "";
    child.stdout.on("data", (b) => (output += b));
    child.stderr.on("data", (b) => (output += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe.runIf(BUN)("keyward on Bun", () => {
  it(
    "passes the TokenStore conformance suite over a bun:sqlite Database",
    async () => {
      const entry = join(dir, "entry.ts");
      writeFileSync(
        entry,
        [
          'import { Database } from "bun:sqlite";',
          `import { sqliteStore } from ${JSON.stringify(join(ROOT, "src/sqlite/index.ts"))};`,
          `import { describeTokenStore } from ${JSON.stringify(join(ROOT, "src/testing/index.ts"))};`,
          "let n = 0;",
          `describeTokenStore("SqliteStore (bun:sqlite)", () => sqliteStore(new Database(${JSON.stringify(dir)} + "/db-" + n++ + ".sqlite")), {`,
          "  raw: (s) => s.dump(),",
          '  skip: { changeFeed: "SQLite has no cross-process notifications" },',
          "});",
        ].join("\n"),
      );
      const bundle = join(dir, "conformance.test.mjs");
      await build({
        entryPoints: [entry],
        outfile: bundle,
        bundle: true,
        platform: "node",
        format: "esm",
        logLevel: "error",
        alias: { vitest: join(ROOT, "test/bun/vitest-on-bun.ts") },
        external: ["bun:test", "bun:sqlite"],
      });
      const { code, output } = await bun(["test", "--timeout", "60000", bundle]);
      const count = (what: string) => Number(new RegExp(`^\\s*(\\d+) ${what}$`, "m").exec(output)?.[1] ?? Number.NaN);
      const failed = output.split("\n").filter((l) => l.startsWith("(fail)"));
      expect(failed, output.slice(-4000)).toEqual([]);
      expect(code).toBe(0);
      expect(count("fail")).toBe(0);
      // Every group but the change feed ran (the suite has about 140 tests; a group lost would show here).
      expect(count("pass")).toBeGreaterThanOrEqual(130);
      // A kit test skips itself only where the store lacks a capability: bun:sqlite's store has them all.
      const skipped = output.split("\n").filter((l) => l.startsWith("(kit skip) "));
      expect(skipped.length).toBeGreaterThan(0);
      for (const line of skipped) expect(line).toMatch(/^\(kit skip\) without the capability/);
      for (const group of ["usageAnalytics", "billing", "anomalyState", "usage", "delete", "races"]) {
        expect(output, group).toMatch(new RegExp(`^\\(pass\\) TokenStore: SqliteStore \\(bun:sqlite\\) > ${group} > `, "m"));
      }
    },
    RUN_TIMEOUT_MS + 10_000,
  );

  it("guards a Bun.serve route with keyward/fetch: bearer, none, revoked, signed by keyward/client", async () => {
    const { code, output } = await bun([join(ROOT, "test/bun/serve.ts")]);
    expect(code, output).toBe(0);
    const seen = JSON.parse(output.trim().split("\n").at(-1)!);
    expect(seen.bearer).toEqual({ status: 200, type: "application/json;charset=utf-8", body: { token: seen.ids.bearer } });
    expect(seen.none).toMatchObject({ status: 401, type: "application/problem+json", body: { code: "TOKEN_MISSING" } });
    expect(seen.signed).toEqual({ status: 200, type: "application/json;charset=utf-8", body: { token: seen.ids.signing } });
    expect(seen.revoked).toMatchObject({ status: 401, type: "application/problem+json", body: { status: 401 } });
    // Written to the bun:sqlite database and read back.
    expect(seen.usage).toEqual([{ allowed: 1, denied: 0 }]);
  }, 60_000);
});
