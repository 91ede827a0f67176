// The general structured-field parser (src/signing/structured-parse.ts)
// against the `structured-headers` package it replaces: for any input, the
// same value (types, order, -0, bytes; a Byte Sequence as a Uint8Array where
// the package makes an ArrayBuffer) or a failure exactly where the package
// throws, for Dictionaries, Lists and Items, including the package's
// departures from RFC 9651 that the parser keeps on purpose.
import fc from "fast-check";
import {
  type BareItem,
  type Dictionary,
  DisplayString,
  type InnerList,
  type Item,
  type Parameters,
  parseDictionary as sfParseDictionary,
  parseItem as sfParseItem,
  parseList as sfParseList,
  serializeDictionary,
  serializeInnerList,
  serializeItem,
  serializeList,
  Token,
} from "structured-headers";
import { describe, expect, it } from "vitest";
import { computeContentDigest, signRequest } from "../../src/signing/index.js";
import { strictSerializeField } from "../../src/signing/structured.js";
import { parseCheckedDictionary, parseDictionary, parseItem, parseList } from "../../src/signing/structured-parse.js";
import { serializeInnerList as ourSerializeInnerList } from "../../src/signing/structured-serialize.js";
import { ED25519_SEED, picture, SHARED_SECRET } from "./helpers.js";

function reference(parse: (input: string) => unknown, input: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: parse(input) };
  } catch {
    return { ok: false };
  }
}

/**
 * The top-level keys of a Dictionary value the package accepted, duplicates
 * included: every top-level comma outside a String or Display String
 * separates two members, since no other bare item can hold a comma or a
 * double quote.
 */
function topLevelKeys(value: string): string[] {
  const keys: string[] = [];
  let start = 0;
  let inString = false;
  let display = false; // a Display String (%"…") has no backslash escapes
  for (let i = 0; i <= value.length; i++) {
    const c = value[i];
    if (inString) {
      if (c === "\\" && !display) i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      display = value[i - 1] === "%";
    } else if (c === "," || c === undefined) {
      const key = /^[ \t]*([a-z*][a-z0-9_\-.*]*)/.exec(value.slice(start, i)); // none in an empty Dictionary
      if (key !== null) keys.push(key[1]!);
      start = i + 1;
    }
  }
  return keys;
}

/** All three parses of `input` agree with the package; returns how many succeeded. */
function agrees(input: string): number {
  let succeeded = 0;
  for (const [mine, theirs] of [
    [parseDictionary, sfParseDictionary],
    [parseList, sfParseList],
    [parseItem, sfParseItem],
  ] as const) {
    const ref = reference(theirs, input);
    const got = mine(input);
    if (ref.ok) {
      succeeded++;
      expect(got, input).not.toBeNull();
      expect(picture(got), input).toEqual(picture(ref.value));
    } else {
      expect(got, input).toBeNull();
    }
  }
  // Checked: the same Dictionary or null, null when a key repeats; the package's serialisation
  // of it parses as the package parses it, with no unfaithful member (no parameter named twice,
  // no integral Decimal). Not as the input: that serialisation is not always faithful (`-0` comes back as `0`),
  // nor always parseable (a Date past JavaScript's range is an Invalid Date, written `@NaN`): then neither parses it.
  const dict = reference(sfParseDictionary, input);
  const checked = parseCheckedDictionary(input);
  if (!dict.ok) expect(checked).toBeNull();
  else {
    const keys = topLevelKeys(input);
    if (new Set(keys).size !== keys.length) expect(checked, input).toBeNull();
    else {
      expect(picture(checked!.members), input).toEqual(picture(dict.value));
      const text = serializeDictionary(dict.value as Dictionary);
      const theirs = reference(sfParseDictionary, text);
      const again = parseCheckedDictionary(text);
      if (!theirs.ok) expect(again, input).toBeNull();
      else {
        expect(picture(again!.members), input).toEqual(picture(theirs.value));
        expect(again!.unfaithful.size, input).toBe(0);
      }
    }
  }
  return succeeded;
}

