// The query parameters of a received request for `@query-param` (RFC 9421
// §2.2.8), found without decoding the whole query. §2.2.8 parses the query
// with the WHATWG "application/x-www-form-urlencoded parser"; URLSearchParams
// does that for every name and value, and its UTF-8 decoding of invalid
// percent-encoded bytes is slow: an 8 KiB query of "%FF=1" pairs cost
// milliseconds. Here, in one linear pass, each name is only hashed as the
// bytes it decodes to, without making a string; a name is percent-decoded only
// when its hash is one of the names looked for, and a value is UTF-8 decoded
// only when a covered component asks for it.

const encoder = new TextEncoder();
// "UTF-8 decode without BOM" (WHATWG Encoding), with replacement characters.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/**
 * A name or value of the query with "+" as space and "%XX" as the byte XX
 * (a "%" not followed by two hex digits stays), as a string of one character
 * per byte. The query of a serialised URL is ASCII, so its other characters
 * are bytes already.
 */
function formBytes(s: string): string {
  if (s.indexOf("%") < 0 && s.indexOf("+") < 0) return s;
  let out = "";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b /* + */) {
      out += `${s.slice(start, i)} `;
      start = i + 1;
    } else if (c === 0x25 /* % */) {
      const high = hex(s.charCodeAt(i + 1));
      const low = high < 0 ? -1 : hex(s.charCodeAt(i + 2));
      if (low >= 0) {
        out += s.slice(start, i) + String.fromCharCode(high * 16 + low);
        i += 2;
        start = i + 1;
      }
    }
  }
  return out + s.slice(start);
}

function byteString(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}

/** The parameters of a query with the given names, found in one pass. */
export class QueryIndex {
  readonly #search: string;
  /** Percent-decoded bytes of each name looked for → its raw value, null when it occurs more than once, undefined when absent. */
  readonly #values = new Map<string, string | null | undefined>();

  /**
   * @param search - The query as `URL.search` gives it: empty, or "?" and the query (ASCII).
   * @param names - The (decoded) names that will be asked for.
   */
  constructor(search: string, names: Iterable<string>) {
    this.#search = search;
    for (const name of names) this.#values.set(nameBytes(name), undefined);
    this.#scan();
  }

  /** One pass over the pairs, recording those whose name is looked for (WHATWG URL §5.1). */
  #scan(): void {
    const search = this.#search;
    const values = this.#values;
    const hashes = new Set<number>();
    for (const name of values.keys()) hashes.add(byteHash(name));
    const end = search.length;
    for (let pos = 1; pos < end; ) {
      // The name runs to the first "=" or "&"; its hash is that of the bytes it decodes to.
      let h = SEED;
      let nameEnd = pos;
      for (; nameEnd < end; nameEnd++) {
        let c = search.charCodeAt(nameEnd);
        if (c === 0x3d /* = */ || c === 0x26 /* & */) break;
        if (c === 0x2b /* + */) {
          c = 0x20;
        } else if (c === 0x25 /* % */) {
          // "=", "&" and the end are not hex digits: an escape never runs past the name.
          const high = hex(search.charCodeAt(nameEnd + 1));
          const low = high < 0 ? -1 : hex(search.charCodeAt(nameEnd + 2));
          if (low >= 0) {
            c = high * 16 + low;
            nameEnd += 2;
          }
        }
        h = mix(h, c);
      }
      // A value runs from the "=" to the next "&", found natively; a pair without one ends with its name.
      let amp = nameEnd;
      if (search.charCodeAt(nameEnd) === 0x3d) {
        amp = search.indexOf("&", nameEnd + 1);
        if (amp < 0) amp = end;
      }
      if (amp > pos && hashes.has(h)) {
        const name = formBytes(search.slice(pos, nameEnd));
        if (values.has(name)) {
          values.set(name, values.get(name) === undefined ? search.slice(Math.min(nameEnd + 1, amp), amp) : null);
        }
      }
      pos = amp + 1;
    }
  }

  /**
   * The decoded value of the parameter whose decoded name is `name`: null when
   * the name occurs more than once, undefined when it does not occur. Names
   * are compared as UTF-8 bytes, which decide equality of the decoded names
   * unless `name` holds U+FFFD (invalid bytes also decode to it): the caller
   * must not ask for such a name.
   */
  get(name: string): string | null | undefined {
    const key = nameBytes(name);
    // A name not given to the constructor costs a pass of its own.
    const raw = this.#values.has(key) ? this.#values.get(key) : new QueryIndex(this.#search, [name]).#values.get(key);
    if (raw === undefined || raw === null) return raw;
    const bytes = formBytes(raw);
    if (bytes === raw) return raw; // nothing escaped: ASCII, its own decoding
    const out = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
    return decoder.decode(out);
  }
}

// FNV-1a over bytes, kept in Smi range (a Set of small integers does not allocate), from a
// seed drawn per process: a name that is not looked for costs a string only on a collision,
// which a client cannot aim for without knowing the seed (and then costs what it did before).
const SEED = (Math.random() * 0x40000000) | 0;
function mix(h: number, byte: number): number {
  return Math.imul(h ^ byte, 0x01000193) & 0x3fffffff;
}

/** The hash of the characters of `s` (one byte each), as #scan hashes a decoded name. */
function byteHash(s: string): number {
  let h = SEED;
  for (let i = 0; i < s.length; i++) h = mix(h, s.charCodeAt(i));
  return h;
}

function nameBytes(name: string): string {
  // An ASCII name is its own UTF-8 encoding.
  return ASCII.test(name) ? name : byteString(encoder.encode(name));
}

const ASCII = /^[\x00-\x7f]*$/;
