// Strings in PostgreSQL key columns. A TEXT value cannot hold a NUL
// character, the driver turns a lone surrogate into U+FFFD, and a B-tree
// index entry is limited to about 2 700 bytes; MemoryStore accepts all three
// in an owner or a nonce. So key columns hold an injective encoding of the
// string: a backslash, NUL and lone surrogates escaped, and a value longer
// than KEY_MAX characters replaced by its SHA-256. The record itself is JSON
// text, where JSON.stringify already escapes all of these.
import { sha256Hex } from "../lib/crypto.js";

/** Longest encoded key kept as it is (characters; at most 4 bytes each stays under the index limit). */
const KEY_MAX = 512;
// Backslash, NUL, and UTF-16 surrogates that are not part of a pair.
const SPECIAL = /[\\\u0000]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The value stored in a key column for `s`: equal keys for equal strings
 * only (up to SHA-256 collisions), valid UTF-8 without NUL, short enough for
 * an index. Escapes start with a backslash; a long value becomes `\h` and a
 * hash, which no escaped string can start with.
 */
export function pgKey(s: string): string {
  return pgKeyText(s).key;
}

/**
 * {@link pgKey} of `s`, and the text it stands for: `s` escaped (valid as
 * TEXT; {@link fromPgKey} reads it back), the key itself unless it is a hash.
 */
export function pgKeyText(s: string): { key: string; text: string } {
  const text = s.replace(SPECIAL, (c) => (c === "\\" ? "\\\\" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
  return { key: text.length <= KEY_MAX ? text : `\\h${sha256Hex(text)}`, text };
}

/**
 * The string whose key is `key` ({@link pgKey}'s inverse), for key columns
 * read back, or whose text is `key` ({@link pgKeyText}); a hashed key (`\\h…`,
 * from a string too long to keep) is returned as it is: where the string must
 * be given back (a billing sum's owner), its text is kept in `long_keys`.
 */
export function fromPgKey(key: string): string {
  if (!key.includes("\\") || key.startsWith("\\h")) return key;
  return key.replace(/\\(\\|u([0-9a-f]{4}))/g, (_, e: string, hex: string | undefined) => (hex === undefined ? e : String.fromCharCode(Number.parseInt(hex, 16))));
}
