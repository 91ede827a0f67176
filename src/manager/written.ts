// This instance's writes of a token's record drop its cache entries for the
// token, whatever the write's outcome: a write that failed may still have
// been stored (a store that timed out after committing, or answered
// something other than the record), and a dropped entry costs one lookup.
import { hashesOf } from "../model/record.js";
import type { StoredToken } from "../model/types.js";

/** Drops what this instance caches for a token (its id and every hash given). */
export type TokenChanged = (tokenId: string, hashes: string[]) => void;

/**
 * `write()`'s answer, after `changed(tokenId, hashes)`, which runs also
 * when the write fails. The hashes of the record the write answered
 * (`tokenOf` of the answer: a hard delete answers the deleted record with
 * its row counts) are dropped too: a write that is not a compare-and-set
 * (a revoke, a delete) applies to the record as stored, whose secrets may
 * have changed since `hashes` were read (a regeneration by another
 * instance meanwhile).
 */
export async function written<T = StoredToken>(
  changed: TokenChanged,
  tokenId: string,
  hashes: string[],
  write: () => Promise<T>,
  tokenOf: (answer: T) => StoredToken = (answer) => answer as StoredToken,
): Promise<T> {
  let saved: StoredToken | undefined;
  try {
    const answer = await write();
    saved = tokenOf(answer);
    return answer;
  } finally {
    changed(tokenId, saved === undefined ? hashes : [...new Set([...hashes, ...hashesOf(saved)])]);
  }
}
