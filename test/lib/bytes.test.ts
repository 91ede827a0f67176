import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64, toBase64, toBase64Url } from "../../src/lib/bytes.js";
import { cpuClock } from "../support/cpu.js";

describe("base64 (lib/bytes)", () => {
  it("fromBase64 reads what toBase64 and toBase64Url write, padded or not, and what Buffer writes (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        for (const text of [toBase64(bytes), toBase64Url(bytes), toBase64(bytes).replace(/=+$/, ""), Buffer.from(bytes).toString("base64url")]) {
          expect([...fromBase64(text)!]).toEqual([...bytes]);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("fromBase64 refuses any other character, and a length that leaves a single digit", () => {
    for (const bad of ["A", "AAAAA", "AA AA", "AA.A", "AA=A", "=A", "é"]) expect(fromBase64(bad), bad).toBeNull();
  });

  it("a long run of '=' before another character is refused in linear time (the leak receiver reads this header unauthenticated)", () => {
    // Stripping the padding with /=+$/ rescanned the run from every position: 16 000 of them took
    // 165 ms, 200 000 would take minutes. Linear, this is a few milliseconds; the bound leaves
    // two orders of magnitude for a slow host.
    const cpu = cpuClock();
    expect(fromBase64(`${"=".repeat(200_000)}x`)).toBeNull();
    expect(fromBase64(`AAAA${"=".repeat(200_000)}`)).toEqual(new Uint8Array([0, 0, 0]));
    expect(cpu()).toBeLessThan(2000);
  });
});
