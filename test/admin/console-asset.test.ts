// The console's browser module: the served asset is the current build of its
// source, it stays within its size budget, and its source never writes
// markup (every piece of data goes through text nodes and attributes).
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createAdminHandler } from "../../src/admin/index.js";
import { CONSOLE_JS } from "../../src/admin/console/asset.js";
import { Keyward, MemoryStore } from "../../src/index.js";
// @ts-expect-error: a plain .mjs build script, without types
import { assetModule } from "../../scripts/build-console.mjs";

/** Budget for the page's script and styles together, gzipped (the styles are inside the module). */
const BUDGET_GZIP_BYTES = 30 * 1024;

const source = (f: string) => readFile(new URL(`../../src/admin/console/${f}`, import.meta.url), "utf8");

describe("the console's module", () => {
  it("is the current build of element.ts and styles.ts (run npm run build:console after changing them)", async () => {
    expect(await source("asset.ts")).toBe(await assetModule());
  });

  it(`is at most ${BUDGET_GZIP_BYTES} bytes gzipped, styles included, as served`, async () => {
    const admin = createAdminHandler({ keyward: new Keyward({ store: new MemoryStore(), prefix: "acme" }), authorize: () => null, basePath: "/t" });
    const res = await admin(new Request("http://x/t/console.js"));
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const served = new Uint8Array(await res.arrayBuffer());
    expect(new TextDecoder().decode(served)).toBe(CONSOLE_JS);
    const gzipped = gzipSync(served, { level: 9 }).byteLength;
    expect(gzipped).toBeGreaterThan(1000);
    expect(gzipped).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  });

  it("writes no markup and stores nothing: no innerHTML, outerHTML, insertAdjacentHTML, document.write, eval or Web Storage", () => {
    expect(CONSOLE_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|localStorage|sessionStorage/);
  });
});

describe("the console page", () => {
  it("is a static host page with a strict CSP; the title is escaped", async () => {
    const admin = createAdminHandler({
      keyward: new Keyward({ store: new MemoryStore(), prefix: "acme" }),
      authorize: () => null,
      basePath: "/t",
      title: 'Tokens </title><script>alert(1)</script>',
    });
    const res = await admin(new Request("http://x/t/"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("content-security-policy")).toContain("require-trusted-types-for 'script'; trusted-types 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const html = await res.text();
    expect(html).toContain("<title>Tokens &lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>");
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).toContain('<script type="module" src="/t/console.js"></script>');
    const apiOnly = createAdminHandler({ keyward: new Keyward({ store: new MemoryStore(), prefix: "acme" }), authorize: () => null, console: false });
    expect((await apiOnly(new Request("http://x/"))).status).toBe(404);
  });
});
