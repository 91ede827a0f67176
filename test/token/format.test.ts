import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { crc } from "../support/crc-steps.js";
import { type FindTokensOptions, findTokens, generateToken, hashToken, parseToken, tokenStart } from "../../src/token/format.js";
import { crc32Ascii, crc32Unappend } from "../../src/lib/crc32.js";

// The real CRC-32, counting its steps (test/support/crc-steps.ts).
vi.mock("../../src/lib/crc32.js", async (real) => (await import("../support/crc-steps.js")).countingCrc32(await real()));

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const prefixArb = fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/);
const kindArb = fc.constantFrom("publishable" as const, "secret" as const);
const envArb = fc.constantFrom("live" as const, "test" as const);
const bytesArb = fc.uint8Array({ minLength: 256, maxLength: 256 });

/** A deterministic random source cycling through the given bytes. */
function fromBytes(bytes: Uint8Array) {
  let i = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let j = 0; j < n; j++) out[j] = bytes[i++ % bytes.length]!;
    return out;
  };
}

describe("CRC-32", () => {
  it("matches the standard check value", () => {
    // The CRC-32/ISO-HDLC check value of "123456789".
    expect(crc32Ascii("123456789")).toBe(0xcbf43926);
    expect(crc32Ascii("")).toBe(0);
  });

  it("runs backwards: crc32Unappend takes the CRC-32 of x + y to that of x (property)", () => {
    const ascii = fc.string({ unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)) });
    fc.assert(
      fc.property(ascii, ascii, ascii, (x, y, z) => {
        const text = x + y + z;
        expect(crc32Unappend(crc32Ascii(text, x.length + y.length), text, x.length, x.length + y.length)).toBe(crc32Ascii(x));
      }),
    );
  });
});

describe("generateToken / parseToken", () => {
  it("has the documented shape", () => {
    const t = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    expect(t).toMatch(/^acme_sk_live_[0-9A-Za-z]{49}$/);
    const p = generateToken({ prefix: "acme", kind: "publishable", env: "test" });
    expect(p.startsWith("acme_pk_test_")).toBe(true);
    expect(tokenStart(t)).toBe(t.slice(0, "acme_sk_live_".length + 4));
  });

  it("round-trips (property)", () => {
    fc.assert(
      fc.property(prefixArb, kindArb, envArb, bytesArb, (prefix, kind, env, bytes) => {
        const t = generateToken({ prefix, kind, env, random: fromBytes(bytes) });
        const r = parseToken(t);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.token).toMatchObject({ prefix, kind, env });
        expect(`${prefix}_${kind === "secret" ? "sk" : "pk"}_${env}_${r.token.body}${r.token.checksum}`).toBe(t);
      }),
    );
  });

  it("rejects every single-character change (property)", () => {
    const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(prefixArb, kindArb, envArb, bytesArb, fc.nat(), printable, (prefix, kind, env, bytes, at, ch) => {
        const t = generateToken({ prefix, kind, env, random: fromBytes(bytes) });
        const i = at % t.length;
        fc.pre(t[i] !== ch);
        const mutated = t.slice(0, i) + ch + t.slice(i + 1);
        expect(parseToken(mutated).ok).toBe(false);
      }),
      { numRuns: 5000 },
    );
  });

  it("rejects deletions and insertions (property)", () => {
    fc.assert(
      fc.property(bytesArb, fc.nat(), fc.constantFrom(...BASE62), (bytes, at, ch) => {
        const t = generateToken({ prefix: "acme", kind: "secret", env: "live", random: fromBytes(bytes) });
        const i = at % t.length;
        expect(parseToken(t.slice(0, i) + t.slice(i + 1)).ok).toBe(false);
        expect(parseToken(t.slice(0, i) + ch + t.slice(i)).ok).toBe(false);
      }),
    );
  });

  it("answers with stable codes for typos and look-alikes", () => {
    const t = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const last = t.at(-1)!;
    const typo = t.slice(0, -1) + (last === "a" ? "b" : "a");
    expect(parseToken(typo)).toEqual({ ok: false, code: "TOKEN_CHECKSUM" });
    const cases: unknown[] = [
      undefined,
      null,
      42,
      {},
      "",
      t.toUpperCase(),
      `${t} `,
      ` ${t}`,
      `${t}\n`,
      `${t}\u0000`,
      t.replace("acme", "acm\u0435"), // Cyrillic "е"
      t.replace("_sk_", "_SK_"),
      t.replace("_live_", "_prod_"),
      t.slice(0, -1),
      `${t}0`,
      t.replaceAll("_", "-"),
      "a".repeat(1_000_000),
    ];
    for (const c of cases) expect(parseToken(c).ok, String(c).slice(0, 40)).toBe(false);
    // A body character swapped for a homoglyph outside base62 fails the format.
    expect(parseToken(`${t.slice(0, 20)}\u0430${t.slice(21)}`)).toEqual({ ok: false, code: "TOKEN_MALFORMED" });
  });

  it("never throws on arbitrary input (property)", () => {
    fc.assert(
      fc.property(fc.anything(), (x) => {
        const r = parseToken(x);
        expect(r.ok).toBe(false);
      }),
    );
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => void parseToken(s)));
  });

  it("rejects invalid generation options", () => {
    expect(() => generateToken({ prefix: "Acme", kind: "secret", env: "live" })).toThrow(TypeError);
    expect(() => generateToken({ prefix: "a_b", kind: "secret", env: "live" })).toThrow(TypeError);
    expect(() => generateToken({ prefix: "acme", kind: "x" as never, env: "live" })).toThrow(TypeError);
    expect(() => generateToken({ prefix: "acme", kind: "secret", env: "prod" as never })).toThrow(TypeError);
  });

  it("draws bodies uniformly by rejection sampling", () => {
    // Random bytes >= 248 must be skipped, never folded with modulo.
    const skewed = fromBytes(new Uint8Array([255, 248, 0, 61, 62, 247]));
    const t = generateToken({ prefix: "x", kind: "secret", env: "live", random: skewed });
    const body = parseToken(t);
    expect(body.ok && body.token.body.slice(0, 4)).toBe(`0${BASE62[61]}0${BASE62[247 % 62]}`);
    // Counts of each character over many tokens stay near uniform.
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const r = parseToken(generateToken({ prefix: "x", kind: "secret", env: "live" }));
      if (r.ok) for (const c of r.token.body) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const expected = (2000 * 43) / 62;
    for (const c of BASE62) expect(Math.abs((counts.get(c) ?? 0) - expected) / expected).toBeLessThan(0.2);
  });
});

