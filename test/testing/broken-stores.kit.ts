// Run by conformance-catches.test.ts in a vitest of its own (broken-stores.config.ts):
// the conformance suite against a correct adapter and against each broken one.
import { describeTokenStore } from "keyward/testing";
import {
  AsciiTokenIds,
  AuditAfterWrite,
  BillingIgnoresAfter,
  CreateKeyReadThenWrite,
  CreateKeysPerOwner,
  DaysFromQueryStart,
  Delegate,
  FindsByAnyKey,
  FoldedAuditTokenIds,
  FoldedCreditKeys,
  FoldedOwners,
  IgnoresCreateKeys,
  IgnoresCreditKeys,
  InstanceLockedNonces,
  Int32Credits,
  Int32UsageCredits,
  KeepsRefs,
  LazyFeed,
  LocaleOrderedList,
  NonceExpiryInSeconds,
  NonceLivesAtExpiry,
  OwnWritesCache,
  PrefixIndex,
  SharedRefs,
  ShortOwnerColumn,
  StaleMissCache,
  StaleReadCache,
  SuspensionReasonColumn,
  UpdateKeepsSchedule,
  UpdateStoresRevokedAt,
  Utf8mb3Names,
  WholeBilling,
} from "./broken-stores.js";

for (const Store of [Delegate, StaleReadCache, StaleMissCache, LazyFeed, SharedRefs, KeepsRefs, UpdateStoresRevokedAt, PrefixIndex, WholeBilling, BillingIgnoresAfter, IgnoresCreditKeys, FindsByAnyKey, NonceLivesAtExpiry, ShortOwnerColumn,
  FoldedOwners, LocaleOrderedList, Utf8mb3Names, UpdateKeepsSchedule, AuditAfterWrite, Int32Credits, Int32UsageCredits, DaysFromQueryStart,
  NonceExpiryInSeconds, FoldedCreditKeys, AsciiTokenIds, FoldedAuditTokenIds, SuspensionReasonColumn, IgnoresCreateKeys, CreateKeysPerOwner]) {
  describeTokenStore(Store.name, () => new Store(), { concurrency: 20 });
}

// Each with a peer over the same data, as a second process: the races run across the two.
describeTokenStore("Delegate with a peer", () => new Delegate(), { concurrency: 20, peer: (s) => new Delegate({ inner: (s as Delegate).inner }) });
describeTokenStore("InstanceLockedNonces", () => new InstanceLockedNonces(), { concurrency: 20 });
describeTokenStore("InstanceLockedNonces with a peer", () => new InstanceLockedNonces(), {
  concurrency: 20,
  peer: (s) => new InstanceLockedNonces(s as InstanceLockedNonces),
});
describeTokenStore("CreateKeyReadThenWrite with a peer", () => new CreateKeyReadThenWrite(), {
  concurrency: 20,
  peer: (s) => new CreateKeyReadThenWrite(s as CreateKeyReadThenWrite),
});
describeTokenStore("OwnWritesCache", () => new OwnWritesCache(), { concurrency: 20 });
describeTokenStore("OwnWritesCache with a peer", () => new OwnWritesCache(), { concurrency: 20, peer: (s) => new OwnWritesCache(s as OwnWritesCache) });
