// One error family (issue 8 item 6) that never echoes a token (issue 13
// item 6): redaction and escaping happen in the KeywardError constructor, so
// every entry point and every serialisation is covered. Each case below
// feeds a token where a user could paste one by mistake.
import { readFile } from "node:fs/promises";
import fc from "fast-check";
import { inspect } from "node:util";
import { describe, expect, expectTypeOf, it } from "vitest";
import { ADMIN_CODES } from "../../src/admin/problem.js";
import { codeUnions } from "../support/code-unions.js";
import * as keyward from "keyward";
import {
  type ErrorCode,
  findTokens,
  generateToken,
  guardStore,
  InvalidInputError,
  isKeywardError,
  Keyward,
  KeywardError,
  MemoryStore,
  StoreUnavailableError,
} from "keyward";
import * as signing from "keyward/signing";
import { signatureBase } from "keyward/signing";

const TOKEN = generateToken({ prefix: "acme", kind: "secret", env: "live" });
const BODY = TOKEN.slice("acme_sk_live_".length);
/** Token-shaped strings findTokens does not report (bad checksum, cut short, other case): redacted too. */
const LOOKALIKES = [`${TOKEN.slice(0, -1)}${TOKEN.endsWith("x") ? "y" : "x"}`, TOKEN.slice(0, 30), TOKEN.toUpperCase(), `other_pk_test_${BODY}`];

/** Every way an error reaches a log: message, stack, toString, JSON, util.inspect, each own property. */
function surfaces(err: unknown): string[] {
  const e = err as Error;
  return [
    e.message,
    e.stack ?? "",
    String(e),
    JSON.stringify(e),
    inspect(e, { depth: 5 }),
    ...Object.values(e).map((v) => (typeof v === "string" ? v : JSON.stringify(v) ?? "")),
  ];
}

function expectClean(err: unknown, secrets: readonly string[] = [TOKEN]) {
  expect(err).toBeInstanceOf(KeywardError);
  for (const text of surfaces(err)) {
    expect(findTokens(text)).toEqual([]);
    for (const secret of secrets) {
      const tail = secret.slice(secret.lastIndexOf("_") + 1);
      expect(text).not.toContain(tail);
    }
  }
}

