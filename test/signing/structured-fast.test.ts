// The fast structured-field paths (src/signing/structured-fast.ts) against the
// `structured-headers` package they stand in for: where the fast parser
// answers, it returns exactly the package's result (and the canonical text it
// reports is the package's serialisation); the fast serialisers return the
// package's string or throw its error, for any input.
import fc from "fast-check";
import {
  type BareItem,
  DisplayString,
  type InnerList,
  type Item,
  type Parameters,
  parseDictionary,
  serializeDictionary as sfSerializeDictionary,
  serializeInnerList as sfSerializeInnerList,
  serializeItem as sfSerializeItem,
  serializeList as sfSerializeList,
  serializeString as sfSerializeString,
  Token,
} from "structured-headers";
import { describe, expect, it } from "vitest";
import { computeContentDigest, signRequest } from "../../src/signing/index.js";
import {
  decodeByteSequenceAt,
  fastByteSequenceOffsets,
  fastParseDictionary,
  serializeDictionary,
  serializeInnerList,
  serializeItem,
  serializeList,
  serializeString,
} from "../../src/signing/structured-fast.js";
import { ED25519_SEED, picture, SHARED_SECRET } from "./helpers.js";

function reference(input: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: parseDictionary(input) };
  } catch {
    return { ok: false };
  }
}

/** The fast parser agrees with the package wherever it answers; returns whether it answered. */
function agrees(input: string): boolean {
  const spans = new Map<string, string>();
  const fast = fastParseDictionary(input, spans);
  const ref = reference(input);
  // The offsets-only scan (Signature field) answers exactly when the parser does, with the same members.
  const offsets = fastByteSequenceOffsets(input);
  if (fast === undefined) {
    expect(spans.size).toBe(0);
    expect(offsets).toBeUndefined();
    return false;
  }
  expect(ref.ok).toBe(true);
  const dict = (ref as { value: Map<string, Item | InnerList> }).value;
  expect(picture(fast)).toEqual(picture(dict));
  for (const [key, text] of spans) expect(text).toBe(sfSerializeInnerList(dict.get(key) as InnerList));
  expect([...offsets!.keys()]).toEqual([...fast.keys()]);
  for (const [key, member] of fast) {
    const offset = offsets!.get(key)!;
    if (Array.isArray(member[0])) expect(offset).toBe(-1);
    else expect([...decodeByteSequenceAt(input, offset)]).toEqual([...(member[0] as Uint8Array)]);
  }
  return true;
}

// Pieces of Signature-Input, Signature and Content-Digest values, with the
// syntax the fast path declines (tokens, decimals, dates, display strings,
// parameters without values, stray whitespace) mixed in.
const fragment = fc.constantFrom(
  "sig1", "sig2", "a", "*b", "sha-256", "Sig", "=", "(", ")", " ", "  ", "\t", ";", ",", ", ", ":", '"', "\\", '\\"', "\\\\",
  "?1", "?0", "?2", "-1", "-0", "0", "00", "007", "1.5", "1.", "1234567890123456", "123456789012345", "@12", '%"x"', "tok",
  '"@method"', '"@target-uri"', '"content-digest"', '"x"', '"é"', "created=", "1700000000", "keyid=", '"tok_1"', "alg=",
  '"hmac-sha256"', "name=", "sf", "key=", "AAAA", "AA==", "AAA=", "A===", "====", "AB", "+/8=", "_-", "wqc=", "3q2+7w==",
);
const fragments = fc.array(fragment, { maxLength: 30 }).map((parts) => parts.join(""));

