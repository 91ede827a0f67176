// The documented input interfaces (src/model/inputs.ts) and the zod schemas
// that parse them must agree field for field: checked by `tsc` (npm run lint).
import { describe, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type {
  CreateTokenInput,
  createTokenSchema,
  ImportTokenInput,
  importTokenSchema,
  UpdateTokenInput,
  updateTokenSchema,
} from "keyward";

describe("token input types", () => {
  it("are exactly what the schemas accept", () => {
    expectTypeOf<CreateTokenInput>().toEqualTypeOf<z.input<typeof createTokenSchema>>();
    expectTypeOf<ImportTokenInput>().toEqualTypeOf<z.input<typeof importTokenSchema>>();
    expectTypeOf<UpdateTokenInput>().toEqualTypeOf<z.input<typeof updateTokenSchema>>();
  });

  it("take a time as epoch ms, a Date or an ISO string", () => {
    expectTypeOf<{ owner: "o"; kind: "secret"; expiresAt: "2027-01-01T00:00:00Z" }>().toExtend<CreateTokenInput>();
    expectTypeOf<{ expiresAt: Date }>().toExtend<UpdateTokenInput>();
    // @ts-expect-error: owner and kind never change
    expectTypeOf<{ owner: string }>().toExtend<UpdateTokenInput>();
  });
});
