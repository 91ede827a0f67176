import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import {
  type CreateTokenInput,
  guardStore,
  hashToken,
  isKeywardError,
  Keyward,
  type KeywardOptions,
  MAX_SCHEDULED,
  MemoryStore,
  parseToken,
} from "keyward";
import { signRequest } from "keyward/signing";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { toBase64Url } from "../../src/lib/bytes.js";
import { deriveSigningSecret } from "../../src/lib/derive.js";
import { Keyring } from "../../src/lib/seal.js";
import { holdable } from "../admin/server.js";
import { ed25519KeyPair } from "../client/helpers.js";

const SEALING_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

function setup(options: Partial<KeywardOptions> = {}) {
  let now = Date.UTC(2026, 0, 1);
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme", now: () => now, ...options });
  return { kw, store, advance: (ms: number) => (now += ms), now: () => now };
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string) {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    expect(isKeywardError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return err as Error & { field?: string };
  }
  throw new Error(`expected ${code}, nothing thrown`);
}

describe("Keyward config", () => {
  it("rejects bad options with INVALID_CONFIG naming the option", async () => {
    const store = new MemoryStore();
    const e = await expectCode(() => new Keyward({ store, prefix: "Acme" }), "INVALID_CONFIG");
    expect(e.field).toBe("prefix");
    await expectCode(() => new Keyward({ store: {} as never, prefix: "acme" }), "INVALID_CONFIG");
    // The class given for an instance: the message shows what to pass.
    const cls = await expectCode(() => new Keyward({ store: MemoryStore as never, prefix: "acme" }), "INVALID_CONFIG");
    expect([cls.field, cls.message]).toEqual(["store", expect.stringContaining("new MemoryStore()")]);
    await expectCode(() => new Keyward({ store, prefix: "acme", revocationBoundMs: -1 }), "INVALID_CONFIG");
    await expectCode(() => new Keyward({ store, prefix: "acme", sealingKey: "short" }), "INVALID_CONFIG");
    await expectCode(() => new Keyward({ store, prefix: "acme", unknown: 1 } as never), "INVALID_CONFIG");
  });

  it("names a misspelt option as the field, at the top and nested, as tokens.create names an unknown field", async () => {
    const store = new MemoryStore();
    const top = await expectCode(() => new Keyward({ store, prefix: "acme", revocationBound: 5_000 } as never), "INVALID_CONFIG");
    expect([top.field, top.message]).toEqual(["revocationBound", "revocationBound: unknown option"]);
    const nested = await expectCode(() => new Keyward({ store, prefix: "acme", usage: { flushInterval: 5 } } as never), "INVALID_CONFIG");
    expect([nested.field, nested.message]).toEqual(["usage.flushInterval", "usage.flushInterval: unknown option"]);
  });

  it("says what a sealingKey must be when it is neither a key nor a list of at most 16 (not zod's bare 'Invalid input')", async () => {
    const store = new MemoryStore();
    // 32 random bytes as bytes, not as the base64 string the option takes, too: the message says it is a string.
    for (const sealingKey of [Array(17).fill(SEALING_KEY), 5, [5], new Uint8Array(32)]) {
      const e = await expectCode(() => new Keyward({ store, prefix: "acme", sealingKey: sealingKey as never }), "INVALID_CONFIG");
      expect(e.message).toBe(
        "sealingKey: must be a sealing key (a string: 32 random bytes in base64 or base64url, as openssl rand -base64 32 prints) or a list of at most 16, the first sealing",
      );
    }
  });

  it("names a malformed sealing key as given (the option for one string, its index in a list) and how to make one", async () => {
    const store = new MemoryStore();
    const one = await expectCode(() => new Keyward({ store, prefix: "acme", sealingKey: "short" }), "INVALID_CONFIG");
    expect([one.field, one.message]).toEqual(["sealingKey", "sealingKey: must be 32 bytes in base64 or base64url (openssl rand -base64 32)"]);
    const listed = await expectCode(() => new Keyward({ store, prefix: "acme", sealingKey: [SEALING_KEY, "short"] }), "INVALID_CONFIG");
    expect([listed.field, listed.message]).toEqual(["sealingKey.1", "sealingKey.1: must be 32 bytes in base64 or base64url (openssl rand -base64 32)"]);
  });
});

