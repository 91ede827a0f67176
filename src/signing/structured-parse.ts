// keyward's structured-field parser (RFC 9651 §4.2): every Dictionary, List
// and Item, with the `structured-headers` package's results (Byte Sequences
// as a Uint8Array, where the package makes an ArrayBuffer: allocating an
// ArrayBuffer costs about ten times as much, which a field of a few hundred
// empty Byte Sequences would multiply; both are the type's BufferSource). The
// package tests a regular expression and concatenates a string per character;
// this reads character codes through tables, long runs natively and values
// by slices, three to six times faster (docs/benchmarks.md), which lowers
// what a crafted Signature-Input, or a field covered by `;key` or `;sf`, can
// cost a verifier. The package stays the
// reference: test/signing/structured-parse.test.ts checks with fast-check
// that both parse to the same values and fail on the same inputs, including
// the package's departures from the RFC, which are kept here on purpose:
// - a Date must run to the end of the input (no parameters, nothing after it);
// - a Display String's characters are taken as bytes through a Uint8Array
//   (code units above 0xFF wrap), then decoded as UTF-8;
// - a Byte Sequence is any run of base64 characters and `=` that `atob`
//   accepts (forgiving base64: padding optional, trailing bits ignored),
//   decoded here as `atob` does.
// Failures throw a module-private value, caught at the entry points, which
// return null: a failed parse of untrusted input builds no Error.
import { type BareItem, type Dictionary, DisplayString, type InnerList, type Item, type List, type Parameters, Token } from "structured-headers";
import { fromBase64Digits } from "../lib/bytes.js";

const KEY_START = 1;
const KEY = 2;
const TOKEN_START = 4;
const DIGIT = 8;

/** Character classes of the ASCII range (code units from 128 up are in none). */
const CLASS = new Uint8Array(128);
function mark(chars: string, flag: number): void {
  for (let i = 0; i < chars.length; i++) CLASS[chars.charCodeAt(i)]! |= flag;
}
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS = "0123456789";
mark(`${LOWER}*`, KEY_START);
mark(`${LOWER}${DIGITS}_-.*`, KEY);
mark(`${LOWER}${UPPER}*`, TOKEN_START);
mark(DIGITS, DIGIT);

