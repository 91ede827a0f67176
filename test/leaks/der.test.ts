// DER → r || s conversion of ECDSA signatures (RFC 3279 §2.2.3).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { derToP1363 } from "../../src/leaks/der.js";

/** Minimal DER INTEGER of an unsigned big-endian number. */
function derInt(bytes: Uint8Array): number[] {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = [...bytes.subarray(i)];
  if (v[0]! & 0x80) v.unshift(0);
  return [0x02, v.length, ...v];
}

describe("derToP1363", () => {
  it("round-trips every r, s", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (r, s) => {
        const body = [...derInt(r), ...derInt(s)];
        const out = derToP1363(new Uint8Array([0x30, body.length, ...body]), 32);
        expect(out).toEqual(new Uint8Array([...r, ...s]));
      }),
    );
  });

  it("refuses anything else, without throwing", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const out = derToP1363(bytes, 32);
        expect(out === null || out.length === 64).toBe(true);
      }),
    );
    const one = [0x02, 0x01, 0x01];
    expect(derToP1363(new Uint8Array([0x30, 6, ...one, ...one]), 32)).not.toBeNull();
    expect(derToP1363(new Uint8Array([0x30, 7, ...one, ...one, 0]), 32)).toBeNull(); // trailing byte
    expect(derToP1363(new Uint8Array([0x30, 7, 0x02, 0x02, 0, 1, ...one]), 32)).toBeNull(); // non-minimal zero
    expect(derToP1363(new Uint8Array([0x30, 6, 0x02, 0x01, 0x81, ...one]), 32)).toBeNull(); // negative
    expect(derToP1363(new Uint8Array([0x30, 38, 0x02, 33, ...new Array(33).fill(1), ...one]), 32)).toBeNull(); // too long
  });
});
