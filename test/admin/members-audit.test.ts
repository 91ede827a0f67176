// The `members` audit entries of keyward/admin's member changes: which member
// and which role are fields of their own, never read out of the change's
// text, so a member id holding the text's separators ("=", "remove ") names
// one change only. Entries written before those fields are still answered.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditPageSchema } from "../../src/admin/schemas.js";
import type { AuditEntry } from "../../src/index.js";
import { makeAuditEntry } from "../../src/testing/fixtures.js";
import { type AdminServer, startAdminServer } from "./server.js";

let srv: AdminServer;
let session: string;
const OWNER = "acct_members";

const api = (path: string, init: { method?: string; json?: unknown } = {}) =>
  fetch(`${srv.url}${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${session}`, ...(init.json !== undefined && { "content-type": "application/json" }) },
    body: init.json === undefined ? null : JSON.stringify(init.json),
  });

/** The account's `members` entries as GET /audit answers them, checked against the API's schema. */
async function memberEntries(): Promise<Partial<AuditEntry>[]> {
  const res = await api("/audit");
  expect(res.status).toBe(200);
  return auditPageSchema.parse(await res.json()).items.filter((e) => e.action === "members");
}

beforeAll(async () => {
  srv = await startAdminServer();
  session = srv.session(OWNER);
  await srv.kw.accounts.members.set(OWNER, `user:${OWNER}`, "owner");
});
afterAll(() => srv?.close());

describe("members audit entries (real server)", () => {
  it("a member id holding the text's separators: each entry names its member and the role it was given, apart from the text", async () => {
    const put = (id: string, role: string) => api(`/members/${encodeURIComponent(id)}`, { method: "PUT", json: { role } });
    expect((await put("x=owner", "developer")).status).toBe(200);
    // Removing "x=owner", and making "remove x" an owner: the same text, "remove x=owner".
    expect((await api(`/members/${encodeURIComponent("x=owner")}`, { method: "DELETE" })).status).toBe(200);
    expect((await put("remove x", "owner")).status).toBe(200);
    const entries = (await memberEntries()).slice(-3);
    expect(entries.map((e) => ({ member: e.member, memberRole: e.memberRole, actor: e.actor, role: e.role }))).toEqual([
      { member: "x=owner", memberRole: "developer", actor: `user:${OWNER}`, role: "owner" },
      { member: "x=owner", memberRole: null, actor: `user:${OWNER}`, role: "owner" },
      { member: "remove x", memberRole: "owner", actor: `user:${OWNER}`, role: "owner" },
    ]);
    expect(entries.map((e) => e.changes)).toEqual([["x=owner=developer"], ["remove x=owner"], ["remove x=owner"]]);
  });

  it("an entry stored before the fields existed (its text only) is still answered, as it was", async () => {
    const old = makeAuditEntry({ owner: OWNER, tokenId: "*", action: "members", actor: "cli", at: Date.now(), changes: ["user:old=viewer"] });
    await srv.store.appendAudit(old);
    const answered = (await memberEntries()).find((e) => e.id === old.id);
    expect(answered).toEqual(old);
  });
});
