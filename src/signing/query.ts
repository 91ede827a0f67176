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

/** The parameters of a query, by the bytes of their names. */
export class QueryIndex {
  /** Percent-decoded name bytes → the raw value, or null when the name occurs more than once. */
  readonly #values = new Map<string, string | null>();

  /** @param search - The query as `URL.search` gives it: empty, or "?" and the query (ASCII). */
  constructor(search: string) {
    if (search.length <= 1) return;
    for (const pair of search.slice(1).split("&")) {
      if (pair === "") continue;
      const eq = pair.indexOf("=");
      const name = formBytes(eq < 0 ? pair : pair.slice(0, eq));
      this.#values.set(name, this.#values.has(name) ? null : eq < 0 ? "" : pair.slice(eq + 1));
    }
  }

  /**
   * The decoded value of the parameter whose decoded name is `name`: null when
   * the name occurs more than once, undefined when it does not occur. Names
   * are compared as UTF-8 bytes, which decide equality of the decoded names
   * unless `name` holds U+FFFD (invalid bytes also decode to it): the caller
   * must then ask URLSearchParams.
   */
  get(name: string): string | null | undefined {
    const raw = this.#values.get(byteString(encoder.encode(name)));
    if (raw === undefined || raw === null) return raw;
    const bytes = formBytes(raw);
    const out = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
    return decoder.decode(out);
  }
}
