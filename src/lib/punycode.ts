// Punycode decoding (RFC 3492), for reading back an IDN label that the URL
// parser encoded: runtime-agnostic code has no `node:url` `domainToUnicode`.

const BASE = 36;
const T_MIN = 1;
const T_MAX = 26;
const SKEW = 38;
const DAMP = 700;
const INITIAL_BIAS = 72;
const INITIAL_N = 128;
/** Longest label decoded: a DNS label is at most 63 octets (RFC 1035 §2.3.4). */
const MAX_INPUT = 63;

/** RFC 3492 §6.1. */
function adapt(delta: number, points: number, first: boolean): number {
  let d = first ? Math.floor(delta / DAMP) : delta >> 1;
  d += Math.floor(d / points);
  let k = 0;
  while (d > ((BASE - T_MIN) * T_MAX) >> 1) {
    d = Math.floor(d / (BASE - T_MIN));
    k += BASE;
  }
  return k + Math.floor(((BASE - T_MIN + 1) * d) / (d + SKEW));
}

/** A basic code point's digit value (RFC 3492 §5: a–z, A–Z 0–25, 0–9 26–35), or -1. */
function digit(c: number): number {
  if (c >= 48 && c <= 57) return c - 22;
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 97;
  return -1;
}

/**
 * Decodes the Punycode of one label, without its `xn--` prefix (RFC 3492
 * §6.2). Linear in the (capped) input apart from the insertions.
 *
 * @param input the encoded part of an `xn--` label
 * @returns the Unicode label, or null when `input` is not valid Punycode or is longer than a DNS label
 */
export function decodePunycode(input: string): string | null {
  if (input.length > MAX_INPUT) return null;
  const output: number[] = [];
  const b = input.lastIndexOf("-");
  for (let j = 0; j < Math.max(b, 0); j++) {
    const c = input.charCodeAt(j);
    if (c >= 0x80) return null;
    output.push(c);
  }
  let n = INITIAL_N;
  let bias = INITIAL_BIAS;
  let i = 0;
  for (let pos = b > 0 ? b + 1 : 0; pos < input.length; ) {
    const old = i;
    let w = 1;
    for (let k = BASE; ; k += BASE) {
      if (pos >= input.length) return null;
      const d = digit(input.charCodeAt(pos++));
      if (d < 0) return null;
      i += d * w;
      if (i > 0x10ffff * (output.length + 1)) return null;
      const t = k <= bias ? T_MIN : k >= bias + T_MAX ? T_MAX : k - bias;
      if (d < t) break;
      w *= BASE - t;
    }
    bias = adapt(i - old, output.length + 1, old === 0);
    n += Math.floor(i / (output.length + 1));
    i %= output.length + 1;
    if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return null;
    output.splice(i++, 0, n);
  }
  return String.fromCodePoint(...output);
}
