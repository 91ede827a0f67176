/**
 * keyward/testing: the conformance suite every `TokenStore` adapter runs,
 * built-in or third-party, and builders of valid records. Requires vitest
 * (an optional peer dependency of keyward).
 *
 * @example
 * ```ts
 * import { describeTokenStore } from "keyward/testing";
 * import { MemoryStore } from "keyward";
 *
 * describeTokenStore("MemoryStore", () => new MemoryStore());
 * ```
 *
 * @module keyward/testing
 */
export {
  type DescribeTokenStoreOptions,
  describeTokenStore,
  TOKEN_STORE_TEST_GROUPS,
  type TokenStoreTestGroup,
} from "./describe-token-store.js";
export { FIXTURE_TIME, makeAuditEntry, makeStoredToken, makeTokenPolicy, randomHash, randomId } from "./fixtures.js";
