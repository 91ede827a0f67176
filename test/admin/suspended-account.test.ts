// keyward/admin for a suspended account, over a real node:http server on
// 127.0.0.1 with Node's fetch: the account's members see it suspended, may
// read and take access away, and are answered 403 ACCOUNT_SUSPENDED for
// anything else, with nothing changed; they never see the operator's reason,
// and nothing they can do lifts the suspension.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminProblemCode } from "../../src/admin/index.js";
import { type AdminServer, startAdminServer } from "./server.js";

const REASON = "abuse ticket 4711: internal note";
const OWNER = "acct_susp";
let admin: AdminServer;
let session: string;

/** ACCOUNT_SUSPENDED is one of the admin API's own codes, as its type says (tsc checks this file). */
const SUSPENDED: AdminProblemCode = "ACCOUNT_SUSPENDED";

const api = (path: string, method = "GET", json?: unknown) =>
  fetch(`${admin.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${session}`, ...(json !== undefined && { "content-type": "application/json" }) },
    body: json === undefined ? null : JSON.stringify(json),
  });

beforeAll(async () => {
  admin = await startAdminServer();
  session = admin.session(OWNER);
});
afterAll(() => admin.close());

describe("keyward/admin: a suspended account", () => {
  it("config says suspended and offers no change but taking access away; lifted, everything again", async () => {
    const before = (await (await api("/config")).json()) as { suspended: boolean; suspendedSince: number | null; actions: string[] };
    expect([before.suspended, before.suspendedSince]).toEqual([false, null]);
    expect(before.actions).toContain("tokens.create.secret");
    const set = await admin.kw.accounts.set(OWNER, { suspended: { reason: REASON } }, { actor: "operator" });
    const during = (await (await api("/config")).json()) as { suspended: boolean; suspendedSince: number | null; actions: string[] };
    // Since when, as the operator's kw.accounts.get has it; never the reason.
    expect([during.suspended, during.suspendedSince]).toEqual([true, set.policy.suspended!.since]);
    expect(JSON.stringify(during)).not.toContain("abuse ticket");
    const kept = ["tokens.read", "tokens.revoke", "tokens.disable", "usage.read", "members.read", "members.manage", "members.manage.owner", "billing.read"];
    expect(during.actions).toEqual(before.actions.filter((a) => kept.includes(a)));
    await admin.kw.accounts.set(OWNER, { suspended: null }, { actor: "operator" });
    expect(await (await api("/config")).json()).toMatchObject({ suspended: false, suspendedSince: null });
  });

  it("members may read, revoke and disable; create, update, regenerate, enable and delete are refused and change nothing", async () => {
    const created = (await (await api("/tokens", "POST", { kind: "secret", scopes: ["core:read"] })).json()) as { token: string; record: { id: string; revision: number } };
    const other = (await (await api("/tokens", "POST", { kind: "secret", scopes: ["core:read"] })).json()) as { record: { id: string } };
    const third = (await (await api("/tokens", "POST", { kind: "secret", scopes: ["core:read"] })).json()) as { record: { id: string } };
    expect((await api(`/tokens/${third.record.id}/disable`, "POST", {})).status).toBe(200);
    const suspended = (await admin.kw.accounts.set(OWNER, { suspended: { reason: REASON } }, { actor: "operator" })).policy.suspended;
    const id = created.record.id;
    const refused = [
      await api("/tokens", "POST", { kind: "publishable" }),
      await api(`/tokens/${id}`, "PATCH", { expectedRevision: created.record.revision, patch: { scopes: ["core:read", "premium:read"] } }),
      await api(`/tokens/${id}/regenerate`, "POST", {}),
      await api(`/tokens/${third.record.id}/enable`, "POST", {}),
      await api(`/tokens/${other.record.id}`, "DELETE"),
      await api("/members/user%3Ax", "PUT", { role: "admin" }),
    ];
    for (const res of refused) {
      expect(res.status).toBe(403);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      const body = (await res.json()) as { code: string; type: string; detail: string };
      expect([body.code, body.type]).toEqual([SUSPENDED, "urn:keyward:problem:account-suspended"]);
      expect(body.detail).not.toContain("4711");
    }
    expect((await admin.kw.tokens.list(OWNER)).items).toHaveLength(3);
    expect((await admin.kw.tokens.get(id))?.revision).toBe(created.record.revision);
    expect((await admin.kw.tokens.get(third.record.id))?.disabledAt).not.toBeNull();
    // The token is refused on the request path meanwhile.
    expect((await admin.kw.check({ token: created.token })).code).toBe("ACCOUNT_SUSPENDED");
    // Reads and taking access away still work.
    expect((await api("/tokens")).status).toBe(200);
    expect((await api(`/tokens/${id}`)).status).toBe(200);
    expect((await api(`/tokens/${id}/usage`)).status).toBe(200);
    expect((await api("/members")).status).toBe(200);
    expect((await api(`/tokens/${other.record.id}/disable`, "POST", {})).status).toBe(200);
    expect((await api(`/tokens/${id}/revoke`, "POST", {})).status).toBe(200);
    // Nothing a member did lifted it.
    expect((await admin.kw.accounts.get(OWNER))?.policy.suspended).toEqual(suspended);
    await admin.kw.accounts.set(OWNER, { suspended: null }, { actor: "operator" });
    expect((await api(`/tokens/${third.record.id}/enable`, "POST", {})).status).toBe(200);
    expect((await api(`/tokens/${other.record.id}`, "DELETE")).status).toBe(200);
  });

  it("a change whose body is still arriving when the suspension lands is refused: judged on the account as it is once the body is in", async () => {
    const owner = "acct_susp_race";
    const member = admin.session(owner);
    const { token, record } = await admin.kw.tokens.create({ owner, kind: "secret", scopes: ["core:read"] });
    await admin.kw.tokens.disable(record.id);
    /** A request whose JSON body is sent in two parts: the second once `rest` is called. */
    const slow = (path: string, method: string, json: unknown) => {
      const text = new TextEncoder().encode(JSON.stringify(json));
      let rest!: () => void;
      const held = new Promise<void>((resolve) => (rest = resolve));
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(text.subarray(0, 1));
          await held;
          controller.enqueue(text.subarray(1));
          controller.close();
        },
      });
      const init = { method, headers: { authorization: `Bearer ${member}`, "content-type": "application/json" }, body, duplex: "half" };
      return { answer: fetch(`${admin.url}${path}`, init as RequestInit), rest };
    };
    const create = slow("/tokens", "POST", { kind: "secret", scopes: ["core:read"] });
    const enable = slow(`/tokens/${record.id}/enable`, "POST", {});
    // Both requests are in the handler, waiting for the rest of their bodies, when the operator suspends the account.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await admin.kw.accounts.set(owner, { suspended: { reason: REASON } }, { actor: "operator" });
    create.rest();
    enable.rest();
    for (const res of [await create.answer, await enable.answer]) {
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe(SUSPENDED);
    }
    expect((await admin.kw.tokens.list(owner)).items.map((t) => t.id)).toEqual([record.id]);
    expect((await admin.kw.tokens.get(record.id))?.disabledAt).not.toBeNull();
    await admin.kw.accounts.set(owner, { suspended: null }, { actor: "operator" });
    expect((await admin.kw.check({ token })).code).toBe("TOKEN_DISABLED");
  });

  it("the audit log the members read never carries the operator's reason; the operator's does", async () => {
    await admin.kw.accounts.set(OWNER, { suspended: { reason: REASON } }, { actor: "operator" });
    const res = await api("/audit?limit=1000");
    const text = await res.text();
    expect(res.status).toBe(200);
    const items = (JSON.parse(text) as { items: { action: string; changes: string[]; reason?: string }[] }).items;
    expect(items.some((e) => e.action === "account" && e.changes.includes("suspended"))).toBe(true);
    expect(text).not.toContain("4711");
    expect(items.every((e) => !("reason" in e))).toBe(true);
    const own = (await admin.kw.tokens.audit({ owner: OWNER }, { limit: 1000 })).items;
    expect(own.filter((e) => e.reason === REASON).length).toBeGreaterThan(0);
    await admin.kw.accounts.set(OWNER, { suspended: null }, { actor: "operator" });
  });
});
