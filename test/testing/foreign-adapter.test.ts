// The conformance suite against an adapter written as a third party would write it, from
// docs/stores.md and what `keyward` exports only: asynchronous, each call a round trip,
// writes serialised by a lock held across them (test/support/latent-store.ts).
import { describeTokenStore } from "keyward/testing";
import { LatentStore } from "../support/latent-store.js";

describeTokenStore("LatentStore (asynchronous, records, counters and usage only)", () => new LatentStore(), {
  raw: (store) => (store as LatentStore).dump(),
  concurrency: 200,
});
describeTokenStore("LatentStore (1 ms a round trip)", () => new LatentStore({ latencyMs: 1 }), {
  raw: (store) => (store as LatentStore).dump(),
  concurrency: 20,
});
