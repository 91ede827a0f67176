// Free text that keyward stores and later prints (audit actor, owner, name,
// metadata keys) must not forge a log line or disguise itself on a terminal,
// and nothing stored may be unportable between stores (issue 13 item 5,
// issue 16 item 9). Every refusal happens before any store write.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type CreateTokenInput, escapeText, guardStore, isKeywardError, Keyward, type KeywardError, MemoryStore, type TokenStore } from "keyward";
import { createAdminHandler } from "keyward/admin";
import { sqliteStore } from "keyward/sqlite";

const T0 = Date.UTC(2026, 0, 1);
/** The reproduction of issue 13: a forged log line, then "clear screen". */
const FORGED = "x\n2026-01-01 INFO admin login success\u001b[2J";
const HASH = "a".repeat(64);

/** Any code point, lone surrogates, and the characters of the reproduction (fast-check's "binary" unit is slow to build). */
const anyChar = fc.oneof(
  fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom("\n", "\u001b", "\u202e", "\u0000", "a", "é"),
);

function setup() {
  const store = new MemoryStore();
  return { store, kw: new Keyward({ store, prefix: "acme", now: () => T0 }) };
}

async function refusal(p: Promise<unknown>, code = "INVALID_INPUT"): Promise<KeywardError & { field: string }> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(isKeywardError(err, code as never), String(err)).toBe(true);
  return err as KeywardError & { field: string };
}

/** Everything the store holds, to show that a refused call changed nothing. */
async function snapshot(store: MemoryStore, owner = "o") {
  const tokens = await guardStore(store).list(owner, { limit: 1000 });
  const audit = await guardStore(store).listAudit({ owner }, { limit: 1000 });
  return JSON.stringify({ tokens, audit });
}

