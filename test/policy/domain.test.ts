import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileDomains, matchDomain, parseDomainPattern } from "../../src/policy/domain.js";

describe("parseDomainPattern", () => {
  it.each([
    ["example.com", { scheme: null, host: "example.com", wildcard: false, port: null }],
    ["EXAMPLE.Com.", { scheme: null, host: "example.com", wildcard: false, port: null }],
    ["*.example.com", { scheme: null, host: "example.com", wildcard: true, port: null }],
    ["https://example.com", { scheme: "https", host: "example.com", wildcard: false, port: null }],
    ["HTTP://example.com", { scheme: "http", host: "example.com", wildcard: false, port: null }],
    ["example.com:8443", { scheme: null, host: "example.com", wildcard: false, port: 8443 }],
    ["https://*.example.com:8443", { scheme: "https", host: "example.com", wildcard: true, port: 8443 }],
    ["bücher.example", { scheme: null, host: "xn--bcher-kva.example", wildcard: false, port: null }],
    ["*.bücher.example", { scheme: null, host: "xn--bcher-kva.example", wildcard: true, port: null }],
    ["localhost:3000", { scheme: null, host: "localhost", wildcard: false, port: 3000 }],
    ["127.0.0.1:8080", { scheme: null, host: "127.0.0.1", wildcard: false, port: 8080 }],
    ["[::1]:8080", { scheme: null, host: "[::1]", wildcard: false, port: 8080 }],
    ["https://[2001:DB8::1]", { scheme: "https", host: "[2001:db8::1]", wildcard: false, port: null }],
  ])("accepts %s", (s, expected) => {
    expect(parseDomainPattern(s)).toEqual(expected);
  });

  it.each([
    "",
    "*",
    "*.",
    "*.*.example.com",
    "a.*.example.com",
    "foo*.example.com",
    "*example.com",
    "example.com/",
    "example.com/path",
    "https://example.com/path",
    "example.com?x",
    "example.com#x",
    "user@example.com",
    "https://user:pw@example.com",
    "ftp://example.com",
    "//example.com",
    "example.com:",
    "example.com:0",
    "example.com:08443",
    "example.com:65536",
    "example.com:abc",
    "example.com:80:80",
    "exa%6dple.com",
    "ex ample.com",
    " example.com",
    "example.com\t",
    "exa\nmple.com",
    "example..com",
    ".example.com",
    "example.com..",
    "::1",
    "[::1",
    "x[::1]",
    "*.[::1]",
    "*.1.2.3.4",
    "a\\b.com",
    "x".repeat(400),
  ])("refuses %j", (s) => {
    expect(parseDomainPattern(s)).toBeNull();
  });

  it.each([null, undefined, 42, {}, ["example.com"]])("refuses non-string %s", (s) => {
    expect(parseDomainPattern(s)).toBeNull();
  });
});

