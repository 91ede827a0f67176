// This instance's writes of a token's record drop its cache entries for the
// token, whatever the write's outcome: a write that failed may still have
// been stored (a store that timed out after committing, or answered
// something other than the record), and a dropped entry costs one lookup.

/** Drops what this instance caches for a token (its id and every hash given). */
export type TokenChanged = (tokenId: string, hashes: string[]) => void;

/**
 * `write()`'s answer, after `changed(tokenId, hashes)`, which runs also
 * when the write fails.
 */
export async function written<T>(changed: TokenChanged, tokenId: string, hashes: string[], write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } finally {
    changed(tokenId, hashes);
  }
}
