// The record rules of `update` and `revoke`, the same in every store: the
// store reads the current record and writes what these return, atomically.
import { RevisionConflictError, TokenNotFoundError, TokenRevokedError } from "../../errors.js";
import type { AuditEntry, StoredToken } from "../../model/types.js";

/**
 * The record a compare-and-set update stores: `next` with revision
 * `expectedRevision + 1` and the stored `revokedAt` (revocation is final).
 *
 * @throws {TokenNotFoundError} without a current record
 * @throws {RevisionConflictError} when the stored revision differs
 * @throws {TokenRevokedError} when the token is revoked
 */
export function updatedRecord(cur: StoredToken | null | undefined, next: StoredToken, expectedRevision: number): StoredToken {
  if (!cur) throw new TokenNotFoundError(next.id);
  if (cur.revision !== expectedRevision) throw new RevisionConflictError(next.id, expectedRevision);
  if (cur.revokedAt !== null) throw new TokenRevokedError(next.id);
  return { ...structuredClone(next), revision: expectedRevision + 1, revokedAt: cur.revokedAt };
}

/**
 * The record a revoke stores: `revokedAt` and `updatedAt` set to `at` on the
 * first revoke only (a second keeps the first times); the revision always moves.
 *
 * @throws {TokenNotFoundError} without a current record
 */
export function revokedRecord(cur: StoredToken | null | undefined, id: string, at: number): StoredToken {
  if (!cur) throw new TokenNotFoundError(id);
  const first = cur.revokedAt === null;
  return {
    ...cur,
    revokedAt: first ? at : cur.revokedAt,
    updatedAt: first ? at : cur.updatedAt,
    revision: cur.revision + 1,
  };
}

/**
 * The audit entry a revoke appends: the one given, by the revoke that
 * revokes the token only. A second revoke (concurrent ones included: the
 * store reads `cur` in the revoke's transaction) appends none.
 */
export function revokeAudit(cur: StoredToken | null | undefined, audit: AuditEntry | undefined): AuditEntry | undefined {
  return cur?.revokedAt === null ? audit : undefined;
}
