// The defaults that option interfaces state in their doc comments, read with
// the TypeScript compiler API, and those the guides state in prose:
// test/package/documented-defaults.test.ts compares each with the value the
// code applies. A statement must open a sentence, a parenthesis or a clause
// ("(default 1 000)", "Default false."), or mark a value ("`\"error\"` (default)"):
// "1 000 by default" is not read.
import { readFileSync } from "node:fs";
import ts from "typescript";

const ROOT = new URL("../../", import.meta.url);

/** A default as a doc comment states it. */
export interface DocumentedDefault {
  /** `<Interface>.<property>[.<nested property>]`, e.g. `KeywardOptions.cache.maxEntries`. */
  path: string;
  /** The file that declares it, from the repository's root. */
  file: string;
  /** The words that state it, e.g. `(default 10 000; 0 disables the cache)`. */
  statement: string;
  /** The value read from them, or `UNPARSED` when they are not in a form {@link parseDefault} reads. */
  value: unknown;
}

/** What {@link parseDefault} returns for words it cannot read as one value. */
export const UNPARSED = Symbol("unparsed");

const MS = { ms: 1, s: 1_000, second: 1_000, seconds: 1_000, minute: 60_000, minutes: 60_000, hour: 3_600_000, hours: 3_600_000, day: 86_400_000, days: 86_400_000 };
const BYTES = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const UNITS: Record<string, number> = { ...MS, ...BYTES };

// A number as the docs write it: thousands separated by a space, a thin space or a narrow no-break space.
const NUMBER = /^(\d{1,3}(?:[ \u2009\u202f]\d{3})*(?:\.\d+)?|\d+(?:\.\d+)?)(?:\s*(ms|s|seconds?|minutes?|hours?|days?|KiB|MiB|GiB))?$/;

/**
 * The value the words after "default" state:
 * - a number, with its thousands separated by spaces and an optional unit
 *   (`10 000`, `1 MiB` = 1 048 576, `7 days` and `10 s` in ms, or in seconds
 *   for an option whose name ends in `Sec`);
 * - `true` / `false`, `on` (true);
 * - `none`, `null`, `off` (null: the option is absent, or an empty list);
 * - code spans separated by commas, a list of their texts (`@method`, `@target-uri`);
 * - a code span holding a JSON value (`"live"`, `["core:read"]`), else one word, as its text
 *   (`Date.now`, `urn:keyward:problem:`).
 * Anything else is {@link UNPARSED}.
 */
export function parseDefault(words: string, option = ""): unknown {
  const w = words.trim();
  const number = NUMBER.exec(w);
  if (number) {
    const unit = number[2] === undefined ? 1 : UNITS[number[2]]! / (option.endsWith("Sec") && number[2] in MS ? 1000 : 1);
    return Number(number[1]!.replace(/[ \u2009\u202f]/g, "")) * unit;
  }
  if (w === "true" || w === "on") return true;
  if (w === "false") return false;
  if (w === "none" || w === "null" || w === "off") return null;
  if (/^`[^`]+`(?:,\s*`[^`]+`)+$/.test(w)) return [...w.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
  const code = /^`([^`]+)`$/.exec(w);
  if (code) {
    try {
      return JSON.parse(code[1]!);
    } catch {
      return /\s/.test(code[1]!) ? UNPARSED : code[1];
    }
  }
  return UNPARSED;
}

// A statement of a default: "(default X)", "(default X; …)", "(default X: …)", "Default X.",
// "Default: X.", "; default X", "defaults to X", the value ending at punctuation or at a
// condition ("default 1 when …"). "The default pool" is no statement: "default" must open a
// sentence, a parenthesis or a clause. A code span just before it may name the field of the
// option's object it is the default of: "`ttlMs` (default 30 000)".
const STATEMENT =
  /(?:(`\w+`)\s+\(|^|(?<=\()|(?<=[.;:,]\s))[Dd]efaults?(?::|\s+to)?\s+((?:`[^`]*`(?:,\s*`[^`]*`)+|`[^`]*`|\.(?=\d)|[^.;:,()])+?)\s*(?=[;:,()]|\.(?!\d)|$|\s(?:when|unless|of|for|each)\b)/g;

