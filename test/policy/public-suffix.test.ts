import { isKeywardError, Keyward, MemoryStore } from "keyward";
import { describe, expect, it } from "vitest";
import { parseDomainPattern } from "../../src/policy/domain.js";
import { coversPublicSuffix } from "../../src/policy/public-suffix.js";

const covers = (s: string) => coversPublicSuffix(parseDomainPattern(s)!);

describe("coversPublicSuffix (Public Suffix List through tldts)", () => {
  it.each([
    // ICANN section
    "*.com",
    "*.co.uk",
    "https://*.co.uk:8443",
    "*.xn--p1ai",
    "*.рф",
    "*.kawasaki.jp",
    "*.foo.kawasaki.jp", // under the wildcard rule *.kawasaki.jp
    "com",
    "co.uk",
    "COM.",
    // private section: each subdomain is another customer's site
    "*.github.io",
    "github.io",
    "*.blogspot.com",
    "*.vercel.app",
    // unlisted single labels under a wildcard (the PSL's default rule)
    "*.internal",
    "*.corp",
  ])("refuses %s", (pattern) => {
    expect(covers(pattern)).toBe(true);
  });

  it.each([
    "example.com",
    "*.example.com",
    "*.example.co.uk",
    "example.github.io",
    "*.example.github.io",
    "*.city.kawasaki.jp", // an exception rule: city.kawasaki.jp is registrable
    "localhost",
    "*.localhost", // RFC 6761 §6.3: loopback only
    "localhost:3000",
    "intranet",
    "127.0.0.1",
    "[::1]:8080",
    "*.bücher.example",
  ])("accepts %s", (pattern) => {
    expect(covers(pattern)).toBe(false);
  });
});

async function codeOf(p: Promise<unknown>): Promise<{ code: string; field: string }> {
  try {
    await p;
  } catch (err) {
    expect(isKeywardError(err)).toBe(true);
    return err as { code: string; field: string };
  }
  throw new Error("expected a KeywardError");
}

describe("guardrails on token input", () => {
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });

  it.each([
    ["domains", ["example.com", "*.com"], "domains.1", "covers a public suffix"],
    ["domains", ["*.co.uk"], "domains.0", "covers a public suffix"],
    ["domains", ["*.github.io"], "domains.0", "covers a public suffix"],
    ["domains", ["com"], "domains.0", "covers a public suffix"],
    ["ips", ["0.0.0.0/0"], "ips.0", "a /0 range"],
    ["ips", ["10.0.0.0/8", "::/0"], "ips.1", "a /0 range"],
    ["ips", ["::ffff:0.0.0.0/96"], "ips.0", "a /0 range"],
    ["scopes", ["datasets/..:read"], "scopes.0", "invalid scope"],
    ["scopes", ["core:read", "datasets/.:read"], "scopes.1", "invalid scope"],
    ["scopes", ["datasets/foo/../bar:read"], "scopes.0", "invalid scope"],
  ])("%s %j is refused at creation and update (INVALID_INPUT, %s)", async (key, value, field, message) => {
    const created = await codeOf(kw.tokens.create({ owner: "o", kind: "secret", [key]: value }));
    expect(created).toMatchObject({ code: "INVALID_INPUT", field });
    expect(String(created)).toContain(message);
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect(await codeOf(kw.tokens.update(record.id, { [key]: value }))).toMatchObject({ code: "INVALID_INPUT", field });
    expect((await kw.tokens.get(record.id))?.policy[key as "ips"]).toEqual(key === "scopes" ? ["core:read"] : []);
  });

  it("accepts a registrable domain, its subdomains, and narrow ranges", async () => {
    const { record } = await kw.tokens.create({
      owner: "o",
      kind: "publishable",
      domains: ["example.github.io", "*.example.co.uk", "localhost:3000", "*.localhost"],
      ips: ["0.0.0.0/1", "::/1"],
      scopes: ["datasets/.hidden:read", "datasets/*:read"],
    });
    expect(record.policy.domains).toHaveLength(4);
  });

  it("dot segments are refused in defaultScopes too (INVALID_CONFIG)", () => {
    expect(() => new Keyward({ store: new MemoryStore(), prefix: "acme", defaultScopes: ["datasets/..:read"] })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "defaultScopes.0" }),
    );
  });
});
