// Thin wrappers over the `structured-headers` package (RFC 9651), which is
// pure ESM with no `node:` imports and no Buffer (it uses atob/btoa), so it
// runs in every runtime keyward targets. Everything here turns its exceptions
// into `null` so callers handling untrusted input never see a throw. The
// hot forms go through the equivalent fast paths of ./structured-fast.ts.
import {
  type BareItem,
  type Dictionary,
  type InnerList,
  type Item,
  isInnerList,
  type List,
  parseDictionary,
  parseItem,
  parseList,
  serializeDictionary,
  serializeList,
} from "structured-headers";
import { fastParseDictionary, serializeInnerList, serializeItem } from "./structured-fast.js";

export type { BareItem, Dictionary, InnerList, Item, Parameters } from "structured-headers";
export { isInnerList, parseItem } from "structured-headers";
export { SF_KEY, serializeInnerList, serializeItem, serializeString } from "./structured-fast.js";

/** RFC 9651 §3.1.2 `key` (dictionary keys, parameter names, and so signature labels). */

/** Parses a Dictionary field value (RFC 9651 §4.2.2); null when it is not one. */
export function tryParseDictionary(value: string): Dictionary | null {
  return fastParseDictionary(value) ?? fullParseDictionary(value);
}

function fullParseDictionary(value: string): Dictionary | null {
  try {
    return parseDictionary(value);
  } catch {
    return null;
  }
}

/**
 * Parses a Dictionary field value whose keys must be unique (Signature-Input
 * and Signature, RFC 9421 §4.1, §4.2) with the general parser; null when it
 * is not a Dictionary or names a key twice. For values the fast parser
 * ({@link fastParseDictionary}, which gives up on a repeated key) declined.
 */
export function generalParseUniqueDictionary(value: string): Dictionary | null {
  const dict = fullParseDictionary(value);
  return dict === null || hasDuplicateKeys(value) ? null : dict;
}

/**
 * The member keys of a Dictionary field value in order, duplicates included.
 * RFC 9651 §4.2.2 keeps only the last value of a repeated key, which for
 * Signature-Input would let a second field line silently replace a signature,
 * so callers use this to reject repeated labels (RFC 9421 §4.1, §4.2: labels
 * MUST be unique across all field values).
 *
 * Only meaningful for a value that {@link tryParseDictionary} accepted: then
 * every top-level comma outside a quoted String separates two members, since
 * no other bare item (token, byte sequence, number) can contain a comma or a
 * double quote, and Display Strings cannot contain a backslash.
 */
function dictionaryKeys(value: string): string[] {
  const keys: string[] = [];
  let start = 0;
  let inString = false;
  for (let i = 0; i <= value.length; i++) {
    const c = value[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === "," || c === undefined) {
      const key = /^[ \t]*([a-z*][a-z0-9_\-.*]*)/.exec(value.slice(start, i));
      if (key) keys.push(key[1]!);
      start = i + 1;
    }
  }
  return keys;
}

/** True when a Dictionary field value names the same key twice. */
function hasDuplicateKeys(value: string): boolean {
  const keys = dictionaryKeys(value);
  return new Set(keys).size !== keys.length;
}

/** Strict serialisation of a Dictionary member value (RFC 9421 §2.1.2: Item or Inner List with parameters). */
export function serializeMember(member: Item | InnerList): string {
  return isInnerList(member) ? serializeInnerList(member) : serializeItem(member);
}

/** True for a parsed Byte Sequence (structured-headers returns an ArrayBuffer). */
export function isByteSequence(value: BareItem): value is ArrayBuffer {
  return value instanceof ArrayBuffer;
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
      if (t === "dictionary") return serializeDictionary(parseDictionary(value));
      if (t === "list") return serializeList(parseList(value) as List);
      return serializeItem(parseItem(value));
    } catch {
      // try the next type
    }
  }
  return null;
}
