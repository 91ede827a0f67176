// The structured-field serialisers (src/signing/structured-serialize.ts)
// against the `structured-headers` package they stand in for: for any input,
// the package's string or the package's error.
import fc from "fast-check";
import {
  type BareItem,
  DisplayString,
  type InnerList,
  type Item,
  serializeDictionary as sfSerializeDictionary,
  serializeInnerList as sfSerializeInnerList,
  serializeItem as sfSerializeItem,
  serializeList as sfSerializeList,
  serializeString as sfSerializeString,
  Token,
} from "structured-headers";
import { describe, expect, it } from "vitest";
import {
  serializeDictionary,
  serializeInnerList,
  serializeItem,
  serializeList,
  serializeString,
} from "../../src/signing/structured-serialize.js";

const sfKey = fc.stringMatching(/^[a-z*][a-z0-9_\-.*]{0,6}$/);

describe("structured-field serialisation", () => {
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
    // Escapes next to each other, and characters that make the package throw among them.
    const escapeDense = fc.array(fc.constantFrom('"', "\\", "a", " ", "~", "\x7f", "\t"), { maxLength: 40 }).map((cs) => cs.join(""));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), escapeDense, fc.constantFrom('"', "\\", 'a"b\\c', "")), (s) => {
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
