// The codes the sources' exported types name, read from the source text: the
// docs tests compare the docs' tables with these, so a code added to a
// union (or a new exported union of codes) without a row fails them.
import { readdirSync, readFileSync } from "node:fs";

const ROOT = new URL("../../", import.meta.url);

/** A file of the repository, as text. */
export const readRepoFile = (path: string): string => readFileSync(new URL(path, ROOT), "utf8");

const CODE = /"([A-Z][A-Z0-9_]+)"/g;

/**
 * Every `export type <name> = …;` under `dir` (a folder of the repository)
 * that names upper-case codes (`"TOKEN_MALFORMED"`): a union of codes, or a
 * union of results with a `code` member. Keyed `<file>#<name>`.
 */
export function codeUnions(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const files = readdirSync(new URL(dir, ROOT), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"));
  for (const f of files.sort()) {
    const file = `${dir}/${f}`;
    const source = readRepoFile(file);
    for (const m of source.matchAll(/^export type (\w+)(?:<[^=]*>)? =/gm)) {
      // The declaration ends at the first line ending in ";" (a result union has ";" inside its object types).
      const body = /^[\s\S]*?;$/m.exec(source.slice(m.index))![0];
      // Extract<…> and Exclude<…> name codes of another union, documented with it.
      const codes = [...body.replace(/\b(Extract|Exclude)<[^>]*>/g, "").matchAll(CODE)].map((c) => c[1]!);
      if (codes.length > 0) out.set(`${file}#${m[1]}`, codes);
    }
  }
  return out;
}
