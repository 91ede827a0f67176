// Ed25519 keys in every accepted form sign and verify alike; generateKeyPair's keys work end to end.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { inspect } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSigner, generateKeyPair } from "../../src/client/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { toBase64Url } from "../../src/lib/bytes.js";
import { signRequest } from "../../src/signing/index.js";
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

  it("a PKCS #8 v2 PEM (RFC 5958: attributes, the public key) is read as Node and WebCrypto read it; its public key must be the seed's", async () => {
    const der = (hex: string) => Buffer.from(hex.replace(/\s/g, ""), "hex");
    const pemOf = (bytes: Buffer) => `-----BEGIN PRIVATE KEY-----\n${bytes.toString("base64").replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`;
    const seedHex = Buffer.from(seed).toString("hex");
    const pubHex = Buffer.from(pub).toString("hex");
    const otherPub = Buffer.from(ed25519PublicKey(generateKeyPairSync("ed25519").publicKey)!).toString("hex");
    // RFC 8410 §10.3, as printed: version 1, an attribute, the public key ([1] IMPLICIT BIT STRING).
    const rfc = [
      "-----BEGIN PRIVATE KEY-----",
      "MHICAQEwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC",
      "oB8wHQYKKoZIhvcNAQkJFDEPDA1DdXJkbGUgQ2hhaXJzgSEAGb9ECWmEzf6FQbrB",
      "Z9w7lshQhqowtrbLDFw4rXAxZuE=",
      "-----END PRIVATE KEY-----",
    ].join("\n");
    expect(toBase64Url(ed25519Seed(rfc))).toBe(createPrivateKey(rfc).export({ format: "jwk" }).d);
    const accepted = [
      der(`3051 020101 300506032b6570 04220420${seedHex} 812100${pubHex}`), // the public key, no attributes
      der(`3053 020101 300506032b6570 04220420${seedHex} a123032100${pubHex}`), // the same as ring writes it ([1] around a BIT STRING)
      der(`303e 020100 300506032b6570 04220420${seedHex} a00e300c06032a0304310504036f6b21`), // version 0 with an attribute
    ];
    for (const bytes of accepted) {
      expect(createPrivateKey({ key: bytes, format: "der", type: "pkcs8" }).export({ format: "jwk" }).d).toBe(toBase64Url(seed));
      await expect(crypto.subtle.importKey("pkcs8", bytes, "Ed25519", false, ["sign"])).resolves.toBeDefined();
      expect(ed25519Seed(pemOf(bytes))).toEqual(seed);
    }
    const refused = [
      der(`3051 020101 300506032b6570 04220420${seedHex} 812100${otherPub}`), // another key's public key
      der(`3051 020102 300506032b6570 04220420${seedHex} 812100${pubHex}`), // version 2
      der(`3052 020101 300506032b6570 04220420${seedHex} 812100${pubHex} 00`), // a byte after the key
      der(`3053 020101 300506032b6570 04220420${seedHex} 812100${pubHex} 8100`), // the public key twice
      der(`3051 020100 300506032b6570 04220420${seedHex} 812100${pubHex}`), // the public key after a version 0
      der(`3031 020100 300506032b6570 04220420${seedHex} a01000`), // attributes that run past the end
    ];
    for (const bytes of refused) expect(() => ed25519Seed(pemOf(bytes))).toThrow(TypeError);
    expect(() => createSigner({ keyId: "tok_x", alg: "ed25519", privateKey: pemOf(refused[0]!) })).toThrow(
      new TypeError("privateKey is a PKCS #8 key whose public key is not the one of its seed"),
    );
    // Any DER in the block: a seed, or the documented TypeError.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        try {
          return ed25519Seed(pemOf(Buffer.from(bytes))).length === 32;
        } catch (err) {
          return err instanceof TypeError;
        }
      }),
    );
    // End to end: the token's requests verify when signed with the v2 PEM.
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: pub } });
    const signed = await createSigner({ keyId: record.id, alg: "ed25519", privateKey: pemOf(accepted[0]!) }).sign(new Request("https://api.example.com/v1/x"));
    expect((await kw.verify(signed)).ok).toBe(true);
  });

  it("a PKCS #8 key is read as DER: long-form lengths where they are due, never the indefinite-length byte, attributes that are attributes", async () => {
    const der = (hex: string) => Buffer.from(hex.replace(/\s/g, ""), "hex");
    const pemOf = (bytes: Buffer) => `-----BEGIN PRIVATE KEY-----\n${bytes.toString("base64")}\n-----END PRIVATE KEY-----\n`;
    const seedHex = Buffer.from(seed).toString("hex");
    const pubHex = Buffer.from(pub).toString("hex");
    // An attribute (SEQUENCE { OID 2.5.4.3, SET { UTF8String of n "a" } }) in [0], as hex.
    const attributes = (n: number) => {
      const value = `0c${n.toString(16).padStart(2, "0")}${"61".repeat(n)}`;
      const set = `31${(value.length / 2).toString(16).padStart(2, "0")}${value}`;
      const seq = `30${(5 + set.length / 2).toString(16).padStart(2, "0")}0603550403${set}`;
      const length = seq.length / 2;
      return `a0${length < 0x80 ? "" : "81"}${length.toString(16).padStart(2, "0")}${seq}`;
    };
    const key = (version: number, tail: string, form: "short" | "long" = "short") => {
      const body = `0201${version.toString(16).padStart(2, "0")} 300506032b6570 04220420${seedHex} ${tail}`.replace(/\s/g, "");
      const length = body.length / 2;
      return der(`30${form === "long" ? "81" : ""}${length.toString(16).padStart(2, "0")}${body}`);
    };
    // Over 127 bytes, the lengths are in long form: Node and WebCrypto read these keys.
    const accepted = [key(0, attributes(100), "long"), key(1, `${attributes(60)} 812100${pubHex}`, "long")];
    for (const bytes of accepted) {
      expect(createPrivateKey({ key: bytes, format: "der", type: "pkcs8" }).export({ format: "jwk" }).d).toBe(toBase64Url(seed));
      expect(ed25519Seed(pemOf(bytes))).toEqual(seed);
    }
    const refused = [
      key(0, attributes(69)), // 128 bytes of content under the indefinite-length byte 0x80, read as a length before
      key(0, "a003010203"), // attributes that are no Attribute
      key(0, "a0053003060155"), // an Attribute without values
    ];
    expect(key(0, attributes(69))[1]).toBe(0x80);
    for (const bytes of refused) {
      expect(() => createPrivateKey({ key: bytes, format: "der", type: "pkcs8" })).toThrow();
      expect(() => ed25519Seed(pemOf(bytes))).toThrow(TypeError);
    }
    // Not DER either (OpenSSL reads it): the long form of a length under 128.
    expect(() => ed25519Seed(pemOf(key(0, "", "long")))).toThrow(TypeError);
    // Anything after the seed, under any length byte: a seed, or the documented TypeError (no RangeError, no other throw).
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 }), fc.uint8Array({ maxLength: 300 }), fc.boolean(), (version, tail, long) => {
        const hex = Buffer.from(tail).toString("hex");
        try {
          return ed25519Seed(pemOf(key(version, hex, long || tail.length > 80 ? "long" : "short"))).length === 32;
        } catch (err) {
          return err instanceof TypeError;
        }
      }),
      { numRuns: 2000 },
    );
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

  it("the private key hides itself, in a spread or copy of the pair too, and is still a 32-byte Uint8Array that signs", async () => {
    const pair = await generateKeyPair();
    const bytes = Array.from(pair.privateKey);
    const shown = [bytes.join(","), bytes.join(", "), pair.privateKeyBase64url()];
    const { privateKey } = pair;
    for (const [how, holder] of [
      ["spread", { ...pair }],
      ["Object.assign", Object.assign({}, pair)],
      ["destructured", { privateKey }],
      ["alone", privateKey],
      ["a slice", privateKey.slice()],
    ] as const) {
      for (const text of [inspect(holder), inspect(holder, { depth: 5 }), JSON.stringify(holder), String(holder), `${holder}`]) {
        // inspect lays the bytes out in padded columns: compared with its spaces collapsed.
        for (const secret of shown) expect([how, text.replace(/\s+/g, " ").includes(secret)]).toEqual([how, false]);
      }
    }
    expect(JSON.stringify({ privateKey })).toBe('{"privateKey":"[redacted]"}');
    expect(inspect({ privateKey })).toBe("{ privateKey: [redacted] }");
    // Raw bytes wherever they were taken, from the copy too; the bytes themselves are given when asked for.
    expect(privateKey).toBeInstanceOf(Uint8Array);
    expect([privateKey.length, Array.from(new Uint8Array(privateKey))]).toEqual([32, bytes]);
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey: pair.publicKey } });
    const copy = { ...pair };
    const signer = createSigner({ keyId: record.id, alg: "ed25519", privateKey: copy.privateKey });
    expect((await kw.verify(await signer.sign(new Request("https://api.example.com/")))).ok).toBe(true);
    // signRequest signs with it as with its bytes (Ed25519 signatures are deterministic).
    const signature = async (key: Uint8Array) =>
      (await signRequest(new Request("https://api.example.com/"), { keyId: record.id, created: 1_800_000_000, key: { alg: "ed25519", privateKey: key } })).headers.get("signature");
    expect(await signature(privateKey)).toBe(await signature(new Uint8Array(bytes)));
  });
});
