// Ed25519 keys in every accepted form sign and verify alike; generateKeyPair's keys work end to end.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { inspect } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSigner, generateKeyPair } from "../../src/client/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { toBase64Url } from "../../src/lib/bytes.js";
import { ed25519PublicKey, ed25519Seed } from "../../src/signing/key-formats.js";

const ed25519SeedMessage =
  "privateKey must be a Uint8Array (32-byte Ed25519 seed), a PKCS #8 PEM, an Ed25519 JWK with d, a KeyObject or a CryptoKey";

describe("Ed25519 key formats", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const seed = ed25519Seed(privateKey.export({ format: "jwk" }) as never);
  const pub = ed25519PublicKey(publicKey.export({ format: "jwk" }))!;

  it("raw bytes, PKCS #8 / SPKI PEM, JWK and KeyObject give the same bytes", () => {
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    for (const input of [seed, pem, privateKey.export({ format: "jwk" }), privateKey]) expect(ed25519Seed(input as never)).toEqual(seed);
    const spki = publicKey.export({ format: "pem", type: "spki" }) as string;
    for (const input of [pub, toBase64Url(pub), spki, publicKey.export({ format: "jwk" }), publicKey, privateKey]) {
      expect(ed25519PublicKey(input)).toEqual(pub);
    }
    // The seed really is the key's: node derives the same public key from it.
    const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
    expect(createPublicKey(createPrivateKey({ key: der, format: "der", type: "pkcs8" })).export({ format: "jwk" }).x).toBe(toBase64Url(pub));
  });

  it("refuses other keys and garbage with a message that shows no key material", () => {
    const x25519 = generateKeyPairSync("x25519");
    const rsaPem = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    const spki = publicKey.export({ format: "pem", type: "spki" }) as string;
    for (const bad of [x25519.privateKey, rsaPem, spki, publicKey, { kty: "OKP", crv: "Ed25519" }, "x".repeat(5000), null, 42]) {
      let message = "";
      try {
        ed25519Seed(bad as never);
      } catch (err) {
        expect(err).toBeInstanceOf(TypeError);
        message = (err as Error).message;
      }
      expect(message).toMatch(/^privateKey must be/);
    }
    for (const bad of [x25519.publicKey, rsaPem, { kty: "OKP", crv: "Ed25519" }, "x".repeat(5000), null, 42]) expect(ed25519PublicKey(bad)).toBeNull();
    expect(() => ed25519Seed(new Uint8Array(31))).toThrow(RangeError);
  });

  it("a KeyObject with no JWK form (DSA) is the documented TypeError, not node's error", () => {
    const dsa = generateKeyPairSync("dsa", { modulusLength: 1024, divisorLength: 160 });
    expect(() => ed25519Seed(dsa.privateKey)).toThrow(new TypeError(ed25519SeedMessage));
    expect(ed25519PublicKey(dsa.publicKey)).toBeNull();
  });

  it("a PEM is one block with the expected label and nothing else but whitespace", () => {
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    const spki = publicKey.export({ format: "pem", type: "spki" }) as string;
    expect(ed25519Seed(`\n  ${pem.replace(/\n/g, "\r\n")}\n\n`)).toEqual(seed);
    expect(ed25519PublicKey(`  ${spki}  `)).toEqual(pub);
    const badPrivate = [
      pem.replace(/PRIVATE/g, "PUBLIC"),
      pem.replace("END PRIVATE", "END PUBLIC"),
      `${pem}====\n-----BEGIN JUNK-----\n-----END JUNK-----\n`,
      `${pem}garbage!`,
      `text before\n${pem}`,
      `${pem}${pem}`,
    ];
    for (const bad of badPrivate) expect(() => ed25519Seed(bad)).toThrow(new TypeError(ed25519SeedMessage));
    for (const bad of [spki.replace(/PUBLIC/g, "PRIVATE"), `${spki}-----BEGIN JUNK-----\n-----END JUNK-----\n`]) {
      expect(ed25519PublicKey(bad)).toBeNull();
    }
  });

  it("refuses a private JWK whose x is not the public key of its d, as WebCrypto does", async () => {
    const jwk = privateKey.export({ format: "jwk" });
    const other = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
    const mixed = { ...jwk, d: other.d };
    await expect(crypto.subtle.importKey("jwk", mixed, "Ed25519", false, ["sign"])).rejects.toThrow();
    for (const bad of [mixed, { ...jwk, x: "" }, { ...jwk, x: 42 }]) {
      expect(() => ed25519Seed(bad as never)).toThrow(TypeError);
      expect(() => createSigner({ keyId: "tok_x", alg: "ed25519", privateKey: bad as never })).toThrow(/whose x is not the public key of its d/);
    }
    try {
      ed25519Seed(mixed as never);
    } catch (err) {
      for (const d of [jwk.d!, other.d!]) expect(`${(err as Error).message}${(err as Error).stack}`).not.toContain(d);
    }
    // x given in standard base64, or left out, is fine.
    expect(ed25519Seed({ ...jwk, x: Buffer.from(jwk.x!, "base64url").toString("base64") } as never)).toEqual(seed);
    expect(ed25519Seed({ kty: "OKP", crv: "Ed25519", d: jwk.d } as never)).toEqual(seed);
  });

  it("refuses a JWK whose use or key_ops is not for signatures, as WebCrypto's import does", async () => {
    const jwk = privateKey.export({ format: "jwk" });
    const pubJwk = publicKey.export({ format: "jwk" });
    const webcrypto = (key: object, usage: "sign" | "verify") =>
      crypto.subtle.importKey("jwk", key as JsonWebKey, "Ed25519", false, [usage]).then(
        () => true,
        () => false,
      );
    const privates: [object, boolean][] = [
      [{ ...jwk, use: "enc" }, false],
      [{ ...jwk, key_ops: ["verify"] }, false],
      [{ ...jwk, key_ops: "sign" }, false],
      [{ ...jwk, use: "sig", key_ops: ["sign", "verify"] }, true],
      [{ ...jwk, key_ops: ["sign"] }, true],
    ];
    for (const [key, ok] of privates) {
      expect(await webcrypto(key, "sign")).toBe(ok);
      if (ok) expect(ed25519Seed(key as never)).toEqual(seed);
      else {
        expect(() => ed25519Seed(key as never)).toThrow(/use or key_ops does not allow signing/);
        expect(() => createSigner({ keyId: "tok_x", alg: "ed25519", privateKey: key as never })).toThrow(TypeError);
      }
    }
    const publics: [object, boolean][] = [
      [{ ...pubJwk, use: "enc" }, false],
      [{ ...pubJwk, key_ops: ["sign"] }, false],
      [{ ...pubJwk, use: "sig", key_ops: ["verify"] }, true],
    ];
    for (const [key, ok] of publics) {
      expect(await webcrypto(key, "verify")).toBe(ok);
      expect(ed25519PublicKey(key) !== null).toBe(ok);
    }
    // A private JWK read for its public key: its key_ops are the private key's.
    expect(ed25519PublicKey({ ...jwk, key_ops: ["sign"] })).toEqual(ed25519PublicKey(pubJwk));
    expect(ed25519PublicKey({ ...jwk, use: "enc" })).toBeNull();
  });

  it("never throws on arbitrary input (public keys), and a seed is always a copy", () => {
    fc.assert(fc.property(fc.anything(), (v) => ed25519PublicKey(v) === null || ed25519PublicKey(v)!.length === 32));
    const copy = ed25519Seed(seed);
    copy.fill(0);
    expect(seed.some((b) => b !== 0)).toBe(true);
  });

  it("createSigner takes a PEM or a KeyObject; a token created from a JWK public key verifies its requests", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: pub } });
    for (const key of [privateKey.export({ format: "pem", type: "pkcs8" }) as string, privateKey]) {
      const signed = await createSigner({ keyId: record.id, alg: "ed25519", privateKey: key }).sign(new Request("https://api.example.com/v1/x"));
      expect((await kw.verify(signed)).ok).toBe(true);
    }
  });
});

describe("generateKeyPair", () => {
  it("makes a fresh pair whose keys sign and verify through keyward; toJSON and inspect show no seed", async () => {
    const a = await generateKeyPair();
    const b = await generateKeyPair();
    expect(a.privateKey).toHaveLength(32);
    expect(a.publicKey).toHaveLength(32);
    expect(a.privateKey).not.toEqual(b.privateKey);
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: a.publicKey } });
    expect(record.signing).toMatchObject({ alg: "ed25519", publicKey: a.publicKeyBase64url() });
    const signed = await createSigner({ keyId: record.id, alg: "ed25519", privateKey: a.privateKey }).sign(new Request("https://api.example.com/"));
    expect((await kw.verify(signed)).ok).toBe(true);
    const seed = a.privateKeyBase64url();
    expect(JSON.stringify(a)).not.toContain(seed);
    expect(inspect(a)).not.toContain(seed);
    expect(inspect(a)).not.toContain(`${a.privateKey[0]}, ${a.privateKey[1]}`);
  });
});