describe("log forging through the audit actor and other free text (issue 13 item 5)", () => {
  it("refuses the forged actor on every admin write, naming the field, and stores nothing", async () => {
    const { kw, store } = setup();
    const before = await snapshot(store);
    const create = await refusal(kw.tokens.create({ owner: "o", kind: "secret" }, { actor: FORGED }));
    expect(create.field).toBe("actor");
    await refusal(kw.tokens.import({ hash: HASH, owner: "o", kind: "secret" }, { actor: FORGED }));
    expect(await snapshot(store)).toBe(before);

    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" }, { actor: "user:42" });
    const after = await snapshot(store);
    for (const call of [
      () => kw.tokens.update(record.id, { name: "n" }, { actor: FORGED }),
      () => kw.tokens.revoke(record.id, { actor: FORGED }),
      () => kw.tokens.regenerate(record.id, { actor: FORGED }),
    ]) {
      expect((await refusal(call())).field).toBe("actor");
    }
    expect(await snapshot(store)).toBe(after);
    const audit = await kw.tokens.audit({ tokenId: record.id });
    expect(audit.items.map((e) => e.actor)).toEqual(["user:42"]);
  });

  const unsafe = [
    ["line feed", "a\nb"],
    ["carriage return", "a\rb"],
    ["escape (ANSI)", "a\u001b[31mb"],
    ["NUL", "a\u0000b"],
    ["DEL", "a\u007fb"],
    ["C1 CSI", "a\u009bb"],
    ["line separator", "a\u2028b"],
    ["paragraph separator", "a\u2029b"],
    ["right-to-left override", "a\u202eb"],
    ["right-to-left isolate", "a\u2067b"],
    ["zero-width space", "a\u200bb"],
    ["arabic letter mark", "a\u061cb"],
    ["byte order mark", "a\ufeffb"],
    ["tag character", "a\u{e0041}b"],
    ["lone high surrogate", "a\ud800b"],
    ["lone low surrogate", "a\udc00b"],
  ] as const;

  it.each(unsafe)("refuses %s in actor, owner, name, import start and metadata keys", async (_label, bad) => {
    const { kw, store } = setup();
    const cases: [Promise<unknown>, string][] = [
      [kw.tokens.create({ owner: "o", kind: "secret" }, { actor: bad }), "actor"],
      [kw.tokens.create({ owner: bad, kind: "secret" }), "owner"],
      [kw.tokens.create({ owner: "o", kind: "secret", name: bad }), "name"],
      [kw.tokens.create({ owner: "o", kind: "secret", metadata: { [bad]: 1 } }), `metadata.${escapeText(bad)}`],
      [kw.tokens.create({ owner: "o", kind: "secret", metadata: { a: [{ [bad]: 1 }] } }), `metadata.a.0.${escapeText(bad)}`],
      [kw.tokens.import({ hash: HASH, owner: "o", kind: "secret", start: bad }), "start"],
      [kw.tokens.list(bad), "owner"],
    ];
    for (const [call, field] of cases) {
      const err = await refusal(call);
      expect(err.field).toBe(field);
      // The error itself cannot forge a line either: what it echoes is escaped.
      expect(/[\n\r\u001b\u2028]/.test(err.message + err.field + JSON.stringify(err))).toBe(false);
    }
    expect((await guardStore(store).list(bad)).items).toEqual([]);
    expect(await snapshot(store)).toBe(await snapshot(new MemoryStore()));
  });

  /** Text that shows nothing, each character of it allowed on its own inside visible text: it names no one. */
  const blank = [
    ["spaces", "   "],
    ["a tab", "\t"],
    ["no-break spaces", "\u00a0\u00a0"],
    ["an ideographic space", "\u3000"],
    ["a Hangul filler", "\u3164"],
    ["Hangul choseong and jungseong fillers", "\u115f\u1160"],
    ["a halfwidth Hangul filler", "\uffa0"],
    ["a braille blank", "\u2800"],
    ["a combining grapheme joiner", "\u034f"],
    ["a variation selector after a space", " \ufe0f"],
  ] as const;

  it.each(blank)("refuses an owner, actor, member or suspension reason of only %s, and stores nothing", async (_label, bad) => {
    const { kw, store } = setup();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" }, { actor: "user:42" });
    const before = await snapshot(store);
    const cases: [Promise<unknown>, string][] = [
      [kw.tokens.create({ owner: bad, kind: "secret" }, { actor: "user:42" }), "owner"],
      [kw.tokens.create({ owner: "o", kind: "secret" }, { actor: bad }), "actor"],
      [kw.tokens.revoke(record.id, { actor: bad }), "actor"],
      [kw.accounts.members.set("o", bad, "admin"), "member"],
      [kw.accounts.members.set(bad, "user:42", "owner"), "owner"],
      [kw.accounts.set("o", { suspended: { reason: bad } }), "suspended.reason"],
    ];
    for (const [call, field] of cases) expect((await refusal(call)).field).toBe(field);
    expect(await snapshot(store)).toBe(before);
    expect(await guardStore(store).getAccount(bad)).toBeNull();
  });

  it("keeps names that hold a filler, a variation selector or spaces among visible characters", async () => {
    const { kw } = setup();
    for (const owner of ["acct \u3164 1", "\u2764\ufe0f", " x "]) {
      const { record } = await kw.tokens.create({ owner, kind: "secret" }, { actor: `user:${owner}` });
      expect(record.owner).toBe(owner);
    }
  });

  it("keeps ordinary text, accents, emoji and CJK", async () => {
    const { kw } = setup();
    const name = "Café — 東京 🚀 (prod)";
    const { record } = await kw.tokens.create({ owner: "acct:é", kind: "secret", name, metadata: { "clé 🔑": "x" } }, { actor: "user:Zoë" });
    expect(record.name).toBe(name);
    expect((await kw.tokens.audit({ tokenId: record.id })).items[0]?.actor).toBe("user:Zoë");
  });

  it("escapeText makes text stored before these rules safe to print", () => {
    expect(escapeText(FORGED)).toBe("x\\u{a}2026-01-01 INFO admin login success\\u{1b}[2J");
    expect(escapeText("a\u202eb\ud800")).toBe("a\\u{202e}b\\u{d800}");
    expect(escapeText("tag \u{e0041}, pair 🚀")).toBe("tag \\u{e0041}, pair 🚀");
    expect(escapeText("Café 🚀")).toBe("Café 🚀");
    expect(() => escapeText(1 as never)).toThrow(TypeError);
    const unsafeChar = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
    fc.assert(
      fc.property(fc.string({ unit: anyChar }), (s) => {
        const out = escapeText(s);
        // Nothing left that a terminal or a line-oriented log would act on;
        // text without such characters is unchanged.
        return !unsafeChar.test(out) && (unsafeChar.test(s) || out === s);
      }),
    );
  });
});

