// Structured fields (RFC 9651) for the signing module: parsed by keyward's
// parser (./structured-parse.ts), serialised by ./structured-serialize.ts,
// which hands what it does not write itself to the `structured-headers`
// package (pure ESM with no `node:` imports and no Buffer, so it runs in
// every runtime keyward targets). Nothing here throws on a value that does
// not parse: callers get `null`.
import type { BareItem } from "structured-headers";
import { serializeDictionary, serializeItem, serializeList } from "./structured-serialize.js";
import { parseDictionary, parseItem, parseList } from "./structured-parse.js";

export type { BareItem, Dictionary, InnerList, Item, Parameters } from "structured-headers";
export { isInnerList } from "structured-headers";
export { SF_KEY, serializeInnerList, serializeItem, serializeMember, serializeParameters, serializeString } from "./structured-serialize.js";
export { type CheckedDictionary, parseCheckedDictionary, parseDictionary, parseItem } from "./structured-parse.js";

/** The bytes of a Byte Sequence as keyward's parser gives them (a Uint8Array); null for any other bare item. */
export function byteSequenceBytes(value: BareItem): Uint8Array | null {
  return value instanceof Uint8Array ? value : null;
}

// Structured types of registered fields. RFC 9421 §2.1.1 wants the type known;
// for any other field we try List, Dictionary then Item (the order the
// http-message-signatures package uses). For valid values the three strict
// serialisations coincide whenever more than one parse succeeds, except for
// Dictionaries with repeated keys, which the table covers for these fields.
const FIELD_TYPES: Record<string, "dictionary" | "list" | "item"> = {
  "accept-signature": "dictionary",
  "cache-status": "list",
  "client-cert": "item",
  "client-cert-chain": "list",
  "content-digest": "dictionary",
  priority: "dictionary",
  "proxy-status": "list",
  "repr-digest": "dictionary",
  signature: "dictionary",
  "signature-input": "dictionary",
  "want-content-digest": "dictionary",
  "want-repr-digest": "dictionary",
};

/** Strict re-serialisation of a structured field value (RFC 9421 §2.1.1); null if it does not parse. */
export function strictSerializeField(name: string, value: string): string | null {
  const type = FIELD_TYPES[name];
  const attempts: ("dictionary" | "list" | "item")[] = type ? [type] : ["list", "dictionary", "item"];
  for (const t of attempts) {
    try {
      if (t === "dictionary") {
        const dict = parseDictionary(value);
        if (dict !== null) return serializeDictionary(dict);
      } else if (t === "list") {
        const list = parseList(value);
        if (list !== null) return serializeList(list);
      } else {
        const item = parseItem(value);
        if (item !== null) return serializeItem(item);
      }
    } catch {
      // a value the serialiser refuses (e.g. a Decimal out of range): try the next type
    }
  }
  return null;
}
