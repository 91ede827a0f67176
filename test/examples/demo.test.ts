// `npm run demo` end to end: every decision line, exit 0, and nothing left
// behind (its temp folders live under a TMPDIR made for this test).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

it("npm run demo walks through every decision, exits 0 and leaves nothing behind", () => {
  const tmp = mkdtempSync(join(tmpdir(), "keyward-demo-test-"));
  try {
    const r = spawnSync(process.execPath, [join(root, "scripts/demo.mjs")], {
      cwd: root,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", TMPDIR: tmp },
      timeout: 60_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const decisions = r.stdout
      .split("\n")
      .filter((l) => /^ ?\d+\. /.test(l))
      .map((l) => l.replace(/^.*→ /, "").replace(/, retry after \d+ s$/, ""));
    expect(decisions).toEqual([
      "200 allowed",
      "403 denied DOMAIN_DENIED",
      "403 denied SCOPE_DENIED",
      "200 allowed, 2 credit(s) left",
      "200 allowed, 1 credit(s) left",
      "200 allowed, 0 credit(s) left",
      expect.stringMatching(/^\d{3} denied CREDITS_EXHAUSTED$/),
      "200 allowed",
      "200 allowed",
      "429 denied RATE_LIMITED",
      "403 denied IP_DENIED",
      "200 allowed",
      "401 denied REPLAYED",
      "403 denied SCOPE_DENIED",
      "200 allowed",
      "401 denied TOKEN_REVOKED",
    ]);
    expect(r.stdout).toMatch(/done: server stopped, temp folder removed\n$/);
    // No token in the output: only ids and starts.
    expect(r.stdout).not.toMatch(/demo_(?:pk|sk)_live_[0-9A-Za-z]{49}/);
    // The bundle and the demo's database were written under TMPDIR only, and removed.
    expect(readdirSync(tmp)).toEqual([]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
