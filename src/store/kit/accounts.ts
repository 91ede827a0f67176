// The account record rule every store shares: compare-and-set on the revision.
import { RevisionConflictError } from "../../errors.js";
import type { StoredAccount } from "../../model/account.js";

/**
 * What a store writes for {@link AccountStore.putAccount}: `next` at revision
 * `expectedRevision + 1`, the creation time kept from `current`.
 *
 * @throws {RevisionConflictError} `REVISION_CONFLICT` when `current`'s revision (0 when absent) is not `expectedRevision`
 */
export function putAccountRecord(current: StoredAccount | null, next: StoredAccount, expectedRevision: number): StoredAccount {
  if ((current?.revision ?? 0) !== expectedRevision) throw new RevisionConflictError(next.owner, expectedRevision);
  const n = structuredClone(next);
  n.revision = expectedRevision + 1;
  if (current) n.createdAt = current.createdAt;
  return n;
}