describe("compileDomains", () => {
  it("an empty list allows everything, even without headers", () => {
    const m = compileDomains([]);
    expect(m(null, null)).toBe(true);
    expect(m(undefined, undefined)).toBe(true);
    expect(m("https://evil.com", null)).toBe(true);
    expect(m("null", null)).toBe(true);
  });

  it("a non-empty list needs Origin or Referer", () => {
    const m = compileDomains(["example.com"]);
    expect(m(null, null)).toBe(false);
    expect(m(undefined, undefined)).toBe(false);
    expect(m("", "")).toBe(false);
  });

  it('Origin "null" is denied without falling back to Referer', () => {
    expect(matchDomain(["example.com"], "null", "https://example.com/")).toBe(false);
  });

  it("Origin wins over Referer; Referer is used only when Origin is absent or empty", () => {
    const m = compileDomains(["example.com"]);
    expect(m("https://evil.com", "https://example.com/")).toBe(false);
    expect(m("https://example.com", "https://evil.com/")).toBe(true);
    expect(m("", "https://example.com/")).toBe(true);
    expect(m(null, "https://example.com/a/b?c=d#e")).toBe(true);
    expect(m(undefined, "https://example.com")).toBe(true);
    expect(m(null, "https://evil.com/https://example.com")).toBe(false);
    expect(m(null, "https://evil.com/?ref=https://example.com")).toBe(false);
  });

  it("an Origin is a bare origin: no path or query", () => {
    const m = compileDomains(["example.com"]);
    expect(m("https://example.com/", null)).toBe(true); // the parser's root path
    expect(m("https://example.com/x", null)).toBe(false);
    expect(m("https://example.com?x", null)).toBe(false);
  });

  it("a list of only invalid patterns denies everything", () => {
    expect(matchDomain(["example.com/x", "*"], "https://example.com", null)).toBe(false);
    expect(compileDomains(null as unknown as string[])("https://example.com", null)).toBe(false);
  });

  const attacks = [
    "https://evil-example.com",
    "https://example.com.evil.com",
    "https://evilexample.com",
    "https://example.co",
    "https://example.com@evil.com",
    "https://example.com:pw@evil.com",
    "https://user@example.com",
    "https://user:pw@example.com",
    "https://:@example.com",
    "https:@example.com",
    "https://@example.com",
    "https://evil.com#.example.com",
    "https://evil.com?.example.com",
    "https://evil.com\\.example.com",
    "https://evil.com/.example.com",
    "https://example.com%2eevil.com",
    "javascript://example.com",
    "ftp://example.com",
    "file://example.com/",
    "data:text/html,example.com",
    "example.com",
    "//example.com",
    "https://",
    "https://example.com:99999",
  ];

  it.each(attacks)("denies %s for example.com and *.example.com", (value) => {
    const m = compileDomains(["example.com", "*.example.com"]);
    expect(m(value, null)).toBe(false);
    expect(m(null, value)).toBe(false);
  });

  it.each([
    // pattern, origin, expected
    ["example.com", "https://example.com", true],
    ["example.com", "http://example.com", true],
    ["example.com", "https://EXAMPLE.COM", true],
    ["example.com", "https://example.com.", true],
    ["example.com.", "https://example.com", true],
    ["EXAMPLE.com", "https://example.com", true],
    ["example.com", "https://www.example.com", false],
    ["*.example.com", "https://example.com", false],
    ["*.example.com", "https://a.example.com", true],
    ["*.example.com", "https://a.b.c.example.com", true],
    ["*.example.com", "https://A.Example.Com.", true],
    ["*.example.com", "https://aexample.com", false],
    ["*.b.example.com", "https://a.example.com", false],
    // schemes
    ["https://example.com", "https://example.com", true],
    ["https://example.com", "http://example.com", false],
    ["http://example.com", "http://example.com", true],
    ["http://example.com", "https://example.com", false],
    // ports: no port in the pattern = default port of the request's scheme only
    ["example.com", "https://example.com:443", true],
    ["example.com", "http://example.com:80", true],
    ["example.com", "https://example.com:8443", false],
    ["example.com", "http://example.com:443", false],
    ["example.com:8443", "https://example.com:8443", true],
    ["example.com:8443", "http://example.com:8443", true],
    ["example.com:8443", "https://example.com", false],
    ["example.com:443", "https://example.com", true],
    ["example.com:443", "http://example.com", false],
    ["https://*.example.com:8443", "https://a.example.com:8443", true],
    ["https://*.example.com:8443", "http://a.example.com:8443", false],
    ["https://*.example.com:8443", "https://a.example.com", false],
    // IDN: compared in punycode
    ["bücher.example", "https://xn--bcher-kva.example", true],
    ["xn--bcher-kva.example", "https://bücher.example", true],
    ["BÜCHER.example", "https://xn--bcher-kva.example", true],
    ["*.bücher.example", "https://shop.xn--bcher-kva.example", true],
    ["bücher.example", "https://bucher.example", false],
    // IP literals
    ["127.0.0.1:3000", "http://127.0.0.1:3000", true],
    ["[::1]:3000", "http://[::1]:3000", true],
    ["[::1]:3000", "http://[0:0::1]:3000", true],
    ["localhost:3000", "http://localhost:3000", true],
    ["localhost:3000", "http://localhost:3001", false],
  ])("%s vs Origin %s: %s", (pattern, origin, expected) => {
    expect(matchDomain([pattern], origin, null)).toBe(expected);
    // The same URL as a Referer, with a path and query.
    expect(matchDomain([pattern], null, `${origin}/some/page?q=1#frag`)).toBe(expected);
  });

  it("any-of over several patterns", () => {
    const m = compileDomains(["example.com", "*.example.org", "https://app.test:8443"]);
    expect(m("https://example.com", null)).toBe(true);
    expect(m("https://x.example.org", null)).toBe(true);
    expect(m("https://example.org", null)).toBe(false);
    expect(m("https://app.test:8443", null)).toBe(true);
    expect(m("http://app.test:8443", null)).toBe(false);
  });

  it("caps header length before parsing", () => {
    const m = compileDomains(["example.com"]);
    const long = `https://example.com/${"a".repeat(5000)}`;
    expect(m(null, long)).toBe(false);
    expect(m(null, `https://example.com/${"a".repeat(3000)}`)).toBe(true);
  });
});

