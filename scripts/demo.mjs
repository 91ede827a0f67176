// `npm run demo`: bundles examples/demo.ts against src/ (no build step, no
// TypeScript loader) into a temp folder, runs it with this Node, and removes
// the bundle. The demo writes only inside its own temp folder.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const src = (p) => join(root, "src", p);
const out = mkdtempSync(join(tmpdir(), "keyward-demo-bundle-"));
let status = 1;
try {
  await build({
    entryPoints: [join(root, "examples/demo.ts")],
    outfile: join(out, "demo.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    logLevel: "error",
    alias: {
      keyward: src("index.ts"),
      "keyward/client": src("client/index.ts"),
      "keyward/sqlite": src("sqlite/index.ts"),
    },
  });
  status = spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", join(out, "demo.mjs")], { stdio: "inherit" }).status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
process.exitCode = status;
