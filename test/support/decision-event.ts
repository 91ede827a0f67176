// A decision event as the anomaly detector is given one: an allowed request of tok_a (acct_1) at T0.
import type { DecisionEvent } from "../../src/monitor/events.js";

/** The instant the anomaly tests start at. */
export const T0 = Date.UTC(2026, 0, 10);

/** An allowed request of tok_a at T0, with `over` in place of its fields. */
export const ev = (over: Partial<DecisionEvent>): DecisionEvent => ({
  at: T0,
  tokenId: "tok_a",
  owner: "acct_1",
  ok: true,
  code: "OK",
  status: 200,
  scope: null,
  cost: 0,
  ip: null,
  origin: null,
  signed: false,
  pool: null,
  ...over,
});
