// Builders of valid records for store tests: random ids and hashes from
// crypto.getRandomValues, every other field a plain default.
import { toHex } from "../lib/bytes.js";
import { secureRandom as randomBytes } from "../lib/crypto.js";
import type { AuditEntry, StoredToken, TokenPolicy } from "../model/types.js";

/**
 * A random 64-character lowercase hex string, shaped like the SHA-256 of a token.
 *
 * @returns a fresh hash, unique with overwhelming probability.
 * @example
 * ```ts
 * const hash = randomHash(); // "3f1c…" (64 hex characters)
 * ```
 */
export function randomHash(): string {
  return toHex(randomBytes(32));
}

/**
 * A random id: `prefix` + `_` + 24 lowercase hex characters.
 *
 * @param prefix - e.g. `tok`, `acct`, `aud`.
 * @returns a fresh id.
 * @example
 * ```ts
 * const owner = randomId("acct"); // "acct_9b2e…"
 * ```
 */
export function randomId(prefix: string): string {
  return `${prefix}_${toHex(randomBytes(12))}`;
}

/** A fixed, day-aligned instant (2025-01-01T00:00:00Z) fixtures use as their default time. */
export const FIXTURE_TIME = Date.UTC(2025, 0, 1);

/**
 * A valid {@link TokenPolicy}: `core:read`, no restrictions, no limits.
 *
 * @param overrides - fields to replace.
 * @returns a new policy object.
 * @example
 * ```ts
 * const policy = makeTokenPolicy({ credits: { limit: 100, refill: null } });
 * ```
 */
export function makeTokenPolicy(overrides: Partial<TokenPolicy> = {}): TokenPolicy {
  return {
    scopes: ["core:read"],
    domains: [],
    ips: [],
    credits: null,
    rateLimit: null,
    expiresAt: null,
    requireSignedRequests: false,
    ...overrides,
  };
}

/**
 * A valid {@link StoredToken} with a random id (`tok_…`), hash and owner
 * (`acct_…`), revision 1, created at {@link FIXTURE_TIME}.
 *
 * @param overrides - fields to replace (shallow).
 * @returns a new record, sharing nothing with other calls.
 * @example
 * ```ts
 * const t = makeStoredToken({ owner: "acct_1", createdAt: Date.UTC(2025, 0, 2) });
 * await store.insert(t);
 * ```
 */
export function makeStoredToken(overrides: Partial<StoredToken> = {}): StoredToken {
  const hash = overrides.hash ?? randomHash();
  const base: StoredToken = {
    id: randomId("tok"),
    hash,
    start: "test_sk_test_4qT9",
    kind: "secret",
    env: "test",
    owner: randomId("acct"),
    name: "fixture",
    metadata: {},
    policy: makeTokenPolicy(),
    scheduled: [],
    signing: null,
    previous: [],
    createdAt: FIXTURE_TIME,
    updatedAt: overrides.createdAt ?? FIXTURE_TIME,
    revokedAt: null,
    revision: 1,
  };
  return structuredClone({ ...base, ...overrides });
}

/**
 * A valid {@link AuditEntry} (`update` by `"system"`) with a random id, token and owner.
 *
 * @param overrides - fields to replace (shallow).
 * @returns a new entry.
 * @example
 * ```ts
 * await store.appendAudit(makeAuditEntry({ tokenId: t.id, owner: t.owner, at: Date.now() }));
 * ```
 */
export function makeAuditEntry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return structuredClone({
    id: randomId("aud"),
    at: FIXTURE_TIME,
    actor: "system",
    action: "update",
    tokenId: randomId("tok"),
    owner: randomId("acct"),
    changes: ["name"],
    ...overrides,
  });
}
