// Key columns: pgKey is injective and fromPgKey reads it back (no server needed).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromPgKey, pgKey } from "../../src/postgres/keys.js";

describe("pgKey / fromPgKey", () => {
  it("round-trips any string short enough to be kept, lone surrogates and NUL included", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (s) => {
        expect(fromPgKey(pgKey(s))).toBe(s);
      }),
      { numRuns: 2000 },
    );
    for (const s of ["", "\\", "\\h", "\\u0000", "a\u0000b", "\uD800x", "x\uDC00", "\\\\u0041"]) expect(fromPgKey(pgKey(s))).toBe(s);
  });

  it("keys carry no NUL and no lone surrogate; a long string is kept as its hash", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (s) => {
        expect(pgKey(s)).not.toMatch(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
      }),
    );
    const long = "x".repeat(600);
    expect(pgKey(long)).toMatch(/^\\h[0-9a-f]{64}$/);
    expect(fromPgKey(pgKey(long))).toBe(pgKey(long));
  });
});
