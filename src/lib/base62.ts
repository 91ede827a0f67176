// Base62 (0-9A-Za-z) for token bodies and ids.
import type { RandomSource } from "./crypto.js";

export const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Uniform random base62 string of `length` characters by rejection sampling (no modulo bias). */
export function randomBase62(length: number, random: RandomSource): string {
  let out = "";
  while (out.length < length) {
    // 62 * 4 = 248: bytes >= 248 are rejected so that `b % 62` is uniform.
    const buf = random(Math.ceil((length - out.length) * 1.1) + 4);
    for (let i = 0; i < buf.length && out.length < length; i++) {
      const b = buf[i]!;
      if (b < 248) out += BASE62[b % 62];
    }
  }
  return out;
}

/** Fixed-width base62 encoding of an unsigned 32-bit integer (6 characters: 62^6 > 2^32). */
export function uint32ToBase62(n: number): string {
  let s = "";
  let v = n >>> 0;
  for (let i = 0; i < 6; i++) {
    s = BASE62[v % 62] + s;
    v = Math.floor(v / 62);
  }
  return s;
}
