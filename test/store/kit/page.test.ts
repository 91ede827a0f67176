import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../../../src/errors.js";
import { decodeCursor, encodeCursor, parsePage, toPage } from "../../../src/store/kit/page.js";

describe("page cursors", () => {
  it("round-trip any key (property)", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), (t, id) => {
        expect(decodeCursor("t", encodeCursor("t", { t, id }))).toEqual({ t: Object.is(t, -0) ? 0 : t, id });
      }),
    );
  });

  it("refuse garbage and a cursor of the other listing (property: never another error)", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        try {
          decodeCursor("a", s);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidInputError);
        }
      }),
    );
    expect(() => decodeCursor("a", encodeCursor("t", { t: 1, id: "x" }))).toThrow(InvalidInputError);
  });

  it("validates limits (1..1000, default 100)", () => {
    expect(parsePage(undefined, "t")).toEqual({ limit: 100, after: null });
    expect(parsePage({ limit: 1000 }, "t").limit).toBe(1000);
    for (const limit of [0, -1, 1001, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => parsePage({ limit }, "t")).toThrow(InvalidInputError);
    }
  });

  it("a page of limit + 1 rows has a cursor after the last row kept", () => {
    const rows = [1, 2, 3].map((i) => ({ t: i, id: `r${i}` }));
    const page = toPage(rows, 2, (r) => encodeCursor("t", r));
    expect(page.items).toEqual(rows.slice(0, 2));
    expect(decodeCursor("t", page.nextCursor!)).toEqual({ t: 2, id: "r2" });
    expect(toPage(rows, 3, (r) => encodeCursor("t", r)).nextCursor).toBeNull();
  });
});
