import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findTokens, generateToken, hashToken, parseToken, tokenStart } from "../../src/token/format.js";
import { crc32Ascii } from "../../src/lib/crc32.js";

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
    expect(findTokens(text, { prefix: "other" }).map((f) => f.token)).toEqual([b]);
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
      expect(findTokens(`${before}${a}${after}`, { prefix: "kw" }).map((f) => f.index)).toEqual([before.length]);
      expect(findTokens(`${before}${a}${after}`, { prefix: "w" })).toEqual([]);
    }
  });

  it("finds a valid token after and before any text (property)", () => {
    fc.assert(
      fc.property(fc.string(), prefixArb, kindArb, envArb, bytesArb, fc.string(), (before, prefix, kind, env, bytes, after) => {
        const token = generateToken({ prefix, kind, env, random: fromBytes(bytes) });
        const found = findTokens(`${before}${token}${after}`).filter((f) => f.index === before.length);
        expect(found.map((f) => f.token)).toEqual([token]);
      }),
    );
  });

  it("has no false positives on random look-alikes (property)", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9A-Za-z]{49}$/), (body) => {
        // A random body has a 1 in 2^32 chance of a valid checksum.
        expect(findTokens(`acme_sk_live_${body}`)).toHaveLength(0);
      }),
    );
  });

  it("scans large texts in linear time, long runs of token characters too", () => {
    const body = "b".repeat(49);
    for (const text of [
      "a_sk_live_".repeat(200_000),
      // A 2 MB run of token characters around one middle.
      `${"a".repeat(1_000_000)}_sk_live_${"b".repeat(1_000_000)}`,
      // Every middle with the longest lowercase run before it: the most candidates per middle.
      `${"abcdefghijklmnop".repeat(2)}_sk_live_${body}`.repeat(20_000),
    ]) {
      const t0 = performance.now();
      expect(findTokens(text)).toEqual([]);
      expect(performance.now() - t0).toBeLessThan(2000);
    }
  });
});