describe("tokens.create", () => {
  it("returns the token once and stores only its hash", async () => {
    const { kw, store } = setup();
    const issued = await kw.tokens.create({ owner: "acct_1", kind: "secret", name: "server" });
    const { token, record } = issued;
    expect(parseToken(token)).toMatchObject({ ok: true, token: { prefix: "acme", kind: "secret", env: "live" } });
    expect(record.id).toMatch(/^tok_[0-9A-Za-z]{22}$/);
    expect(token.startsWith(record.start)).toBe(true);
    expect(record).not.toHaveProperty("hash");
    const stored = await store.findByHash(hashToken(token));
    expect(stored?.id).toBe(record.id);
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(JSON.stringify(issued)).not.toContain(token.slice(record.start.length));
    expect(inspect(issued)).not.toContain(token.slice(record.start.length));
    expect(String(issued)).not.toContain(token.slice(record.start.length));
    expect(JSON.stringify(issued)).toContain("[redacted]");
  });

  it("gives core:read by default and keeps publishable tokens read-only", async () => {
    const { kw } = setup();
    const pk = await kw.tokens.create({ owner: "acct_1", kind: "publishable" });
    expect(pk.record.policy.scopes).toEqual(["core:read"]);
    expect(pk.token).toMatch(/^acme_pk_live_/);
    const sk = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    expect(sk.record.policy.scopes).toEqual(["core:read"]);
    const e = await expectCode(
      kw.tokens.create({ owner: "acct_1", kind: "publishable", scopes: ["datasets/prices:write"] }),
      "SCOPE_NOT_ALLOWED",
    );
    expect(e.message).not.toContain("acme_");
    await expectCode(kw.tokens.create({ owner: "acct_1", kind: "publishable", scopes: ["datasets/*:*"] }), "SCOPE_NOT_ALLOWED");
    await expectCode(kw.tokens.update(pk.record.id, { scopes: ["datasets/x:delete"] }), "SCOPE_NOT_ALLOWED");
    const open = setup({ allowPublishableWrites: true });
    const w = await open.kw.tokens.create({ owner: "a", kind: "publishable", scopes: ["datasets/prices:write"] });
    expect(w.record.policy.scopes).toEqual(["datasets/prices:write"]);
  });

  it("accepts the whole design's settings", async () => {
    // Allowed domains on a secret token only make sense when secret tokens are accepted from browsers.
    const { kw, now } = setup({ sealingKey: SEALING_KEY, allowSecretInBrowser: true });
    const { record } = await kw.tokens.create({
      owner: "acct_1",
      kind: "secret",
      name: "website",
      scopes: ["core:read", "premium:read", "datasets/prices:write"],
      domains: ["example.com", "*.example.com"],
      ips: ["203.0.113.0/24", "2001:db8::/32"],
      credits: { limit: 10_000, refill: { amount: 10_000, intervalMs: 30 * 86_400_000 } },
      rateLimit: { limit: 100, windowMs: 1_000 },
      expiresAt: new Date(now() + 86_400_000),
      requireSignedRequests: true,
      signing: { alg: "hmac-sha256" },
      metadata: { plan: "pro", tags: ["a", 1, true, null], nested: { x: 1 } },
    });
    expect(record.policy).toEqual({
      scopes: ["core:read", "premium:read", "datasets/prices:write"],
      domains: ["example.com", "*.example.com"],
      ips: ["203.0.113.0/24", "2001:db8::/32"],
      credits: { limit: 10_000, refill: { amount: 10_000, intervalMs: 30 * 86_400_000 } },
      rateLimit: { limit: 100, windowMs: 1_000 },
      expiresAt: now() + 86_400_000,
      requireSignedRequests: true,
    });
    expect(record.signing).toEqual({ alg: "hmac-sha256" });
    expect(record.metadata).toEqual({ plan: "pro", tags: ["a", 1, true, null], nested: { x: 1 } });
  });

  it("seals the HMAC signing key, and refuses without a sealing key", async () => {
    const { kw, store } = setup({ sealingKey: [SEALING_KEY] });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
    const stored = await store.get(record.id);
    expect(stored?.signing?.alg).toBe("hmac-sha256");
    const keyring = Keyring.parse([SEALING_KEY]) as Keyring;
    const sealed = stored?.signing?.alg === "hmac-sha256" ? stored.signing.sealed : null;
    expect(await keyring.open(sealed!, record.id)).toEqual(deriveSigningSecret(token));
    // Bound to the token id: the sealed key cannot be moved to another token.
    await expectCode(keyring.open(sealed!, "tok_other"), "SEALING_KEY_UNKNOWN");

    const bare = setup();
    const missing = await expectCode(
      bare.kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } }),
      "SEALING_KEY_REQUIRED",
    );
    // Says what to do: which option, and what a sealing key is.
    expect(missing.message).toBe(
      "a sealingKey is required to store HMAC signing keys: give new Keyward({ sealingKey }) 32 random bytes in base64 (openssl rand -base64 32), or sign with ed25519",
    );
    expect((await bare.kw.tokens.list("o")).items).toEqual([]);
  });

  it("stores an ed25519 public key only", async () => {
    const { kw } = setup();
    const { publicKey } = ed25519KeyPair();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey } });
    expect(record.signing).toEqual({ alg: "ed25519", publicKey: toBase64Url(publicKey) });
  });
});

