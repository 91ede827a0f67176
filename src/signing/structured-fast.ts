// Fast paths for the structured fields (RFC 9651) read and written on every
// signed request. The verifier reads Signature-Input and Signature with the
// subset parser here: it handles the exact forms keyward emits and accepts,
// reports the text of members already in their strict serialisation (no
// re-serialising for `@signature-params`) and locates Byte Sequences without
// decoding them; it gives up (returns undefined) on anything else, which the
// general parser (./structured-parse.ts) then reads within a size limit. The
// serialisers answer for every type but Date and delegate that to the
// `structured-headers` package. Where this module answers, its answer is the
// package's: test/signing/structured-fast.test.ts checks that with fast-check.
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

const SP = 0x20;
const HTAB = 0x09;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

// RFC 9651 §3.1.2 key: lcalpha / "*" first, then lcalpha / DIGIT / "_" / "-" / "." / "*".
function isKeyStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || c === 0x2a;
}
function isKeyChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2d || c === 0x2e || c === 0x2a;
}
/** A structured-field dictionary key (RFC 9651 §3.2; the package's serializeKey check). */
export const SF_KEY = /^[a-z*][a-z0-9_\-.*]*$/;
const KEY = SF_KEY;
/** The largest integer a structured field can hold (RFC 9651 §3.3.1). */
export const MAX_SF_INTEGER = 999_999_999_999_999;

// base64 alphabet → 6-bit value, -1 elsewhere.
const B64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;

function b64(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c < 128 ? B64[c]! : -1;
}

/** Thrown inside the parser to give up; never escapes this module. */
const GIVE_UP = Symbol("give up");

class Parser {
  pos = 0;
  /** False once the current Inner List's text differs from its strict serialisation. */
  canonical = true;
  constructor(
    readonly input: string,
    readonly canonicalText?: Map<string, string>,
    /** When given, Byte Sequence members are only checked: their offsets go here, and Inner List members get -1. */
    readonly offsets?: Map<string, number>,
  ) {}

  /** §4.2.2, for a Dictionary whose members are Inner Lists or Byte Sequences, each key once. */
  dictionary(): Dictionary {
    const s = this.input;
    while (s.charCodeAt(this.pos) === SP) this.pos++;
    const dict: Dictionary = new Map();
    while (this.pos < s.length) {
      const key = this.key();
      const offsets = this.offsets;
      // A repeated key is left to the full parser (it keeps the last value; the verifier refuses it).
      if (dict.has(key) || offsets?.has(key) || s.charCodeAt(this.pos) !== 0x3d /* = */) throw GIVE_UP;
      this.pos++;
      const c = s.charCodeAt(this.pos);
      if (c === 0x28 /* ( */) {
        const start = this.pos;
        this.canonical = true;
        const list = this.innerList();
        if (offsets !== undefined) offsets.set(key, -1);
        else dict.set(key, list);
        if (this.canonical) this.canonicalText?.set(key, s.slice(start, this.pos));
      } else if (c === COLON) {
        if (offsets !== undefined) {
          offsets.set(key, this.skipByteSequence());
          this.parameters();
        } else {
          dict.set(key, [this.byteSequence(), this.parameters()]);
        }
      } else {
        throw GIVE_UP;
      }
      this.skipOWS();
      if (this.pos >= s.length) return dict;
      if (s.charCodeAt(this.pos) !== 0x2c /* , */) throw GIVE_UP;
      this.pos++;
      this.skipOWS();
      if (this.pos >= s.length) throw GIVE_UP; // trailing comma
    }
    return dict;
  }

  private skipOWS(): void {
    for (let c = this.input.charCodeAt(this.pos); c === SP || c === HTAB; c = this.input.charCodeAt(this.pos)) this.pos++;
  }

  private key(): string {
    const s = this.input;
    const start = this.pos;
    if (!isKeyStart(s.charCodeAt(start))) throw GIVE_UP;
    this.pos++;
    while (isKeyChar(s.charCodeAt(this.pos))) this.pos++;
    return s.slice(start, this.pos);
  }