// Runs of one character class, scanned natively by a regular expression
// (several times faster than a loop over a long run, and a single class
// never backtracks): the characters of a String but quote and backslash, and
// those of a Token after its first (tchar, ":" and "/").
const STRING_RUN = /[\x20\x21\x23-\x5b\x5d-\x7e]*/y;
const TOKEN_RUN = /[A-Za-z0-9:/!#$%&'*+\-.^_`|~]*/y;

function is(c: number, flag: number): boolean {
  return c < 128 && (CLASS[c]! & flag) !== 0;
}

const SP = 0x20;
const HTAB = 0x09;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Thrown to abandon a parse; never escapes this module. */
const FAIL = Symbol("structured field parse failure");

class Parser {
  pos = 0;
  /** Whether the member being parsed would not serialise back to what the field says (see {@link parseCheckedDictionary}). */
  unfaithful = false;
  constructor(
    readonly s: string,
    /** Fail on a Dictionary key named twice (the package keeps the last value). */
    readonly uniqueKeys = false,
  ) {}

  /** The Dictionary; the keys of its members that would not serialise back to what the field says go to `unfaithful`. */
  dictionary(unfaithful?: Set<string>): Dictionary {
    const s = this.s;
    this.skipSP();
    const dict: Dictionary = new Map();
    while (this.pos < s.length) {
      const key = this.key();
      if (this.uniqueKeys && dict.has(key)) throw FAIL;
      this.unfaithful = false;
      if (s.charCodeAt(this.pos) === 0x3d /* = */) {
        this.pos++;
        dict.set(key, this.itemOrInnerList());
      } else {
        dict.set(key, [true, this.parameters()]);
      }
      if (this.unfaithful) unfaithful?.add(key);
      if (this.endOfMember()) return dict;
    }
    return dict;
  }

  list(): List {
    const s = this.s;
    this.skipSP();
    const members: List = [];
    while (this.pos < s.length) {
      members.push(this.itemOrInnerList());
      if (this.endOfMember()) return members;
    }
    return members;
  }

  /** A standalone Item: spaces around it, nothing else. */
  item(): Item {
    this.skipSP();
    const item: Item = [this.bareItem(), this.parameters()];
    this.skipSP();
    if (this.pos < this.s.length) throw FAIL;
    return item;
  }

  /** After a Dictionary or List member: true at the end, else past the comma (never a trailing one). */
  private endOfMember(): boolean {
    const s = this.s;
    this.skipOWS();
    if (this.pos >= s.length) return true;
    if (s.charCodeAt(this.pos) !== 0x2c /* , */) throw FAIL;
    this.pos++;
    this.skipOWS();
    if (this.pos >= s.length) throw FAIL;
    return false;
  }

  private skipSP(): void {
    while (this.s.charCodeAt(this.pos) === SP) this.pos++;
  }

  private skipOWS(): void {
    for (let c = this.s.charCodeAt(this.pos); c === SP || c === HTAB; c = this.s.charCodeAt(this.pos)) this.pos++;
  }

  private itemOrInnerList(): Item | InnerList {
    return this.s.charCodeAt(this.pos) === 0x28 /* ( */ ? this.innerList() : [this.bareItem(), this.parameters()];
  }

  private innerList(): InnerList {
    const s = this.s;
    this.pos++;
    const items: Item[] = [];
    while (this.pos < s.length) {
      this.skipSP();
      if (s.charCodeAt(this.pos) === 0x29 /* ) */) {
        this.pos++;
        return [items, this.parameters()];
      }
      items.push([this.bareItem(), this.parameters()]);
      const next = s.charCodeAt(this.pos);
      if (next !== SP && next !== 0x29) throw FAIL;
    }
    throw FAIL;
  }

  private parameters(): Parameters {
    const s = this.s;
    const params: Parameters = new Map();
    while (s.charCodeAt(this.pos) === 0x3b /* ; */) {
      this.pos++;
      this.skipSP();
      const key = this.key();
      // Named twice: the last value is kept, the first not serialised.
      if (params.has(key)) this.unfaithful = true;
      let value: BareItem = true;
      if (s.charCodeAt(this.pos) === 0x3d /* = */) {
        this.pos++;
        value = this.bareItem();
      }
      params.set(key, value);
    }
    return params;
  }

  private key(): string {
    const s = this.s;
    const start = this.pos;
    if (!is(s.charCodeAt(start), KEY_START)) throw FAIL;
    let end = start + 1;
    while (is(s.charCodeAt(end), KEY)) end++;
    this.pos = end;
    return s.slice(start, end);
  }

  private bareItem(): BareItem {
    const c = this.s.charCodeAt(this.pos);
    if (c === 0x2d /* - */ || is(c, DIGIT)) return this.number();
    if (c === DQUOTE) return this.string();
    if (is(c, TOKEN_START)) return this.token();
    if (c === 0x3a /* : */) return this.byteSequence();
    if (c === 0x3f /* ? */) return this.boolean();
    if (c === 0x40 /* @ */) return this.date();
    if (c === 0x25 /* % */) return this.displayString();
    throw FAIL;
  }

  /** Integer or Decimal, with the package's length checks and arithmetic (`-0` stays -0). */
  private number(): number {
    const s = this.s;
    let sign = 1;
    if (s.charCodeAt(this.pos) === 0x2d) {
      sign = -1;
      this.pos++;
    }
    const start = this.pos;
    if (!is(s.charCodeAt(start), DIGIT)) throw FAIL;
    let dot = -1;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (is(c, DIGIT)) {
        this.pos++;
      } else if (c === 0x2e /* . */ && dot < 0) {
        if (this.pos - start > 12) throw FAIL;
        dot = this.pos++;
      } else {
        break;
      }
      if (this.pos - start > (dot < 0 ? 15 : 16)) throw FAIL;
    }
    if (dot < 0) {
      // At most 15 digits: exact in a double, the value parseInt gives.
      let value = 0;
      for (let i = start; i < this.pos; i++) value = value * 10 + (s.charCodeAt(i) - 0x30);
      return value * sign;
    }
    const fraction = this.pos - dot - 1;
    if (fraction === 0 || fraction > 3) throw FAIL;
    const value = Number.parseFloat(s.slice(start, this.pos)) * sign;
    // A number, once parsed, is serialised as an Integer when it is one: `1.0` would come back as `1`.
    if (Number.isInteger(value)) this.unfaithful = true;
    return value;
  }

  private string(): string {
    const s = this.s;
    const start = this.pos + 1;
    let i = start;
    let escaped = false;
    for (;;) {
      STRING_RUN.lastIndex = i;
      STRING_RUN.test(s);
      i = STRING_RUN.lastIndex;
      const c = s.charCodeAt(i);
      if (c === DQUOTE) break;
      if (c !== BACKSLASH) throw FAIL; // a control or non-ASCII character, or the end of the input
      do {
        const next = s.charCodeAt(i + 1);
        if (next !== DQUOTE && next !== BACKSLASH) throw FAIL;
        i += 2;
      } while (s.charCodeAt(i) === BACKSLASH);
      escaped = true;
    }
    this.pos = i + 1;
    // With escapes, the String as checked is a JSON string of the same value, which JSON.parse reads natively.
    return escaped ? (JSON.parse(s.slice(start - 1, i + 1)) as string) : s.slice(start, i);
  }

  private token(): Token {
    const s = this.s;
    const start = this.pos;
    TOKEN_RUN.lastIndex = start + 1;
    TOKEN_RUN.test(s);
    this.pos = TOKEN_RUN.lastIndex;
    return new Token(s.slice(start, this.pos));
  }

  /** The package's Byte Sequence: base64 characters and "=" up to the next colon, decoded as `atob` does. */
  private byteSequence(): Uint8Array<ArrayBuffer> {
    const s = this.s;
    const start = this.pos + 1;
    const end = s.indexOf(":", start);
    if (end < 0) throw FAIL;
    this.pos = end + 1;
    return forgivingBase64(s, start, end);
  }

  private boolean(): boolean {
    const c = this.s.charCodeAt(this.pos + 1);
    if (c !== 0x30 && c !== 0x31) throw FAIL;
    this.pos += 2;
    return c === 0x31;
  }

  /** The package's Date: digits up to the end of the input, nothing after them. */
  private date(): Date {
    const s = this.s;
    let sign = 1;
    if (s.charCodeAt(++this.pos) === 0x2d) {
      sign = -1;
      this.pos++;
    }
    const start = this.pos;
    if (start >= s.length) throw FAIL;
    for (; this.pos < s.length; this.pos++) if (!is(s.charCodeAt(this.pos), DIGIT)) throw FAIL;
    if (this.pos - start > 15) throw FAIL;
    return new Date(Number.parseInt(s.slice(start), 10) * sign * 1000);
  }

  private displayString(): DisplayString {
    const s = this.s;
    if (s.charCodeAt(this.pos + 1) !== DQUOTE) throw FAIL;
    const start = this.pos + 2;
    // Checked first: printable ASCII and "%" with two lowercase hex digits, up to the closing quote.
    let wraps = false;
    for (let i = start; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === DQUOTE) {
        this.pos = i + 1;
        // The text between the quotes is then the bytes, percent-encoded: decodeURIComponent
        // decodes them as UTF-8 and refuses what is ill-formed, as the package's TextDecoder does.
        return new DisplayString(wraps ? wrappedBytes(s, start, i) : strictUtf8(s.slice(start, i)));
      }
      if (c <= 0x1f || (c >= 0x7f && c <= 0xff)) throw FAIL;
      if (c === 0x25 /* % */) {
        if (lowerHex(s.charCodeAt(i + 1)) < 0 || lowerHex(s.charCodeAt(i + 2)) < 0) throw FAIL;
        i += 2;
      } else if (c > 0xff) {
        wraps = true;
      }
    }
    throw FAIL;
  }
}