describe("bad input", () => {
  const big = "x".repeat(1_000_000);
  const cases: [string, unknown, string][] = [
    ["not an object", "secret", "input"],
    ["missing owner", { kind: "secret" }, "owner"],
    ["empty owner", { owner: "", kind: "secret" }, "owner"],
    ["owner of 1 MB", { owner: big, kind: "secret" }, "owner"],
    ["owner with control chars", { owner: "a\u0000b", kind: "secret" }, "owner"],
    ["owner with bidi override", { owner: "a\u202eb", kind: "secret" }, "owner"],
    ["wrong kind", { owner: "o", kind: "admin" }, "kind"],
    ["name not a string", { owner: "o", kind: "secret", name: 5 }, "name"],
    ["scopes not an array", { owner: "o", kind: "secret", scopes: "core:read" }, "scopes"],
    ["bad scope", { owner: "o", kind: "secret", scopes: ["core"] }, "scopes.0"],
    ["unicode scope", { owner: "o", kind: "secret", scopes: ["cöre:read"] }, "scopes.0"],
    ["bad domain", { owner: "o", kind: "secret", domains: ["https://example.com/path"] }, "domains.0"],
    ["domain in a short IPv4 form (read as 127.0.0.1)", { owner: "o", kind: "publishable", domains: ["127.1:3000"] }, "domains.0"],
    ["domain in hex IPv4 (read as 127.0.0.1)", { owner: "o", kind: "publishable", domains: ["0x7f.0.0.1"] }, "domains.0"],
    ["domain with a soft hyphen (read as example.com)", { owner: "o", kind: "publishable", domains: ["app.exam\u00adple.com"] }, "domains.0"],
    ["domain in fullwidth letters (read as example.com)", { owner: "o", kind: "publishable", domains: ["*.\uff45xample.com"] }, "domains.0"],
    ["bad ip", { owner: "o", kind: "secret", ips: ["010.0.0.1"] }, "ips.0"],
    ["ip block with host bits set", { owner: "o", kind: "secret", ips: ["203.0.113.7/24"] }, "ips.0"],
    ["ip with a zone id", { owner: "o", kind: "secret", ips: ["fe80::1%eth0"] }, "ips.0"],
    ["ip in the IPv4-compatible form (an IPv6 address, not 1.2.3.4)", { owner: "o", kind: "secret", ips: ["::1.2.3.4"] }, "ips.0"],
    ["ip block in the IPv4-compatible form", { owner: "o", kind: "secret", ips: ["10.0.0.1", "::1.2.3.0/120"] }, "ips.1"],
    ["negative credits", { owner: "o", kind: "secret", credits: { limit: -1 } }, "credits.limit"],
    ["NaN credits", { owner: "o", kind: "secret", credits: { limit: Number.NaN } }, "credits.limit"],
    ["fractional rate", { owner: "o", kind: "secret", rateLimit: { limit: 1.5, windowMs: 1000 } }, "rateLimit.limit"],
    ["zero window", { owner: "o", kind: "secret", rateLimit: { limit: 1, windowMs: 0 } }, "rateLimit.windowMs"],
    ["refill too fast", { owner: "o", kind: "secret", credits: { limit: 1, refill: { amount: 1, intervalMs: 1 } } }, "credits.refill.intervalMs"],
    ["expiry in the past", { owner: "o", kind: "secret", expiresAt: Date.UTC(2025, 0, 1) }, "expiresAt"],
    ["expiry NaN", { owner: "o", kind: "secret", expiresAt: Number.NaN }, "expiresAt"],
    ["invalid date", { owner: "o", kind: "secret", expiresAt: new Date("x") }, "expiresAt"],
    ["unknown field", { owner: "o", kind: "secret", admin: true }, "input"],
    ["short ed25519 key", { owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: "AAAA" } }, "signing.publicKey"],
    ["unknown alg", { owner: "o", kind: "secret", signing: { alg: "rsa" } }, "signing.alg"],
    ["metadata array", { owner: "o", kind: "secret", metadata: [1] }, "metadata"],
    ["metadata __proto__", { owner: "o", kind: "secret", metadata: JSON.parse('{"__proto__":{"x":1}}') }, "metadata"],
    ["metadata constructor", { owner: "o", kind: "secret", metadata: { a: { constructor: 1 } } }, "metadata"],
    ["metadata function", { owner: "o", kind: "secret", metadata: { f: () => 1 } }, "metadata"],
    ["metadata too large", { owner: "o", kind: "secret", metadata: { big } }, "metadata"],
    ["metadata Infinity", { owner: "o", kind: "secret", metadata: { n: Number.POSITIVE_INFINITY } }, "metadata"],
    ["__proto__ at top", JSON.parse('{"owner":"o","kind":"secret","__proto__":{"scopes":["*:*"]}}'), "input"],
    ["pool __proto__", { owner: "o", kind: "secret", pools: JSON.parse('{"__proto__":{"limit":5}}') }, "pools.__proto__"],
    ["pools __proto__ among others", { owner: "o", kind: "secret", pools: JSON.parse('{"search":{"limit":5},"__proto__":{"limit":5}}') }, "pools.__proto__"],
  ];

  it("ips in a dotted IPv6 form that names an IPv4 client or a NAT64 one are kept", async () => {
    const { kw } = setup();
    const ips = ["::ffff:203.0.113.7", "::ffff:198.51.100.0/120", "64:ff9b::203.0.113.7", "::1", "::/96"];
    expect((await kw.tokens.create({ owner: "o", kind: "secret", ips })).record.policy.ips).toEqual(ips);
  });

  it("a missing Ed25519 public key is told which forms a key may take (not zod's bare 'Invalid input')", async () => {
    const { kw } = setup();
    for (const signing of [{ alg: "ed25519", publicKey: null }, { alg: "ed25519" }]) {
      const e = await expectCode(kw.tokens.create({ owner: "o", kind: "secret", signing } as never), "INVALID_INPUT");
      expect(e.message).toMatch(/^signing\.publicKey: must be an Ed25519 public key: 32 bytes/);
    }
  });

  it.each(cases)("create: %s → INVALID_INPUT, nothing stored", async (_label, input, field) => {
    const { kw, store } = setup();
    const e = await expectCode(kw.tokens.create(input as CreateTokenInput), "INVALID_INPUT");
    expect(e.field === field || e.field?.startsWith(`${field}.`) || (field === "input" && e.field !== undefined)).toBe(true);
    expect(e.message.length).toBeLessThan(300);
    expect((await guardStore(store).list("o")).items).toHaveLength(0);
    expect((await guardStore(store).listAudit({ owner: "o" })).items).toHaveLength(0);
  });

  it("update, revoke, regenerate, get, list and usage reject bad arguments and change nothing", async () => {
    const { kw, store } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const before = await store.get(record.id);
    await expectCode(kw.tokens.update(record.id, {}), "INVALID_INPUT");
    await expectCode(kw.tokens.update(record.id, { scopes: ["bad"] }), "INVALID_INPUT");
    await expectCode(kw.tokens.update(record.id, { name: "x" }, { effectiveAt: Number.NaN }), "INVALID_INPUT");
    await expectCode(kw.tokens.update(record.id, { name: "x" }, { expectedRevision: 1.5 }), "INVALID_INPUT");
    await expectCode(kw.tokens.update(record.id, { signing: { alg: "hmac-sha256" } }), "INVALID_INPUT");
    await expectCode(kw.tokens.update(record.id, { name: "x" }, { actor: "" }), "INVALID_INPUT");
    await expectCode(kw.tokens.update(record.id, { name: "x" }, { actor: " \t" }), "INVALID_INPUT");
    await expectCode(kw.tokens.revoke(record.id, { actor: " " }), "INVALID_INPUT");
    await expectCode(kw.tokens.update("tok_missing", { name: "x" }), "TOKEN_NOT_FOUND");
    await expectCode(kw.tokens.update({} as never, { name: "x" }), "TOKEN_NOT_FOUND");
    await expectCode(kw.tokens.regenerate(record.id, { graceMs: -1 }), "INVALID_INPUT");
    await expectCode(kw.tokens.regenerate(record.id, { graceMs: Number.NaN }), "INVALID_INPUT");
    await expectCode(kw.tokens.revoke("x".repeat(1_000_000)), "TOKEN_NOT_FOUND");
    await expectCode(kw.tokens.list(""), "INVALID_INPUT");
    await expectCode(kw.tokens.list("o", { limit: 0 }), "INVALID_INPUT");
    await expectCode(kw.tokens.list("o", { limit: Number.NaN }), "INVALID_INPUT");
    await expectCode(kw.tokens.list("o", { cursor: "garbage" }), "INVALID_INPUT");
    await expectCode(kw.usage.get(record.id, { from: Date.UTC(2026, 0, 2), to: Date.UTC(2026, 0, 1) }), "INVALID_INPUT");
    await expectCode(kw.usage.get(record.id, { from: 10, to: 5 }), "TIME_IN_SECONDS");
    await expectCode(kw.usage.get(record.id, { granularity: "week" as never }), "INVALID_INPUT");
    expect(await kw.tokens.get("__proto__")).toBeNull();
    expect(await store.get(record.id)).toEqual(before);
    // A pool named __proto__ in a change is refused, not read as "no pools" (which dropped every pool).
    const { record: pooled } = await kw.tokens.create({ owner: "o", kind: "secret", pools: { search: { limit: 100 } } });
    const e = await expectCode(kw.tokens.update(pooled.id, { pools: JSON.parse('{"__proto__":{"limit":5}}') }), "INVALID_INPUT");
    expect(e.field).toBe("pools.__proto__");
    expect((await kw.tokens.get(pooled.id))?.policy.pools).toEqual({ search: { limit: 100, refill: null } });
    expect((await guardStore(store).listAudit({ tokenId: record.id })).items).toHaveLength(1);
  });
});