const caught = async (f: () => unknown) => {
  try {
    await f();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
};

describe("token-shaped strings are redacted from every error (issue 13 item 6)", () => {
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme" });

  const entryPoints: [string, (token: string) => unknown][] = [
    ["create: unknown key (zod unrecognized_keys)", (t) => kw.tokens.create({ owner: "o", kind: "secret", [t]: 1 } as never)],
    ["create: unknown nested key", (t) => kw.tokens.create({ owner: "o", kind: "secret", credits: { limit: 1, [t]: 1 } } as never)],
    ["create: metadata key on a refused path", (t) => kw.tokens.create({ owner: "o", kind: "secret", metadata: { [t]: { constructor: 1 } } })],
    ["create: metadata key with a bad value", (t) => kw.tokens.create({ owner: "o", kind: "secret", metadata: { [t]: Number.NaN } })],
    ["create: token as a scope", (t) => kw.tokens.create({ owner: "o", kind: "secret", scopes: [t] })],
    ["create: token as the owner, too long", (t) => kw.tokens.create({ owner: t.repeat(10), kind: "secret" })],
    ["update: unknown key", async (t) => kw.tokens.update((await kw.tokens.create({ owner: "o", kind: "secret" })).record.id, { [t]: 1 } as never)],
    ["update: token as the id", (t) => kw.tokens.update(t, { name: "x" })],
    ["revoke: token as the id", (t) => kw.tokens.revoke(t)],
    ["regenerate: token as the id", (t) => kw.tokens.regenerate(t)],
    ["usage: token as the id and granularity", (t) => kw.usage.get(t, { granularity: t as never })],
    ["import: token as the hash", (t) => kw.tokens.import({ hash: t, owner: "o", kind: "secret" })],
    ["verify: token as the scope", (t) => kw.verify(new Request("https://api.example.com/"), { scope: [t, 1] as never })],
    ["config: unknown option", (t) => new Keyward({ store, prefix: "acme", [t]: 1 } as never)],
    ["config: token as the prefix", (t) => new Keyward({ store, prefix: t })],
    ["config: unknown nested option", (t) => new Keyward({ store, prefix: "acme", signatures: { [t]: 1 } } as never)],
    ["store: bad audit entry", (t) => guardStore(store).appendAudit({ id: t } as never)],
    ["signing: token as a component", (t) => signatureBase(new Request("https://api.example.com/"), { components: [t], params: {} })],
    ["signing: token as a header component", (t) => signatureBase(new Request("https://api.example.com/"), { components: [t.toLowerCase()], params: {} })],
  ];

  it.each(entryPoints)("%s", async (_label, call) => {
    for (const token of [TOKEN, ...LOOKALIKES]) {
      const err = await caught(() => call(token));
      expectClean(err, [token]);
    }
  });

  it("keeps what identifies the mistake: the field, with the token's kind and environment", async () => {
    const err = (await caught(() => kw.tokens.create({ owner: "o", kind: "secret", [TOKEN]: 1 } as never))) as InvalidInputError;
    expect(err.field).toBe("acme_sk_live_[redacted]");
    expect(err.message).toBe("acme_sk_live_[redacted]: unknown field");
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      name: "InvalidInputError",
      code: "INVALID_INPUT",
      message: "acme_sk_live_[redacted]: unknown field",
      field: "acme_sk_live_[redacted]",
    });
  });

  it("every exported class, constructed with a token in every argument, is clean", () => {
    for (const C of errorClasses()) {
      const err = new (C as new (...args: unknown[]) => KeywardError)(...(C === keyward.SealingKeyError ? ["SEALING_KEY_UNKNOWN", TOKEN] : [TOKEN, TOKEN, TOKEN]));
      expectClean(err);
    }
    expectClean(new KeywardError("INVALID_INPUT", `bad ${TOKEN}`));
    expectClean(new StoreUnavailableError(`connect ${TOKEN}`));
  });

  it("escapes control characters: an error message cannot forge a log line either", async () => {
    const forged = "x\n2026-01-01 INFO admin login success\u001b[2J";
    const err = await caught(() => kw.tokens.create({ owner: "o", kind: "secret", [forged]: 1 } as never));
    for (const text of surfaces(err)) expect(text).not.toMatch(/\n2026|\u001b/);
    expect((err as InvalidInputError).field).toBe("x\\u{a}2026-01-01 INFO admin login success\\u{1b}[2J");
  });

  it("any token of any prefix, anywhere in a message or a field, is redacted (property)", () => {
    const token = fc
      .record({
        prefix: fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/),
        kind: fc.constantFrom("publishable", "secret") as fc.Arbitrary<"publishable" | "secret">,
        env: fc.constantFrom("live", "test") as fc.Arbitrary<"live" | "test">,
      })
      .map((o) => generateToken(o));
    fc.assert(
      fc.property(fc.string(), token, fc.string(), (before, t, after) => {
        const err = new InvalidInputError(`${before}${t}${after}`, `${after}${t}${before}`);
        for (const text of surfaces(err)) {
          if (findTokens(text).length > 0 || text.includes(t.slice(t.lastIndexOf("_") + 1))) return false;
        }
        return true;
      }),
    );
  });

  it("bounds what an error keeps of a huge input", async () => {
    const err = await caught(() => kw.tokens.create({ owner: "o", kind: "secret", ["k".repeat(1_000_000)]: 1 } as never));
    expect((err as Error).message.length).toBeLessThan(1100);
  });
});

/** Every error class the package exports, from every entry point. */
function errorClasses(): Function[] {
  const all: unknown[] = [...Object.values(keyward), ...Object.values(signing)];
  return [...new Set(all)].filter((v): v is Function => typeof v === "function" && v.prototype instanceof KeywardError);
}

