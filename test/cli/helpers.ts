// Runs the real `keyward` bin as a user would (`node cli.js …`), bundled from
// src/cli once per test file with esbuild (what tsup does for dist/cli.js).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, vi } from "vitest";
import { AS_NOBODY } from "../support/another-user.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * How long one run of the bin may take before it is killed and fails as a hang. A run costs about 0.3 s of CPU
 * (Node's start and the bundle's load); on a loaded 2-core CI machine, waiting for a core, 1 to 5 s of wall time.
 * The test's own timeout cannot end a run: spawnSync blocks the event loop its timer would fire on.
 */
export const CLI_RUN_TIMEOUT_MS = 30_000;

/**
 * The timeout of a test (or hook) of a file that runs the bin: up to 40 runs one after the other, each up to 5 s
 * on a loaded CI machine (53 s seen for one test under two CPU hogs, against the default 20 s). A run that hangs
 * fails at {@link CLI_RUN_TIMEOUT_MS}, so this bound guards nothing the runs' own does not.
 */
export const CLI_TEST_TIMEOUT_MS = 200_000;

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
  /** `asNobody`: run by a user to whom the folder's files are another's (see AS_NOBODY). */
  const run = (args: string[], options: { input?: string; env?: Record<string, string>; asNobody?: boolean } = {}): Run => {
    const r = spawnSync(process.execPath, [bin, ...args], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", ...env, ...options.env },
      ...(options.input !== undefined && { input: options.input }),
      ...(options.asNobody && AS_NOBODY),
      timeout: CLI_RUN_TIMEOUT_MS,
      killSignal: "SIGKILL",
    });
    const hung = (r.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT" ? `\n(killed: still running after ${CLI_RUN_TIMEOUT_MS} ms)` : "";
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr + hung };
  };
  return Object.assign((...args: string[]) => run(args), { run, bin });
}

/**
 * A runner over a fresh temp folder for the current test file (made in beforeAll, removed in afterAll). The file's
 * tests and hooks get {@link CLI_TEST_TIMEOUT_MS}.
 */
export function useCli(env: Record<string, string> = {}) {
  vi.setConfig({ testTimeout: CLI_TEST_TIMEOUT_MS, hookTimeout: CLI_TEST_TIMEOUT_MS });
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
  Object.defineProperty(cli, "bin", { get: () => bound.bin });
  return Object.defineProperty(cli, "dir", { get: () => t!.dir }) as typeof cli & { readonly dir: string; readonly bin: string };
}