describe("the audit filter", () => {
  it("names one token or one owner: both, another field, or an owner that is no owner id is INVALID_INPUT on filter, never another owner's log", async () => {
    const { kw } = setup();
    const mine = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const theirs = await kw.tokens.create({ owner: "acct_2", kind: "secret" });
    // An application scoping a tenant's read as { owner, tokenId } would be handed another tenant's log.
    for (const [filter, field] of [
      [{ owner: "acct_1", tokenId: theirs.record.id }, "filter"],
      [{ owner: "acct_1", tokenid: theirs.record.id }, "filter"],
      [{ tokenId: mine.record.id, actor: "user:1" }, "filter"],
      [{ owner: "o".repeat(100_000) }, "owner"],
    ] as const) {
      await expect(kw.tokens.audit(filter as never), field).rejects.toMatchObject({ code: "INVALID_INPUT", field });
    }
    expect((await kw.tokens.audit({ owner: "acct_1" })).items.map((e) => e.tokenId)).toEqual([mine.record.id]);
    expect((await kw.tokens.audit({ tokenId: theirs.record.id })).items.map((e) => e.owner)).toEqual(["acct_2"]);
  });

  it("never reads '*', where account entries are filed, as a token: INVALID_INPUT, not every account's log", async () => {
    const { kw } = setup();
    await kw.accounts.set("acct_1", { rateLimit: { limit: 5, windowMs: 1000 } }, { actor: "ops:alice" });
    await kw.accounts.set("acct_2", { rateLimit: { limit: 5, windowMs: 1000 } });
    expect((await kw.tokens.audit({ owner: "acct_1" })).items.map((e) => e.actor)).toEqual(["ops:alice"]);
    for (const target of ["*", { tokenId: "*" }]) {
      await expect(kw.tokens.audit(target as never), String(target)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "tokenId" });
      await expect(kw.usage.get(target as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "tokenId" });
      await expect(kw.usage.lastUsed(target as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "tokenId" });
    }
  });
});

describe("options of another name", () => {
  it("are refused (INVALID_INPUT on options), never ignored: a misspelt effectiveAt, expectedRevision or graceMs changes nothing", async () => {
    const { kw } = setup();
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
    const later = Date.UTC(2026, 0, 2);
    const misspelt: [string, () => Promise<unknown>][] = [
      ["update effectivAt", () => kw.tokens.update(record.id, { scopes: ["core:write"] }, { effectivAt: later } as never)],
      ["update expectedrevision", () => kw.tokens.update(record.id, { name: "x" }, { expectedrevision: 7 } as never)],
      ["regenerate graceMS", () => kw.tokens.regenerate(record.id, { graceMS: 60_000 } as never)],
      ["revoke actr", () => kw.tokens.revoke(record.id, { actr: "user:1" } as never)],
      ["disable reason", () => kw.tokens.disable(record.id, { reason: "x" } as never)],
      ["create expiresAt as an option", () => kw.tokens.create({ owner: "acct_1", kind: "secret" }, { expiresAt: later } as never)],
      ["reportLeak publishabel", () => kw.tokens.reportLeak(token, { source: "support", publishabel: "flag" } as never)],
      ["list expiringbefore", () => kw.tokens.list("acct_1", { expiringbefore: later } as never)],
      ["scan nw", () => kw.tokens.scan("acct_1", { nw: later } as never).next()],
      ["audit limt", () => kw.tokens.audit({ owner: "acct_1" }, { limt: 1 } as never)],
    ];
    for (const [name, call] of misspelt) {
      const err = await expectCode(call, "INVALID_INPUT");
      expect(err.field, name).toBe("options");
    }
    // Nothing was written: the token is as created, and still works.
    const now = await kw.tokens.get(record.id);
    expect(now?.revision).toBe(record.revision);
    expect(now?.policy.scopes).toEqual(["core:read"]);
    expect(now?.scheduled).toEqual([]);
    expect((await kw.check({ token, scope: "core:read" })).ok).toBe(true);
    expect((await kw.tokens.list("acct_1")).items).toHaveLength(1);
  });
});