  /** §4.2.1.2, with String items only. */
  private innerList(): InnerList {
    const s = this.input;
    this.pos++; // (
    const items: Item[] = [];
    while (this.pos < s.length) {
      const spaceStart = this.pos;
      while (s.charCodeAt(this.pos) === SP) this.pos++;
      // Canonical: one space between items, none after "(" or before ")".
      if (this.pos - spaceStart !== (items.length === 0 || s.charCodeAt(this.pos) === 0x29 ? 0 : 1)) this.canonical = false;
      if (s.charCodeAt(this.pos) === 0x29 /* ) */) {
        this.pos++;
        return [items, this.parameters()];
      }
      if (s.charCodeAt(this.pos) !== DQUOTE) throw GIVE_UP;
      items.push([this.string(), this.parameters()]);
      const next = s.charCodeAt(this.pos);
      if (next !== SP && next !== 0x29) throw GIVE_UP;
    }
    throw GIVE_UP;
  }

  /** §4.2.3.2, with String, Integer and Boolean values. */
  private parameters(): Parameters {
    const s = this.input;
    const params: Parameters = new Map();
    while (s.charCodeAt(this.pos) === 0x3b /* ; */) {
      this.pos++;
      if (s.charCodeAt(this.pos) === SP) this.canonical = false;
      while (s.charCodeAt(this.pos) === SP) this.pos++;
      const key = this.key();
      if (params.has(key)) this.canonical = false; // the last value is kept, at the first place
      let value: BareItem = true;
      if (s.charCodeAt(this.pos) === 0x3d /* = */) {
        this.pos++;
        const c = s.charCodeAt(this.pos);
        if (c === DQUOTE) value = this.string();
        else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) value = this.integer();
        else if (c === 0x3f /* ? */) value = this.boolean();
        else throw GIVE_UP;
        if (value === true) this.canonical = false; // serialised as the bare key
      }
      params.set(key, value);
    }
    return params;
  }

  /** §4.2.5, printable ASCII with `\"` and `\\` escapes. */
  private string(): string {
    const s = this.input;
    let start = ++this.pos;
    let out = "";
    for (; this.pos < s.length; this.pos++) {
      const c = s.charCodeAt(this.pos);
      if (c === DQUOTE) {
        out += s.slice(start, this.pos++);
        return out;
      }
      if (c === BACKSLASH) {
        const next = s.charCodeAt(this.pos + 1);
        if (next !== DQUOTE && next !== BACKSLASH) throw GIVE_UP;
        out += s.slice(start, this.pos++);
        start = this.pos; // keep the escaped character
      } else if (c < 0x20 || c > 0x7e) {
        throw GIVE_UP;
      }
    }
    throw GIVE_UP;
  }

  /** §4.2.4 for Integers (a Decimal gives up), computed as the package does. */
  private integer(): number {
    const s = this.input;
    let sign = 1;
    if (s.charCodeAt(this.pos) === 0x2d) {
      sign = -1;
      this.pos++;
    }
    const start = this.pos;
    for (let c = s.charCodeAt(this.pos); c >= 0x30 && c <= 0x39; c = s.charCodeAt(this.pos)) this.pos++;
    const digits = this.pos - start;
    if (digits === 0 || digits > 15 || s.charCodeAt(this.pos) === 0x2e /* . */) throw GIVE_UP;
    // Canonical: no leading zero, no "-0".
    if (digits > 1 && s.charCodeAt(start) === 0x30) this.canonical = false;
    if (sign < 0 && digits === 1 && s.charCodeAt(start) === 0x30) this.canonical = false;
    return Number.parseInt(s.slice(start, this.pos), 10) * sign;
  }

  private boolean(): boolean {
    const c = this.input.charCodeAt(this.pos + 1);
    if (c !== 0x30 && c !== 0x31) throw GIVE_UP;
    this.pos += 2;
    return c === 0x31;
  }

  /**
   * §4.2.7, canonical base64 only (length a multiple of 4, at most two `=`
   * at the end). Decodes as `atob` does: trailing bits are ignored.
   */
  private byteSequence(): Uint8Array<ArrayBuffer> {
    return decodeByteSequenceAt(this.input, this.skipByteSequence());
  }

  /** Checks a Byte Sequence without decoding it; returns the offset of its first character. */
  private skipByteSequence(): number {
    const start = this.pos + 1;
    if (base64(this.input, start, null) < 0) throw GIVE_UP;
    this.pos = this.input.indexOf(":", start) + 1;
    return start;
  }
}