/**
 * `new TextDecoder("utf-8", { fatal: true }).decode(bytes)`, as the package
 * decodes a Display String, of the bytes that `escaped` percent-encodes (its
 * other characters are ASCII): ill-formed UTF-8 throws FAIL and a leading
 * byte order mark is dropped. decodeURIComponent refuses exactly the
 * ill-formed sequences, and needs no ArrayBuffer, whose allocation and
 * collection cost more than the decoding.
 */
function strictUtf8(escaped: string): string {
  let text: string;
  try {
    text = decodeURIComponent(escaped);
  } catch {
    throw FAIL;
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * A Display String holding characters above 0xFF, which the package wraps to
 * a byte (through a Uint8Array): those bytes, percent-encoded, then decoded.
 */
function wrappedBytes(s: string, start: number, end: number): string {
  let escaped = "";
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 /* % */) {
      escaped += s.slice(i, i + 3);
      i += 2;
    } else {
      const b = c & 0xff;
      escaped += b < 0x10 ? `%0${b.toString(16)}` : `%${b.toString(16)}`;
    }
  }
  return strictUtf8(escaped);
}

/** The value of a lowercase hex digit; -1 for anything else. */
function lowerHex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  return c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
}

/**
 * WHATWG "forgiving-base64 decode" (what `atob` does) of `s` from `start` to
 * `end`, which holds no whitespace: one or two "=" are dropped only from a
 * length that is a multiple of 4, a remainder of 1 fails, any other "=" fails,
 * and the bits after the last whole byte are ignored.
 */