describe("portable data: NUL and lone surrogates (issue 16 item 9)", () => {
  const values = [
    ["NUL in a value", { note: "a\u0000b" }, "metadata.note"],
    ["NUL deep in an array", { a: { b: ["ok", { c: "x\u0000" }] } }, "metadata.a.b.1.c"],
    ["lone high surrogate in a value", { note: "\ud83d" }, "metadata.note"],
    ["lone low surrogate deep", { a: [["\ude00"]] }, "metadata.a.0.0"],
    ["NUL in a key", { "k\u0000": 1 }, "metadata.k\\u{0}"],
    ["lone surrogate in a nested key", { a: { "\udfff": 1 } }, "metadata.a.\\u{dfff}"],
  ] as const;

  it.each(values)("refuses %s at create and update, naming the path, storing nothing", async (_label, metadata, field) => {
    const { kw, store } = setup();
    const created = await refusal(kw.tokens.create({ owner: "o", kind: "secret", metadata } as CreateTokenInput));
    expect(created.field).toBe(field);
    expect(await snapshot(store)).toBe(await snapshot(new MemoryStore()));
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", metadata: { keep: 1 } });
    const before = await snapshot(store);
    expect((await refusal(kw.tokens.update(record.id, { metadata } as never))).field).toBe(field);
    expect(await snapshot(store)).toBe(before);
  });

  it("keeps other control characters and surrogate pairs in metadata values (data, printed as JSON)", async () => {
    const { kw } = setup();
    const metadata = { note: "line 1\nline 2\ttab", emoji: "🚀", escape: "\u001b" };
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", metadata });
    expect(record.metadata).toEqual(metadata);
  });

  it("every stored string survives a JSON round trip unchanged (what a SQL store does)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.string({ unit: anyChar, maxLength: 8 }), fc.string({ unit: anyChar, maxLength: 8 }), { maxKeys: 4 }), async (metadata) => {
        const { kw } = setup();
        const r = await kw.tokens.create({ owner: "o", kind: "secret", metadata }).then(
          (issued) => issued.record,
          () => null,
        );
        if (r === null) return;
        // Accepted: UTF-8 encodable and free of U+0000, so PostgreSQL text/jsonb keeps it as is.
        const json = JSON.stringify(r.metadata);
        expect(json.includes("\\u0000")).toBe(false);
        expect(new TextDecoder().decode(new TextEncoder().encode(json))).toBe(json);
      }),
      { numRuns: 200 },
    );
  });
});

