// What an adapter must have before keyward calls it: every method of the
// required parts, and the methods of every optional part its capabilities
// declare. Checked once, at setup (`new Keyward`, `guardStore`), so an adapter
// missing one is refused there by name, not answered STORE_UNAVAILABLE on
// every request, nor trusted for a part it lacks (a change feed without
// `subscribe` would let effective-dated changes apply before every cache
// has dropped the token).
import type { StoreCapabilities, TokenStore } from "./types.js";

/** The methods of `RecordStore`, `CounterStore` and `UsageStore`: every store has them. */
const REQUIRED = ["insert", "get", "findByHash", "list", "update", "revoke", "appendAudit", "listAudit", "meter", "rememberNonce", "recordUsage", "getUsage"] as const;

/** The methods each capability announces. */
const BY_CAPABILITY: Readonly<Partial<Record<keyof StoreCapabilities, readonly (keyof TokenStore)[]>>> = {
  changeFeed: ["subscribe"],
  accounts: ["getAccount", "putAccount", "adjustCredits"],
  usageAnalytics: ["queryUsage", "lastUsed"],
  hardDelete: ["delete"],
  anomalyState: ["touchSeen"],
  billing: ["billingUsage", "claimBillingRun", "finishBillingRun"],
  idempotentCreate: ["insertOnce"],
};

/** What a `store` that is no object is told (a class given where an instance is expected, say). */
export const STORE_MESSAGE = 'must be a store object implementing TokenStore, e.g. new MemoryStore() or sqliteStore("keyward.db")';

/** Why `store` cannot be used as a {@link TokenStore}: the option path (under `store`) and the problem; null when it can. */
export function storeShapeError(store: unknown): { field: string; message: string } | null {
  if (store === null || typeof store !== "object") return { field: "store", message: STORE_MESSAGE };
  const s = store as Record<string, unknown>;
  for (const m of REQUIRED) {
    if (typeof s[m] !== "function") return { field: `store.${m}`, message: "must be a function: every store implements it (TokenStore)" };
  }
  const caps = s.capabilities as Record<string, unknown> | null | undefined;
  if (caps === null || typeof caps !== "object") return { field: "store.capabilities", message: "must be an object of readonly flags" };
  for (const [cap, methods] of Object.entries(BY_CAPABILITY)) {
    if (caps[cap] !== true) continue;
    const missing = methods.find((m) => typeof s[m] !== "function");
    if (missing !== undefined) {
      return { field: `store.capabilities.${cap}`, message: `is true but the store has no ${missing}() method: implement it, or declare ${cap}: false` };
    }
  }
  return null;
}
