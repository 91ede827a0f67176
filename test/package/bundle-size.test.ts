// Size budget of the server core as an edge worker ships it: `keyward` and
// `keyward/fetch` bundled for the browser platform (no Node polyfills),
// minified, as esbuild and wrangler bundle them. keyward's schemas are written
// with `zod/mini`, whose functions a bundler keeps only when used: zod's
// classic API (`import { z } from "zod"`) cannot be tree-shaken and alone
// weighed 454 KB of this bundle (824 KB in all).

import { fileURLToPath } from "node:url";
import { build, type Metafile } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";

/**
 * Minified bytes of `keyward` + `keyward/fetch`: 403 829 on 6 December 2026,
 * once the schemas moved to zod/mini (823 665 before; of the rest, 126 KB is
 * tldts's public suffix list, and 37 KB is zod/mini with its English
 * messages). The budget keeps about 10 % of room.
 */
const BUDGET_BYTES = 435 * 1024;

/** Where zod's classic API lives in the package (zod 4: `v4/classic/`, which `zod` itself re-exports). */
const ZOD_CLASSIC = /(^|\/)node_modules\/zod\/(v4\/classic|v3)\//;

async function bundle(contents: string): Promise<{ bytes: number; metafile: Metafile }> {
  const cwd = fileURLToPath(new URL("../../", import.meta.url));
  const result = await build({
    absWorkingDir: cwd,
    stdin: { contents, resolveDir: cwd, loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  return { bytes: result.outputFiles[0]!.contents.length, metafile: result.metafile };
}

let core: { bytes: number; metafile: Metafile };
let admin: { bytes: number; metafile: Metafile };

beforeAll(async () => {
  core = await bundle(`export * from "./src/index.ts"; export * from "./src/fetch/index.ts";`);
  admin = await bundle(`export * from "./src/admin/index.ts";`);
  console.log(`keyward + keyward/fetch: ${core.bytes} B minified (budget ${BUDGET_BYTES} B); keyward/admin: ${admin.bytes} B`);
});

describe("the server core bundled for an edge worker", () => {
  it(`keyward + keyward/fetch is under ${BUDGET_BYTES} bytes minified`, () => {
    expect(Object.keys(core.metafile.inputs)).toContain("src/fetch/index.ts");
    expect(core.bytes).toBeLessThanOrEqual(BUDGET_BYTES);
  });

  it("takes zod's mini API only, never its classic one (which cannot be tree-shaken)", () => {
    for (const { metafile } of [core, admin]) {
      const inputs = Object.keys(metafile.inputs);
      expect(inputs.some((p) => /(^|\/)node_modules\/zod\/v4\/mini\//.test(p))).toBe(true);
      expect(inputs.filter((p) => ZOD_CLASSIC.test(p))).toEqual([]);
    }
  });

  it("keeps zod's English messages only, not every locale", () => {
    const output = Object.values(core.metafile.outputs)[0]!;
    const locales = Object.entries(output.inputs).filter(([p, i]) => /node_modules\/zod\/v4\/locales\//.test(p) && i.bytesInOutput > 0);
    expect(locales.map(([p]) => p.split("/").at(-1))).toEqual(["en.js"]);
  });
});
