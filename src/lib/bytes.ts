// Byte helpers shared by every runtime-agnostic module. No `node:` imports, no Buffer.

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes UTF-8; throws TypeError on invalid sequences (callers catch where input is untrusted). */
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}


const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Standard base64 with padding (RFC 4648 §4), as HTTP structured fields use. */
export function toBase64(b: Uint8Array): string {
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64[n >>> 18]! + B64[(n >>> 12) & 63]! + B64[(n >>> 6) & 63]! + B64[n & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    s += `${B64[n >>> 18]!}${B64[(n >>> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    s += `${B64[n >>> 18]!}${B64[(n >>> 12) & 63]!}${B64[(n >>> 6) & 63]!}=`;
  }
  return s;
}

/** Decodes standard or URL-safe base64, padded or not. Returns null on any invalid character. */
export function fromBase64(s: string): Uint8Array<ArrayBuffer> | null {
  // Padding stripped by a loop: /=+$/ would rescan a long run of "=" from every position (quadratic).
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x3d /* = */) end--;
  return fromBase64Digits(s.slice(0, end).replace(/-/g, "+").replace(/_/g, "/"));
}

/** Base64 digit values of the standard alphabet; -1 for every other character. */
const B64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_VALUE[B64.charCodeAt(i)] = i;

/**
 * The bytes of the base64 digits `s[start, end)` (standard alphabet, no
 * padding), the bits after the last whole byte ignored; null for any other
 * character or a length that leaves a single digit (4n + 1).
 */
export function fromBase64Digits(s: string, start = 0, end = s.length): Uint8Array<ArrayBuffer> | null {
  if ((end - start) % 4 === 1) return null;
  const out = new Uint8Array(((end - start) * 3) >> 2);
  let bits = 0;
  let acc = 0;
  let j = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const value = c < 128 ? B64_VALUE[c]! : -1;
    if (value < 0) return null;
    acc = ((acc << 6) | value) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = acc >>> bits;
    }
  }
  return out;
}

export function toBase64Url(b: Uint8Array): string {
  return toBase64(b).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/**
 * Compares two byte arrays in time that depends only on their lengths: every
 * byte is XORed and ORed together and the result tested once at the end.
 * JavaScript engines give no hard guarantee, but no early exit exists here.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Constant-time comparison of two strings of UTF-16 code units (same caveat as {@link equalBytes}). */
export function equalStrings(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

