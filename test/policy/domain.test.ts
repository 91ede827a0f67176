import { domainToUnicode } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileDomains, MAX_HOST_LENGTH, matchDomain, parseDomainPattern } from "../../src/policy/domain.js";
import * as reference from "./reference/domain.js";

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

  it.each([
    ["127.1", "127.0.0.1"],
    ["0x7f.0.0.1", "127.0.0.1"],
    ["0177.0.0.1:8080", "127.0.0.1"],
    ["1.2.3.04", "1.2.3.4"],
    ["1.2.3", "1.2.0.3"],
    ["2130706433", "127.0.0.1"],
    ["https://127.000.0.1", "127.0.0.1"],
    ["exam\u00adple.com", "example.com"], // soft hyphen: dropped by IDNA
    ["exam\u200dple.com", "example.com"], // zero-width joiner: dropped
    ["\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "example.com"], // fullwidth letters
    ["*.\u24d4xample.com", "example.com"], // circled e
    ["example\u3002com", "example.com"], // ideographic full stop
  ])("refuses %j, which the URL parser reads as %s, another host than written", (s) => {
    expect(parseDomainPattern(s)).toBeNull();
  });

  it.each([
    ["B\u00dcCHER.example", "xn--bcher-kva.example"],
    ["bu\u0308cher.example", "xn--bcher-kva.example"], // NFD: the same text as NFC
    ["fa\u00df.de", "xn--fa-hia.de"], // nontransitional, as browsers
    ["XN--BCHER-KVA.example", "xn--bcher-kva.example"],
    ["*.\u0440\u0444.example", "xn--p1ai.example"],
    // A capital sigma is σ wherever it stands, as IDNA maps it: not the final ς of String#toLowerCase (another host).
    ["example.a\u03a3", "example.xn--a-0mb"],
    ["https://\u039f\u0394\u039f\u03a3:8443", "xn--pxavbq"],
    ["*.\u039f\u0394\u039f\u03a3.", "xn--pxavbq"],
  ])("accepts %j, the host %s in another writing", (s, host) => {
    expect(parseDomainPattern(s)?.host).toBe(host);
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

  it("Origin wins over Referer; Referer is used only when Origin is absent", () => {
    const m = compileDomains(["example.com"]);
    expect(m("https://evil.com", "https://example.com/")).toBe(false);
    expect(m("https://example.com", "https://evil.com/")).toBe(true);
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

  it("an Origin header present but empty is authoritative: denied, no fallback to Referer", () => {
    const m = compileDomains(["app.example.com"]);
    expect(m("", "https://app.example.com/")).toBe(false);
    expect(m(" ", "https://app.example.com/")).toBe(false);
    expect(m(null, "https://app.example.com/")).toBe(true);
  });

  it("a Referer with userinfo or a backslash before its path is malformed", () => {
    const m = compileDomains(["app.example.com"]);
    for (const value of [
      "https://app.example.com\\@evil.com/",
      "https://app.example.com\\evil.com/",
      "https://app.example.com\\",
      "https://app.example.com:443\\@evil.com/",
      "https://user@app.example.com/",
      "https://@app.example.com/",
      "https://app.example.com@evil.com/",
    ]) {
      expect(m(null, value)).toBe(false);
      expect(m(value, null)).toBe(false);
    }
    // A backslash or an @ in the path or query is the page's business.
    expect(m(null, "https://app.example.com/a\\b?c=d@e")).toBe(true);
  });

  it("only serialised http(s) URLs: other spellings the URL parser forgives are denied", () => {
    const m = compileDomains(["example.com"]);
    for (const value of ["https:example.com", "https:/example.com", "https:\\\\example.com", "https:///example.com", " https://example.com", "\thttps://example.com/"]) {
      expect(m(value, null)).toBe(false);
      expect(m(null, value)).toBe(false);
    }
    expect(m("HTTPS://example.com", null)).toBe(true); // the scheme is case-insensitive (RFC 3986 §3.1)
  });

  it("an authority with what the URL parser strips or decodes (whitespace, controls, %-escapes) is denied", () => {
    const m = compileDomains(["*.example.com", "example.com:443"]);
    for (const value of [
      "https://a.example.com\t",
      "https://a.example.com:4\t43",
      "https://a.exa\tmple.com",
      "https://a.example.com\n",
      "https://a.example.com\r/",
      "https://a.example.com ",
      "https://a.example.com\u0000",
      "https://a.example.com\u007f",
      "https://a.exam%70le.com",
      "https://ex%61mple.com",
    ]) {
      expect(m(value, null), JSON.stringify(value)).toBe(false);
      expect(m(null, `${value}/page`), JSON.stringify(value)).toBe(false);
    }
    expect(m("https://a.example.com", null)).toBe(true);
    // In a Referer's path they are the page's business.
    expect(m(null, "https://a.example.com/a%20b\tc")).toBe(true);
  });

  it("an authority with non-ASCII characters is denied, though the URL parser maps some to an allowed host", () => {
    const m = compileDomains(["app.example.com", "*.example.org"]);
    for (const value of [
      "https://app.exam\u00adple.com", // soft hyphen: dropped by IDNA
      "https://app.exam\u200bple.com", // zero-width space: dropped
      "https://app\u3002example\u3002com", // ideographic full stop: a dot
      "https://\uff41pp.example.com", // fullwidth a
      "https://app.example.\u216dom", // roman numeral one hundred: c
      "https://app.example.com\u00a0", // no-break space
      "https://app.example.com:\uff14\uff14\uff13", // fullwidth digits in the port
      "https://a.example.org\ufe52", // small full stop
      "https://bücher.example.org", // an IDN in Unicode: never sent so by a browser
    ]) {
      expect(m(value, null), JSON.stringify(value)).toBe(false);
      expect(m(null, `${value}/page`), JSON.stringify(value)).toBe(false);
    }
    // What the URL parser alone would have allowed.
    for (const value of ["https://app.exam\u00adple.com", "https://app\u3002example\u3002com", "https://\uff41pp.example.com"]) {
      expect(new URL(value).hostname).toBe("app.example.com");
    }
    expect(m("https://app.example.com", null)).toBe(true);
    expect(m("https://xn--bcher-kva.example.org", null)).toBe(true); // an IDN, as browsers send it
    // In a Referer's path, non-ASCII is the page's business.
    expect(m(null, "https://app.example.com/b\u00fccher")).toBe(true);
  });

  it("an allowed host with any non-ASCII character inserted in its authority is denied (property)", () => {
    const m = compileDomains(["app.example.com", "*.example.org:8443"]);
    // Characters IDNA drops or maps to ASCII, and any other code point above DEL.
    const nonAscii = fc.oneof(
      fc.constantFrom("\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u3002", "\uff0e", "\uff61", "\uff41", "\u212a", "\u0130", "\u00a0"),
      fc.integer({ min: 0x7f, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
    );
    const authority = fc.constantFrom("app.example.com", "APP.example.com", "app.example.com:443", "a.example.org:8443", "x.y.example.org:8443");
    fc.assert(
      fc.property(authority, nonAscii, fc.nat(), fc.constantFrom("https://", "http://"), (host, ch, at, scheme) => {
        const i = at % (host.length + 1);
        const value = `${scheme}${host.slice(0, i)}${ch}${host.slice(i)}`;
        expect(m(value, null)).toBe(false);
        expect(m(null, `${value}/p?q`)).toBe(false);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it(`hosts longer than ${MAX_HOST_LENGTH} characters are denied, and refused in patterns`, () => {
    const longest = `${"a".repeat(59)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}.com`;
    expect(longest.length).toBe(MAX_HOST_LENGTH);
    expect(parseDomainPattern(longest)).not.toBeNull();
    expect(parseDomainPattern(`x${longest}`)).toBeNull();
    const m = compileDomains(["*.com", longest]);
    expect(m(`https://${longest}`, null)).toBe(true);
    expect(m(`https://${longest}.`, null)).toBe(true);
    expect(m(`https://x${longest}`, null)).toBe(false);
    expect(m(`https://${"ü.".repeat(2000)}com`, null)).toBe(false);
    // Over the cap before normalisation too: 261 characters of percent-escapes.
    expect(m(`https://${"%61".repeat(87)}.com`, null)).toBe(false);
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
    ["xn--bcher-kva.example", "https://bücher.example", false], // a header's host is ASCII: browsers send punycode
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

/** Each character in lowercase, out of context, as IDNA maps case (a capital sigma is σ even at a word's end). */
function lowerEach(s: string): string {
  return Array.from(s, (c) => c.toLowerCase()).join("");
}

describe("domain properties", () => {
  it("an accepted pattern names the host written: a character inserted anywhere is refused or kept as written", () => {
    // Non-ASCII characters (IDNA drops some and maps others to ASCII), and digits, dots and x (IPv4 spellings).
    const inserted = fc.oneof(
      fc.integer({ min: 0x80, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
      fc.constantFrom("\u00ad", "\u200b", "\u200d", "\u3002", "\uff0e", "\uff45", "\u24d4", "\u0301", "0", "x", ".", "0x"),
    );
    fc.assert(
      fc.property(fc.oneof(hostname, fc.constantFrom("127.0.0.1", "10.1.2.3")), fc.nat(), inserted, fc.boolean(), (host, at, ch, wildcard) => {
        const i = at % (host.length + 1);
        const written = `${host.slice(0, i)}${ch}${host.slice(i)}`;
        const p = parseDomainPattern(`${wildcard ? "*." : ""}${written}`);
        if (p === null) return;
        const labels = lowerEach(written).replace(/\.$/, "").split(".");
        const decoded = p.host.split(".").map((part) => (part.startsWith("xn--") ? domainToUnicode(part) : part));
        expect(decoded).toEqual(labels.map((l) => l.normalize("NFC")));
      }),
      { numRuns: NUM_RUNS },
    );
  });

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

// --- the hand parser and label index against the URL-parsing reference ---------

/**
 * True when the new matcher intentionally denies what the reference may
 * allow: an empty Origin (no Referer fallback), a value that is not a
 * serialised http(s) URL (scheme "://" authority, no `\`, `@`, `%`,
 * whitespace, control or non-ASCII character in the authority; an Origin
 * with nothing after it but "/"), or a host over the cap.
 */
function intendedDenial(origin: unknown, referer: unknown): boolean {
  const malformed = (v: string, isOrigin: boolean): boolean => {
    const m = /^https?:\/\/([^/?#]*)([\s\S]*)$/i.exec(v);
    if (!m) return true;
    const [, authority, rest] = m as unknown as [string, string, string];
    if (authority === "" || /[\\@%\x00-\x20\x7f-\uffff]/.test(authority) || authority.length > MAX_HOST_LENGTH + 9) return true;
    if (isOrigin && rest !== "" && rest !== "/") return true;
    try {
      return new URL(v).hostname.replace(/\.$/, "").length > MAX_HOST_LENGTH;
    } catch {
      return false;
    }
  };
  if (typeof origin === "string") return origin === "" || malformed(origin, true);
  return typeof referer === "string" && referer !== "" && malformed(referer, false);
}

/** Hosts in and out of serialised form: IDNA, uppercase, IPv4 and IPv6 spellings, bad labels. */
const poolHost = fc.constantFrom(
  "example.com",
  "app.example.com",
  "EXAMPLE.com",
  "xn--bcher-kva.example",
  "bücher.example",
  "shop.xn--bcher-kva.example",
  "xn--zz.example.com",
  "localhost",
  "127.0.0.1",
  "0x7f.1",
  "127.000.0.1",
  "1.2.3.4.",
  "a.123",
  "[::1]",
  "[0:0::1]",
  "[::ffff:1.2.3.4]",
  "exa%6dple.com",
  "ex_ample.com",
  "example.com.",
  "example..com",
  ".example.com",
  "",
);
const someHost = fc.oneof(poolHost, hostname);
const somePort = fc.oneof(
  { weight: 12, arbitrary: fc.constant("") },
  { weight: 3, arbitrary: fc.constantFrom(":443", ":80", ":8443", ":0443", ":", ":0", ":99999", ":8x", ":3000") },
);
const patternSpec = fc.record({
  scheme: fc.constantFrom("", "", "", "https://", "http://"),
  wildcard: fc.boolean(),
  host: someHost,
  port: somePort,
});
/** A header value naming one of the patterns' hosts (or a subdomain, or another host), mostly well-formed. */
const headerFor = (hosts: string[], isOrigin: boolean) =>
  fc
    .tuple(
      fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom("https://", "http://") },
        { weight: 1, arbitrary: fc.constantFrom("HTTPS://", "https:", "https:/", "https:\\\\", " https://", "https://@", "ftp://") },
      ),
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...hosts) }, { weight: 2, arbitrary: fc.tuple(label, fc.constantFrom(...hosts)).map(([l, h]) => `${l}.${h}`) }, { weight: 1, arbitrary: someHost }),
      somePort,
      isOrigin
        ? fc.oneof({ weight: 6, arbitrary: fc.constant("") }, { weight: 2, arbitrary: fc.constantFrom("/", "?", "#", "/.", "/x", "\\@evil.com/", "\\", " ") })
        : fc.oneof({ weight: 6, arbitrary: fc.constantFrom("/", "/x?y#z") }, { weight: 2, arbitrary: fc.constantFrom("", "?a=b", "/a\\b", "/@x", "\\@evil.com/", "@evil.com", "\t/") }),
    )
    .map(([s, h, p, a]) => `${s}${h}${p}${a}`);
const headerCase = fc.array(patternSpec, { minLength: 1, maxLength: 5 }).chain((specs) => {
  const patterns = specs.map((p) => `${p.scheme}${p.wildcard ? "*." : ""}${p.host}${p.port}`);
  const hosts = specs.map((p) => p.host);
  const absent = fc.constantFrom(null, undefined);
  return fc.tuple(
    fc.constant(patterns),
    fc.oneof({ weight: 3, arbitrary: headerFor(hosts, true) }, { weight: 2, arbitrary: absent }, { weight: 1, arbitrary: fc.constantFrom("", "null") }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
    fc.oneof({ weight: 3, arbitrary: headerFor(hosts, false) }, { weight: 1, arbitrary: absent }, { weight: 1, arbitrary: fc.constant("") }),
  );
});

/**
 * Whether the reference's reading of a pattern names another host than the
 * one written (see the refusals of "a pattern names the host written"): an
 * independent oracle, decoding with node:url's `domainToUnicode`.
 */
function namesAnotherHost(pattern: string, host: string): boolean {
  if (host.startsWith("[")) return false;
  let written = lowerEach(pattern).replace(/^https?:\/\//, "").replace(/^\*\./, "");
  written = written.replace(/:[^:]*$/, "").replace(/\.$/, "");
  const labels = written.split(".");
  const parts = host.split(".");
  return labels.length !== parts.length || parts.some((part, i) => part !== labels[i] && domainToUnicode(part) !== labels[i]!.normalize("NFC"));
}

/** The reference's reading of a pattern, without the ones now refused (too long, another host than written). */
function referencePattern(s: string): reference.DomainPattern | null {
  const ref = reference.parseDomainPattern(s);
  return ref === null || ref.host.length > MAX_HOST_LENGTH || namesAnotherHost(s, ref.host) ? null : ref;
}

describe("compileDomains decides exactly as the URL-parsing reference", () => {
  it("on random patterns and headers, except the intended denials", () => {
    const seen = { allowed: 0, intended: 0 };
    fc.assert(
      fc.property(headerCase, ([patterns, origin, referer]) => {
        const now = compileDomains(patterns)(origin, referer);
        if (now) seen.allowed++;
        if (intendedDenial(origin, referer)) {
          seen.intended++;
          expect(now).toBe(false);
        } else {
          const kept = patterns.filter((p) => referencePattern(p) !== null);
          expect(now).toBe(kept.length > 0 && reference.compileDomains(kept)(origin, referer));
        }
      }),
      { numRuns: 20_000 },
    );
    // The generator reaches both sides often (not a suite of denials).
    expect(seen.allowed).toBeGreaterThan(1_000);
    expect(seen.intended).toBeGreaterThan(1_000);
    expect(seen.intended).toBeLessThan(15_000);
  });

  it("parseDomainPattern agrees with the reference below the host cap", () => {
    fc.assert(
      fc.property(fc.oneof(patternSpec.map((p) => `${p.scheme}${p.wildcard ? "*." : ""}${p.host}${p.port}`), fc.string()), (s) => {
        expect(parseDomainPattern(s)).toEqual(referencePattern(s));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("matching work", () => {
  /** Characters copied by String.prototype.slice, and URL objects built, while `fn` runs. */
  function work(fn: () => void): { sliced: number; urls: number } {
    const slice = String.prototype.slice;
    const OriginalUrl = globalThis.URL;
    let sliced = 0;
    let urls = 0;
    String.prototype.slice = function (this: string, ...args: [number?, number?]) {
      const out = slice.apply(this, args);
      sliced += out.length;
      return out;
    };
    globalThis.URL = class extends OriginalUrl {
      constructor(...args: ConstructorParameters<typeof URL>) {
        super(...args);
        urls++;
      }
    };
    try {
      fn();
    } finally {
      String.prototype.slice = slice;
      globalThis.URL = OriginalUrl;
    }
    return { sliced, urls };
  }

  it("a wildcard check copies each character of the host a bounded number of times (was quadratic)", () => {
    const m = compileDomains(["*.example.com"]);
    const ref = reference.compileDomains(["*.example.com"]);
    for (const labels of [10, 60, 120]) {
      const host = `${"a.".repeat(labels)}example.org`; // a near miss: every label walked
      expect(host.length).toBeLessThanOrEqual(MAX_HOST_LENGTH);
      const origin = `https://${host}`;
      let allowed = true;
      const w = work(() => {
        allowed = m(origin, null);
      });
      expect(allowed).toBe(false);
      expect(w.urls).toBe(0);
      // Authority, host and each label: a few copies of the host, whatever its depth.
      expect(w.sliced).toBeLessThanOrEqual(4 * host.length);
      // The reference sliced every suffix: about labels² characters.
      if (labels === 120) expect(work(() => ref(origin, null)).sliced).toBeGreaterThan(10 * w.sliced);
    }
  });

  it("the issue's host (2 000 labels of ü) is refused at the cap, without the URL parser", () => {
    const m = compileDomains(["*.example.com"]);
    const w = work(() => expect(m(`https://${"ü.".repeat(2000)}example.com`, null)).toBe(false));
    expect(w.urls).toBe(0);
    expect(w.sliced).toBe(0);
  });

  it("a browser's Origin is parsed by hand: no URL object per request", () => {
    const m = compileDomains(["example.com", "*.example.com", "https://app.test:8443"]);
    for (const origin of ["https://example.com", "https://a.b.example.com", "https://app.test:8443", "http://example.com:443"]) {
      let allowed = false;
      expect(work(() => (allowed = m(origin, null))).urls).toBe(0);
      expect(allowed).toBe(origin !== "http://example.com:443");
    }
    // Hosts not in serialised form still go through the URL parser, once.
    expect(work(() => m("https://A.EXAMPLE.com", null)).urls).toBe(1);
    // A non-ASCII one is refused before it.
    expect(work(() => m("https://BÜCHER.example", null)).urls).toBe(0);
  });
});
