import { describe, expect, it } from "vitest";
import { RevisionConflictError, TokenNotFoundError, TokenRevokedError } from "../../../src/errors.js";
import { revokedRecord, updatedRecord } from "../../../src/store/kit/records.js";
import { makeStoredToken } from "../../../src/testing/fixtures.js";

describe("record rules", () => {
  it("update: not found, then conflict, then revoked; the stored revokedAt is kept and the input not shared", () => {
    const cur = makeStoredToken({ revision: 3 });
    expect(() => updatedRecord(null, cur, 3)).toThrow(TokenNotFoundError);
    expect(() => updatedRecord(cur, cur, 2)).toThrow(RevisionConflictError);
    expect(() => updatedRecord({ ...cur, revokedAt: 5 }, cur, 3)).toThrow(TokenRevokedError);
    const next = { ...cur, name: "renamed", revokedAt: 99 };
    const n = updatedRecord(cur, next, 3);
    expect(n).toMatchObject({ name: "renamed", revision: 4, revokedAt: null });
    n.policy.scopes.push("x");
    expect(next.policy.scopes).not.toContain("x");
  });

  it("revoke: the first times are kept, the revision always moves", () => {
    const cur = makeStoredToken({ revision: 1 });
    expect(() => revokedRecord(undefined, "tok_x", 1)).toThrow(TokenNotFoundError);
    const once = revokedRecord(cur, cur.id, 10);
    expect(once).toMatchObject({ revokedAt: 10, updatedAt: 10, revision: 2 });
    expect(revokedRecord(once, cur.id, 20)).toMatchObject({ revokedAt: 10, updatedAt: 10, revision: 3 });
  });
});
