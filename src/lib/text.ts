// Text that ends up in logs, terminals and consoles: which characters keyward
// refuses in stored free text, how text is escaped on the way out, and how
// token-shaped strings are redacted from error messages.

/**
 * Characters that forge a log line or disguise text on a terminal or in a
 * console: controls (C0, DEL, C1: `Cc`), format characters (bidi overrides
 * and isolates, zero-width characters, soft hyphen, BOM, tag characters:
 * `Cf`), the line and paragraph separators U+2028 / U+2029 (`Zl`, `Zp`) and
 * lone surrogates (`Cs`: not Unicode scalar values, so not valid UTF-8).
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/**
 * What a JSON string value cannot hold to stay portable between stores:
 * PostgreSQL refuses U+0000 in `text` and `jsonb`, and a lone surrogate has
 * no UTF-8 encoding (RFC 8259 §8.2: such strings are not interoperable).
 */
const UNPORTABLE = /[\u0000\p{Cs}]/u;

/** Whether `s` holds a character that must never reach a log line or a terminal unescaped. */
export function hasUnsafeText(s: string): boolean {
  return UNSAFE.test(s);
}

/** Whether `s` holds U+0000 or a lone surrogate, which not every store can keep. */
export function hasUnportableText(s: string): boolean {
  return UNPORTABLE.test(s);
}

/**
 * Escapes, for display, every character that could forge a log line or
 * disguise text on a terminal (controls, bidi and invisible characters, line
 * separators, lone surrogates) as `\u{…}`; everything else is unchanged.
 *
 * keyward refuses these characters in the free text it stores (actor, owner,
 * name, metadata keys), but records written by earlier versions, imported
 * data, metadata string values and anything an application stores itself
 * may still hold them: print such text through this function.
 *
 * @param text any string
 * @returns the same text, safe to write to a terminal or a line-oriented log
 * @example
 * ```ts
 * import { escapeText } from "keyward";
 * escapeText("x\n2026-01-01 INFO admin login\u001b[2J"); // "x\\u{a}2026-01-01 INFO admin login\\u{1b}[2J"
 * ```
 */
export function escapeText(text: string): string {
  if (typeof text !== "string") throw new TypeError("text must be a string");
  return cleanText(text, false);
}

// keyward's token shape, whatever the prefix, case or checksum (so a token
// with a typo, cut short, or of another keyward application matches too; the
// bounded prefix keeps the scan linear), with more of its secret than a
// token's start shows (`acme_sk_live_4qT9`, 4 characters: public by design).
const TOKEN_SHAPED = /[a-z0-9]{0,16}_(?:pk|sk)_(?:live|test)_[0-9a-z]{5,}/giu;
// One pass: a token-shaped string or one unsafe character.
const TOKEN_OR_UNSAFE = new RegExp(`${TOKEN_SHAPED.source}|${UNSAFE.source}`, "giu");

/** `acme_sk_live_…` as `acme_sk_live_[redacted]`: its kind and environment, not its secret. */
const redacted = (token: string) => `${token.slice(0, token.lastIndexOf("_") + 1)}[redacted]`;

/**
 * Escapes unsafe characters as {@link escapeText} does and, with `redact`,
 * replaces everything shaped like a keyward token (all that `findTokens`
 * reports, and more; not a token's start) with its kind and environment:
 * `acme_sk_live_[redacted]`.
 */
export function cleanText(text: string, redact: boolean): string {
  return text.replace(TOKEN_OR_UNSAFE, (m) =>
    // A token match is at least 14 characters; an unsafe character is 1 or 2 UTF-16 units.
    m.length > 2 ? (redact ? redacted(m) : m) : `\\u{${m.codePointAt(0)!.toString(16)}}`,
  );
}

/** Redacts what {@link cleanText} redacts, and changes nothing else (for JSON, which escapes on its own). */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_SHAPED, redacted);
}

/** Where {@link redactTokens} redacts (`start` to `end`, in order) and what it writes there. */
export function* tokenShapedSpans(text: string): Generator<{ start: number; end: number; redacted: string }, void, undefined> {
  for (const m of text.matchAll(TOKEN_SHAPED)) yield { start: m.index, end: m.index + m[0].length, redacted: redacted(m[0]) };
}
