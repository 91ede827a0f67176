// Cheap structure checks of Signature-Input and Signature (RFC 9421 §4.1,
// §4.2) before any structured-field parser sees them: one pass, no
// allocation, so that oversized or hostile values are refused for the price
// of reading them once.

const HTAB = 0x09;
const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;

/**
 * Why a Signature-Input or Signature field value is refused without parsing,
 * or null when it may be parsed. A Dictionary (RFC 9651 §3.2) is ASCII:
 * printable characters, with HTAB as optional whitespace, so anything else is
 * malformed. Its members are separated by top-level commas (outside Strings
 * and Display Strings), the items of an Inner List by spaces, and parameters
 * start with a semicolon: more than `maxMembers` members, more than
 * `maxItems` items in one Inner List, or more than `maxParams` parameters in
 * one member (those of the member and of its items together) exceed the
 * limits. For a value the parser accepts, the counts are exact.
 */
export function shapeFailure(
  value: string,
  maxMembers: number,
  maxItems: number,
  maxParams: number,
): "SIGNATURE_MALFORMED" | "LIMIT_EXCEEDED" | null {
  let members = 1;
  let items = 0;
  let params = 0;
  let inList = false;
  let atItem = false;
  let quoted = false;
  let display = false; // in a Display String (%"…"), where a backslash is a character, not an escape
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < SP && c !== HTAB) || c > 0x7e) return "SIGNATURE_MALFORMED";
    if (quoted) {
      if (c === BACKSLASH && !display) i++;
      else if (c === DQUOTE) quoted = false;
      continue;
    }
    if (c === 0x3b /* ; */) {
      if (++params > maxParams) return "LIMIT_EXCEEDED";
      // Spaces may follow the semicolon: they do not start an item.
      while (value.charCodeAt(i + 1) === SP) i++;
      continue;
    }
    if (c === DQUOTE) {
      quoted = true;
      display = value.charCodeAt(i - 1) === PERCENT;
    }
    if (!inList) {
      if (c === 0x2c /* , */) {
        if (++members > maxMembers) return "LIMIT_EXCEEDED";
        params = 0;
      }
      if (c === 0x28 /* ( */) {
        inList = true;
        atItem = true;
        items = 0;
      }
    } else if (c === 0x29 /* ) */) {
      inList = false;
    } else if (c === SP) {
      atItem = true;
    } else if (atItem) {
      atItem = false;
      if (++items > maxItems) return "LIMIT_EXCEEDED";
    }
  }
  return null;
}