// One of the values listed, marked as the default: "`\"error\"` (default): the call rejects …".
const MARKED = /(`[^`]+`) \(default\)/g;

/** The statements of a default in a doc comment: the field a code span before it names, and the value. */
export function defaultsIn(comment: string, option = ""): { field: string | undefined; statement: string; value: unknown }[] {
  return [
    ...[...comment.matchAll(STATEMENT)].map((m) => ({ field: m[1]?.slice(1, -1), statement: m[0], value: parseDefault(m[2]!, m[1]?.slice(1, -1) ?? option) })),
    ...[...comment.matchAll(MARKED)].map((m) => ({ field: undefined, statement: m[0], value: parseDefault(m[1]!) })),
  ];
}

function docOf(node: ts.Node): string {
  return ts
    .getJSDocCommentsAndTags(node)
    .map((doc) => (ts.isJSDoc(doc) ? ts.getTextOfJSDocComment(doc.comment) ?? "" : ""))
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Every property of an exported interface in `files` (paths from the
 * repository's root) whose doc comment states a default, properties of
 * inline object types included.
 */
export function documentedDefaults(files: readonly string[]): DocumentedDefault[] {
  const out: DocumentedDefault[] = [];
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(new URL(file, ROOT), "utf8"), ts.ScriptTarget.Latest, true);
    const visit = (members: ts.NodeArray<ts.TypeElement>, path: string) => {
      for (const member of members) {
        if (!ts.isPropertySignature(member) || member.name === undefined) continue;
        const name = `${path}.${member.name.getText(source)}`;
        const type = member.type && ts.isUnionTypeNode(member.type) ? member.type.types.find(ts.isTypeLiteralNode) : member.type;
        const fields = type && ts.isTypeLiteralNode(type) ? type.members : undefined;
        const isField = (field: string | undefined) => fields?.some((f) => f.name?.getText(source) === field) === true;
        for (const { field, statement, value } of defaultsIn(docOf(member), member.name.getText(source))) {
          out.push({ path: isField(field) ? `${name}.${field}` : name, file, statement, value });
        }
        if (fields) visit(fields, name);
      }
    };
    for (const statement of source.statements) {
      if (ts.isInterfaceDeclaration(statement) && ts.getCombinedModifierFlags(statement) & ts.ModifierFlags.Export) visit(statement.members, statement.name.text);
    }
  }
  return out;
}

// A default stated in a guide's prose: "`lookupTimeoutMs` (default 2 000 ms)", "`maxLabels` (8)", "`newIp` (true)".
const PROSE = /`([\w.]+)`,? \((default:? [^;:,()]+?|[\d \u2009\u202f.]+(?:\s*\w+)?|true|false)\s*[;:,)]/g;
// The defaults of an option's fields, as an object in a code span: "`spike: { intervalMs: 60 000, alpha: 0.3 }`".
const OBJECT = /`(\w+): \{ ([^`}]*) \}`/g;

/** The defaults a guide's prose states next to an option's name: the name (`spike.alpha` for a field), the words, and the value. */
export function proseDefaults(text: string): { name: string; words: string; value: unknown }[] {
  const flat = text.replace(/\s+/g, " ");
  const stated = [...flat.matchAll(PROSE)].map((m) => ({ name: m[1]!, words: m[0], value: parseDefault(m[2]!.replace(/^default:? /, ""), m[1]) }));
  for (const m of flat.matchAll(OBJECT)) {
    for (const field of m[2]!.matchAll(/(\w+): ([^,]+)/g)) {
      stated.push({ name: `${m[1]}.${field[1]}`, words: m[0], value: parseDefault(field[2]!, field[1]) });
    }
  }
  return stated;
}