describe("tokens.get / list", () => {
  it("lists an owner's tokens oldest first with cursor pagination", async () => {
    const { kw, advance } = setup();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await kw.tokens.create({ owner: "o", kind: "secret", name: `t${i}` })).record.id);
      advance(1);
    }
    await kw.tokens.create({ owner: "other", kind: "secret" });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof kw.tokens.list>> = await kw.tokens.list("o", { limit: 3, cursor });
      seen.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids);
    expect((await kw.tokens.get(ids[0]!))?.name).toBe("t0");
    expect(await kw.tokens.get("tok_0000000000000000000000")).toBeNull();
  });
});

describe("tokens.update", () => {
  it("applies immediately by default and bumps the revision", async () => {
    const { kw } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const updated = await kw.tokens.update(record.id, { scopes: ["premium:read"], name: "renamed" });
    expect(updated.policy.scopes).toEqual(["premium:read"]);
    expect(updated.name).toBe("renamed");
    expect(updated.revision).toBe(record.revision + 1);
  });

  it("keeps each scope, domain, IP range and ceiling scope once, in the order first given, on create, update and accounts.set", async () => {
    const { kw } = setup({ defaultScopes: ["core:read", "core:read"] });
    const twice = { scopes: ["b:read", "a:read", "b:read"], domains: ["x.test", "*.x.test", "x.test"], ips: ["10.0.0.0/8", "10.0.0.0/8"] };
    const { record } = await kw.tokens.create({ owner: "o", kind: "publishable", ...twice });
    const once = { scopes: ["b:read", "a:read"], domains: ["x.test", "*.x.test"], ips: ["10.0.0.0/8"] };
    expect(record.policy).toMatchObject(once);
    expect((await kw.tokens.update(record.id, { scopes: ["c:read", "c:read"], ips: ["::1", "::1"] })).policy).toMatchObject({ scopes: ["c:read"], ips: ["::1"] });
    expect((await kw.tokens.create({ owner: "o", kind: "secret" })).record.policy.scopes).toEqual(["core:read"]);
    expect((await kw.accounts.set("o", { ceiling: ["c:read", "core:read", "c:read"] })).policy.ceiling).toEqual(["c:read", "core:read"]);
  });

  it("schedules policy changes at effectiveAt; later changes override earlier-scheduled ones", async () => {
    const { kw, advance } = setup({ propagationDelayMs: 5_000 });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    const r1 = await kw.tokens.update(record.id, { scopes: ["premium:read"], name: "now" });
    expect(r1.name).toBe("now"); // not a policy field: at once
    expect(r1.policy.scopes).toEqual(["core:read"]); // default delay of 5 s
    expect(r1.scheduled).toHaveLength(1);
    advance(4_999);
    expect((await kw.tokens.get(record.id))?.policy.scopes).toEqual(["core:read"]);
    advance(1);
    const r2 = await kw.tokens.get(record.id);
    expect(r2?.policy.scopes).toEqual(["premium:read"]);
    expect(r2?.scheduled).toEqual([]);

    // Schedule two revisions; a later update at an earlier time applies to both.
    const t0 = Date.UTC(2026, 0, 1) + 5_000;
    await kw.tokens.update(record.id, { ips: ["10.0.0.0/8"] }, { effectiveAt: t0 + 20_000 });
    await kw.tokens.update(record.id, { scopes: ["core:read", "premium:read"] }, { effectiveAt: t0 + 10_000 });
    advance(10_000);
    expect((await kw.tokens.get(record.id))?.policy).toMatchObject({ scopes: ["core:read", "premium:read"], ips: [] });
    advance(10_000);
    expect((await kw.tokens.get(record.id))?.policy).toMatchObject({
      scopes: ["core:read", "premium:read"],
      ips: ["10.0.0.0/8"],
    });
  });

  it("keeps at most MAX_SCHEDULED changes pending: one more is INVALID_INPUT on effectiveAt and changes nothing", async () => {
    const { kw, store, advance } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const t0 = Date.UTC(2027, 0, 1);
    for (let i = 0; i < MAX_SCHEDULED; i++) await kw.tokens.update(record.id, { ips: [`10.0.${i}.0/24`] }, { effectiveAt: t0 + i * 1000 });
    const before = await store.get(record.id);
    expect(before?.scheduled).toHaveLength(MAX_SCHEDULED);
    const err = await kw.tokens.update(record.id, { ips: ["10.1.0.0/24"] }, { effectiveAt: t0 + 500 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_INPUT", field: "effectiveAt" });
    expect(String((err as Error).message)).toContain(`at most ${MAX_SCHEDULED} changes may be pending`);
    expect(await store.get(record.id)).toEqual(before);
    // At an instant already scheduled, or at once, a change still applies; so does one once a revision took effect.
    expect((await kw.tokens.update(record.id, { name: "n", ips: ["10.2.0.0/24"] }, { effectiveAt: t0 })).scheduled).toHaveLength(MAX_SCHEDULED);
    expect((await kw.tokens.update(record.id, { ips: ["10.3.0.0/24"] }, { effectiveAt: Date.UTC(2026, 0, 1) })).scheduled).toHaveLength(MAX_SCHEDULED);
    advance(t0 - Date.UTC(2026, 0, 1));
    expect((await kw.tokens.update(record.id, { ips: ["10.4.0.0/24"] }, { effectiveAt: t0 + 99_000 })).scheduled).toHaveLength(MAX_SCHEDULED);
  });

  it("of two concurrent admins at one expectedRevision, the loser gets REVISION_CONFLICT", async () => {
    const { kw, store } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const at = { expectedRevision: record.revision };
    const results = await Promise.allSettled([kw.tokens.update(record.id, { name: "alice" }, at), kw.tokens.update(record.id, { name: "bob" }, at)]);
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r) => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(isKeywardError((failed[0] as PromiseRejectedResult).reason, "REVISION_CONFLICT")).toBe(true);
    const winner = (ok[0] as PromiseFulfilledResult<{ name: string }>).value.name;
    expect((await store.get(record.id))?.name).toBe(winner);
    // An admin console sends the revision it displayed.
    await expectCode(kw.tokens.update(record.id, { name: "stale" }, { expectedRevision: record.revision }), "REVISION_CONFLICT");
    expect((await store.get(record.id))?.name).toBe(winner);
  });

  it("concurrent changes without expectedRevision are each applied on top of the others, none lost to a conflict it did not ask about", async () => {
    const { kw, store, now } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const [named, tagged, disabled, reIpd] = await Promise.all([
      kw.tokens.update(record.id, { name: "renamed" }),
      kw.tokens.update(record.id, { metadata: { team: "ops" } }),
      kw.tokens.disable(record.id),
      kw.tokens.update(record.id, { ips: ["203.0.113.0/24"] }, { effectiveAt: now() }),
    ]);
    expect(new Set([named, tagged, disabled, reIpd].map((r) => r.revision)).size).toBe(4);
    const stored = (await store.get(record.id))!;
    expect(stored).toMatchObject({ revision: record.revision + 4, name: "renamed", metadata: { team: "ops" }, policy: { ips: ["203.0.113.0/24"] } });
    expect(stored.disabledAt).not.toBeNull();
    expect((await kw.tokens.audit({ tokenId: record.id })).items.map((e) => e.action).sort()).toEqual(["create", "disable", "update", "update", "update"]);
  });
});

describe("tokens.revoke / regenerate", () => {
  it("revokes idempotently and refuses changes afterwards", async () => {
    const { kw, advance } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const r1 = await kw.tokens.revoke(record.id);
    expect(r1.revokedAt).not.toBeNull();
    advance(1000);
    const r2 = await kw.tokens.revoke(record.id);
    expect(r2.revokedAt).toBe(r1.revokedAt);
    // Nothing written again: same revision, one audit entry.
    expect(r2.revision).toBe(r1.revision);
    expect((await kw.tokens.audit({ tokenId: record.id })).items.map((e) => e.action)).toEqual(["create", "revoke"]);
    await expectCode(kw.tokens.update(record.id, { name: "x" }), "TOKEN_REVOKED");
    await expectCode(kw.tokens.regenerate(record.id), "TOKEN_REVOKED");
    await expectCode(kw.tokens.revoke("tok_0000000000000000000000"), "TOKEN_NOT_FOUND");
  });

  it.each([
    ["MemoryStore", () => new MemoryStore()],
    ["SQLite", () => sqliteStore(":memory:")],
  ])("concurrent revokes on %s write one audit entry", async (_name, makeStore) => {
    const store = makeStore();
    const kw = new Keyward({ store, prefix: "acme" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const revoked = await Promise.all([1, 2, 3].map((i) => kw.tokens.revoke(record.id, { actor: `user:${i}` })));
    expect(new Set(revoked.map((r) => r.revokedAt)).size).toBe(1);
    expect((await kw.tokens.audit({ tokenId: record.id })).items.map((e) => e.action)).toEqual(["create", "revoke"]);
    await kw.close();
    await store.close();
  });

  it("a revoke stops at once on its instance the secret another instance regenerated after the revoke's read (SQLite file)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kw-revoke-race-"));
    const [a, b] = [sqliteStore(join(dir, "k.db")), sqliteStore(join(dir, "k.db"))];
    const held = holdable(a);
    const revoker = new Keyward({ store: held.store, prefix: "acme" });
    const other = new Keyward({ store: b, prefix: "acme" });
    try {
      const { token: first, record } = await revoker.tokens.create({ owner: "o", kind: "secret" });
      const hold = held.hold("get");
      const revoking = revoker.tokens.revoke(record.id, { actor: "user:console" });
      await hold.reached;
      const { token: second } = await other.tokens.regenerate(record.id, { graceMs: 60_000 });
      expect((await revoker.check({ token: second })).ok).toBe(true); // cached here, live
      hold.release();
      expect((await revoking).revokedAt).not.toBeNull();
      for (const token of [second, first]) expect((await revoker.check({ token })).code).toBe("TOKEN_REVOKED");
    } finally {
      await revoker.close();
      await other.close();
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never cuts short a grace already given: a fifth old secret in grace is refused, nothing written", async () => {
    const { kw, store, advance } = setup();
    const { token: first, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const olds = [first];
    for (let i = 0; i < 4; i++) {
      advance(1_000);
      olds.push((await kw.tokens.regenerate(record.id, { graceMs: 3_600_000 })).token);
    }
    const before = await store.get(record.id);
    const err = await expectCode(kw.tokens.regenerate(record.id, { graceMs: 3_600_000 }), "INVALID_INPUT");
    expect(err.field).toBe("graceMs");
    expect(await store.get(record.id)).toEqual(before);
    expect((await kw.tokens.audit({ tokenId: record.id })).items).toHaveLength(5);
    for (const token of olds) expect((await kw.check({ token })).ok).toBe(true);
    // Once a grace has ended there is room again; without a grace every old secret stops.
    advance(3_600_000 - 3_000);
    const fifth = await kw.tokens.regenerate(record.id, { graceMs: 60_000 });
    expect(fifth.record.graceUntil).not.toBeNull();
    expect((await kw.check({ token: first })).code).toBe("TOKEN_UNKNOWN");
    for (const token of olds.slice(1)) expect((await kw.check({ token })).ok).toBe(true);
    const leakResponse = await kw.tokens.regenerate(record.id);
    expect(leakResponse.record.graceUntil).toBeNull();
    for (const token of [...olds, fifth.token]) expect((await kw.check({ token })).ok).toBe(false);
    // The audit log says how long each old secret was kept: the grace given, or none.
    const regenerations = (await kw.tokens.audit({ tokenId: record.id })).items.filter((e) => e.action === "regenerate");
    expect(regenerations.map((e) => (e.graceUntil === undefined ? null : e.graceUntil - e.at))).toEqual([3_600_000, 3_600_000, 3_600_000, 3_600_000, 60_000, null]);
  });

  it("replaces the secret, keeps id and settings, and honours the grace period", async () => {
    const { kw, store, advance } = setup({ sealingKey: SEALING_KEY });
    const first = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["premium:read"], signing: { alg: "hmac-sha256" } });
    const second = await kw.tokens.regenerate(first.record.id);
    expect(second.record.id).toBe(first.record.id);
    expect(second.token).not.toBe(first.token);
    expect(second.record.policy.scopes).toEqual(["premium:read"]);
    expect(await store.findByHash(hashToken(first.token))).toBeNull();
    expect((await store.findByHash(hashToken(second.token)))?.id).toBe(first.record.id);

    const third = await kw.tokens.regenerate(first.record.id, { graceMs: 60_000 });
    expect(third.record.graceUntil).not.toBeNull();
    const viaOld = await store.findByHash(hashToken(second.token));
    expect(viaOld?.id).toBe(first.record.id);
    expect(viaOld?.previous[0]?.hash).toBe(hashToken(second.token));
    expect(viaOld?.previous[0]?.sealed).toBeDefined(); // the old HMAC key still verifies during the grace
    advance(60_001);
    expect((await kw.tokens.get(first.record.id))?.graceUntil).toBeNull();
  });
});

