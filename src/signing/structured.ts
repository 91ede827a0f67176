// Structured fields (RFC 9651) for the signing module: parsed by keyward's
// general parser (./structured-parse.ts), serialised by the fast serialisers
// of ./structured-fast.ts, which hand what they do not write themselves to
// the `structured-headers` package (pure ESM with no `node:` imports and no
// Buffer, so it runs in every runtime keyward targets). Nothing here throws
// on a value that does not parse: callers get `null`. The verifier reads
// Signature-Input and Signature with the subset parser of ./structured-fast.ts first.
import type { BareItem, Dictionary } from "structured-headers";
import { serializeDictionary, serializeItem, serializeList } from "./structured-fast.js";
import { parseDictionary, parseItem, parseList } from "./structured-parse.js";

export type { BareItem, Dictionary, InnerList, Item, Parameters } from "structured-headers";
export { isInnerList } from "structured-headers";
export { SF_KEY, serializeInnerList, serializeItem, serializeMember, serializeParameters, serializeString } from "./structured-fast.js";
export { parseDictionary, parseItem } from "./structured-parse.js";

/**
 * Parses a Dictionary field value whose keys must be unique (Signature-Input
 * and Signature, RFC 9421 §4.1, §4.2) with the general parser; null when it
 * is not a Dictionary or names a key twice. RFC 9651 §4.2.2 keeps only the
 * last value of a repeated key, which for Signature-Input would let a second
 * field line silently replace a signature (RFC 9421: labels MUST be unique
 * across all field values). For values the verifier's fast parser
 * (./structured-fast.ts, which gives up on a repeated key) declined.
 */
export function generalParseUniqueDictionary(value: string): Dictionary | null {
  return parseDictionary(value, true);
}

/** The bytes of a parsed Byte Sequence (a Uint8Array from keyward's parsers, an ArrayBuffer from the package's); null for any other bare item. */
export function byteSequenceBytes(value: BareItem): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  return value instanceof ArrayBuffer ? new Uint8Array(value) : null;
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
