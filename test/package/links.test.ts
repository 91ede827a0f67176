// README.md and SECURITY.md are shown on the npm page, where the repository's
// files are not: every link is absolute, and each link into the repository
// names a file that exists.
import { existsSync, readFileSync } from "node:fs";
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