// --- properties ---------------------------------------------------------------

const NUM_RUNS = 3_000;
// Labels with "--" in the third and fourth positions are reserved (RFC 5891 §4.2.3.1):
// "xn--…" ones are punycode, which the URL parser validates and may refuse.
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/).filter((l) => l.slice(2, 4) !== "--");
// The last label is alphabetic: the URL parser reads a numeric one as IPv4.
const tld = fc.stringMatching(/^[a-z]{1,6}$/);
const hostname = fc
  .tuple(fc.array(label, { maxLength: 3 }), tld)
  .map(([l, t]) => [...l, t].join("."));

describe("domain properties", () => {
  it("random origins and referers never throw", () => {
    const m = compileDomains(["example.com", "*.example.com", "https://x.test:8443"]);
    const urlish = fc.oneof(
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc.webUrl().map((u) => u.replace("//", "//user@")),
      fc.string(),
      fc.string({ unit: fc.constantFrom(..."htps:/@.[]%\\?#example.com*0-9"), maxLength: 40 }),
    );
    fc.assert(
      fc.property(fc.oneof(urlish, fc.anything()), fc.oneof(urlish, fc.anything()), (o, r) => {
        expect(() => m(o as string, r as string)).not.toThrow();
        expect(typeof m(o as string, r as string)).toBe("boolean");
        expect(() => parseDomainPattern(o)).not.toThrow();
        expect(() => compileDomains([o as string, r as string])).not.toThrow();
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a random host never matches a list of unrelated hosts", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(hostname, { minLength: 1, maxLength: 5 }),
        hostname,
        fc.boolean(),
        fc.constantFrom("http", "https"),
        (hosts, host, wildcard, scheme) => {
          // "Unrelated": neither equal nor a subdomain of a listed host.
          fc.pre(hosts.every((h) => h !== host && !host.endsWith(`.${h}`)));
          const patterns = hosts.map((h) => (wildcard ? `*.${h}` : h));
          const m = compileDomains(patterns);
          expect(m(`${scheme}://${host}`, null)).toBe(false);
          expect(m(null, `${scheme}://${host}/path`)).toBe(false);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it("a host matches itself and, under a wildcard, exactly its strict subdomains", () => {
    fc.assert(
      fc.property(hostname, fc.array(label, { maxLength: 3 }), (host, sub) => {
        const candidate = [...sub, host].join(".");
        expect(matchDomain([host], `https://${candidate}`, null)).toBe(sub.length === 0);
        expect(matchDomain([`*.${host}`], `https://${candidate}`, null)).toBe(sub.length > 0);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