// Well-formed values, serialised by the package, then possibly roughened.
const sfKey = fc.stringMatching(/^[a-z*][a-z0-9_\-.*]{0,6}$/);
const sfString = fc.string({ maxLength: 12 }).filter((s) => /^[\x20-\x7e]*$/.test(s));
const bare: fc.Arbitrary<BareItem> = fc.oneof(
  sfString,
  fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }),
  fc.constantFrom(0, 1, 10),
  fc.boolean(),
);
const params: fc.Arbitrary<Parameters> = fc.array(fc.tuple(sfKey, bare), { maxLength: 4 }).map((e) => new Map(e));
const innerList: fc.Arbitrary<InnerList> = fc.tuple(fc.array(fc.tuple(sfString, params), { maxLength: 5 }), params);
const byteSequence: fc.Arbitrary<Item> = fc.tuple(
  fc.uint8Array({ maxLength: 70 }).map((b) => b.slice().buffer as ArrayBuffer),
  params,
);
const member = fc.oneof(innerList, byteSequence);
const dictionaryText = fc
  .array(fc.tuple(sfKey, member), { maxLength: 4 })
  .map((entries) => entries.map(([k, m]) => `${k}=${Array.isArray(m[0]) ? sfSerializeInnerList(m as InnerList) : sfSerializeItem(m as Item)}`));
const roughen = fc.constantFrom(
  (s: string) => s,
  (s: string) => s.replace(/ /g, "  "),
  (s: string) => s.replace(/\(/g, "( "),
  (s: string) => s.replace(/\)/g, " )"),
  (s: string) => s.replace(/;/g, "; "),
  (s: string) => s.replace(/=(\d)/g, "=0$1"),
  (s: string) => s.replace(/=0(?!\d)/g, "=-0"),
  (s: string) => s.replace(/;([a-z*][a-z0-9_\-.*]*)(?=[;),]|$)/g, ";$1=?1"),
  (s: string) => s.replace(/;([a-z*][a-z0-9_\-.*]*)=/, ";$1=1;$1="),
  (s: string) => s.replace(/==:/g, ":"),
  (s: string) => ` ${s}\t `,
);
const roughDictionary = fc
  .tuple(dictionaryText, roughen, fc.constantFrom(", ", ",", " ,\t"))
  .map(([members, r, sep]) => r(members.join(sep)));

describe("fast structured-field parsing", () => {
  it("answers for what keyward emits: Signature-Input, Signature, Content-Digest", async () => {
    const request = new Request("https://api.example.com/v1/prices?symbol=X", { method: "POST", body: '{"a":1}' });
    for (const key of [
      { alg: "ed25519", privateKey: ED25519_SEED },
      { alg: "hmac-sha256", secret: SHARED_SECRET },
    ] as const) {
      const first = await signRequest(request, { keyid: "tok_1", key, nonce: true, tag: "t", expires: 2e9 });
      const both = await signRequest(first, { keyid: "tok_1", key, label: "proxy", components: ["@method", 'content-digest;key="sha-256"'] });
      for (const name of ["signature-input", "signature", "content-digest"]) {
        expect(agrees(both.headers.get(name)!)).toBe(true);
      }
    }
    expect(agrees(computeContentDigest("x", ["sha-256", "sha-512"]))).toBe(true);
  });

  it("well-formed dictionaries, also with non-canonical spacing and numbers: same result as structured-headers", () => {
    let answered = 0;
    fc.assert(
      fc.property(roughDictionary, (input) => {
        if (agrees(input)) answered++;
      }),
      { numRuns: 3000 },
    );
    expect(answered).toBeGreaterThan(1000); // the fast path is exercised, not just declining
  });

  it("fragments and arbitrary strings: same result as structured-headers, or declines", () => {
    fc.assert(
      fc.property(fc.oneof(fragments, fc.string({ maxLength: 60 }), fc.string({ unit: "binary-ascii", maxLength: 60 })), (input) => {
        agrees(input);
      }),
      { numRuns: 5000 },
    );
  });

  it("reports canonical text only where it is the strict serialisation", () => {
    const spans = new Map<string, string>();
    const input = 'a=("x" "y");n=1;t;f=?0, b=( "x");n=1, c=("x");n=01, d=("x");n=-0, e=("x");t=?1, g=("x"); n=1, h=("x")  ';
    expect(agrees(input)).toBe(true);
    fastParseDictionary(input, spans);
    expect([...spans.keys()]).toEqual(["a", "h"]);
  });

  it("declines repeated keys, so the caller can refuse them", () => {
    expect(fastParseDictionary('a=("x"), a=("y")')).toBeUndefined();
    expect(agrees('a=("x");p=1;p=2')).toBe(true); // repeated parameters: the package's last-wins Map
  });
});