// Well-formed values of every type, serialised by the package.
const sfKey = fc.stringMatching(/^[a-z*][a-z0-9_\-.*]{0,5}$/);
const bare: fc.Arbitrary<BareItem> = fc.oneof(
  fc.string({ maxLength: 10 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
  fc.constantFrom('a"b', "c\\d", ""),
  fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }),
  fc.integer({ min: -999_999_999_999_999, max: 999_999_999_999_999 }).map((n) => n / 1000),
  fc.integer({ min: -99_999, max: 99_999 }).map((n) => n / 10),
  fc.boolean(),
  fc.stringMatching(/^[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]{0,6}$/).map((t) => new Token(t)),
  fc.uint8Array({ maxLength: 12 }).map((b) => b.slice().buffer as ArrayBuffer),
  fc.string({ maxLength: 6, unit: "grapheme" }).map((s) => new DisplayString(s)),
  fc.string({ maxLength: 4, unit: "binary" }).map((s) => new DisplayString(s)),
  fc.integer({ min: -1e12, max: 1e12 }).map((n) => new Date(n * 1000)),
);
const params: fc.Arbitrary<Parameters> = fc.array(fc.tuple(sfKey, bare), { maxLength: 3 }).map((e) => new Map(e));
const item: fc.Arbitrary<Item> = fc.tuple(bare, params);
const innerList: fc.Arbitrary<InnerList> = fc.tuple(fc.array(item, { maxLength: 4 }), params);
const member = fc.oneof(item, innerList);
const isInner = (m: Item | InnerList): m is InnerList => Array.isArray(m[0]);

/** What the package serialises; "" where it refuses (e.g. a Decimal it rounds out of range). */
function attempt(serialize: () => string): string {
  try {
    return serialize();
  } catch {
    return "";
  }
}
const wellFormed: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.tuple(sfKey, member), { maxLength: 4 }).map((entries) => attempt(() => serializeDictionary(new Map(entries)))),
  fc.array(member, { maxLength: 4 }).map((list) => attempt(() => serializeList(list))),
  member.map((m) => attempt(() => (isInner(m) ? serializeInnerList(m) : serializeItem(m)))),
);

// Edits that reach the failure paths and the package's quirks.
const pieces = [
  "=", "(", ")", ";", ",", ":", '"', "\\", "?", "%", "@", "-", ".", "*", "/", "+", " ", "  ", "\t", "0", "1", "9", "a", "z", "A",
  "Z", "_", "é", "ā", "\u{1F600}", "\ud800", "\x00", "\x7f", "\x1f", "%22", "%c3%a9", "%C3", "%c3", "==", "=;", "k=", ", k", "@-",
  "1234567890123", "12.1234", "tok", "é",
];
const edit = fc.record({ at: fc.nat(), drop: fc.nat({ max: 2 }), insert: fc.constantFrom(...pieces, "") });
const edited = fc
  .tuple(wellFormed, fc.array(edit, { maxLength: 3 }))
  .map(([text, edits]) =>
    edits.reduce((s, e) => {
      const at = s.length === 0 ? 0 : e.at % (s.length + 1);
      return s.slice(0, at) + e.insert + s.slice(at + e.drop);
    }, text),
  );
// Display Strings of arbitrary bytes, percent-encoded: UTF-8 decoding, well-formed or not.
const hex2 = (b: number) => b.toString(16).padStart(2, "0");
const displayBytes = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0xef, 0xbb, 0xbf, 0xe0, 0xed, 0xf0, 0xf4, 0x80, 0xbf, 0xc2)), { maxLength: 12 })
  .map((bytes) => `%"${bytes.map((b) => (b >= 0x20 && b < 0x7f && b !== 0x25 && b !== 0x22 ? String.fromCharCode(b) : `%${hex2(b)}`)).join("")}"`);
const fragments = fc.array(fc.constantFrom(...pieces, "k", "k=1", '"x"', ":AA==:", "?1", "@12", '%"x"', "1.5", "-0", "abc"), { maxLength: 24 }).map((p) => p.join(""));
// Strings and Display Strings dense in escapes, lone backslashes and quotes (the parser scans runs between them).
const escapes = fc
  .tuple(fc.constantFrom('"', '%"', "a=("), fc.array(fc.constantFrom('\\"', "\\\\", "\\", '"', "a", " ", "%22", "\x01", "é"), { maxLength: 12 }), fc.constantFrom('"', '")', ""))
  .map(([open, body, close]) => open + body.join("") + close);