describe("a token pasted into stored text", () => {
  const stores: [string, () => TokenStore][] = [
    ["MemoryStore", () => new MemoryStore()],
    ["SQLite", () => sqliteStore(":memory:")],
  ];

  /** A live secret of another instance's prefix too: the refusal is for any token, not this application's only. */
  async function live(kw: Keyward): Promise<string> {
    return (await kw.tokens.create({ owner: "o", kind: "secret" })).token;
  }

  /** Every token, account and audit entry of the owners involved. */
  async function everything(store: TokenStore, owners: string[]): Promise<string> {
    const s = guardStore(store);
    const out = [];
    for (const owner of owners) {
      out.push(await s.list(owner, { limit: 1000 }), await s.listAudit({ owner }, { limit: 1000 }), await s.getAccount(owner));
    }
    return JSON.stringify(out);
  }

  describe.each(stores)("%s", (_name, make) => {
    it("refuses it in owner, name, actor, member, metadata values and keys, allowed domains, scopes and ceilings, naming the field, and stores nothing", async () => {
      const store = make();
      const kw = new Keyward({ store, prefix: "acme", now: () => T0 });
      const other = new Keyward({ store: new MemoryStore(), prefix: "zeta", now: () => T0 });
      const { record } = await kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 5, refill: null } });
      await kw.accounts.set("o", { credits: { limit: 10 } });
      for (const secret of [await live(kw), await live(other), `Bearer ${await live(kw)}`]) {
        const before = await everything(store, ["o", secret]);
        const cases: [() => Promise<unknown>, string][] = [
          [() => kw.tokens.create({ owner: secret, kind: "secret" }), "owner"],
          [() => kw.tokens.create({ owner: "o", kind: "secret", name: secret }), "name"],
          [() => kw.tokens.create({ owner: "o", kind: "secret" }, { actor: secret }), "actor"],
          [() => kw.tokens.create({ owner: "o", kind: "secret", metadata: { note: secret } }), "metadata.note"],
          [() => kw.tokens.create({ owner: "o", kind: "secret", metadata: { a: [{ b: `see ${secret}` }] } }), "metadata.a.0.b"],
          [() => kw.tokens.create({ owner: "o", kind: "secret", metadata: { a: { [secret]: 1 } } }), "metadata.a"],
          [() => kw.tokens.create({ owner: "o", kind: "publishable", domains: [secret] }), "domains.0"],
          [() => kw.tokens.create({ owner: "o", kind: "publishable", domains: ["example.com", `${secret}.example.com`] }), "domains.1"],
          [() => kw.tokens.create({ owner: "o", kind: "secret", scopes: ["core:read", `${secret}:read`] }), "scopes.1"],
          [() => kw.tokens.create({ owner: "o", kind: "secret", scopes: [`datasets/${secret}:read`] }), "scopes.0"],
          [() => kw.tokens.import({ hash: HASH, owner: secret, kind: "secret" }), "owner"],
          [() => kw.tokens.import({ hash: HASH, owner: "o", kind: "secret", name: secret }), "name"],
          [() => kw.tokens.update(record.id, { name: secret }), "name"],
          [() => kw.tokens.update(record.id, { metadata: { note: secret } }), "metadata.note"],
          [() => kw.tokens.update(record.id, { domains: [secret] }), "domains.0"],
          [() => kw.tokens.update(record.id, { scopes: [`${secret}:read`] }), "scopes.0"],
          [() => kw.tokens.update(record.id, { name: "n" }, { actor: secret }), "actor"],
          [() => kw.tokens.revoke(record.id, { actor: secret }), "actor"],
          [() => kw.tokens.disable(record.id, { actor: secret }), "actor"],
          [() => kw.tokens.regenerate(record.id, { actor: secret }), "actor"],
          [() => kw.tokens.delete(record.id, { actor: secret }), "actor"],
          [() => kw.tokens.reportLeak(secret, { source: "github", actor: secret }), "actor"],
          [() => kw.credits.topUp({ tokenId: record.id }, 1, { actor: secret }), "actor"],
          [() => kw.accounts.set(secret, { credits: { limit: 10 } }), "owner"],
          [() => kw.accounts.set("o", { credits: { limit: 20 } }, { actor: secret }), "actor"],
          [() => kw.accounts.set("o", { ceiling: ["core:read", `${secret}:read`] }), "ceiling.1"],
          [() => kw.accounts.members.set(secret, "user:1", "owner"), "owner"],
          [() => kw.accounts.members.set("o", secret, "owner"), "member"],
          [() => kw.accounts.members.set("o", "user:1", "owner", { actor: secret }), "actor"],
        ];
        for (const [call, field] of cases) {
          const err = await refusal(call());
          expect(err.field, field).toBe(field);
          expect(err.message).toContain("looks like a token");
          expect((err as unknown as { hint: string }).hint).toBe("store its id (tok_…) instead");
          // Neither the error nor what it serializes to holds the secret.
          expect(JSON.stringify(err) + err.message + err.stack).not.toContain(secret.replace("Bearer ", ""));
        }
        expect(await everything(store, ["o", secret]), secret.slice(0, 5)).toBe(before);
      }
      await kw.close();
    });
  });

  it("refuses it in the operator's options: defaultScopes, and the admin handler's grantableScopes, datasets and title (INVALID_CONFIG naming the field)", async () => {
    const { kw } = setup();
    const other = new Keyward({ store: new MemoryStore(), prefix: "zeta", now: () => T0 });
    for (const secret of [await live(kw), await live(other)]) {
      const admin = (options: Partial<Parameters<typeof createAdminHandler>[0]>) => () => createAdminHandler({ keyward: kw, authorize: () => "o", ...options });
      const cases: [() => unknown, string][] = [
        // Stored with each token created without scopes: refused as the same scope given to tokens.create is.
        [() => new Keyward({ store: new MemoryStore(), prefix: "acme", defaultScopes: ["core:read", `datasets/${secret}:read`] }), "defaultScopes.1"],
        // Stored on the tokens that get them, and shown to every signed-in caller (GET /config).
        [admin({ grantableScopes: ["core:read", `datasets/${secret}:read`] }), "grantableScopes[1]"],
        [admin({ grantableScopes: [`${secret}:read`] }), "grantableScopes[0]"],
        [admin({ datasets: ["web", secret] }), "datasets[1]"],
        [admin({ title: `Keys ${secret}` }), "title"],
      ];
      for (const [build, field] of cases) {
        let err: unknown;
        try {
          build();
        } catch (e) {
          err = e;
        }
        expect(isKeywardError(err, "INVALID_CONFIG"), `${field}: ${String(err)}`).toBe(true);
        const e = err as KeywardError & { field: string };
        expect(e.field).toBe(field);
        expect(e.message).toContain("looks like a token");
        expect(JSON.stringify(e) + e.message + e.stack).not.toContain(secret);
      }
    }
    // What only resembles a token is kept.
    expect(createAdminHandler({ keyward: kw, authorize: () => "o", datasets: ["acme_sk_live_xxxxxxxx"], title: "acme_sk_live_…" })).toBeTypeOf("function");
  });

  it("refuses the legacy key an import adopts in its start, name, owner or metadata (it has no shape to be refused by), and stores nothing", async () => {
    const { store, kw } = setup();
    const legacy = "sk_Uuc2SDCpGcU52usZ0e4EOw"; // 25 characters: it fits start's 32
    const hash = createHash("sha256").update(legacy).digest("hex");
    const before = await snapshot(store);
    const cases: [Partial<Parameters<Keyward["tokens"]["import"]>[0]>, string][] = [
      [{ start: legacy }, "start"],
      [{ name: legacy }, "name"],
      [{ owner: legacy }, "owner"],
      [{ metadata: { legacy: { key: legacy } } }, "metadata.legacy.key"],
      [{ metadata: { keys: ["k", legacy] } }, "metadata.keys.1"],
      [{ metadata: { by: { [legacy]: true } } }, "metadata.by"],
    ];
    for (const [input, field] of cases) {
      const err = await refusal(kw.tokens.import({ hash: hash.toUpperCase(), owner: "o", kind: "secret", ...input }));
      expect([err.field, err.message]).toEqual([field, expect.stringContaining("is the key being imported")]);
      expect(JSON.stringify(err) + err.message + err.stack).not.toContain(legacy);
    }
    expect(await snapshot(store)).toBe(before);
    // Its start, and text that merely holds part of it, are kept.
    const record = await kw.tokens.import({ hash, owner: "o", kind: "secret", start: legacy.slice(0, 7), metadata: { note: legacy.slice(0, -1) } });
    expect(record.start).toBe("sk_Uuc2");
  });

  it("keeps text that only resembles a token, and a token's start and public id", async () => {
    const { kw } = setup();
    const secret = await live(kw);
    const cut = secret.slice(0, -1);
    const { record } = await kw.tokens.create({
      owner: "o",
      kind: "secret",
      name: `${secret.slice(0, 16)}… (${"tok_1234"})`,
      metadata: { typo: cut, doc: "acme_sk_live_xxxxxxxx" },
    });
    expect(record.metadata).toEqual({ typo: cut, doc: "acme_sk_live_xxxxxxxx" });
  });

  it("still finds, lists and cleans up what was stored before tokens were refused", async () => {
    const store = new MemoryStore();
    const kw = new Keyward({ store, prefix: "acme", now: () => T0 });
    const secret = await live(kw);
    // Written as an earlier version did: straight into the store.
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const stored = (await store.get(record.id))!;
    const old = "tok_old0000000000000000001";
    await store.insert({ ...stored, id: old, hash: "b".repeat(64), owner: secret });
    expect((await kw.tokens.list(secret)).items.map((t) => t.id)).toEqual([old]);
    expect((await kw.tokens.revoke(old)).revokedAt).toBe(T0);
  });
});
