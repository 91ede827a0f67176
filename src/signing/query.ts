// The query parameters of a received request for `@query-param` (RFC 9421
// §2.2.8), found without decoding the whole query. §2.2.8 parses the query
// with the WHATWG "application/x-www-form-urlencoded parser"; URLSearchParams
// does that for every name and value, and its UTF-8 decoding of invalid
// percent-encoded bytes is slow: an 8 KiB query of "%FF=1" pairs cost
// milliseconds. Here, in one linear pass, each name is only percent-decoded to
// bytes, and a value is UTF-8 decoded only when a covered component asks for it.

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
    const end = search.length;
    // The next "=" at or after pos, found again only once passed: linear even without any "=".
    let equals = -1;
    for (let pos = 1; pos < end; ) {
      let amp = search.indexOf("&", pos);
      if (amp < 0) amp = end;
      if (equals < pos) {
        equals = search.indexOf("=", pos);
        if (equals < 0) equals = end;
      }
      if (amp > pos) {
        const nameEnd = Math.min(equals, amp);
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

function nameBytes(name: string): string {
  // An ASCII name is its own UTF-8 encoding.
  return ASCII.test(name) ? name : byteString(encoder.encode(name));
}

const ASCII = /^[\x00-\x7f]*$/;