describe("hashToken", () => {
  it("is the hex SHA-256 of the whole token string", () => {
    expect(hashToken("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});

describe("findTokens", () => {
  it("finds every well-formed token and skips look-alikes", () => {
    const a = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const b = generateToken({ prefix: "other", kind: "publishable", env: "test" });
    const bad = a.slice(0, -1) + (a.endsWith("0") ? "1" : "0");
    const text = `config:\n  key=${a}\n  "${b}",\n  typo ${bad}\n  url=https://x.test/?k=${a}&z=1`;
    const found = findTokens(text);
    expect(found.map((f) => f.token)).toEqual([a, b, a]);
    expect(found[0]!.index).toBe(text.indexOf(a));
    expect(findTokens(text, { prefixes: ["other"] }).map((f) => f.token)).toEqual([b]);
  });

  it("finds a token glued to the text around it: the checksum decides, not a word boundary", () => {
    const a = generateToken({ prefix: "kw", kind: "secret", env: "live" });
    for (const [before, after] of [
      ["Authorization%3A%20Bearer%20", "%0A"], // URL-encoded
      ['{"t":"a\\n', '"}'], // JSON-escaped line feed: `n` right before the prefix
      ["KEY_", "_OLD"],
      ["x9", "y"],
      ["abcdefghijklmnopqrstuvwxyz0123456789", "Z"], // a long lowercase run before: the prefix is its last letters
    ] as const) {
      const found = findTokens(`${before}${a}${after}`);
      expect([before, found.map((f) => [f.token, f.index, f.prefix])]).toEqual([before, [[a, before.length, "kw"]]]);
      expect(findTokens(`${before}${a}${after}`, { prefixes: ["kw"] }).map((f) => f.index)).toEqual([before.length]);
      expect(findTokens(`${before}${a}${after}`, { prefixes: ["w"] })).toEqual([]);
    }
  });

  it("finds a valid token after and before any text (property)", () => {
    fc.assert(
      fc.property(fc.string(), prefixArb, kindArb, envArb, bytesArb, fc.string(), (before, prefix, kind, env, bytes, after) => {
        const token = generateToken({ prefix, kind, env, random: fromBytes(bytes) });
        const text = `${before}${token}${after}`;
        const all = findTokens(text);
        expect(all.filter((f) => f.index === before.length).map((f) => f.token)).toEqual([token]);
        // Given the prefixes: the same tokens as filtering afterwards.
        expect(findTokens(text, { prefixes: ["zz9", prefix] })).toEqual(all.filter((f) => f.prefix === "zz9" || f.prefix === prefix));
      }),
    );
  });

  it("with prefixes, finds the tokens of each, the longest that fits first, and refuses a list that is not of prefixes", () => {
    const kw = generateToken({ prefix: "kw", kind: "secret", env: "live" });
    const akw = generateToken({ prefix: "akw", kind: "publishable", env: "test" });
    const other = generateToken({ prefix: "other", kind: "secret", env: "test" });
    const text = `x${kw}a${kw}/${akw}${other}`;
    const found = (prefixes: string[]) => findTokens(text, { prefixes }).map((f) => [f.index, f.prefix]);
    const at = [1, kw.length + 2, 2 * kw.length + 3, 2 * kw.length + akw.length + 3];
    expect(found(["kw", "akw"])).toEqual([
      [at[0], "kw"],
      [at[1], "kw"], // after an `a`: `akw` is a prefix too, but its checksum fails
      [at[2], "akw"],
    ]);
    expect(found(["other"])).toEqual([[at[3], "other"]]);
    expect(found([])).toEqual([]);
    for (const prefixes of ["kw", ["Kw"], ["kw_"], [""], ["a".repeat(17)], [5]]) {
      expect(() => findTokens(text, { prefixes } as never)).toThrow(TypeError);
    }
    // The option's former name is refused, not ignored (it would find every prefix).
    expect(() => findTokens(text, { prefix: "kw" } as never)).toThrow(/prefixes/);
  });

  it("has no false positives on random look-alikes (property)", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9A-Za-z]{49}$/), (body) => {
        // A random body has a 1 in 2^32 chance of a valid checksum.
        expect(findTokens(`acme_sk_live_${body}`)).toHaveLength(0);
      }),
    );
  });

  /** CRC-32 steps per character of the text findTokens takes. */
  function stepsPerChar(text: string, options?: FindTokensOptions): number {
    crc.steps = 0;
    expect(findTokens(text, options)).toEqual([]);
    return crc.steps / text.length;
  }

  // Texts made of as many candidates as fit, each after the longest run a
  // prefix may start in, with a checksum of 32 bits (`000000`; `bbbbbb`
  // stands for more, so no CRC is needed to rule it out).
  const crafted = {
    glued: `_sk_test_${"a".repeat(43)}000000`.repeat(20_000),
    longRuns: `${"abcdefghijklmnop".repeat(2)}_sk_live_${"b".repeat(43)}000000`.repeat(20_000),
    withPrefix: `kw_sk_test_${"a".repeat(43)}000000`.repeat(20_000),
  };

  it("scans in linear time: each candidate checked once for every prefix it may have, at most 68 CRC-32 steps per 58 characters", () => {
    for (const [name, text] of Object.entries({
      ...crafted,
      middles: "a_sk_live_".repeat(200_000),
      // A 2 MB run of token characters around one middle.
      oneMiddle: `${"a".repeat(1_000_000)}_sk_live_${"b".repeat(1_000_000)}`,
      bigChecksums: `${"abcdefghijklmnop".repeat(2)}_sk_live_${"b".repeat(49)}`.repeat(20_000),
    })) {
      // Middles are at least 58 characters apart; one costs at most 52 steps (to the prefix) + 16 (the prefixes).
      expect(stepsPerChar(text), name).toBeLessThanOrEqual(68 / 58);
    }
  });

  it("with prefixes, spends no CRC-32 step on a candidate without one of them", () => {
    expect(stepsPerChar(crafted.glued, { prefixes: ["kw"] })).toBe(0);
    expect(stepsPerChar(crafted.longRuns, { prefixes: ["kw", "acme"] })).toBe(0);
    // A candidate with one of them is checked (the count is real: more than nothing).
    const anchored = stepsPerChar(crafted.withPrefix, { prefixes: ["kw"] });
    expect(anchored).toBeGreaterThan(0.5);
    expect(anchored).toBeLessThanOrEqual(1);
  });
});
