// README.md and SECURITY.md are shown on the npm page, where the repository's
// files are not: every link is absolute, and each link into the repository
// names a file that exists. Links between the guides name files and headings that exist.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
const BLOB = "https://github.com/keyward/keyward/blob/main/";

describe("links on the npm page", () => {
  it("package.json names the repository, homepage and bug tracker that README links use", () => {
    expect(pkg.repository.url).toBe("git+https://github.com/keyward/keyward.git");
    expect(pkg.homepage).toBe("https://github.com/keyward/keyward#readme");
    expect(pkg.bugs.url).toBe("https://github.com/keyward/keyward/issues");
    expect(pkg.files).toContain("LICENSE");
    expect(readFileSync(new URL("LICENSE", root), "utf8")).toMatch(/^MIT License/);
    expect(pkg.bin).toEqual({ keyward: "./dist/cli.js" });
  });

  it.each(["README.md", "SECURITY.md"])("%s: absolute links to files that exist", (file) => {
    const text = readFileSync(new URL(file, root), "utf8");
    const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) {
      expect(link, link).toMatch(/^(https:\/\/|#)/);
      if (link.startsWith(BLOB)) expect(existsSync(new URL(link.slice(BLOB.length).split("#")[0]!, root)), link).toBe(true);
    }
  });

  it("README.md: every example it points a reader to is a link (the package ships no examples/)", () => {
    const text = readFileSync(new URL("README.md", root), "utf8");
    const named = [...text.matchAll(/(\[?)`(examples\/[^`]+)`(\]\(([^)]+)\))?/g)];
    expect(named.length).toBeGreaterThan(0);
    for (const [, open, path, , link] of named) {
      expect([path, open, link], path).toEqual([path, "[", BLOB + path]);
      expect(existsSync(new URL(path!, root)), path).toBe(true);
    }
  });
});

describe("docs/comparison.md", () => {
  it("every keyward claim links to a test file that exists", () => {
    const text = readFileSync(new URL("docs/comparison.md", root), "utf8");
    const rows = text.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| ---") && !l.startsWith("| |"));
    expect(rows.length).toBeGreaterThan(15);
    for (const row of rows.slice(1)) {
      const keywardCell = row.split(" | ")[1]!;
      const links = [...keywardCell.matchAll(/\]\((\.\.\/test\/[^)]+)\)/g)].map((m) => m[1]!);
      expect(links.length, row).toBeGreaterThan(0);
      for (const link of links) expect(existsSync(new URL(link, new URL("docs/", root))), link).toBe(true);
    }
  });
});

describe("links between the guides", () => {
  /** The anchors GitHub gives a file's headings (lowercased, punctuation dropped, spaces as `-`, repeats numbered). */
  function anchors(file: string): Set<string> {
    const text = readFileSync(new URL(file, root), "utf8").replace(/^```[\s\S]*?^```$/gm, "");
    const seen = new Map<string, number>();
    const out = new Set<string>();
    for (const [, heading] of text.matchAll(/^#{1,6} (.+)$/gm)) {
      const slug = heading!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, "")
        .replace(/\s/g, "-");
      const n = seen.get(slug) ?? 0;
      seen.set(slug, n + 1);
      out.add(n === 0 ? slug : `${slug}-${n}`);
    }
    return out;
  }

  it("each relative link of README.md, SECURITY.md and docs/ names a file that exists, and each #anchor one of its headings", () => {
    const files = ["README.md", "SECURITY.md", ...readdirSync(new URL("docs/", root)).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      const text = readFileSync(new URL(file, root), "utf8").replace(/^```[\s\S]*?^```$/gm, "");
      for (const [, link] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(link!) && !link!.startsWith(BLOB)) continue;
        const [path, hash] = link!.startsWith(BLOB) ? link!.slice(BLOB.length).split("#") : link!.split("#");
        const target = path === "" ? file : new URL(path!, new URL(file, root)).href.slice(root.href.length);
        checked++;
        if (!existsSync(new URL(target, root))) broken.push(`${file}: ${link} (no ${target})`);
        else if (hash !== undefined && target.endsWith(".md") && !anchors(target).has(hash)) broken.push(`${file}: ${link} (no heading #${hash})`);
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect(broken).toEqual([]);
  });
});
