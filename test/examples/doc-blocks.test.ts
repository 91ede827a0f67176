// Every ```ts block in README.md and docs/*.md is run by the suite, so the
// documentation cannot drift from the API. Blocks marked ```ts fragment are
// excerpts (they use names defined elsewhere, such as `kw` or `app`): they
// are type-checked against the API, with those names declared (see PRELUDE).
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
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

describe("documentation code blocks", () => {
  it("there are runnable blocks", () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
  });

  it.each(all.map((b) => [`${b.file} #${b.index}`, b] as const))("%s runs", async (_name, b) => {
    await mkdir(scratch, { recursive: true });
    const path = new URL(`${b.file.replace(/[/.]/g, "_")}_${b.index}.ts`, scratch);
    await writeFile(path, `${b.code}\nexport {};\n`);
    vi.spyOn(console, "log").mockImplementation(() => {});
    await expect(import(path.href)).resolves.toBeDefined();
    vi.restoreAllMocks();
  });
});

/** The names fragments use without defining them, as an application would have them. */
const PRELUDE = `import type { Hono } from "hono";
import type { Keyward, TokenRecord, TokenStore } from "keyward";
import type { KeywardHono } from "keyward/hono";
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
  }, 60_000);
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
      for (const m of res.headers.get("allow")!.split(", ")) methods.add(m);
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
