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
        const index = new QueryIndex(search);
        const names = new Set([...new URLSearchParams(search).keys(), extra.join(""), decodeURIComponentSafe(extra.join(""))]);
        for (const name of names) {
          if (name.includes("\uFFFD")) continue; // the verifier asks URLSearchParams for these
          expect(index.get(name)).toBe(reference(search, name));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("examples", () => {
    const index = new QueryIndex(searchOf("a=1&%61=2&b=x+y%20z&c&%C3%A9=%E2%82%AC&d=%FF&e=%&=v&&f="));
    expect(index.get("a")).toBeNull(); // "a" and "%61" are the same name
    expect(index.get("b")).toBe("x y z");
    expect(index.get("c")).toBe("");
    expect(index.get("é")).toBe("€");
    expect(index.get("d")).toBe("\uFFFD");
    expect(index.get("e")).toBe("%");
    expect(index.get("")).toBe("v");
    expect(index.get("f")).toBe("");
    expect(index.get("g")).toBeUndefined();
    expect(new QueryIndex("").get("a")).toBeUndefined();
  });
});

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
