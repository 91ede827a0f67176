// The admin API's answer schemas (src/admin/schemas.ts), from which its
// OpenAPI document is generated, must describe the types the handler answers
// with, field for field: checked by `tsc` (npm run lint), so a field added to
// a record or an action added to the audit log cannot be left out of the document.

import type { AccountAction, AuditEntry, Member, Role, TokenRecord, UsageBucket } from "keyward";
import { describe, expectTypeOf, it } from "vitest";
import type * as z from "zod/mini";
import type {
  auditEntrySchema,
  consoleConfigSchema,
  deletedTokenSchema,
  membersSchema,
  tokenRecordSchema,
  usageSchema,
} from "../../src/admin/schemas.js";
import type { DeletedToken } from "../../src/store/types.js";

type Out<S extends z.ZodMiniType> = z.output<S>;

describe("admin answer schemas", () => {
  it("describe exactly the records, audit entries, members and usage the handler answers", () => {
    expectTypeOf<Out<typeof tokenRecordSchema>>().toEqualTypeOf<TokenRecord>();
    // Members are never shown the operator's reason for a suspension.
    expectTypeOf<Out<typeof auditEntrySchema>>().toEqualTypeOf<Omit<AuditEntry, "reason">>();
    expectTypeOf<Out<typeof membersSchema>>().toEqualTypeOf<{ members: Member[] }>();
    expectTypeOf<Out<typeof usageSchema>["buckets"][number]>().toEqualTypeOf<UsageBucket>();
    expectTypeOf<Out<typeof deletedTokenSchema>["removed"]>().toEqualTypeOf<DeletedToken["removed"]>();
    expectTypeOf<Out<typeof consoleConfigSchema>["role"]>().toEqualTypeOf<Role>();
    expectTypeOf<Out<typeof consoleConfigSchema>["actions"]>().toEqualTypeOf<AccountAction[]>();
  });
});
