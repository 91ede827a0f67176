// Serialising structured fields (RFC 9651 §4.1) the way the
// `structured-headers` package does, faster: the signer writes
// Signature-Input and Signature with these, and the verifier re-serialises
// the signature's parameters (RFC 9421 §2.3) and every field covered with
// `;sf` or `;key`. Every type but Date is written here; Dates, and values
// the package refuses or writes oddly, go to the package's serialisers, so
// the package's answer (and its errors) stay the reference:
// test/signing/structured-serialize.test.ts checks that with fast-check.
import {
  type BareItem,
  type Dictionary,
  DisplayString,
  type InnerList,
  type Item,
  isInnerList,
  type List,
  type Parameters,
  serializeDictionary as sfSerializeDictionary,
  serializeInnerList as sfSerializeInnerList,
  serializeItem as sfSerializeItem,
  serializeParameters as sfSerializeParameters,
  serializeString as sfSerializeString,
  Token,
} from "structured-headers";
import { toBase64 } from "../lib/bytes.js";

const DQUOTE = 0x22;

/** A structured-field dictionary key (RFC 9651 §3.2; the package's serializeKey check). */
export const SF_KEY = /^[a-z*][a-z0-9_\-.*]*$/;
const KEY = SF_KEY;
/** The largest integer a structured field can hold (RFC 9651 §3.3.1). */
export const MAX_SF_INTEGER = 999_999_999_999_999;

/**
 * The package's `serializeString`. A String is printable ASCII, with quote
 * and backslash escaped by a backslash: exactly what JSON.stringify writes
 * for such a value, natively.
 */
export function serializeString(value: string): string {
  if (typeof value !== "string") return sfSerializeString(value);
  if (PLAIN_STRING.test(value)) return `"${value}"`;
  return PRINTABLE.test(value) ? JSON.stringify(value) : sfSerializeString(value); // which throws, as the package does
}

/** Printable ASCII but quote and backslash (nothing to escape); printable ASCII. */
const PLAIN_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * Serialises a String, Integer, Decimal, Boolean, Token, Byte Sequence or
 * Display String the package's way; undefined for Dates and for values the
 * package refuses or writes oddly (out of range, not finite).
 */
function simpleBareItem(value: BareItem): string | undefined {
  switch (typeof value) {
    case "string":
      return serializeString(value);
    case "number":
      if (!Number.isInteger(value)) return decimal(value);
      return value >= -MAX_SF_INTEGER && value <= MAX_SF_INTEGER ? `${value}` : undefined;
    case "boolean":
      return value ? "?1" : "?0";
    default:
      if (value instanceof Token) return value.toString();
      if (value instanceof Uint8Array) return `:${toBase64(value)}:`;
      if (value instanceof ArrayBuffer) return `:${toBase64(new Uint8Array(value))}:`;
      if (value instanceof DisplayString) return displayString(value.toString());
      return undefined;
  }
}

/**
 * The package's Display String: the UTF-8 bytes of `value` with "%", DQUOTE
 * and bytes outside 0x20-0x7E as "%" and lowercase hex (one digit below
 * 0x10, as the package writes them). UTF-8 by encodeURIComponent, cheaper
 * than TextEncoder for short strings; a lone surrogate (which it refuses and
 * TextEncoder writes as U+FFFD) is left to the package.
 */
function displayString(value: string): string | undefined {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    return undefined;
  }
  // encodeURIComponent escapes every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ), as "%" and uppercase hex.
  let out = '%"';
  let start = 0;
  for (let i = encoded.indexOf("%"); i >= 0; i = encoded.indexOf("%", start)) {
    out += encoded.slice(start, i) + DISPLAY_BYTE[upperHex(encoded.charCodeAt(i + 1)) * 16 + upperHex(encoded.charCodeAt(i + 2))];
    start = i + 3;
  }
  return `${out}${encoded.slice(start)}"`;
}

/** Each byte as the package writes it in a Display String. */
const DISPLAY_BYTE: readonly string[] = Array.from({ length: 256 }, (_, b) =>
  b === 0x25 || b === DQUOTE || b <= 0x1f || b >= 0x7f ? `%${b.toString(16)}` : String.fromCharCode(b),
);

/** The value of an uppercase hex digit, as encodeURIComponent writes them. */
function upperHex(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x37;
}

/** The package's Decimal: three places, trailing zeros dropped (even down to "1."); undefined beyond 12 integer digits. */
function decimal(value: number): string | undefined {
  if (!(Math.abs(value) < 1e12)) return undefined; // not finite, or too large: the package's error
  const fixed = value.toFixed(3);
  let end = fixed.length;
  while (fixed.charCodeAt(end - 1) === 0x30) end--;
  // Rounding can carry into a 13th integer digit (999999999999.9996).
  return fixed.indexOf(".") - (value < 0 ? 1 : 0) > 12 ? undefined : fixed.slice(0, end);
}

function simpleParameters(params: Parameters): string | undefined {
  let out = "";
  for (const [key, value] of params) {
    if (!KEY.test(key)) return undefined;
    if (value === true) {
      out += `;${key}`;
    } else {
      const v = simpleBareItem(value);
      if (v === undefined) return undefined;
      out += `;${key}=${v}`;
    }
  }
  return out;
}

function simpleItem(item: Item): string | undefined {
  const bare = simpleBareItem(item[0]);
  if (bare === undefined) return undefined;
  if (item[1].size === 0) return bare;
  const params = simpleParameters(item[1]);
  return params === undefined ? undefined : bare + params;
}

/** The package's `serializeParameters`, faster where {@link simpleBareItem} answers. */
export function serializeParameters(params: Parameters): string {
  return simpleParameters(params) ?? sfSerializeParameters(params);
}

/** The package's `serializeItem` (for an Item), faster where {@link simpleBareItem} answers. */
export function serializeItem(item: Item): string {
  return simpleItem(item) ?? sfSerializeItem(item);
}

/** The package's `serializeInnerList`, faster where {@link simpleBareItem} answers for every item and parameter. */
export function serializeInnerList(list: InnerList): string {
  let out = "(";
  const items = list[0];
  for (let i = 0; i < items.length; i++) {
    const item = simpleItem(items[i]!);
    if (item === undefined) return sfSerializeInnerList(list);
    out += i === 0 ? item : ` ${item}`;
  }
  const params = simpleParameters(list[1]);
  return params === undefined ? sfSerializeInnerList(list) : `${out})${params}`;
}

/** Strict serialisation of a List or Dictionary member (an Item or an Inner List with parameters), the package's way. */
export function serializeMember(member: Item | InnerList): string {
  return isInnerList(member) ? serializeInnerList(member) : serializeItem(member);
}

/** The package's `serializeList`, member by member through the fast paths above. */
export function serializeList(list: List): string {
  let out = "";
  for (let i = 0; i < list.length; i++) out += i === 0 ? serializeMember(list[i]!) : `, ${serializeMember(list[i]!)}`;
  return out;
}

/** The package's `serializeDictionary` (of a Map), member by member through the fast paths above. */
export function serializeDictionary(dict: Dictionary): string {
  if (!(dict instanceof Map)) return sfSerializeDictionary(dict);
  let out = "";
  for (const [key, member] of dict) {
    // A bad key throws as the package does; a member that is not a pair is the package's to write.
    if (!KEY.test(key) || !Array.isArray(member)) return sfSerializeDictionary(dict);
    // A member whose value is true is the bare key with its parameters (RFC 9651 §3.2).
    const value = member[0] === true ? serializeParameters(member[1]) : `=${serializeMember(member)}`;
    out += out === "" ? key + value : `, ${key}${value}`;
  }
  return out;
}