/**
 * The canonical base64 text from `start` to the next colon: decoded into
 * `out` as `atob` does (when given), and its size in bytes, or -1 when it is
 * not canonical base64 or has no closing colon.
 */
function base64(s: string, start: number, out: Uint8Array | null): number {
  const end = s.indexOf(":", start);
  let len = end - start;
  if (end < 0 || len % 4 !== 0) return -1;
  let pad = 0;
  while (pad < 2 && len > 0 && s.charCodeAt(start + len - 1) === 0x3d /* = */) {
    len--;
    pad++;
  }
  let j = 0;
  let i = start;
  for (const full = start + len - (len % 4); i < full; i += 4) {
    const n = (b64(s, i) << 18) | (b64(s, i + 1) << 12) | (b64(s, i + 2) << 6) | b64(s, i + 3);
    if (n < 0) return -1; // some character was not base64 (-1 sets the sign bit)
    if (out) {
      out[j] = n >>> 16;
      out[j + 1] = (n >>> 8) & 0xff;
      out[j + 2] = n & 0xff;
    }
    j += 3;
  }
  if (pad > 0) {
    const n = (b64(s, i) << 18) | (b64(s, i + 1) << 12) | (pad === 1 ? b64(s, i + 2) << 6 : 0);
    if (n < 0) return -1;
    if (out) {
      out[j] = n >>> 16;
      if (pad === 1) out[j + 1] = (n >>> 8) & 0xff;
    }
    j += 3 - pad;
  }
  return j;
}

/**
 * Parses a Dictionary made of Inner Lists of Strings and Byte Sequences,
 * with String, Integer and Boolean parameters, every key once: what
 * Signature-Input, Signature and Content-Digest hold in practice.
 *
 * @param canonicalText - When given, receives for each Inner List member
 *   whose text is already its strict serialisation that text, keyed by
 *   member key: `serializeInnerList(member)` without the work (the verifier
 *   needs it for `@signature-params`, RFC 9421 §3.2 step 7).
 * @returns The package's `parseDictionary` result, or undefined when the
 *   value is outside that subset (including when it is invalid or repeats a
 *   key): the caller then uses the full parser.
 */
export function fastParseDictionary(value: string, canonicalText?: Map<string, string>): Dictionary | undefined {
  try {
    return new Parser(value, canonicalText).dictionary();
  } catch (err) {
    canonicalText?.clear();
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}

/**
 * Checks a Dictionary value as {@link fastParseDictionary} parses it, without
 * decoding Byte Sequences: for the Signature field (RFC 9421 §4.2), of which
 * the verifier needs one member. Maps each key to the offset of its Byte
 * Sequence's first character (for {@link decodeByteSequenceAt}), or to -1
 * for an Inner List member; undefined exactly when fastParseDictionary
 * gives up.
 */
export function fastByteSequenceOffsets(value: string): Map<string, number> | undefined {
  const offsets = new Map<string, number>();
  try {
    new Parser(value, undefined, offsets).dictionary();
    return offsets;
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}

/** The bytes of a Byte Sequence that {@link fastByteSequenceOffsets} accepted, at the offset it gave. */
export function decodeByteSequenceAt(value: string, offset: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(base64(value, offset, null));
  base64(value, offset, out);
  return out;
}

/** The package's `serializeString`, without a regular expression for the common case. */
export function serializeString(value: string): string {
  if (typeof value !== "string") return sfSerializeString(value);
  let out = '"';
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return sfSerializeString(value); // throws, as the package does
    if (c === DQUOTE || c === BACKSLASH) {
      out += `${value.slice(start, i)}\\`;
      start = i;
    }
  }
  return `${out}${value.slice(start)}"`;
}

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
  // encodeURIComponent escapes every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ), in uppercase hex.
  let out = '%"';
  let start = 0;
  for (let i = encoded.indexOf("%"); i >= 0; i = encoded.indexOf("%", start)) {
    const b = Number.parseInt(encoded.slice(i + 1, i + 3), 16);
    out += encoded.slice(start, i) + (b === 0x25 || b === DQUOTE || b <= 0x1f || b >= 0x7f ? `%${b.toString(16)}` : String.fromCharCode(b));
    start = i + 3;
  }
  return `${out}${encoded.slice(start)}"`;
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
