// Runs the real `keyward` bin as a user would (`node cli.js …`), bundled from
// src/cli once per test file with esbuild (what tsup does for dist/cli.js).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll } from "vitest";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** A temp folder removed by the returned `cleanup`. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "keyward-cli-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Bundles `entry` (relative to the repository) into `outDir`, runnable by node from anywhere. */
export async function bundle(entry: string, outFile: string): Promise<string> {
  await build({
    entryPoints: [join(ROOT, entry)],
    outfile: outFile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    logLevel: "error",
    // esbuild's bundle of CJS deps (ignore) needs a require in ESM output.
    banner: { js: 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);' },
  });
  return outFile;
}

/** What one run of the bin gave. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A `keyward` runner working in `dir` (the bin is written there too): `cli("list", "--owner", "a")`. */
export async function makeCli(dir: string, env: Record<string, string> = {}) {
  const bin = await bundle("src/cli/index.ts", join(dir, "cli.mjs"));
  const run = (args: string[], options: { input?: string; env?: Record<string, string> } = {}): Run => {
    const r = spawnSync(process.execPath, [bin, ...args], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", ...env, ...options.env },
      ...(options.input !== undefined && { input: options.input }),
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  return Object.assign((...args: string[]) => run(args), { run, bin });
}

/** A runner over a fresh temp folder for the current test file (made in beforeAll, removed in afterAll). */
export function useCli(env: Record<string, string> = {}) {
  let t: ReturnType<typeof tempDir> | undefined;
  let bound: Awaited<ReturnType<typeof makeCli>>;
  beforeAll(async () => {
    t = tempDir();
    bound = await makeCli(t.dir, env);
  });
  afterAll(() => t?.cleanup());
  const cli = Object.assign((...args: string[]) => bound(...args), {
    run: (args: string[], options?: Parameters<typeof bound.run>[1]) => bound.run(args, options),
  });
  return Object.defineProperty(cli, "dir", { get: () => t!.dir }) as typeof cli & { readonly dir: string };
}