describe("fast structured-field serialisation", () => {
  const anyBare: fc.Arbitrary<BareItem> = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.string({ unit: "binary", maxLength: 4 }),
    fc.integer(),
    fc.constantFrom(-0, 1e15, -1e15, 999_999_999_999_999, 1.5, -2.25, Number.NaN, 1e300, 999_999_999_999.9996, -999_999_999_999.9996, 0.0004, -0.0004, 1.0001, 1e12 - 0.5),
    fc.double(),
    fc.boolean(),
    fc.constantFrom(new Token("tok"), new DisplayString("é"), new Date(1_700_000_000_000)),
    fc.string({ unit: "binary", maxLength: 6 }).map((s) => new DisplayString(s)),
    fc.uint8Array({ maxLength: 5 }).map((b) => b.slice().buffer as ArrayBuffer),
    fc.uint8Array({ maxLength: 5 }), // what keyward's parsers give
    fc.uint8Array({ minLength: 1, maxLength: 6 }).map((b) => Buffer.from(b).subarray(1)), // a view at an offset
  );
  const anyKey = fc.oneof(sfKey, fc.string({ maxLength: 4 }));
  const anyParams = fc.array(fc.tuple(anyKey, anyBare), { maxLength: 3 }).map((e) => new Map(e));
  const anyItem: fc.Arbitrary<Item> = fc.tuple(anyBare, anyParams);
  const anyInnerList: fc.Arbitrary<InnerList> = fc.tuple(fc.array(anyItem, { maxLength: 4 }), anyParams);

  /** Same string, or the same error. */
  function same(fast: () => string, ref: () => string): void {
    let expected: { value: string } | { error: string };
    try {
      expected = { value: ref() };
    } catch (err) {
      expected = { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
    }
    try {
      expect({ value: fast() }).toEqual(expected);
    } catch (err) {
      if (!(err instanceof Error) || "value" in expected) throw err;
      expect({ error: `${err.constructor.name}: ${err.message}` }).toEqual(expected);
    }
  }

  it("serializeString", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom('"', "\\", 'a"b\\c', "")), (s) => {
        same(
          () => serializeString(s),
          () => sfSerializeString(s),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it("serializeItem and serializeInnerList", () => {
    fc.assert(
      fc.property(anyItem, anyInnerList, (item, list) => {
        same(
          () => serializeItem(item),
          () => sfSerializeItem(item),
        );
        same(
          () => serializeInnerList(list),
          () => sfSerializeInnerList(list),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it("serializeList and serializeDictionary (bare-key members too)", () => {
    const anyMember = fc.oneof(anyItem, anyInnerList, anyParams.map((p): Item => [true, p]));
    fc.assert(
      fc.property(fc.array(anyMember, { maxLength: 4 }), fc.array(fc.tuple(anyKey, anyMember), { maxLength: 4 }), (list, entries) => {
        same(
          () => serializeList(list),
          () => sfSerializeList(list),
        );
        const dict = new Map(entries);
        same(
          () => serializeDictionary(dict),
          () => sfSerializeDictionary(dict),
        );
        // Outside the type, too: a bare value as a member, a plain object.
        const loose = new Map<string, unknown>([...entries, ["z", true]]) as typeof dict;
        same(
          () => serializeDictionary(loose),
          () => sfSerializeDictionary(loose),
        );
        const object = Object.fromEntries(entries) as unknown as typeof dict;
        same(
          () => serializeDictionary(object),
          () => sfSerializeDictionary(object),
        );
      }),
      { numRuns: 3000 },
    );
  });
});
