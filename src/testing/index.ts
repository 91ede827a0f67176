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
export { accountsGroup } from "./groups/accounts.js";
export { anomalyStateGroup } from "./groups/anomaly-state.js";
export { auditGroup } from "./groups/audit.js";
export { billingGroup } from "./groups/billing.js";
export { changeFeedGroup } from "./groups/change-feed.js";
export { creditsGroup } from "./groups/credits.js";
export { deleteGroup } from "./groups/delete.js";
export { findByHashGroup } from "./groups/find-by-hash.js";
export { getGroup } from "./groups/get.js";
export { idempotentCreateGroup } from "./groups/idempotent-create.js";
export { insertGroup } from "./groups/insert.js";
export { listGroup } from "./groups/list.js";
export { meterGroup } from "./groups/meter.js";
export { noncesGroup } from "./groups/nonces.js";
export { poolsGroup } from "./groups/pools.js";
export { racesGroup } from "./groups/races.js";
export { rateLimitGroup } from "./groups/rate-limit.js";
export { rawGroup } from "./groups/raw.js";
export { revokeGroup } from "./groups/revoke.js";
export { updateGroup } from "./groups/update.js";
export { usageGroup } from "./groups/usage.js";
export { usageAnalyticsGroup } from "./groups/usage-analytics.js";
export type { SuiteContext } from "./suite.js";
export { FIXTURE_TIME, makeAuditEntry, makeStoredToken, makeTokenPolicy, randomHash, randomId } from "./fixtures.js";
