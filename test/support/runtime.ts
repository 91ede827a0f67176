// Another JavaScript runtime running keyward, for test/bun and test/deno: the
// binary from the environment (.ci/run installs it from the npm registry),
// keyward's sources bundled with esbuild so that the runtime resolves no
// module (bare specifiers such as "zod" failed in Deno run from the repo),
// and a run of the bundle with a bound on its time.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { afterAll } from "vitest";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** How long a run may take (a conformance suite: 3 to 12 s here) before it is killed as a hang. */
export const RUN_TIMEOUT_MS = 150_000;

/**
 * The binary in the environment variable `variable` (`KEYWARD_BUN`). Without it the tests skip
 * with `install` printed, except under CI=true, where a missing binary is a failure.
 */
export function runtimeBinary(variable: string, name: string, install: string): string | undefined {
  const bin = process.env[variable];
  if (!bin) {
    if (process.env.CI === "true") throw new Error(`CI=true but ${variable} is unset: .ci/run installs ${name} and sets it`);
    console.warn(`${name} tests skipped: ${variable} is unset (${install}, then ${variable}=<its path>)`);
  }
  return bin;
}

/** A temporary directory for this test file's bundles and databases, removed after it. */
export function scratchDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `keyward-${name}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Bundles `entry` (a path, or a module's text, which is written into `dir` first) into
 * `dir/<name>.mjs`, with "vitest" aliased to `vitest` when given; `external` modules (the
 * runtime's own) are left to it.
 */
export async function bundle(dir: string, name: string, entry: { path: string } | { source: string }, options: { vitest?: string; external?: string[] } = {}): Promise<string> {
  let path: string;
  if ("path" in entry) path = entry.path;
  else {
    path = join(dir, `${name}.entry.ts`);
    writeFileSync(path, entry.source);
  }
  const outfile = join(dir, `${name}.mjs`);
  await build({
    entryPoints: [path],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    logLevel: "error",
    ...(options.vitest && { alias: { vitest: join(ROOT, options.vitest) } }),
    external: options.external ?? [],
  });
  return outfile;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr as they came. */
  output: string;
}

/** Runs `bin` with `args` in `cwd`, with only PATH, NO_COLOR and `env` in its environment; killed after RUN_TIMEOUT_MS. */
export function run(bin: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd, env: { PATH: process.env.PATH ?? "", NO_COLOR: "1", ...env } });
    const out = { stdout: "", stderr: "", output: "" };
    child.stdout.on("data", (b) => {
      out.stdout += b;
      out.output += b;
    });
    child.stderr.on("data", (b) => {
      out.stderr += b;
      out.output += b;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, ...out });
    });
  });
}
