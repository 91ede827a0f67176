// Team roles in keyward/admin, over a real node:http server on 127.0.0.1 with
// Node's fetch: each role may do what the matrix says (docs/roles.md) and is
// answered 403 ROLE_FORBIDDEN beyond it, with nothing changed; every action
// is audited with the actor and the role.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AdminProblemCode, createAdminHandler, toNodeHandler } from "../../src/admin/index.js";
import { Keyward, type Role, type TokenRecord } from "../../src/index.js";
import { toBase64Url } from "../../src/lib/bytes.js";
import { signRequest } from "../../src/signing/index.js";
import { sqliteStore } from "../../src/sqlite/index.js";
import { ed25519KeyPair } from "../client/helpers.js";
import { holdable } from "./server.js";

const store = sqliteStore(":memory:");
const kw = new Keyward({ store, prefix: "acme" });
let origin = "";
let close: () => Promise<void>;

/** The application's sessions: the `x-user` header names the signed-in user (a stand-in for a cookie). */
const USERS: Record<string, string> = {
  u1: "acct_team",
  u2: "acct_team",
  u3: "acct_team",
  u4: "acct_team",
  u9: "acct_team",
  solo: "acct_solo",
  lone: "acct_lone",
  stranger: "acct_lone",
};

const api = (user: string, path: string, init: { method?: string; json?: unknown } = {}) =>
  fetch(`${origin}${path}`, {
    method: init.method ?? "GET",
    headers: { "x-user": user, ...(init.json !== undefined ? { "content-type": "application/json" } : {}) },
    body: init.json === undefined ? null : JSON.stringify(init.json),
  });

/** ROLE_FORBIDDEN is one of the admin API's own codes, as its type says (tsc checks this file). */
const ROLE_FORBIDDEN: AdminProblemCode = "ROLE_FORBIDDEN";

async function forbidden(res: Response): Promise<void> {
  expect(res.status).toBe(403);
  expect(((await res.json()) as { code: string }).code).toBe(ROLE_FORBIDDEN);
}

beforeAll(async () => {
  const handler = createAdminHandler({
    keyward: kw,
    authorize: (request) => {
      const user = request.headers.get("x-user") ?? "";
      return Object.hasOwn(USERS, user) ? { owner: USERS[user]!, actor: `user:${user}` } : null;
    },
  });
  const server = createServer(toNodeHandler(handler));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise((r) => server.close(() => r()));
  const team = kw.accounts.members;
  await team.set("acct_team", "user:u1", "owner");
  await team.set("acct_team", "user:u2", "admin");
  await team.set("acct_team", "user:u3", "developer");
  await team.set("acct_team", "user:u4", "viewer");
});
afterAll(async () => {
  await close();
  await kw.close();
  await store.close();
});