describe("tokens.reseal: retiring a sealing key", () => {
  const OLD = SEALING_KEY;
  const NEW = toBase64Url(new Uint8Array(32).fill(9));
  const T = Date.UTC(2026, 0, 1);
  const stores: [string, () => { store: KeywardOptions["store"]; close: () => void }][] = [
    ["MemoryStore", () => ({ store: new MemoryStore(), close: () => {} })],
    [
      "a SQLite file",
      () => {
        const dir = mkdtempSync(join(tmpdir(), "kw-reseal-"));
        const store = sqliteStore(join(dir, "k.db"));
        const close = () => {
          store.close();
          rmSync(dir, { recursive: true, force: true });
        };
        return { store, close };
      },
    ],
  ];
  for (const [name, open] of stores) {
    it(`on ${name}: the HMAC keys of a token, its old secret in grace too, sealed anew; then the old sealing key can go`, async () => {
      const { store, close } = open();
      const at = (sealingKey: string[]) => new Keyward({ store, prefix: "acme", now: () => T + 1_000, sealingKey });
      const signed = (token: string, id: string) =>
        signRequest(new Request("https://api.example.com/v1/x"), { keyId: id, key: { alg: "hmac-sha256", secret: deriveSigningSecret(token) }, created: (T + 1_000) / 1000, nonce: true });
      try {
        const before = at([OLD]);
        const { token: first, record } = await before.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
        const { token: second } = await before.tokens.regenerate(record.id, { graceMs: 3_600_000 });
        const { record: ed } = await before.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: ed25519KeyPair().publicKey } });
        const { token: gone, record: revoked } = await before.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
        await before.tokens.revoke(revoked.id);
        const { record: other } = await before.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
        await before.close();

        // Without the old key, nothing sealed under it verifies: the step reseal makes unnecessary.
        const newOnly = at([NEW]);
        expect((await newOnly.verify(await signed(second, record.id))).code).toBe("STORE_UNAVAILABLE");
        await newOnly.close();

        const both = at([NEW, OLD]);
        const revision = (await store.get(record.id))!.revision;
        const result = await both.tokens.reseal(record.id, { actor: "ops" });
        expect(result.resealed).toBe(2);
        expect(result.record.revision).toBe(revision + 1);
        const audit = (await both.tokens.audit({ tokenId: record.id })).items.at(-1)!;
        expect(audit).toMatchObject({ action: "update", actor: "ops", changes: ["sealingKey"] });
        expect(JSON.stringify(audit)).not.toContain(toBase64Url(deriveSigningSecret(second)));
        // Idempotent: nothing left to seal, nothing written.
        expect(await both.tokens.reseal(record.id)).toMatchObject({ resealed: 0, record: { revision: revision + 1 } });
        expect((await both.tokens.audit({ tokenId: record.id })).items).toHaveLength(3);
        // No HMAC key, or revoked: nothing to do.
        expect((await both.tokens.reseal(ed.id)).resealed).toBe(0);
        expect((await both.tokens.reseal(revoked.id)).resealed).toBe(0);
        await expectCode(both.tokens.reseal("tok_nonexistent000000000"), "TOKEN_NOT_FOUND");
        await both.close();

        // The old sealing key removed: the new secret and the old one (in its grace period) still verify.
        const after = at([NEW]);
        expect((await after.verify(await signed(second, record.id))).ok).toBe(true);
        expect((await after.verify(await signed(first, record.id))).ok).toBe(true);
        expect((await after.verify(await signed(gone, revoked.id))).ok).toBe(false);
        // A token left sealed under the removed key: SEALING_KEY_UNKNOWN, and nothing written.
        const untouched = (await store.get(other.id))!;
        await expectCode(after.tokens.reseal(other.id), "SEALING_KEY_UNKNOWN");
        expect(await store.get(other.id)).toEqual(untouched);
        await after.close();
      } finally {
        close();
      }
    });
  }
});

