// The version `keyward --version` prints: the package's own package.json's,
// read when the bin runs (dist/cli.js, or src/cli in development), not built in.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError, EXIT } from "./io.js";

/**
 * The version of the nearest package.json named `keyward` above this module,
 * as Node finds a module's package: the installed package's root above
 * `dist/`, the repository's above `src/cli/`.
 *
 * @throws {CliError} exit 6 when there is none (the bin bundled into something else)
 */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = readPackage(join(dir, "package.json"));
    if (pkg?.name === "keyward" && typeof pkg.version === "string") return pkg.version;
    const parent = dirname(dir);
    if (parent === dir) throw new CliError("cannot find keyward's package.json above the bin", EXIT.IO);
    dir = parent;
  }
}

/** A package.json's fields, or undefined where there is none (or it is not JSON). */
function readPackage(path: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as { name?: unknown; version?: unknown };
  } catch {
    return undefined;
  }
}
