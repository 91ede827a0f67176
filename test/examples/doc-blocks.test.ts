// Every ```ts block in README.md and docs/*.md is run by the suite, so the
// documentation cannot drift from the API, and prints what its comments say
// it prints (see withOutputChecks). Blocks marked ```ts fragment are
// excerpts (they use names defined elsewhere, such as `kw` or `app`): they
// are type-checked against the API, with those names declared (see PRELUDE).
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { formatWithOptions } from "node:util";
import ts from "typescript";
import { createAdminHandler } from "../../src/admin/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { TOKEN_STORE_TEST_GROUPS } from "../../src/testing/index.js";
import { afterAll, describe, expect, it, vi } from "vitest";

const root = new URL("../../", import.meta.url);
const scratch = new URL("test/.doc-blocks/", root);

async function blocks(kind: "ts" | "ts fragment"): Promise<{ file: string; index: number; code: string }[]> {
  const files = ["README.md", ...(await readdir(new URL("docs/", root))).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const out = [];
  const fence = new RegExp(`^\`\`\`${kind}\\n([\\s\\S]*?)^\`\`\`$`, "gm");
  for (const file of files) {
    const text = await readFile(new URL(file, root), "utf8");
    let index = 0;
    for (const m of text.matchAll(fence)) out.push({ file, index: index++, code: m[1]! });
  }
  return out;
}

const all = await blocks("ts");
const fragments = await blocks("ts fragment");

afterAll(() => rm(scratch, { recursive: true, force: true }));

/**
 * What a block says it prints: a `console.log(…)` line that ends in a
 * `// comment`, or that is followed by lines of comments only, prints what
 * the comment shows. Up to a `;` (what follows is prose), each word and
 * number of the comment appears in the printed text, in that order; quotes,
 * brackets and commas are layout, and `…` stands for whatever the run
 * printed there (`tok_…`). Each such line must run at least once. The block
 * is returned with those calls routed to `globalThis.__docLog(line, …)`.
 */
function withOutputChecks(code: string): { code: string; expected: Map<number, string> } {
  const lines = code.split("\n");
  const expected = new Map<number, string>();
  lines.forEach((line, n) => {
    if (!line.includes("console.log(")) return;
    const end = line.lastIndexOf("); // ");
    let comment = end === -1 ? "" : line.slice(end + 6);
    for (let next = n + 1; end === -1 && /^\s*\/\/ /.test(lines[next] ?? ""); next++) comment += ` ${lines[next]!.trim().slice(3)}`;
    if (comment === "") return;
    expected.set(n + 1, comment.split(";")[0]!);
    lines[n] = line.replace("console.log(", `__docLog(${n + 1}, `);
  });
  return { code: lines.join("\n"), expected };
}

/** The words of `comment` that `printed` does not show in order (see withOutputChecks). */
function missingWords(comment: string, printed: string): string[] {
  const missing: string[] = [];
  let at = 0;
  for (const word of comment.match(/[^\s"'`,[\]{}()…]+/g) ?? []) {
    const found = printed.indexOf(word, at);
    if (found === -1) missing.push(word);
    else at = found + word.length;
  }
  return missing;
}

describe("documentation code blocks", () => {
  it("there are runnable blocks", () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
  });

  it.each(all.map((b) => [`${b.file} #${b.index}`, b] as const))("%s runs and prints what it says", async (_name, b) => {
    await mkdir(scratch, { recursive: true });
    const path = new URL(`${b.file.replace(/[/.]/g, "_")}_${b.index}.ts`, scratch);
    const { code, expected } = withOutputChecks(b.code);
    await writeFile(path, `${code}\nexport {};\n`);
    const printed = new Map<number, string[]>();
    const g = globalThis as { __docLog?: (line: number, ...args: unknown[]) => void };
    g.__docLog = (line, ...args) => printed.set(line, [...(printed.get(line) ?? []), formatWithOptions({ breakLength: Infinity }, ...args)]);
    vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      await expect(import(path.href)).resolves.toBeDefined();
    } finally {
      vi.restoreAllMocks();
      delete g.__docLog;
    }
    const wrong = [...expected].flatMap(([line, comment]) => {
      const runs = printed.get(line) ?? [];
      if (runs.length === 0) return [`line ${line} never printed (says: ${comment})`];
      return runs.filter((out) => missingWords(comment, out).length > 0).map((out) => `line ${line} says ${comment} but printed ${out}`);
    });
    expect(wrong).toEqual([]);
  });
});

describe("documentation installs", () => {
  /**
   * The packages `blocks` import, besides keyward, Node's own and the application's own modules (relative, or
   * `@/` aliases), that no `npm i` of their guide installs; for a package that ships no types, its @types too:
   * keyward's own declarations for it (keyward/express) import them, so a reader who type-checks needs them.
   */
  async function notInstalled(blocks: { file: string; index: number; code: string }[]): Promise<string[]> {
    const missing: string[] = [];
    for (const b of blocks) {
      const text = await readFile(new URL(b.file, root), "utf8");
      const installed = new Set([...text.matchAll(/\bnpm i(?:nstall)? ([^`\n]+)/g)].flatMap((m) => m[1]!.split(" ")));
      for (const [, specifier] of b.code.matchAll(/^import [^;]*?from "([^"]+)";/gms)) {
        if (/^(node:|\.|@\/)/.test(specifier!)) continue;
        const name = specifier!.split("/").slice(0, specifier!.startsWith("@") ? 2 : 1).join("/");
        if (name !== "keyward" && !installed.has(name)) missing.push(`${b.file} #${b.index}: ${name}`);
        const types = UNTYPED[name];
        if (types !== undefined && !installed.has(types)) missing.push(`${b.file} #${b.index}: ${types}`);
      }
    }
    return missing;
  }

  it("each package a runnable block imports is installed by an `npm i` of its guide, with its @types when it ships none", async () => {
    expect(await notInstalled(all)).toEqual([]);
  });

  it("so is each package an excerpt imports", async () => {
    expect(await notInstalled(fragments)).toEqual([]);
  });
});

/** Packages the guides import that ship no type declarations, and the package that has them. */
const UNTYPED: Record<string, string> = { express: "@types/express", pg: "@types/pg" };

/** The names fragments use without defining them, as an application would have them. */
const PRELUDE = `import type { Hono } from "hono";
import type { Keyward, TokenRecord, TokenStore } from "keyward";
import type { KeywardHono } from "keyward/hono";
/** The part of a Stripe event (the stripe package's Stripe.Event) that docs/accounts.md reads. */
interface StripeEvent {
  id: string;
  type: string;
  data: { object: { client_reference_id: string | null; metadata: Record<string, string> | null } };
}
declare global {
  const kw: Keyward;
  const store: TokenStore;
  const request: Request;
  const ip: string;
  const record: TokenRecord;
  const privateKey: Uint8Array;
  const app: Hono;
  const guard: KeywardHono;
  const sessions: { fromCookie(cookie: string | null): Promise<{ accountId: string; userId: string; csrfToken: string } | null> };
  const stripe: { webhooks: { constructEventAsync(payload: string, signature: string, secret: string): Promise<StripeEvent> } };
  const endpointSecret: string;
  function notifyOwner(...about: unknown[]): void;
  function connect(): unknown;
  namespace Deno { interface ServeHandlerInfo { remoteAddr: { hostname: string } } }
  namespace Bun { interface Server { requestIP(request: Request): { address: string } | null } }
}
export {};
`;
/** Modules of the application that fragments import (a Next.js alias, a store adapter's own file). */
const MODULES = `declare module "@/lib/keyward" { export const kw: import("keyward").Keyward; }
declare module "@/lib/auth" { export function auth(): Promise<{ user: { accountId: string } } | null>; }
`;
const MY_STORE = `import { MemoryStore } from "keyward";
export class MyStore extends MemoryStore {
  constructor(_connection: unknown) { super(); }
  async dumpTables(): Promise<string> { return ""; }
}
`;

/**
 * A fragment as a module: its imports first, the rest as the body of an
 * async function (fragments may `return`, as a request handler does), and
 * its exports as plain declarations.
 */
function asModule(code: string): string {
  const lines = code.split("\n");
  const imports = lines.filter((l) => l.startsWith("import "));
  const body = lines.filter((l) => !l.startsWith("import ")).map((l) => l.replace(/^export /, ""));
  return `${imports.join("\n")}\nexport async function fragment() {\n${body.join("\n")}\n}\n`;
}

describe("documentation fragments", () => {
  it("there are fragments, and they type-check against the API", async () => {
    expect(fragments.length).toBeGreaterThanOrEqual(8);
    const dir = new URL("fragments/blocks/", scratch);
    await mkdir(new URL("src/", new URL("fragments/", scratch)), { recursive: true });
    await mkdir(dir, { recursive: true });
    const files: string[] = [];
    for (const f of fragments) {
      const path = fileURLToPath(new URL(`${f.file.replace(/[/.]/g, "_")}_${f.index}.ts`, dir));
      await writeFile(path, asModule(f.code));
      files.push(path);
    }
    const prelude = fileURLToPath(new URL("prelude.ts", dir));
    const modules = fileURLToPath(new URL("modules.d.ts", dir));
    await writeFile(prelude, PRELUDE);
    await writeFile(modules, MODULES);
    await writeFile(new URL("fragments/src/my-store.ts", scratch), MY_STORE);
    const config = ts.getParsedCommandLineOfConfigFile(fileURLToPath(new URL("tsconfig.json", root)), {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: () => {},
    })!;
    const program = ts.createProgram([...files, prelude, modules], { ...config.options, noEmit: true, noUnusedLocals: false });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || d.file.fileName.includes(".doc-blocks"))
      .map((d) => {
        const where = d.file ? `${d.file.fileName.split("/").pop()}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : "";
        return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
    expect(problems).toEqual([]);
    // A whole-program type check: 20 s of the 60 s it had under two CPU hogs, 37 s in another loaded run. It bounds
    // nothing but a hang.
  }, 180_000);
});


describe("documentation lists", () => {
  it("docs/console.md's Next.js route file exports every method of the admin API (Next.js answers 405 to the others)", async () => {
    const doc = await readFile(new URL("docs/console.md", root), "utf8");
    const block = doc.match(/### Next\.js \(App Router\)[\s\S]*?```ts fragment\n([\s\S]*?)```/)?.[1] ?? "";
    const exported = [...block.matchAll(/^export const (\w+) = admin;$/gm)].map((m) => m[1]!);
    // The methods the handler routes: the Allow of its 405 on each path of its OpenAPI document.
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const admin = createAdminHandler({ keyward: kw, basePath: "/account/tokens", authorize: async () => "acct_1" });
    const base = "https://app.example.com/account/tokens";
    const openapi = (await (await admin(new Request(`${base}/openapi.json`))).json()) as { paths: Record<string, unknown> };
    const methods = new Set<string>();
    for (const path of Object.keys(openapi.paths)) {
      const res = await admin(new Request(base + path.replace(/\{\w+\}/g, "tok_0000000000000000000000"), { method: "OPTIONS" }));
      expect(res.status, path).toBe(405);
      // HEAD, which Allow names with GET, Next.js derives from GET.
      for (const m of res.headers.get("allow")!.split(", ")) if (m !== "HEAD") methods.add(m);
    }
    await kw.close();
    expect(methods.size).toBeGreaterThanOrEqual(5);
    expect(exported.sort()).toEqual([...methods].sort());
  });

  it("docs/stores.md names every conformance group, and each has its file", async () => {
    const text = (await readFile(new URL("docs/stores.md", root), "utf8")).replace(/\s+/g, " ");
    const listed = text.match(/listed in `TOKEN_STORE_TEST_GROUPS`: ([^)]*)\)/)?.[1]?.match(/`(\w+)`/g)?.map((n) => n.slice(1, -1));
    expect(listed).toEqual([...TOKEN_STORE_TEST_GROUPS]);
    const files = await readdir(new URL("src/testing/groups/", root));
    const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    expect(files.map((f) => f.replace(/\.ts$/, "")).sort()).toEqual(TOKEN_STORE_TEST_GROUPS.map(kebab).sort());
  });

  it("docs/stores.md names every value keyward exports for adapter authors (the guard and the store kit)", async () => {
    const index = await readFile(new URL("src/index.ts", root), "utf8");
    const names = [...index.matchAll(/export \{([^}]*)\} from "\.\/store\/(?:kit\/[\w-]+|guard)\.js"/g)]
      .flatMap((m) => m[1]!.split(","))
      .map((n) => n.trim())
      .filter((n) => n !== "" && !n.startsWith("type "));
    expect(names.length).toBeGreaterThanOrEqual(20);
    const doc = await readFile(new URL("docs/stores.md", root), "utf8");
    expect(names.filter((n) => !doc.includes(`\`${n}`))).toEqual([]);
  });

  it("docs/stores.md's schema section names the current version and every table", async () => {
    const { SCHEMA_VERSION, tableNames } = await import("../../src/store/sql/schema.js");
    const doc = await readFile(new URL("docs/stores.md", root), "utf8");
    const section = doc.slice(doc.indexOf("### Schema ("));
    expect(section.match(/^### Schema \(version (\d+)\)/)?.[1]).toBe(String(SCHEMA_VERSION));
    expect(Object.values(tableNames("keyward_")).filter((t) => !section.includes(`\`${t}\``))).toEqual([]);
  });

  it("keyward exports every store-kit helper the built-in stores use, as docs/stores.md says (an adapter reimplements none)", async () => {
    // What a store may do without: an SQL store's analytics shortcut (it may read the rows and use
    // rollUpRows), MemoryStore's forgetting of idle rate windows, and the constants of its inlined
    // analyticsOf (an adapter calls analyticsOf).
    const optional = ["bucketMsOf", "windowExpired", "MINUTE_MS", "MAX_USAGE_SCOPE_LENGTH"];
    const keyward = await import("keyward");
    const used = new Set<string>();
    for (const file of ["src/store/memory.ts", "src/sqlite/store.ts", "src/postgres/store.ts"]) {
      const text = await readFile(new URL(file, root), "utf8");
      for (const m of text.matchAll(/import \{([^}]*)\} from "[./]*(?:store\/)?kit\/([\w-]+)\.js"/g)) {
        if (m[2] === "validate") continue; // the guard's checks: run before an adapter is called
        for (const n of m[1]!.split(",").map((x) => x.trim())) if (n !== "" && !n.startsWith("type ")) used.add(n);
      }
    }
    expect(used.size).toBeGreaterThanOrEqual(15);
    expect([...used].filter((n) => !optional.includes(n) && !(n in keyward))).toEqual([]);
  });
});
