// Settings that no request could ever satisfy, and a likely unit mistake,
// are refused with their own code and a hint (issue 8 item 5); `expiresAt`
// takes epoch ms, a Date or an ISO-8601 string.
import { describe, expect, it } from "vitest";
import {
  DomainsOnSecretError,
  guardStore,
  InvalidInputError,
  isKeywardError,
  Keyward,
  type KeywardOptions,
  MemoryStore,
  SigningMissingError,
  TimeInSecondsError,
} from "keyward";
import { ed25519KeyPair } from "../client/helpers.js";

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function setup(options: Partial<KeywardOptions> = {}) {
  const store = new MemoryStore();
  return { store, kw: new Keyward({ store, prefix: "acme", now: () => T0, ...options }) };
}

async function refused(p: Promise<unknown>, code: string) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(isKeywardError(err, code as never), String(err)).toBe(true);
  expect(err).toBeInstanceOf(InvalidInputError);
  return err as InvalidInputError;
}

async function nothingStored(store: MemoryStore) {
  expect((await guardStore(store).list("o")).items).toEqual([]);
  expect((await guardStore(store).listAudit({ owner: "o" })).items).toEqual([]);
}

describe("requireSignedRequests without signing", () => {
  it("is refused at create and import with SIGNING_MISSING and a hint", async () => {
    const { kw, store } = setup();
    const err = await refused(kw.tokens.create({ owner: "o", kind: "secret", requireSignedRequests: true }), "SIGNING_MISSING");
    expect(err).toBeInstanceOf(SigningMissingError);
    expect(err.field).toBe("requireSignedRequests");
    expect(err.hint).toContain("ed25519");
    expect(err.message).toContain("hint:");
    await refused(kw.tokens.import({ hash: "b".repeat(64), owner: "o", kind: "secret", requireSignedRequests: true }), "SIGNING_MISSING");
    await nothingStored(store);
  });

  it("is refused at update, now or scheduled, and when signing is removed under it", async () => {
    const { kw, store } = setup();
    const plain = await kw.tokens.create({ owner: "o", kind: "secret" });
    const before = await store.get(plain.record.id);
    await refused(kw.tokens.update(plain.record.id, { requireSignedRequests: true }), "SIGNING_MISSING");
    await refused(kw.tokens.update(plain.record.id, { requireSignedRequests: true }, { effectiveAt: T0 + DAY }), "SIGNING_MISSING");
    expect(await store.get(plain.record.id)).toEqual(before);

    const signed = await kw.tokens.create({
      owner: "o",
      kind: "secret",
      requireSignedRequests: true,
      signing: { alg: "ed25519", publicKey: ed25519KeyPair().publicKey },
    });
    await refused(kw.tokens.update(signed.record.id, { signing: null }), "SIGNING_MISSING");
    // Both at once is consistent: the token stops requiring signatures and loses its key.
    const r = await kw.tokens.update(signed.record.id, { signing: null, requireSignedRequests: false }, { effectiveAt: T0 });
    expect(r.signing).toBeNull();
    expect(r.policy.requireSignedRequests).toBe(false);
  });

  it("is accepted with a signing key, and an unrelated update of an older inconsistent token still works", async () => {
    const { kw, store } = setup();
    const { record } = await kw.tokens.create({
      owner: "o",
      kind: "secret",
      requireSignedRequests: true,
      signing: { alg: "ed25519", publicKey: ed25519KeyPair().publicKey },
    });
    expect(record.policy.requireSignedRequests).toBe(true);
    // A token stored by an earlier version with the inconsistency: renaming it is not refused.
    const old = (await store.get(record.id))!;
    await store.update({ ...old, signing: null, revision: old.revision + 1 }, old.revision, {
      id: "aud_0000000000000zzzzzzzzzz",
      at: T0,
      actor: "test",
      action: "update",
      tokenId: old.id,
      owner: old.owner,
      changes: ["signing"],
    });
    expect((await kw.tokens.update(record.id, { name: "renamed" })).name).toBe("renamed");
  });
});

describe("allowed domains on a secret token", () => {
  it("is refused at create, import and update with DOMAINS_ON_SECRET and a hint", async () => {
    const { kw, store } = setup();
    const err = await refused(kw.tokens.create({ owner: "o", kind: "secret", domains: ["example.com"] }), "DOMAINS_ON_SECRET");
    expect(err).toBeInstanceOf(DomainsOnSecretError);
    expect(err.field).toBe("domains");
    expect(err.hint).toContain("publishable");
    await refused(kw.tokens.import({ hash: "c".repeat(64), owner: "o", kind: "secret", domains: ["*.example.com"] }), "DOMAINS_ON_SECRET");
    await nothingStored(store);

    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const before = await store.get(record.id);
    await refused(kw.tokens.update(record.id, { domains: ["example.com"] }), "DOMAINS_ON_SECRET");
    expect(await store.get(record.id)).toEqual(before);
    // Clearing domains is always fine.
    expect((await kw.tokens.update(record.id, { domains: [] })).policy.domains).toEqual([]);
  });

  it("is fine on a publishable token, and on a secret one where secret tokens are accepted from browsers", async () => {
    expect((await setup().kw.tokens.create({ owner: "o", kind: "publishable", domains: ["example.com"] })).record.policy.domains).toEqual(["example.com"]);
    const open = setup({ allowSecretInBrowser: true });
    const { record } = await open.kw.tokens.create({ owner: "o", kind: "secret", domains: ["example.com"] });
    expect(record.policy.domains).toEqual(["example.com"]);
    // And such a token does pass from its domain: the refusal elsewhere is not hiding a working setting.
    const issued = await open.kw.tokens.create({ owner: "o", kind: "secret", domains: ["app.example.com"] });
    expect((await open.kw.check({ token: issued.token, origin: "https://app.example.com" })).ok).toBe(true);
    // Without allowSecretInBrowser the same request could never pass: why the setting is refused.
    const strict = setup();
    const sk = await strict.kw.tokens.create({ owner: "o", kind: "secret" });
    const d = await strict.kw.verify(new Request("https://api.example.com/", { headers: { authorization: `Bearer ${sk.token}`, origin: "https://app.example.com" } }));
    expect(d.code).toBe("SECRET_IN_BROWSER");
  });
});