describe("tokens.import", () => {
  it("imports an existing key by its SHA-256", async () => {
    const { kw, store } = setup();
    const legacy = "legacy-key-0123456789";
    const record = await kw.tokens.import({ hash: hashToken(legacy).toUpperCase(), owner: "o", kind: "secret" });
    expect((await store.findByHash(hashToken(legacy)))?.id).toBe(record.id);
    await expectCode(kw.tokens.import({ hash: hashToken(legacy), owner: "o", kind: "secret" }), "TOKEN_ALREADY_EXISTS");
    await expectCode(kw.tokens.import({ hash: "abc", owner: "o", kind: "secret" }), "INVALID_INPUT");
  });
});

describe("audit", () => {
  it("records every admin action with actor and changed fields, never a secret", async () => {
    const { kw } = setup();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", name: "n" }, { actor: "user:1" });
    await kw.tokens.update(record.id, { scopes: ["premium:read"] }, { actor: "user:2", effectiveAt: Date.UTC(2027, 0, 1) });
    const { token: token2 } = await kw.tokens.regenerate(record.id);
    await kw.tokens.revoke(record.id, { actor: "cli" });
    const { items } = await kw.tokens.audit({ tokenId: record.id });
    expect(items.map((e) => [e.action, e.actor])).toEqual([
      ["create", "user:1"],
      ["update", "user:2"],
      ["regenerate", "system"],
      ["revoke", "cli"],
    ]);
    expect(items[0]!.changes).toEqual(["name"]);
    expect(items[1]).toMatchObject({ changes: ["scopes"], effectiveAt: Date.UTC(2027, 0, 1) });
    const dump = JSON.stringify(items);
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(token2);
    expect((await kw.tokens.audit({ owner: "o" })).items).toHaveLength(4);
  });
});