function forgivingBase64(s: string, start: number, end: number): Uint8Array<ArrayBuffer> {
  let last = end;
  if ((end - start) % 4 === 0 && s.charCodeAt(last - 1) === 0x3d) {
    last--;
    if (s.charCodeAt(last - 1) === 0x3d) last--;
  }
  const bytes = fromBase64Digits(s, start, last);
  if (bytes === null) throw FAIL;
  return bytes;
}

function attempt<T>(parse: () => T): T | null {
  try {
    return parse();
  } catch (err) {
    if (err === FAIL) return null;
    throw err;
  }
}

/**
 * Parses a Dictionary field value (RFC 9651 §4.2.2) as the package's
 * `parseDictionary` does; null where it throws. With `uniqueKeys`, also null
 * when a key is named twice (where the package keeps the last value).
 */
export function parseDictionary(value: string, uniqueKeys = false): Dictionary | null {
  return attempt(() => new Parser(value, uniqueKeys).dictionary());
}

/** A Dictionary, and the keys of its members whose parse would not serialise back to what the field says. */
export interface CheckedDictionary {
  members: Dictionary;
  /**
   * Members with a parameter named twice (the package keeps the last value)
   * or a Decimal whose value is an integer (it comes back as an Integer,
   * `1.0` as `1`). RFC 9651 allows both: the field is valid, but such a
   * member of Signature-Input cannot be verified, its `@signature-params`
   * being rebuilt by serialising the parse (RFC 9421 §3.2 step 7): else a
   * member rewritten that way (`created=1700000000.0`, a `keyid` named
   * first with another value) would keep a valid signature.
   */
  unfaithful: ReadonlySet<string>;
}

/** {@link parseDictionary} with `uniqueKeys`, and which members are unfaithful (see {@link CheckedDictionary}). */
export function parseCheckedDictionary(value: string): CheckedDictionary | null {
  const unfaithful = new Set<string>();
  const members = attempt(() => new Parser(value, true).dictionary(unfaithful));
  return members === null ? null : { members, unfaithful };
}

/** Parses a List field value (RFC 9651 §4.2.1) as the package's `parseList` does; null where it throws. */
export function parseList(value: string): List | null {
  return attempt(() => new Parser(value).list());
}

/** Parses an Item field value (RFC 9651 §4.2.3) as the package's `parseItem` does; null where it throws. */
export function parseItem(value: string): Item | null {
  return attempt(() => new Parser(value).item());
}