describe("keyward/admin team roles", () => {
  it("an account without members has one user, its owner; config says the role and its actions", async () => {
    expect((await api("solo", "/tokens", { method: "POST", json: { kind: "secret" } })).status).toBe(201);
    expect(await (await api("solo", "/config")).json()).toMatchObject({ owner: "acct_solo", role: "owner", actions: expect.arrayContaining(["tokens.delete"]) });
    expect(await (await api("u4", "/config")).json()).toMatchObject({ role: "viewer", actions: ["tokens.read", "usage.read", "members.read"] });
  });

  it("viewer reads; developer creates publishable tokens and edits settings; admin creates secrets, changes limits and revokes", async () => {
    const pk = (await (await api("u3", "/tokens", { method: "POST", json: { kind: "publishable", domains: ["example.com"] } })).json()) as { record: TokenRecord };
    expect(pk.record.owner).toBe("acct_team");
    await forbidden(await api("u4", "/tokens", { method: "POST", json: { kind: "publishable" } }));
    await forbidden(await api("u3", "/tokens", { method: "POST", json: { kind: "secret" } }));
    await forbidden(await api("u3", "/tokens", { method: "POST", json: { kind: "publishable", credits: { limit: 5 } } }));
    const sk = (await (await api("u2", "/tokens", { method: "POST", json: { kind: "secret", credits: { limit: 5 } } })).json()) as { record: TokenRecord };
    expect((await api("u4", "/tokens")).status).toBe(200);
    expect((await api("u4", `/tokens/${sk.record.id}/usage`)).status).toBe(200);

    const id = pk.record.id;
    const ok = await api("u3", `/tokens/${id}`, { method: "PATCH", json: { expectedRevision: 1, effectiveAt: Date.now(), patch: { name: "site" } } });
    expect(ok.status).toBe(200);
    await forbidden(await api("u3", `/tokens/${id}`, { method: "PATCH", json: { expectedRevision: 2, patch: { credits: { limit: 9 } } } }));
    await forbidden(await api("u4", `/tokens/${id}`, { method: "PATCH", json: { expectedRevision: 2, patch: { name: "x" } } }));
    await forbidden(await api("u3", `/tokens/${id}/revoke`, { method: "POST", json: {} }));
    expect((await api("u3", `/tokens/${id}/regenerate`, { method: "POST", json: {} })).status).toBe(200);
    // A secret token's new secret is the right to create secret tokens: a developer may not, whatever the grace period.
    await forbidden(await api("u3", `/tokens/${sk.record.id}/regenerate`, { method: "POST", json: { graceMs: 86_400_000 } }));
    expect((await kw.tokens.get(sk.record.id))?.revision).toBe(1);
    expect((await api("u2", `/tokens/${sk.record.id}/regenerate`, { method: "POST", json: {} })).status).toBe(200);
    expect((await api("u2", `/tokens/${id}/revoke`, { method: "POST", json: {} })).status).toBe(200);

    // Refusals changed nothing; every change is audited with who and which role.
    const record = (await kw.tokens.get(id))!;
    expect(record).toMatchObject({ name: "site", policy: { credits: null } });
    const audit = (await kw.tokens.audit({ tokenId: id })).items.map((e) => [e.action, e.actor, e.role]);
    expect(audit).toEqual([
      ["create", "user:u3", "developer"],
      ["update", "user:u3", "developer"],
      ["regenerate", "user:u3", "developer"],
      ["revoke", "user:u2", "admin"],
    ]);
  });

  it("a developer may not put a signing key of their own on a secret token: a key that signs for it is a secret token made", async () => {
    const { record } = (await (await api("u2", "/tokens", { method: "POST", json: { kind: "secret", scopes: ["premium:read"] } })).json()) as { record: TokenRecord };
    const { seed, publicKey } = ed25519KeyPair();
    const key = toBase64Url(publicKey);
    const signed = () =>
      signRequest(new Request("https://api.test/v1/prices"), {
        keyid: record.id,
        created: Math.floor(Date.now() / 1000),
        nonce: crypto.randomUUID(),
        components: ["@method", "@target-uri"],
        key: { alg: "ed25519", privateKey: seed },
      });
    // Changing a key or adding one, with or without requiring signatures: refused, nothing written.
    for (const patch of [{ signing: { alg: "ed25519", publicKey: key } }, { signing: { alg: "ed25519", publicKey: key }, requireSignedRequests: true }]) {
      await forbidden(await api("u3", `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 1, patch } }));
    }
    expect(await kw.tokens.get(record.id)).toMatchObject({ revision: 1, signing: null });
    expect((await kw.verify(await signed(), { scope: "premium:read" })).ok).toBe(false);
    // Taking signing off, or other settings of a secret token, stay the developer's; a publishable token's key too.
    expect((await api("u3", `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 1, patch: { signing: null, name: "server" } } })).status).toBe(200);
    const pk = (await (await api("u3", "/tokens", { method: "POST", json: { kind: "publishable" } })).json()) as { record: TokenRecord };
    expect((await api("u3", `/tokens/${pk.record.id}`, { method: "PATCH", json: { expectedRevision: 1, patch: { signing: { alg: "ed25519", publicKey: key } } } })).status).toBe(200);
    // An admin may: as they may regenerate it.
    expect((await api("u2", `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 2, patch: { signing: { alg: "ed25519", publicKey: key } } } })).status).toBe(200);
    expect((await kw.verify(await signed(), { scope: "premium:read" })).ok).toBe(true);
    // The key the token has, sent again with other settings, is no new key.
    const same = { expectedRevision: 3, patch: { name: "signed", signing: { alg: "ed25519", publicKey: key } } };
    expect((await api("u3", `/tokens/${record.id}`, { method: "PATCH", json: same })).status).toBe(200);
  });

  it("disable and enable are the owner's and admins'; delete for good the owner's alone", async () => {
    const { token, record } = (await (await api("u2", "/tokens", { method: "POST", json: { kind: "secret" } })).json()) as { token: string; record: TokenRecord };
    await forbidden(await api("u3", `/tokens/${record.id}/disable`, { method: "POST", json: {} }));
    const off = await api("u2", `/tokens/${record.id}/disable`, { method: "POST", json: {} });
    expect(((await off.json()) as TokenRecord).disabledAt).toEqual(expect.any(Number));
    expect((await kw.check({ token })).code).toBe("TOKEN_DISABLED");
    expect((await api("u2", `/tokens/${record.id}/enable`, { method: "POST", json: {} })).status).toBe(200);
    expect((await kw.check({ token })).ok).toBe(true);
    await forbidden(await api("u2", `/tokens/${record.id}`, { method: "DELETE" }));
    const gone = await api("u1", `/tokens/${record.id}`, { method: "DELETE" });
    expect(gone.status).toBe(200);
    expect(await gone.json()).toMatchObject({ id: record.id, owner: "acct_team", removed: { hashes: 1 } });
    expect(await kw.tokens.get(record.id)).toBeNull();
    expect((await api("u1", `/tokens/${record.id}`, { method: "DELETE" })).status).toBe(404);
    const audit = (await kw.tokens.audit({ tokenId: record.id })).items.map((e) => [e.action, e.actor, e.role]);
    expect(audit).toEqual([
      ["create", "user:u2", "admin"],
      ["disable", "user:u2", "admin"],
      ["enable", "user:u2", "admin"],
      ["delete", "user:u1", "owner"],
    ]);
  });

  it("members: an admin manages all but owners; only an owner makes or removes owners; never the last owner", async () => {
    expect(((await (await api("u4", "/members")).json()) as { members: { id: string }[] }).members.map((m) => m.id)).toEqual([
      "user:u1",
      "user:u2",
      "user:u3",
      "user:u4",
    ]);
    await forbidden(await api("u3", "/members/user%3Au5", { method: "PUT", json: { role: "viewer" } }));
    expect((await api("u2", "/members/user%3Au5", { method: "PUT", json: { role: "developer" } })).status).toBe(200);
    await forbidden(await api("u2", "/members/user%3Au5", { method: "PUT", json: { role: "owner" } }));
    await forbidden(await api("u2", "/members/user%3Au1", { method: "DELETE" }));
    const last = await api("u1", "/members/user%3Au1", { method: "DELETE" });
    expect(last.status).toBe(400);
    expect(((await last.json()) as { code: string }).code).toBe("LAST_OWNER");
    expect((await api("u2", "/members/user%3Au5", { method: "DELETE" })).status).toBe(200);
    const bad = await api("u1", "/members/user%3Au6", { method: "PUT", json: { role: "superuser" } });
    expect(bad.status).toBe(400);
    expect(await kw.accounts.members.roleOf("acct_team", "user:u6")).toBeNull();
    const entries = (await kw.tokens.audit({ owner: "acct_team" })).items.filter((e) => e.action === "members");
    expect(entries.slice(-2).map((e) => [e.actor, e.role, e.changes])).toEqual([
      ["user:u2", "admin", ["user:u5=developer"]],
      ["user:u2", "admin", ["remove user:u5"]],
    ]);
  });

  it("the sole owner cannot remove themselves: the team never becomes an account whose every user is its owner", async () => {
    await kw.accounts.members.set("acct_lone", "user:lone", "owner");
    await forbidden(await api("stranger", "/config"));
    const res = await api("lone", "/members/user%3Alone", { method: "DELETE" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("LAST_OWNER");
    expect(await kw.accounts.members.list("acct_lone")).toEqual([{ id: "user:lone", role: "owner" }]);
    await forbidden(await api("stranger", "/config"));
    await forbidden(await api("stranger", "/tokens"));
  });

  it("a signed-in user who is not a member of a team account may do nothing", async () => {
    await forbidden(await api("u9", "/tokens"));
    await forbidden(await api("u9", "/config"));
  });
});

describe("kw.accounts.members", () => {
  it("the first member must be an owner; roles are checked; can() reads the matrix", async () => {
    const m = kw.accounts.members;
    await expect(m.set("acct_new", "user:a", "developer")).rejects.toMatchObject({ code: "LAST_OWNER" });
    await expect(m.set("acct_new", "user:a", "root" as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "role" });
    await m.set("acct_new", "user:a", "owner");
    await m.set("acct_new", "user:b", "developer");
    await expect(m.set("acct_new", "user:a", "admin")).rejects.toMatchObject({ code: "LAST_OWNER" });
    expect(await m.can("acct_new", "user:b", "tokens.create.publishable")).toBe(true);
    expect(await m.can("acct_new", "user:b", "tokens.create.secret")).toBe(false);
    expect(await m.can("acct_new", "user:z", "tokens.read")).toBe(false);
    await expect(m.can("acct_new", "user:b", "fly" as never)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect(await m.list("acct_new")).toEqual([
      { id: "user:a", role: "owner" },
      { id: "user:b", role: "developer" },
    ]);
  });

  it("neither the last owner nor the last member can be removed, from any entry point", async () => {
    const m = kw.accounts.members;
    await m.set("acct_sole", "user:s", "owner");
    await expect(m.remove("acct_sole", "user:s")).rejects.toMatchObject({ code: "LAST_OWNER", field: "role" });
    await m.set("acct_sole", "user:t", "owner");
    expect((await m.remove("acct_sole", "user:s")).map((x) => x.id)).toEqual(["user:t"]);
    await expect(m.remove("acct_sole", "user:t")).rejects.toMatchObject({ code: "LAST_OWNER" });
    expect(await m.list("acct_sole")).toEqual([{ id: "user:t", role: "owner" }]);
    // Someone who is not a member is no one to remove; prototype names are no members.
    expect(await m.remove("acct_sole", "user:nobody")).toEqual([{ id: "user:t", role: "owner" }]);
    expect(await m.roleOf("acct_sole", "constructor")).toBeNull();
    expect(await m.remove("acct_sole", "constructor")).toEqual([{ id: "user:t", role: "owner" }]);
    await expect(m.set("acct_sole", "__proto__", "owner")).rejects.toMatchObject({ code: "INVALID_INPUT", field: "member" });
    await expect(m.roleOf("acct_sole", "__proto__")).rejects.toMatchObject({ code: "INVALID_INPUT", field: "member" });
  });

  it("expectedRole: a change applies only to the role it was decided on", async () => {
    const m = kw.accounts.members;
    await m.set("acct_exp", "user:o", "owner");
    await m.set("acct_exp", "user:d", "developer");
    await m.set("acct_exp", "user:d", "owner", { actor: "user:o", role: "owner" });
    const stale = { actor: "user:a", role: "admin", expectedRole: "developer" } as const;
    await expect(m.set("acct_exp", "user:d", "viewer", stale)).rejects.toMatchObject({ code: "REVISION_CONFLICT" });
    await expect(m.remove("acct_exp", "user:d", stale)).rejects.toMatchObject({ code: "REVISION_CONFLICT" });
    await expect(m.set("acct_exp", "user:new", "viewer", { expectedRole: "viewer" })).rejects.toMatchObject({ code: "REVISION_CONFLICT" });
    expect(await m.roleOf("acct_exp", "user:d")).toBe("owner");
    expect(await m.set("acct_exp", "user:new", "viewer", { expectedRole: null })).toContainEqual({ id: "user:new", role: "viewer" });
    await expect(m.set("acct_exp", "user:new", "admin", { expectedRole: "root" as never })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "expectedRole" });
  });

  it("refuses an unknown field in the options of a change: a misspelt expectedRole would turn the compare-and-set off; nothing written", async () => {
    const m = kw.accounts.members;
    await m.set("acct_opt", "user:o", "owner");
    await m.set("acct_opt", "user:d", "owner", { actor: "user:o" });
    const misspelt = { actor: "user:a", role: "admin", expected_role: "developer" } as never;
    await expect(m.set("acct_opt", "user:d", "viewer", misspelt)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
    await expect(m.remove("acct_opt", "user:d", misspelt)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
    expect(await m.roleOf("acct_opt", "user:d")).toBe("owner");
  });

  it("expectedActorRole: a change is written only while the actor has the role it was authorized on", async () => {
    const m = kw.accounts.members;
    // In an account without members, its single user is the owner.
    await expect(m.set("acct_actor", "user:o", "owner", { actor: "user:o", expectedActorRole: "admin" })).rejects.toMatchObject({ code: "REVISION_CONFLICT" });
    await m.set("acct_actor", "user:o", "owner", { actor: "user:o", role: "owner", expectedActorRole: "owner" });
    const byOwner = { actor: "user:o", role: "owner", expectedActorRole: "owner" } as const;
    await m.set("acct_actor", "user:a", "admin", byOwner);
    await m.set("acct_actor", "user:d", "developer", byOwner);
    await m.set("acct_actor", "user:a", "viewer", byOwner);
    const stale = { actor: "user:a", role: "admin", expectedActorRole: "admin" } as const;
    await expect(m.set("acct_actor", "user:d", "viewer", stale)).rejects.toMatchObject({ code: "REVISION_CONFLICT" });
    await expect(m.remove("acct_actor", "user:d", stale)).rejects.toMatchObject({ code: "REVISION_CONFLICT" });
    // Once the account has members, someone who is not one holds no role in it.
    await expect(m.remove("acct_actor", "user:d", { actor: "user:gone", expectedActorRole: "owner" })).rejects.toMatchObject({ code: "REVISION_CONFLICT" });
    expect(await m.roleOf("acct_actor", "user:d")).toBe("developer");
    await expect(m.remove("acct_actor", "user:d", { expectedActorRole: "boss" as never })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "expectedActorRole",
    });
    expect(await m.remove("acct_actor", "user:d", byOwner)).not.toContainEqual(expect.objectContaining({ id: "user:d" }));
  });

  it("concurrent changes of one account's members all land (compare-and-set, retried)", async () => {
    const m = kw.accounts.members;
    await m.set("acct_many", "user:boss", "owner");
    await Promise.all(Array.from({ length: 4 }, (_, i) => m.set("acct_many", `user:${i}`, "viewer")));
    expect((await m.list("acct_many")).length).toBe(5);
  });
});

describe("keyward/admin member changes under concurrency", () => {
  /**
   * acct_race on its own SQLite store (or one more over a `file`, as another
   * instance), whose calls can be held, behind a real HTTP server: `x-user`
   * names the actor, and `x-role` the role when the application answers it itself.
   */
  async function raceServer(file = ":memory:") {
    const inner = sqliteStore(file);
    const held = holdable(inner);
    const team = new Keyward({ store: held.store, prefix: "acme" });
    const handler = createAdminHandler({
      keyward: team,
      authorize: (request) => {
        const role = request.headers.get("x-role");
        return { owner: "acct_race", actor: request.headers.get("x-user") ?? "", ...(role !== null && { role: role as Role }) };
      },
    });
    const server = createServer(toNodeHandler(handler));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const m = team.accounts.members;
    await m.set("acct_race", "user:o", "owner");
    await m.set("acct_race", "user:a", "admin");
    return {
      m,
      held,
      /** A member change by `user` (`as`: the role the application answers, if any). */
      change: (user: string, member: string, role: Role | null, as?: Role) =>
        fetch(`${base}/members/${encodeURIComponent(member)}`, {
          method: role === null ? "DELETE" : "PUT",
          headers: { "x-user": user, "content-type": "application/json", ...(as && { "x-role": as }) },
          body: role === null ? null : JSON.stringify({ role }),
        }),
      async close() {
        await new Promise((r) => server.close(r));
        await team.close();
        await inner.close();
      },
    };
  }

  async function conflict(res: Response): Promise<void> {
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe("REVISION_CONFLICT");
  }

  it("an admin who read a developer never demotes the owner that developer became meanwhile", async () => {
    const { m, held, change, close } = await raceServer();
    await m.set("acct_race", "user:d", "developer");
    // The admin's request reads the account twice before its change: its own role, then the target's.
    const hold = held.hold("getAccount", 2);
    const demote = change("user:a", "user:d", "viewer");
    await hold.reached;
    await m.set("acct_race", "user:d", "owner", { actor: "user:o", role: "owner" });
    hold.release();
    await conflict(await demote);
    expect(await m.roleOf("acct_race", "user:d")).toBe("owner");
    // Re-read, the admin is refused: an owner is the owners' to change.
    await forbidden(await change("user:a", "user:d", "viewer"));
    await forbidden(await change("user:a", "user:d", null));
    await close();
  });

  it("an admin demoted to viewer while their removal of a member is in flight removes no one", async () => {
    const { m, held, change, close } = await raceServer();
    await m.set("acct_race", "user:b", "admin");
    const hold = held.hold("getAccount", 2);
    const remove = change("user:a", "user:b", null);
    await hold.reached;
    expect((await change("user:o", "user:a", "viewer")).status).toBe(200);
    hold.release();
    await conflict(await remove);
    expect(await m.list("acct_race")).toEqual([
      { id: "user:o", role: "owner" },
      { id: "user:b", role: "admin" },
      { id: "user:a", role: "viewer" },
    ]);
    // Re-read, the viewer is refused.
    await forbidden(await change("user:a", "user:b", null));
    await close();
  });

  it("two admins demoting each other: the one who writes second is refused", async () => {
    const { m, held, change, close } = await raceServer();
    await m.set("acct_race", "user:b", "admin");
    const hold = held.hold("getAccount", 2);
    const byA = change("user:a", "user:b", "viewer");
    await hold.reached;
    expect((await change("user:b", "user:a", "viewer")).status).toBe(200);
    hold.release();
    await conflict(await byA);
    expect(await m.roleOf("acct_race", "user:a")).toBe("viewer");
    expect(await m.roleOf("acct_race", "user:b")).toBe("admin");
    await close();
  });

  it("two owners on two instances over one SQLite file demoting each other: the write that meets the other's reads again and is refused", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keyward-roles-"));
    const one = await raceServer(join(dir, "keyward.db"));
    const two = await raceServer(join(dir, "keyward.db"));
    await one.m.set("acct_race", "user:a", "owner", { actor: "user:o" });
    // The third read of o's request is the one its change is written over (its role, a's, then the write's).
    const hold = one.held.hold("getAccount", 3);
    const byO = one.change("user:o", "user:a", "admin");
    await hold.reached;
    expect((await two.change("user:a", "user:o", "admin")).status).toBe(200);
    hold.release();
    await conflict(await byO);
    expect(await one.m.list("acct_race")).toEqual([
      { id: "user:a", role: "owner" },
      { id: "user:o", role: "admin" },
    ]);
    await one.close();
    await two.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a role the application answers itself is its own to check: a member change does not look for the actor among the members", async () => {
    const { m, change, close } = await raceServer();
    expect((await change("svc:support", "user:d", "developer", "admin")).status).toBe(200);
    expect(await m.roleOf("acct_race", "user:d")).toBe("developer");
    await close();
  });
});

describe("toNodeHandler: the public origin", () => {
  it("builds the request URL from publicOrigin (or its deprecated alias origin), checked at setup", async () => {
    const echo = async (request: Request) => new Response(request.url);
    const urlVia = async (options: Parameters<typeof toNodeHandler>[1]) => {
      const server = createServer(toNodeHandler(echo, options));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        return await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/account/tokens?x=1`)).text();
      } finally {
        server.close();
      }
    };
    expect(await urlVia({ publicOrigin: "https://example.com" })).toBe("https://example.com/account/tokens?x=1");
    expect(await urlVia({ origin: "https://example.com/" })).toBe("https://example.com/account/tokens?x=1");
    expect(await urlVia({})).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/account\/tokens\?x=1$/);
    for (const bad of ["example.com", "https://example.com/api", "ftp://example.com"]) {
      expect(() => toNodeHandler(echo, { publicOrigin: bad }), bad).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "publicOrigin" }));
    }
    expect(() => toNodeHandler(echo, { publicOrigin: "https://a.example", origin: "https://b.example" })).toThrow(/deprecated alias/);
  });
});
