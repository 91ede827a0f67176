// ed25519 public keys that can never be legitimate are refused when a token
// is created or updated (issue 13 item 8): the 8 points of small order, for
// which a signature can verify whatever the message, every encoding that
// strict RFC 8032 §5.1.3 decoding refuses, and mixed-order points.
import { Point } from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import { guardStore, InvalidInputError, InvalidKeyError, isKeywardError, Keyward, MemoryStore } from "keyward";
import { toBase64Url } from "../../src/lib/bytes.js";
import { signRequest } from "../../src/signing/index.js";
import { ed25519KeyPair } from "../client/helpers.js";

const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((b) => Number.parseInt(b, 16)));

/**
 * The canonical encodings of the 8 points of small order (the torsion
 * subgroup of edwards25519), as listed in libsodium's blocklist and in
 * "Taming the many EdDSAs" (Chalkias et al., 2020): orders 1, 2, 4, 4, 8, 8, 8, 8.
 */
const SMALL_ORDER = [
  "0100000000000000000000000000000000000000000000000000000000000000", // identity
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // (0, -1)
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
];

/** Encodings strict decoding refuses: y ≥ p (non-canonical), x = 0 with the sign bit, y with no x on the curve. */
const NOT_CANONICAL = [
  ["y = p + 1 (the identity, non-canonically)", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"],
  ["y = p", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"],
  ["y = 2^255 - 1", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"],
  ["identity with the sign bit set (x = 0)", "0100000000000000000000000000000000000000000000000000000000000080"],
  ["y = 2, not on the curve", "0200000000000000000000000000000000000000000000000000000000000000"],
] as const;

function setup() {
  const store = new MemoryStore();
  return { store, kw: new Keyward({ store, prefix: "acme", now: () => Date.UTC(2026, 0, 1) }) };
}

describe("ed25519 public keys", () => {
  it("the vectors are what they claim, by noble's point API", () => {
    const points = SMALL_ORDER.map((h) => Point.fromBytes(hex(h)));
    for (const p of points) {
      expect(p.isSmallOrder()).toBe(true);
      expect(p.multiply(8n, false).is0()).toBe(true);
    }
    expect(new Set(points.map((p) => p.toHex())).size).toBe(8);
    for (const [, h] of NOT_CANONICAL) expect(() => Point.fromBytes(hex(h))).toThrow();
  });

  it.each(SMALL_ORDER.map((h, i) => [i, h]))("small-order point #%i is refused at create and update (INVALID_KEY)", async (_i, h) => {
    const { kw, store } = setup();
    for (const publicKey of [hex(h), toBase64Url(hex(h))]) {
      const err = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey } }).catch((e: unknown) => e);
      expect(isKeywardError(err, "INVALID_KEY")).toBe(true);
      expect(err).toBeInstanceOf(InvalidKeyError);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as InvalidKeyError).field).toBe("signing.publicKey");
      expect(String(err)).toContain("small order");
    }
    expect((await guardStore(store).list("o")).items).toEqual([]);

    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: ed25519KeyPair().publicKey } });
    const before = await store.get(record.id);
    const err = await kw.tokens.update(record.id, { signing: { alg: "ed25519", publicKey: hex(h) } }).catch((e: unknown) => e);
    expect(isKeywardError(err, "INVALID_KEY")).toBe(true);
    expect(await store.get(record.id)).toEqual(before);
    expect((await guardStore(store).listAudit({ tokenId: record.id })).items).toHaveLength(1);
  });

  it.each(NOT_CANONICAL)("%s is refused (INVALID_KEY)", async (_label, h) => {
    const { kw, store } = setup();
    const err = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: hex(h) } }).catch((e: unknown) => e);
    expect(isKeywardError(err, "INVALID_KEY")).toBe(true);
    expect(String(err)).toContain("canonical");
    expect((await guardStore(store).list("o")).items).toEqual([]);
  });

  it("a mixed-order point (a real key plus a torsion point) is refused (INVALID_KEY)", async () => {
    const { kw, store } = setup();
    const mixed = Point.fromBytes(ed25519KeyPair().publicKey).add(Point.fromBytes(hex(SMALL_ORDER[4]!)));
    expect(mixed.isSmallOrder()).toBe(false);
    const err = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: mixed.toBytes() } }).catch((e: unknown) => e);
    expect(isKeywardError(err, "INVALID_KEY")).toBe(true);
    expect(String(err)).toContain("prime-order subgroup");
    expect((await guardStore(store).list("o")).items).toEqual([]);
  });

  it("a real key is accepted, raw or base64url, and the wrong length stays INVALID_INPUT", async () => {
    const { kw } = setup();
    const { publicKey } = ed25519KeyPair();
    for (const key of [publicKey, toBase64Url(publicKey)]) {
      const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: key } });
      expect(record.signing).toEqual({ alg: "ed25519", publicKey: toBase64Url(publicKey) });
    }
    const short = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: publicKey.slice(1) } }).catch((e: unknown) => e);
    expect(isKeywardError(short, "INVALID_INPUT")).toBe(true);
  });
});

describe("ed25519 public keys as WebCrypto CryptoKeys", () => {
  it("a CryptoKey pair: the public key registers the token (create and update), the private key signs", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const generate = () => crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]) as Promise<CryptoKeyPair>;
    const first = await generate();
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: first.publicKey } });
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", first.publicKey));
    expect(record.signing).toEqual({ alg: "ed25519", publicKey: toBase64Url(raw) });
    const send = (privateKey: CryptoKey) =>
      signRequest(new Request("https://api.example.com/v1/prices"), { keyId: record.id, key: { alg: "ed25519", privateKey }, nonce: true });
    expect((await kw.verify(await send(first.privateKey))).ok).toBe(true);

    const second = await generate();
    await kw.tokens.update(record.id, { signing: { alg: "ed25519", publicKey: second.publicKey } }, { effectiveAt: new Date() });
    expect((await kw.verify(await send(second.privateKey))).ok).toBe(true);
    expect((await kw.verify(await send(first.privateKey))).code).toBe("SIGNATURE_INVALID");
  });

  it("a CryptoKey that is not an Ed25519 public key is INVALID_INPUT naming signing.publicKey", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"])) as CryptoKeyPair;
    const hmac = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
    for (const publicKey of [pair.privateKey, hmac]) {
      await expect(kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey } })).rejects.toMatchObject({
        code: "INVALID_INPUT",
        field: "signing.publicKey",
      });
    }
  });
});
