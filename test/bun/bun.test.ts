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
// CI=true, where a missing Bun is a failure (../support/runtime.ts).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bundle, ROOT, RUN_TIMEOUT_MS, run, runtimeBinary, scratchDir } from "../support/runtime.js";

const BUN = runtimeBinary("KEYWARD_BUN", "Bun", "npm i --prefix /tmp/bun bun");
const dir = scratchDir("bun");
const bun = (args: string[]) => run(BUN!, args, dir);

describe.runIf(BUN)("keyward on Bun", () => {
  it(
    "passes the TokenStore conformance suite over a bun:sqlite Database",
    async () => {
      const source = [
        'import { Database } from "bun:sqlite";',
        `import { sqliteStore } from ${JSON.stringify(join(ROOT, "src/sqlite/index.ts"))};`,
        `import { describeTokenStore } from ${JSON.stringify(join(ROOT, "src/testing/index.ts"))};`,
        "let n = 0;",
        `describeTokenStore("SqliteStore (bun:sqlite)", () => sqliteStore(new Database(${JSON.stringify(dir)} + "/db-" + n++ + ".sqlite")), {`,
        "  raw: (s) => s.dump(),",
        '  skip: { changeFeed: "SQLite has no cross-process notifications" },',
        "});",
      ].join("\n");
      const suite = await bundle(dir, "conformance.test", { source }, { vitest: "test/bun/vitest-on-bun.ts", external: ["bun:test", "bun:sqlite"] });
      const { code, output } = await bun(["test", "--timeout", "60000", suite]);
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
      for (const line of skipped) expect(line).toMatch(/^\(kit skip\) TokenStore: .* > without the capability/);
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