describe("general structured-field parser", () => {
  it("what keyward emits: Signature-Input, Signature, Content-Digest parse to the package's values; each signature's parameters re-serialise to the text sent", async () => {
    const request = new Request("https://api.example.com/v1/prices?symbol=X", { method: "POST", body: '{"a":1}' });
    for (const key of [
      { alg: "ed25519", privateKey: ED25519_SEED },
      { alg: "hmac-sha256", secret: SHARED_SECRET },
    ] as const) {
      const first = await signRequest(request, { keyId: "tok_1", key, nonce: true, tag: "t", expires: 2e9 });
      const both = await signRequest(first, { keyId: "tok_1", key, label: "proxy", components: ["@method", 'content-digest;key="sha-256"'] });
      for (const name of ["signature-input", "signature", "content-digest"]) {
        expect(agrees(both.headers.get(name)!)).toBe(1); // a Dictionary, neither a List nor an Item
      }
      const input = both.headers.get("signature-input")!;
      const { members, unfaithful } = parseCheckedDictionary(input)!;
      expect(unfaithful.size).toBe(0);
      expect([...members.keys()]).toEqual(["sig1", "proxy"]);
      // The verifier builds @signature-params by re-serialising (RFC 9421 §2.3): the signer's own text.
      expect([...members].map(([label, m]) => `${label}=${ourSerializeInnerList(m as InnerList)}`).join(", ")).toBe(input);
    }
    expect(agrees(computeContentDigest("x", ["sha-256", "sha-512"]))).toBe(1);
  });

  it("well-formed Dictionaries, Lists and Items of every type: the package's values", () => {
    let parsed = 0;
    fc.assert(
      fc.property(wellFormed, (input) => {
        parsed += agrees(input) > 0 ? 1 : 0;
      }),
      { numRuns: 3000 },
    );
    expect(parsed).toBeGreaterThan(1500); // the rest hold a Date before their end, which the package refuses
  });

  it("edited values, fragments and arbitrary strings: the same value or the same failure", () => {
    let parsed = 0;
    fc.assert(
      fc.property(fc.oneof(edited, fragments, displayBytes, escapes, fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 30 })), (input) => {
        parsed += agrees(input) > 0 ? 1 : 0;
      }),
      { numRuns: 8000 },
    );
    expect(parsed).toBeGreaterThan(1000); // the success path is exercised, not only failures
  });

  it("strict serialisation (;sf) is the package's parse and serialisation, for any value", () => {
    // The fields' types: a Dictionary, a List, an Item, and unknown (List, then Dictionary, then Item).
    const fields = ["signature-input", "cache-status", "client-cert", "x-custom"];
    const types: Record<string, string[]> = {
      "signature-input": ["dictionary"],
      "cache-status": ["list"],
      "client-cert": ["item"],
      "x-custom": ["list", "dictionary", "item"],
    };
    const packageStrict = (name: string, value: string): string | null => {
      for (const type of types[name]!) {
        try {
          if (type === "dictionary") return serializeDictionary(sfParseDictionary(value));
          if (type === "list") return serializeList(sfParseList(value));
          return serializeItem(sfParseItem(value));
        } catch {
          // the next type
        }
      }
      return null;
    };
    fc.assert(
      fc.property(fc.oneof(wellFormed, edited, fragments), (input) => {
        for (const name of fields) expect(strictSerializeField(name, input), `${name}: ${input}`).toBe(packageStrict(name, input));
      }),
      { numRuns: 4000 },
    );
  });

  it("keeps the package's departures from RFC 9651", () => {
    for (const input of [
      "a=@12", // a Date at the end parses...
      "a=@12;p", // ...anything after it fails
      "@-0",
      "@1234567890123456", // 16 digits
      "a=:QQ:", // forgiving base64: no padding
      "a=:QR==:", // trailing bits ignored
      "a=:QQ=:", // a lone "=" is not padding
      "a=:Q:", // 4n+1 characters
      '%"\u0101"', // a code unit above 0xFF wraps to a byte
      '%"%c3%a9"',
      '%"%C3%A9"', // uppercase hex
      '%"%c3"', // not UTF-8
      "123456789012.123",
      "1234567890123.1",
      "1.1234",
      "1.",
      "-0",
      "k=-0", // a Dictionary member whose serialisation is not faithful (-0 comes back as 0): CI of stop 48
      "a=@8640000000001", // past JavaScript's Dates: an Invalid Date, serialised as "@NaN", which neither parses: CI of stop 48
      "1234567890123456",
      "123456789012345",
      'a=1, a=2;p, b, a=("x")', // repeated keys: last value, first place
      'a=%"\\",a=1', // a backslash in a Display String is a character, not an escape
      `%"${"a".repeat(200_000)}"`, // long: no argument-list or stack limit on the way
      "a;b=?1, c=tok/en:x",
    ]) {
      agrees(input);
    }
    expect(parseItem("@12")![0]).toEqual(new Date(12_000));
    // Byte Sequences are Uint8Arrays, each with a buffer of its own.
    const bytes = parseList(":AQID:, ::")!.map((m) => m[0]);
    expect(bytes.map((b) => [b instanceof Uint8Array, b instanceof Uint8Array && [...b]])).toEqual([
      [true, [1, 2, 3]],
      [true, []],
    ]);
    expect((bytes[0] as Uint8Array).buffer).not.toBe((bytes[1] as Uint8Array).buffer);
    expect(parseItem("a=@12")).toBeNull();
    expect(parseDictionary("a=1, b=2, a=3", true)).toBeNull();
    // Checked: the members the serialisation of the parse would say otherwise, and only those.
    for (const input of ["a=1;x;x", 'a=("b";n="x";n="y")', "a=(1 2);p=1;p=1", "a=1.0", "a=(1 -2.000)", "a=1;p=0.0"]) {
      for (const field of [input, `b=2, ${input}, c=(1 2);p`]) {
        const checked = parseCheckedDictionary(field)!;
        expect(picture(checked.members), field).toEqual(picture(parseDictionary(field)));
        expect([...checked.unfaithful], field).toEqual(["a"]);
      }
    }
    const faithful = parseCheckedDictionary("a=1.5;p=-0.25, b=(1 2.125);q")!;
    expect(picture(faithful.members)).toEqual(picture(parseDictionary("a=1.5;p=-0.25, b=(1 2.125);q")));
    expect(faithful.unfaithful.size).toBe(0);
    expect(parseDictionary('a=%"\\",a=1', true)).toBeNull();
    expect(picture(parseDictionary("a=1, b=2, a=3"))).toEqual({
      map: [
        ["a", [3, { map: [] }]],
        ["b", [2, { map: [] }]],
      ],
    });
  });

  it("Byte Sequences: every text up to 5 characters of A Q / = decodes as atob does, or fails where it fails", () => {
    const texts = [""];
    for (let n = 1; n <= 5; n++) for (const t of texts.filter((x) => x.length === n - 1)) for (const c of "AQ/=") texts.push(t + c);
    for (const t of texts) {
      agrees(`:${t}:`);
      agrees(`a=:${t}:;p=:${t}:`);
    }
  });

  it("Display Strings: every 1- and 2-byte sequence and the edges of longer ones decode as the package's TextDecoder does", () => {
    const item = (bytes: number[]) => `%"${bytes.map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}"`;
    const same = (bytes: number[]) => {
      const input = item(bytes);
      const ref = reference(sfParseItem, input);
      const got = parseItem(input);
      if (!ref.ok) expect(got, input).toBeNull();
      else expect(picture(got), input).toEqual(picture(ref.value));
    };
    const edges = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff];
    for (let a = 0; a < 256; a++) {
      same([a]);
      for (let b = 0; b < 256; b++) same([a, b]);
      if (a >= 0xe0) for (const b of edges) for (const c of edges) same([a, b, c]);
      if (a >= 0xf0) for (const b of edges) for (const c of edges) for (const d of edges) same([a, b, c, d]);
    }
    for (const bom of [[0xef, 0xbb, 0xbf], [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x41], [0x41, 0xef, 0xbb, 0xbf], [0xef, 0xbb]]) same(bom);
    // About 90 000 parses, twice: 2 s alone, over the 20 s default once on a machine loaded by other work.
  }, 60_000);

  it("a Dictionary of 2 000 members, 60 KB: the package's value", () => {
    const long = Array.from({ length: 2000 }, (_, i) => `k${i}=${i};a=1;b="x"`).join(", ");
    expect(parseDictionary(long)!.size).toBe(2000);
    expect(agrees(long)).toBe(1);
  });
});
