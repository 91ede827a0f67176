// Run by conformance-catches.test.ts in a vitest of its own (broken-stores.config.ts):
// the conformance suite against a correct adapter and against each broken one.
import { describeTokenStore } from "keyward/testing";
import {
  BillingIgnoresAfter,
  Delegate,
  FindsByAnyKey,
  IgnoresCreditKeys,
  KeepsRefs,
  LazyFeed,
  NonceLivesAtExpiry,
  PrefixIndex,
  SharedRefs,
  ShortOwnerColumn,
  StaleMissCache,
  StaleReadCache,
  UpdateStoresRevokedAt,
  WholeBilling,
} from "./broken-stores.js";

for (const Store of [Delegate, StaleReadCache, StaleMissCache, LazyFeed, SharedRefs, KeepsRefs, UpdateStoresRevokedAt, PrefixIndex, WholeBilling, BillingIgnoresAfter, IgnoresCreditKeys, FindsByAnyKey, NonceLivesAtExpiry, ShortOwnerColumn]) {
  describeTokenStore(Store.name, () => new Store(), { concurrency: 20 });
}
