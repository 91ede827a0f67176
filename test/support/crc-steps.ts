// The real CRC-32 of src/lib/crc32.ts, counting its steps (one per character
// it reads): the work findTokens does. A test file mocks the module with it:
//
//   vi.mock("../../src/lib/crc32.js", async (real) => countingCrc32(await real()));
import type * as Crc32 from "../../src/lib/crc32.js";

/** Steps counted since the test last set `steps` to 0. */
export const crc = { steps: 0 };

export function countingCrc32(real: typeof Crc32): typeof Crc32 {
  return {
    ...real,
    crc32Ascii: (s: string, end = s.length) => {
      crc.steps += end;
      return real.crc32Ascii(s, end);
    },
    crc32Unappend: (c: number, s: string, from: number, to: number) => {
      crc.steps += to - from;
      return real.crc32Unappend(c, s, from, to);
    },
  };
}
