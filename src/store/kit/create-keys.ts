// The idempotency keys of token creation (IdempotentCreateStore.insertOnce):
// what a store keeps with a key, and what it answers when it finds one.
import { IdempotencyKeyReusedError } from "../../errors.js";
import type { CreateKey } from "../types.js";

/**
 * The one text a store keys a {@link CreateKey} by, for the token's `owner`:
 * JSON of the three strings, so no two triples meet (whatever they hold)
 * and the text is valid UTF-8 without NUL.
 */
export function createKeyText(owner: string, key: CreateKey): string {
  return JSON.stringify([owner, key.actor, key.key]);
}

/**
 * What a store answers for a key it found (`found`, read in the transaction
 * that would insert; null or undefined when absent): the token id created
 * under it when it is kept (`expiresAt` > `now`) for this very request,
 * which the store then answers with `replayed: true`, writing nothing; null
 * when absent or expired: the store inserts, and keeps the key.
 *
 * @throws {IdempotencyKeyReusedError} `IDEMPOTENCY_KEY_REUSED` when it is kept for another request
 */
export function createKeyReplayed(found: { request: string; tokenId: string; expiresAt: number } | null | undefined, key: CreateKey, now: number): string | null {
  if (!found || found.expiresAt <= now) return null;
  if (found.request !== key.request) throw new IdempotencyKeyReusedError();
  return found.tokenId;
}
