// The verifier's one-pass query index (src/signing/query.ts) against
// URLSearchParams, the reference for RFC 9421 §2.2.8: for every name, the
// same value, the same "repeated", the same "absent".
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { QueryIndex } from "../../src/signing/query.js";

/** What §2.2.8 gives for a decoded name, per URLSearchParams. */
function reference(search: string, name: string): string | null | undefined {
  const values = new URLSearchParams(search).getAll(name);
  return values.length === 0 ? undefined : values.length > 1 ? null : values[0];
}

// Pieces that exercise the parser: escapes valid and invalid, "+" and spaces, UTF-8 sequences
// whole and cut, a BOM, separators, empty pairs.
const piece = fc.constantFrom("a", "b", "q1", "%61", "%41", "+", "%20", "%2B", "%25", "%", "%4", "%G1", "%FF", "%C3%A9", "%C3", "%E2%82%AC", "%EF%BB%BF", "é", "=", "&", "&&", "%3D", "%26", "~", "*");
const query = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(""));

/** The query of a serialised URL, as the verifier sees it. */
const searchOf = (q: string) => new URL(`https://e.com/p?${q}`).search;

describe("QueryIndex", () => {
  it("agrees with URLSearchParams for every name in the query and for absent ones (property)", () => {
    fc.assert(
      fc.property(query, fc.array(piece, { maxLength: 4 }), (q, extra) => {
        const search = searchOf(q);
        const names = new Set([...new URLSearchParams(search).keys(), extra.join(""), decodeURIComponentSafe(extra.join(""))]);
        // Names given up front, and names asked for without notice.
        const index = new QueryIndex(search, [...names].filter((_, i) => i % 2 === 0));
        for (const name of names) {
          if (name.includes("\uFFFD")) continue; // never asked for: the signature base refuses such a name
          expect(index.get(name)).toBe(reference(search, name));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("pairs without \"=\" (the next \"=\" is looked for once, not once per pair)", () => {
    const search = `?${"a&".repeat(4000)}b=1`;
    expect(new QueryIndex(search, ["a", "b"]).get("b")).toBe("1");
    expect(new QueryIndex(search, ["a"]).get("a")).toBeNull();
  });

  it("examples", () => {
    const index = new QueryIndex(searchOf("a=1&%61=2&b=x+y%20z&c&%C3%A9=%E2%82%AC&d=%FF&e=%&=v&&f="), ["a", "b", "c", "é", "d", "e", "", "f", "g"]);
    expect(index.get("a")).toBeNull(); // "a" and "%61" are the same name
    expect(index.get("b")).toBe("x y z");
    expect(index.get("c")).toBe("");
    expect(index.get("é")).toBe("€");
    expect(index.get("d")).toBe("\uFFFD");
    expect(index.get("e")).toBe("%");
    expect(index.get("")).toBe("v");
    expect(index.get("f")).toBe("");
    expect(index.get("g")).toBeUndefined();
    expect(new QueryIndex("", ["a"]).get("a")).toBeUndefined();
    expect(new QueryIndex("?a=1", []).get("a")).toBe("1");
  });
});

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
