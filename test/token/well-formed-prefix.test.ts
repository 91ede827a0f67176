// The request path's format check agrees with parseToken on every input.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generateToken, parseToken } from "../../src/token/format.js";
import { wellFormedPrefixLength } from "../../src/token/format.js";

const expected = (s: string) => {
  const r = parseToken(s);
  return r.ok ? r.token.prefix.length : -1;
};

describe("wellFormedPrefixLength", () => {
  it("answers as parseToken does, for tokens, edited tokens and arbitrary strings (property)", () => {
    const token = fc
      .record({
        prefix: fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/),
        kind: fc.constantFrom("publishable" as const, "secret" as const),
        env: fc.constantFrom("live" as const, "test" as const),
        seed: fc.uint8Array({ minLength: 64, maxLength: 64 }),
      })
      .map(({ prefix, kind, env, seed }) => {
        let k = 0;
        return generateToken({ prefix, kind, env, random: (n) => Uint8Array.from({ length: n }, () => seed[k++ % 64]! % 248) });
      });
    const edited = fc.tuple(token, fc.nat(), fc.constantFrom(..."0aZ_9zx-")).map(([t, i, c]) => {
      const at = i % t.length;
      return t.slice(0, at) + c + t.slice(at + 1);
    });
    fc.assert(
      fc.property(fc.oneof(token, edited, fc.string({ maxLength: 90 })), (s) => {
        expect(wellFormedPrefixLength(s)).toBe(expected(s));
      }),
      { numRuns: 2000 },
    );
  });
});
