// An adapter is refused at setup when it lacks a method of the contract, or
// of a part its capabilities declare: by name, with a coded error from `new Keyward`.
import { Keyward, MemoryStore, type TokenStore } from "keyward";
import { describe, expect, it } from "vitest";
import { guardStore } from "../../src/store/guard.js";

/** A MemoryStore seen through its methods alone, with `capabilities` replaced and `drop` removed. */
function adapter(capabilities: object, drop: string[] = []): TokenStore {
  const m = new MemoryStore();
  const s: Record<string, unknown> = { capabilities };
  for (const k of [...Object.getOwnPropertyNames(MemoryStore.prototype), ...Object.keys(m)]) {
    const v = (m as unknown as Record<string, unknown>)[k];
    if (k !== "constructor" && typeof v === "function" && !drop.includes(k)) s[k] = v.bind(m);
  }
  return s as unknown as TokenStore;
}

const cases: [string, TokenStore, string][] = [
  ["no meter", adapter({ changeFeed: false }, ["meter"]), "store.meter"],
  ["no recordUsage", adapter({ changeFeed: false }, ["recordUsage"]), "store.recordUsage"],
  ["no capabilities", adapter(undefined as never), "store.capabilities"],
  ["a change feed without subscribe", adapter({ changeFeed: true }, ["subscribe"]), "store.capabilities.changeFeed"],
  ["accounts without adjustCredits", adapter({ changeFeed: false, accounts: true }, ["adjustCredits"]), "store.capabilities.accounts"],
  ["analytics without lastUsed", adapter({ changeFeed: false, usageAnalytics: true }, ["lastUsed"]), "store.capabilities.usageAnalytics"],
  ["hard delete without delete", adapter({ changeFeed: false, hardDelete: true }, ["delete"]), "store.capabilities.hardDelete"],
  ["anomaly state without touchSeen", adapter({ changeFeed: false, anomalyState: true }, ["touchSeen"]), "store.capabilities.anomalyState"],
  ["billing without claimBillingRun", adapter({ changeFeed: false, billing: true }, ["claimBillingRun"]), "store.capabilities.billing"],
];

describe("a store's shape, checked at setup", () => {
  it.each(cases)("%s: new Keyward throws INVALID_CONFIG naming it, guardStore a TypeError", (_, store, field) => {
    expect(() => new Keyward({ store, prefix: "acme" })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field }));
    expect(() => guardStore(store)).toThrow(TypeError);
    expect(() => guardStore(store)).toThrow(field);
  });

  it("accepts every method of the required parts with no optional one, and a part present but not declared", async () => {
    const kw = new Keyward({ store: adapter({ changeFeed: false }, ["subscribe", "getAccount", "putAccount", "adjustCredits", "delete"]), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    expect((await kw.check({ token })).ok).toBe(true);
    expect(() => new Keyward({ store: adapter({ changeFeed: false }), prefix: "acme" })).not.toThrow();
    expect(() => new Keyward({ store: adapter({ changeFeed: true, accounts: true, usageAnalytics: true, hardDelete: true, anomalyState: true, billing: true }), prefix: "acme" })).not.toThrow();
  });
});