describe("expiresAt", () => {
  it("in seconds is refused with TIME_IN_SECONDS and a hint, at create and update", async () => {
    const { kw, store } = setup();
    const seconds = Math.floor((T0 + DAY) / 1000); // 1 767 312 000: tomorrow, in seconds
    const err = await refused(kw.tokens.create({ owner: "o", kind: "secret", expiresAt: seconds }), "TIME_IN_SECONDS");
    expect(err).toBeInstanceOf(TimeInSecondsError);
    expect(err.field).toBe("expiresAt");
    expect(err.hint).toContain("1000");
    await nothingStored(store);
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const before = await store.get(record.id);
    await refused(kw.tokens.update(record.id, { expiresAt: seconds }), "TIME_IN_SECONDS");
    await refused(kw.tokens.update(record.id, { expiresAt: 0 }), "TIME_IN_SECONDS");
    // A Date made from seconds falls in January 1970: the same mistake.
    await refused(kw.tokens.update(record.id, { expiresAt: new Date(seconds) }), "TIME_IN_SECONDS");
    expect(await store.get(record.id)).toEqual(before);
  });

  it("a real past time is no seconds: refused as in the past at create, taken where past times are valid", async () => {
    const { kw } = setup();
    // 1999 and 1980 in ms, as numbers and Dates (and what the CLI hands on for --expires-at 1999-01-01):
    // as seconds these would be the years 30970 and 12150, which nobody means; the mistake is the date.
    for (const expiresAt of [Date.UTC(1999, 0, 1), new Date(Date.UTC(1999, 0, 1)), Date.UTC(1980, 5, 1)]) {
      const err = await refused(kw.tokens.create({ owner: "o", kind: "secret", expiresAt }), "INVALID_INPUT");
      expect(err.message).toContain("in the future");
    }
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await expect(kw.usage.get(record.id, { from: Date.UTC(1999, 0, 1), to: new Date(Date.UTC(1999, 1, 1)) })).resolves.toBeDefined();
    // Seconds of any year up to 5138 are still refused; 3 March 1973 in ms is the bound.
    await refused(kw.tokens.update(record.id, { expiresAt: 99_999_999_999 }), "TIME_IN_SECONDS");
  });

  it("accepts epoch ms, a Date, and ISO-8601 date-times with a zone or dates", async () => {
    const { kw } = setup();
    const expected = Date.UTC(2027, 0, 1);
    for (const expiresAt of [expected, new Date(expected), "2027-01-01T00:00:00Z", "2027-01-01T01:00:00.000+01:00", "2027-01-01"]) {
      const { record } = await kw.tokens.create({ owner: "o", kind: "secret", expiresAt });
      expect(record.policy.expiresAt).toBe(expected);
    }
    expect((await kw.tokens.create({ owner: "o", kind: "secret", expiresAt: "2027-06-30T12:34:56.789Z" })).record.policy.expiresAt).toBe(
      Date.UTC(2027, 5, 30, 12, 34, 56, 789),
    );
  });

  it.each([
    ["a local time (no zone: another instant on every server)", "2027-01-01T00:00:00"],
    ["an impossible date", "2027-02-30"],
    ["a month 13", "2027-13-01T00:00:00Z"],
    ["an hour 24", "2027-01-01T24:00:00Z"],
    ["an RFC 2822 date", "Fri, 01 Jan 2027 00:00:00 GMT"],
    ["a number in a string", "1798761600000"],
    ["an empty string", ""],
    ["a long string", `2027-01-01T00:00:00Z${" ".repeat(100)}`],
    ["an invalid Date", new Date("x")],
    ["a bigint", 1798761600000n],
  ])("refuses %s with INVALID_INPUT", async (_label, expiresAt) => {
    const { kw, store } = setup();
    const err = await refused(kw.tokens.create({ owner: "o", kind: "secret", expiresAt: expiresAt as string }), "INVALID_INPUT");
    expect(err.field).toBe("expiresAt");
    if (typeof expiresAt !== "string") expect(err.message).toContain("must be a valid time");
    await nothingStored(store);
  });
});
