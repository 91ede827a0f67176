import { domainToASCII, domainToUnicode } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodePunycode } from "../../src/lib/punycode.js";

describe("decodePunycode", () => {
  // RFC 3492 §7.1 sample strings.
  it.each([
    ["egbpdaj6bu4bxfgehfvwxn", "\u0644\u064a\u0647\u0645\u0627\u0628\u062a\u0643\u0644\u0645\u0648\u0634\u0639\u0631\u0628\u064a\u061f"], // (A) Arabic
    ["ihqwcrb4cv8a8dqg056pqjye", "\u4ed6\u4eec\u4e3a\u4ec0\u4e48\u4e0d\u8bf4\u4e2d\u6587"], // (B) Chinese (simplified)
    ["3B-ww4c5e180e575a65lsy2b", "3\u5e74B\u7d44\u91d1\u516b\u5148\u751f"], // (L)
    ["-> $1.00 <--", "-> $1.00 <-"], // (S): basic code points only
    ["bcher-kva", "b\u00fccher"],
  ])("decodes %s", (input, output) => {
    expect(decodePunycode(input)).toBe(output);
  });

  it.each(["99999999999", "9", "a-!", "-9999", "bcher-kv\u00e4", "x".repeat(64)])("refuses %j", (input) => {
    expect(decodePunycode(input)).toBeNull();
  });

  it("inverts the URL parser's encoding of any label, and never throws", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }), (s) => {
        expect(() => decodePunycode(s)).not.toThrow();
        const ascii = domainToASCII(s);
        if (!ascii.startsWith("xn--") || ascii.includes(".")) return;
        expect(decodePunycode(ascii.slice(4))).toBe(domainToUnicode(ascii));
      }),
      { numRuns: 3_000 },
    );
  });
});
