// headerOf's raw Authorization match (abe0dfe: no name lowercased unless it starts with an "a")
// finds the lines the old rule did (any raw name of 13 characters lowercased to "authorization").
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { headerOf } from "../../src/http/node.js";

const oldHeaderOf = (raw: string[]): string | null => {
  let value: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === "authorization") value = value === null ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
  return value;
};

/** "authorization" with each letter's case flipped or not, one replaced by a look-alike, or another name. */
const name = fc.oneof(
  fc.array(fc.boolean(), { minLength: 13, maxLength: 13 }).map((up) => [..."authorization"].map((c, i) => (up[i] ? c.toUpperCase() : c)).join("")),
  fc.tuple(fc.integer({ min: 0, max: 12 }), fc.constantFrom("\u0130", "\u212a", "\u0131", "A", "\u00e0", "@", "a")).map(([i, c]) => `${"authorization".slice(0, i)}${c}${"authorization".slice(i + 1)}`),
  fc.constantFrom("Cache-Control", "cache-control", "Authorizatio", "Authorizations", "\u0130uthorization"),
  fc.string({ minLength: 13, maxLength: 13 }),
);

describe("headerOf(req, 'authorization')", () => {
  it("joins the raw lines the old rule did", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.string({ maxLength: 5 })), { maxLength: 6 }), (lines) => {
        const raw = lines.flat();
        expect(headerOf({ headers: {}, rawHeaders: raw }, "authorization")).toBe(oldHeaderOf(raw));
      }),
      { numRuns: 5000 },
    );
  });
});