describe("one error family (issue 8 item 6)", () => {
  it("every class carries its own static code, and its instances that code", () => {
    const classes = errorClasses();
    expect(classes.length).toBeGreaterThanOrEqual(14);
    for (const C of classes) {
      expect(Object.hasOwn(C, "code"), C.name).toBe(true);
      const code = (C as unknown as { code: ErrorCode }).code;
      const args = C === keyward.SealingKeyError ? [code, "m"] : C === signing.SignatureBaseError ? ["COMPONENT_MISSING", "m"] : ["f", "m"];
      const err = new (C as new (...a: unknown[]) => KeywardError)(...args);
      expect(err.code, C.name).toBe(code);
      expect(err.name).toBe(C.name);
      expect(isKeywardError(err, code)).toBe(true);
    }
  });

  it("keeps the cause", () => {
    const cause = new Error("ECONNRESET");
    expect(new StoreUnavailableError("down", { cause }).cause).toBe(cause);
    expect(new InvalidInputError("f", "m", { cause }).cause).toBe(cause);
    expect(new keyward.ConfigError("f", "m", { cause }).cause).toBe(cause);
    // The cause is not serialised: a driver's error may say more than a log should.
    expect(JSON.stringify(new StoreUnavailableError("down", { cause }))).not.toContain("ECONNRESET");
  });

  it("switch (err.code) is checked against the closed union", () => {
    const describe = (err: KeywardError): string => {
      switch (err.code) {
        case "INVALID_INPUT":
        case "INVALID_KEY":
        case "SIGNING_MISSING":
        case "DOMAINS_ON_SECRET":
        case "TIME_IN_SECONDS":
        case "LIFETIME_EXCEEDED":
        case "LAST_OWNER":
          return "fix the input";
        case "INVALID_CONFIG":
          return "fix the options";
        case "TOKEN_NOT_FOUND":
        case "TOKEN_ALREADY_EXISTS":
        case "TOKEN_REVOKED":
        case "REVISION_CONFLICT":
        case "SCOPE_NOT_ALLOWED":
        case "SEALING_KEY_REQUIRED":
        case "SEALING_KEY_UNKNOWN":
        case "STORE_UNAVAILABLE":
        case "STORE_UNSUPPORTED":
        case "ACCOUNT_NOT_FOUND":
        case "IDEMPOTENCY_KEY_REUSED":
        case "IDEMPOTENCY_KEY_IN_FLIGHT":
          return "other";
        default: {
          const unreachable: never = err.code;
          return unreachable;
        }
      }
    };
    expect(describe(new keyward.TimeInSecondsError("expiresAt", "m"))).toBe("fix the input");
    expectTypeOf(new keyward.InvalidKeyError("f", "m").code).toEqualTypeOf<"INVALID_KEY">();
    expectTypeOf(keyward.TokenNotFoundError.code).toEqualTypeOf<"TOKEN_NOT_FOUND">();
    const err: unknown = new keyward.RevisionConflictError("tok_x", 3);
    if (isKeywardError(err, "REVISION_CONFLICT")) expectTypeOf(err.expectedRevision).toEqualTypeOf<number>();
    if (isKeywardError(err, "TIME_IN_SECONDS")) expectTypeOf(err.hint).toEqualTypeOf<string | undefined>();
    // Every code has its class.
    expectTypeOf<keyof keyward.ErrorClassByCode>().toEqualTypeOf<ErrorCode>();
  });

  it("docs/errors.md has one row per code of every exported type that names codes, and no other; docs/verifying-requests.md and docs/console.md list theirs", async () => {
    const root = new URL("../../", import.meta.url);
    const read = (f: string) => readFile(new URL(f, root), "utf8");
    // Derived from the sources: a new code, or a new exported union of codes (a function's { ok: false, code }), needs its row.
    const unions = codeUnions("src");
    const admin = [...ADMIN_CODES];
    const deny = unions.get("src/policy/decision.ts#DenyCode")!;
    const codes = new Set([...unions].filter(([key]) => !key.startsWith("src/admin/")).flatMap(([, c]) => c));
    expect(codes).toContain("TOKEN_CHECKSUM");
    const doc = await read("docs/errors.md");
    const rows = new Set([...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!));
    expect([...rows].sort()).toEqual([...codes].sort());
    /** The codes named in the first two columns of the first table after `heading`. */
    const tableCodes = (md: string, heading: string) => {
      const table = md.split(heading)[1]!.split("\n\n").find((part) => part.trimStart().startsWith("|"))!;
      return new Set([...table.matchAll(/^\|([^|]+)\|([^|]+)\|/gm)].flatMap((m) => [...(m[1]! + m[2]!).matchAll(/`([A-Z_]+)`/g)].map((c) => c[1]!)));
    };
    expect([...tableCodes(await read("docs/verifying-requests.md"), "## Reason codes")].sort()).toEqual(["OK", ...deny].sort());
    const answered = tableCodes(await read("docs/console.md"), "| status | `code` |");
    expect(admin.filter((c) => !answered.has(c))).toEqual([]);
    expect(await read("README.md")).toContain("docs/errors.md");
    expect(await read("docs/README.md")).toContain("(errors.md)");
  });
});
