// The README quickstart, runnable: `node examples/quickstart.ts` after `npm run build`
// resolves "keyward" to this package; the test suite runs it against src/.
import { Keyward } from "keyward";
import { sqliteStore } from "keyward/sqlite";

// Tokens live in keyward.db (node:sqlite, WAL): they survive a restart.
const kw = new Keyward({ store: sqliteStore("keyward.db"), prefix: "acme" });

// Admin side: issue a secret token for an account. The token is shown once.
const { token, record } = await kw.tokens.create({
  owner: "acct_1",
  kind: "secret",
  name: "backend",
  scopes: ["core:read", "datasets/prices:read"],
  rateLimit: { limit: 100, windowMs: 1_000 },
});
console.log("issued", record.id, record.start);

// Later: narrow it, then rotate it with a one-hour grace for the old secret.
await kw.tokens.update(record.id, { scopes: ["core:read"] });
const rotated = await kw.tokens.regenerate(record.id, { graceMs: 3_600_000 });
console.log("rotated; old secret valid until", new Date(rotated.record.graceUntil ?? 0).toISOString());

// Every admin action is audited (never with a secret).
const audit = await kw.tokens.audit({ tokenId: record.id });
console.log("audit:", audit.items.map((e) => e.action).join(", "));

// Revoke it for good.
await kw.tokens.revoke(record.id);
console.log("revoked", (await kw.tokens.get(record.id))?.revokedAt !== null);

export { token };