describe("audit of fields given as undefined", () => {
  it("names only the fields given a value: one given as undefined is absent (a value from an optional variable)", async () => {
    const { kw } = setup();
    const none: undefined = process.env.KEYWARD_TEST_UNSET as undefined;
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", name: none, scopes: ["core:read"], expiresAt: none, metadata: none });
    await kw.tokens.update(record.id, { name: "n", scopes: none, signing: none });
    const { items } = await kw.tokens.audit({ tokenId: record.id });
    expect(items.map((e) => [e.action, e.changes])).toEqual([
      ["create", ["scopes"]],
      ["update", ["name"]],
    ]);
    expect((await kw.tokens.get(record.id))!.policy.scopes).toEqual(["core:read"]);
    // Nothing but undefined: nothing to change, a coded error that says so; nothing written.
    await expect(kw.tokens.update(record.id, { name: none, scopes: none })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "patch",
      message: "patch: must change at least one field (a field given as undefined changes nothing)",
    });
    expect((await kw.tokens.audit({ tokenId: record.id })).items).toHaveLength(2);
  });
});

describe("writes the store stores but answers without the record", () => {
  /** A MemoryStore without a change feed whose update and revoke commit, then answer `undefined` while `broken`. */
  class AnswersNothing extends MemoryStore {
    broken = false;
    override async update(...args: Parameters<MemoryStore["update"]>) {
      const saved = await super.update(...args);
      return this.broken ? (undefined as never) : saved;
    }
    override async revoke(...args: Parameters<MemoryStore["revoke"]>) {
      const saved = await super.revoke(...args);
      return this.broken ? (undefined as never) : saved;
    }
  }

  it("reject with STORE_UNAVAILABLE, and this instance's cache is dropped all the same", async () => {
    const store = new AnswersNothing({ changeFeed: false });
    const kw = new Keyward({ store, prefix: "acme" });
    const narrowed = await kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read"] });
    const revoked = await kw.tokens.create({ owner: "o", kind: "secret" });
    const regenerated = await kw.tokens.create({ owner: "o", kind: "secret" });
    // Cached on this instance, which has no change feed to learn of writes.
    for (const t of [narrowed, revoked, regenerated]) expect((await kw.check({ token: t.token, scope: "core:read" })).ok).toBe(true);
    store.broken = true;
    await expectCode(kw.tokens.update(narrowed.record.id, { scopes: ["core:write"] }), "STORE_UNAVAILABLE");
    await expectCode(kw.tokens.revoke(revoked.record.id), "STORE_UNAVAILABLE");
    await expectCode(kw.tokens.regenerate(regenerated.record.id), "STORE_UNAVAILABLE");
    // The writes were stored, and this instance decides on them at once.
    expect((await kw.check({ token: narrowed.token, scope: "core:read" })).code).toBe("SCOPE_DENIED");
    expect((await kw.check({ token: revoked.token })).code).toBe("TOKEN_REVOKED");
    expect((await kw.check({ token: regenerated.token })).code).toBe("TOKEN_UNKNOWN");
    store.broken = false;
    expect((await kw.tokens.get(narrowed.record.id))?.policy.scopes).toEqual(["core:write"]);
  });
});
