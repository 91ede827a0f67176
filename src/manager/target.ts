// What a read names: one token's records or one owner's (`kw.usage`, the audit log).
import { InvalidInputError } from "../errors.js";
import { ACCOUNT_AUDIT_TARGET } from "../model/account.js";
import { ownerQuerySchema, parseInput } from "../model/schemas.js";

/** One token (its id, or `{ tokenId }`) or one owner (`{ owner }`). */
export type TokenOrOwner = string | { tokenId: string } | { owner: string };

/**
 * The token or owner a read names, checked: one of the two fields and no
 * other. `{ ownr }`, or `{ owner, tokenId }` (read as one of them), would
 * answer other than what was asked: a tenant's read scoped by both would be
 * handed any token's records.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` naming `field` (the shape), `owner` or `tokenId`
 */
export function parseTokenOrOwner(target: TokenOrOwner, field: string): { tokenId: string } | { owner: string } {
  if (typeof target === "string") target = { tokenId: target };
  const keys = typeof target === "object" && target !== null ? Object.keys(target) : [];
  if (keys.length !== 1 || (keys[0] !== "tokenId" && keys[0] !== "owner")) {
    throw new InvalidInputError(field, "must be a token id, { tokenId } or { owner }");
  }
  if ("owner" in target) return { owner: parseInput(ownerQuerySchema, target.owner, "owner") };
  const id = (target as { tokenId?: unknown }).tokenId;
  // Not "*" either: the audit log files an account's entries under it, and read
  // as a token it would hand over every account's entries, whatever the owner.
  if (typeof id !== "string" || id.length === 0 || id.length > 64 || id === ACCOUNT_AUDIT_TARGET) {
    throw new InvalidInputError("tokenId", "must be a token id");
  }
  return { tokenId: id };
}
