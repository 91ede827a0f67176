// Every ```ts block in README.md and docs/*.md is run by the suite, so the
// documentation cannot drift from the API. Blocks marked ```ts fragment are
// excerpts (they use names defined elsewhere) and are only required to exist.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { afterAll, describe, expect, it, vi } from "vitest";

const root = new URL("../../", import.meta.url);
const scratch = new URL("test/.doc-blocks/", root);

async function blocks(): Promise<{ file: string; index: number; code: string }[]> {
  const files = ["README.md", ...(await readdir(new URL("docs/", root))).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const out = [];
  for (const file of files) {
    const text = await readFile(new URL(file, root), "utf8");
    let index = 0;
    for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) out.push({ file, index: index++, code: m[1]! });
  }
  return out;
}

const all = await blocks();

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
