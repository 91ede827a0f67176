// createSigner: signatures verify with keyward/signing, keyward's defaults, validation, no key leaks.
import { inspect } from "node:util";
import { describe, expect, expectTypeOf, it } from "vitest";
import { type CreateSignerOptions, createSigner, type Signer, signedFetch } from "../../src/client/index.js";
import { toBase64, toBase64Url, toHex } from "../../src/lib/bytes.js";
import { computeContentDigest, signatureHeaders, signRequest, verifyRequest } from "../../src/signing/index.js";
import { bytesOf, ed25519KeyPair, fakeToken, keyring, verifyAll } from "./helpers.js";

const T = 1_700_000_000;
const frozen = () => T * 1000;
const URL_Q = "https://api.example.com/v1/prices?symbol=X&limit=10";

describe("createSigner: signatures that verify", () => {
  const keys = keyring();
  const signers = {
    ed25519: () => createSigner({ keyId: keys.ed.keyId, alg: "ed25519", privateKey: keys.ed.seed }),
    "hmac-sha256 (token)": () => createSigner({ keyId: keys.hmac.keyId, alg: "hmac-sha256", token: keys.hmac.token }),
    "hmac-sha256 (secret)": () => createSigner({ keyId: keys.hmac.keyId, alg: "hmac-sha256", secret: keys.hmac.secret }),
  };

  for (const [name, make] of Object.entries(signers)) {
    it(`${name}: GET with a query, full coverage, no Content-Digest`, async () => {
      const signed = await make().sign(new Request(URL_Q));
      expect(signed.headers.has("content-digest")).toBe(false);
      const result = await verifyAll(signed, keys.resolveKey);
      expect(result).toMatchObject({ ok: true, components: ["@method", "@target-uri"] });
    });

    it(`${name}: POST with a JSON body, Content-Digest covered and correct`, async () => {
      const body = JSON.stringify({ symbol: "X", qty: 3 });
      const original = new Request("https://api.example.com/v1/orders", {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      });
      const signed = await make().sign(original);
      expect(signed.headers.get("content-digest")).toBe(computeContentDigest(body));
      const result = await verifyAll(signed, keys.resolveKey);
      expect(result).toMatchObject({ ok: true, components: ["@method", "@target-uri", "content-digest"] });
      // Both the caller's request and the signed one still carry the body.
      expect(await original.text()).toBe(body);
      expect(await signed.text()).toBe(body);
    });
  }

  it("Signature-Input: created, expires (+300 s), a 128-bit nonce, keyid, alg, in that order", async () => {
    const signer = createSigner({ keyId: keys.ed.keyId, alg: "ed25519", privateKey: keys.ed.seed, now: frozen });
    const signed = await signer.sign(new Request(URL_Q));
    const input = signed.headers.get("signature-input")!;
    const pattern = `^sig1=\\("@method" "@target-uri"\\);created=${T};expires=${T + 300};nonce="([A-Za-z0-9_-]{22})";keyid="${keys.ed.keyId}";alg="ed25519"$`;
    expect(input).toMatch(new RegExp(pattern));
    expect(signed.headers.get("signature")).toMatch(/^sig1=:[A-Za-z0-9+/]{86}==:$/);
    const result = await verifyAll(signed, keys.resolveKey, { now: frozen });
    expect(result).toMatchObject({ ok: true, params: { created: T, expires: T + 300, keyid: keys.ed.keyId, alg: "ed25519" } });
  });

  it("a fresh nonce per request, so a replayed request is refused", async () => {
    const signer = signers.ed25519();
    const nonces = new Set<string>();
    const seen = new Set<string>();
    const nonce = (n: string) => !seen.has(n) && Boolean(seen.add(n));
    for (let i = 0; i < 20; i++) {
      const signed = await signer.sign(new Request(URL_Q));
      nonces.add(/nonce="([^"]+)"/.exec(signed.headers.get("signature-input")!)![1]!);
      expect((await verifyAll(signed.clone(), keys.resolveKey, { nonce })).ok).toBe(true);
      expect(await verifyAll(signed, keys.resolveKey, { nonce })).toMatchObject({ ok: false, code: "REPLAYED" });
    }
    expect(nonces.size).toBe(20);
  });

  it("nonce: false, expiresInSec, label, digestAlgorithms and components are honoured", async () => {
    const signer = createSigner({
      keyId: keys.hmac.keyId,
      alg: "hmac-sha256",
      token: keys.hmac.token,
      nonce: false,
      expiresInSec: 30,
      label: "kw",
      digestAlgorithms: ["sha-512", "sha-256"],
      components: ["@method", "@authority", "@path", "@query", "content-type"],
      now: frozen,
    });
    const post = await signer.sign(
      new Request("https://api.example.com/v1/items?x=1", { method: "PUT", body: "abc", headers: { "content-type": "text/plain" } }),
    );
    expect(post.headers.get("content-digest")).toBe(computeContentDigest("abc", ["sha-512", "sha-256"]));
    expect(post.headers.get("signature-input")).toBe(
      `kw=("@method" "@authority" "@path" "@query" "content-type" "content-digest");created=${T};expires=${T + 30};keyid="${keys.hmac.keyId}";alg="hmac-sha256"`,
    );
    expect(await verifyRequest(post, { resolveKey: keys.resolveKey, now: frozen })).toMatchObject({ ok: true, label: "kw" });
    // Without a body, content-digest is left out of the same list.
    const get = await signer.sign(new Request("https://api.example.com/v1/items?x=1", { headers: { "content-type": "text/plain" } }));
    expect(get.headers.get("signature-input")).toMatch(/^kw=\("@method" "@authority" "@path" "@query" "content-type"\);/);
    expect((await verifyRequest(get, { resolveKey: keys.resolveKey, now: frozen })).ok).toBe(true);
  });

  it("content-digest listed explicitly keeps its place, and is dropped for a request without a body", async () => {
    const signer = createSigner({
      keyId: keys.ed.keyId,
      alg: "ed25519",
      privateKey: keys.ed.seed,
      components: ["content-digest", "@method", "@target-uri"],
    });
    const post = await signer.sign(new Request(URL_Q, { method: "POST", body: "x" }));
    expect(post.headers.get("signature-input")).toMatch(/^sig1=\("content-digest" "@method" "@target-uri"\);/);
    expect((await verifyAll(post, keys.resolveKey)).ok).toBe(true);
    const get = await signer.sign(new Request(URL_Q));
    expect(get.headers.get("signature-input")).toMatch(/^sig1=\("@method" "@target-uri"\);/);
  });

  it("an empty body is still digested and covered", async () => {
    const signed = await signers.ed25519().sign(new Request(URL_Q, { method: "POST", body: "" }));
    expect(signed.headers.get("content-digest")).toBe(computeContentDigest(""));
    expect((await verifyAll(signed, keys.resolveKey)).ok).toBe(true);
  });

  it("tampering is detected: another URL, another body, another key", async () => {
    const signer = signers.ed25519();
    const signed = await signer.sign(new Request(URL_Q, { method: "POST", body: "{}" }));
    const otherUrl = new Request(URL_Q.replace("X", "Y"), { method: "POST", body: "{}", headers: signed.headers });
    expect(await verifyAll(otherUrl, keys.resolveKey)).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
    const otherBody = new Request(URL_Q, { method: "POST", body: "{ }", headers: signed.headers });
    expect(await verifyAll(otherBody, keys.resolveKey)).toMatchObject({ ok: false, code: "DIGEST_MISMATCH" });
    const stranger = ed25519KeyPair();
    const wrongKey = await createSigner({ keyId: keys.ed.keyId, alg: "ed25519", privateKey: stranger.seed }).sign(new Request(URL_Q));
    expect(await verifyAll(wrongKey, keys.resolveKey)).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
  });

  it("CryptoKeys work: a non-extractable Ed25519 private key and an HMAC key", async () => {
    const pair = (await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"])) as CryptoKeyPair;
    const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const edSigner = createSigner({ keyId: "tok_ck", alg: "ed25519", privateKey: pair.privateKey });
    const resolveEd = () => ({ alg: "ed25519", publicKey }) as const;
    expect((await verifyAll(await edSigner.sign(new Request(URL_Q)), resolveEd)).ok).toBe(true);

    const hmacKey = await crypto.subtle.importKey("raw", keys.hmac.secret as BufferSource, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const hmacSigner = createSigner({ keyId: keys.hmac.keyId, alg: "hmac-sha256", secret: hmacKey });
    expect((await verifyAll(await hmacSigner.sign(new Request(URL_Q)), keys.resolveKey)).ok).toBe(true);
  });

  it("keeps its own copy of the key: the caller may zero theirs", async () => {
    const { seed, publicKey } = ed25519KeyPair();
    const signer = createSigner({ keyId: "tok_copy", alg: "ed25519", privateKey: seed });
    seed.fill(0);
    const signed = await signer.sign(new Request(URL_Q));
    expect((await verifyAll(signed, () => ({ alg: "ed25519", publicKey }))).ok).toBe(true);
  });

  it("sign() leaves the request's other headers alone and refuses what is not a Request", async () => {
    const signed = await signers.ed25519().sign(new Request(URL_Q, { headers: { accept: "application/json", "x-trace": "1" } }));
    expect(signed.headers.get("accept")).toBe("application/json");
    expect(signed.headers.get("x-trace")).toBe("1");
    await expect(signers.ed25519().sign(URL_Q as unknown as Request)).rejects.toThrow(new TypeError("request must be a Request"));
    expect(await bytesOf(signed)).toEqual(new Uint8Array(0));
  });
});

describe("createSigner: sign() and the request's signal", () => {
  it("a stream body that stalls is read until the request's signal aborts, then sign() rejects with its reason", async () => {
    const keys = keyring();
    const signer = createSigner({ keyId: keys.ed.keyId, alg: "ed25519", privateKey: keys.ed.seed });
    const controller = new AbortController();
    const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode("part 1")) });
    const call = signer.sign(new Request(URL_Q, { method: "POST", body, duplex: "half", signal: controller.signal } as RequestInit)).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 20);
    const err = await call;
    expect([err instanceof DOMException, (err as DOMException).name]).toEqual([true, "AbortError"]);
  });
});

describe("createSigner: validation", () => {
  const { seed } = ed25519KeyPair();
  const token = fakeToken();
  const ed = { keyId: "tok_1", alg: "ed25519", privateKey: seed } as const;
  const cases: [string, unknown, ErrorConstructor | RangeErrorConstructor, RegExp][] = [
    ["options null", null, TypeError, /^options must be an object$/],
    ["keyId missing", { ...ed, keyId: undefined }, TypeError, /^keyId must be a non-empty string$/],
    ["keyId empty", { ...ed, keyId: "" }, TypeError, /^keyId must be a non-empty string$/],
    ["keyId not ASCII", { ...ed, keyId: "tok_é" }, TypeError, /^keyId must be printable ASCII$/],
    ["keyId is a token", { ...ed, keyId: token }, TypeError, /^keyId looks like a token; pass the token's public id/],
    ["alg unknown", { ...ed, alg: "rsa-pss-sha512" }, TypeError, /^alg must be "ed25519" or "hmac-sha256"$/],
    ["seed missing", { ...ed, privateKey: undefined }, TypeError, /^privateKey must be a Uint8Array \(32-byte Ed25519 seed\), a PKCS #8 PEM, an Ed25519 JWK with d, a KeyObject or a CryptoKey$/],
    ["seed as string", { ...ed, privateKey: toBase64Url(seed) }, TypeError, /^privateKey must be a Uint8Array/],
    ["seed 31 bytes", { ...ed, privateKey: seed.subarray(1) }, RangeError, /^privateKey must be a 32-byte Ed25519 seed, got 31 bytes$/],
    ["seed 64 bytes", { ...ed, privateKey: new Uint8Array(64) }, RangeError, /^privateKey must be a 32-byte Ed25519 seed, got 64 bytes$/],
    ["hmac without key", { keyId: "tok_1", alg: "hmac-sha256" }, TypeError, /^alg "hmac-sha256" needs token or secret$/],
    ["hmac both", { keyId: "tok_1", alg: "hmac-sha256", token, secret: new Uint8Array(32) }, TypeError, /^give either token or secret, not both$/],
    ["token empty", { keyId: "tok_1", alg: "hmac-sha256", token: "" }, TypeError, /^token must be a non-empty string$/],
    ["token padded", { keyId: "tok_1", alg: "hmac-sha256", token: `${token}\n` }, TypeError, /^token has leading or trailing whitespace$/],
    ["token = keyId", { keyId: "abcdef", alg: "hmac-sha256", token: "abcdef" }, TypeError, /^keyId must be the token's public id/],
    ["secret short", { keyId: "tok_1", alg: "hmac-sha256", secret: new Uint8Array(15) }, RangeError, /^secret must be at least 16 bytes, got 15$/],
    ["secret string", { keyId: "tok_1", alg: "hmac-sha256", secret: "s3cret-s3cret-s3cret" }, TypeError, /^secret must be a Uint8Array or a CryptoKey$/],
    ["label invalid", { ...ed, label: "Sig 1" }, TypeError, /^label must be a structured-field key/],
    ["components not array", { ...ed, components: "@method" }, TypeError, /^components must be an array of strings$/],
    ["components empty", { ...ed, components: [] }, RangeError, /^components must not be empty$/],
    ["component not string", { ...ed, components: ["@method", 1] }, TypeError, /^components\[1\] must be a string$/],
    ["component invalid", { ...ed, components: ["@method", "a b"] }, TypeError, /^components\[1\] is not a valid component identifier$/],
    ["component unknown", { ...ed, components: ["@method", "@host"] }, TypeError, /^components\[1\] is not supported on a request$/],
    ["@status", { ...ed, components: ["@status"] }, TypeError, /^components\[0\] is not supported on a request$/],
    ["field with tr", { ...ed, components: ["@method", "x-a;tr"] }, TypeError, /^components\[1\] is not supported on a request$/],
    ["component twice", { ...ed, components: ["@method", "@METHOD".toLowerCase()] }, TypeError, /^components\[1\] is listed twice$/],
    ["@signature-params", { ...ed, components: ["@signature-params"] }, TypeError, /^components\[0\]: @signature-params cannot be covered$/],
    ["only content-digest", { ...ed, components: ["content-digest"] }, RangeError, /^components must name more than content-digest$/],
    ["nonce not boolean", { ...ed, nonce: "yes" }, TypeError, /^nonce must be a boolean$/],
    ["expiresInSec 0", { ...ed, expiresInSec: 0 }, RangeError, /^expiresInSec must be a positive integer \(seconds\)$/],
    ["expiresInSec 1.5", { ...ed, expiresInSec: 1.5 }, RangeError, /^expiresInSec must be a positive integer/],
    // created + expiresInSec would be no Structured Field Integer: every sign call would throw.
    ["expiresInSec 1e15", { ...ed, expiresInSec: 1e15 }, RangeError, /^expiresInSec must be at most 999999999 \(seconds, about 31 years\)$/],
    ["digestAlgorithms empty", { ...ed, digestAlgorithms: [] }, TypeError, /^digestAlgorithms must be a non-empty array$/],
    ["digest (deprecated) empty", { ...ed, digest: [] }, TypeError, /^digestAlgorithms must be a non-empty array$/],
    ["digest and digestAlgorithms differ", { ...ed, digest: ["sha-512"], digestAlgorithms: ["sha-256"] }, TypeError, /deprecated alias digest/],
    ["digest md5", { ...ed, digest: ["md5"] }, RangeError, /^digest algorithms must be "sha-256" or "sha-512"$/],
    ["now not a function", { ...ed, now: 5 }, TypeError, /^now must be a function returning milliseconds$/],
    // A misspelt option would leave the default in force: `component` would sign the default components.
    ["component (misspelt)", { ...ed, component: ["@method", "@target-uri", "x-amount"] }, TypeError, /^options\.component is not an option of createSigner/],
    ["a token as a field name", { ...ed, [token]: true }, TypeError, /^options\.<field> is not an option of createSigner/],
  ];

  for (const [name, options, type, message] of cases) {
    it(`${name} → ${type.name}`, () => {
      let error: unknown;
      try {
        createSigner(options as CreateSignerOptions);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(type);
      const text = String((error as Error).message);
      expect(text).toMatch(message);
      // Never the key, in any encoding.
      for (const secret of [token, toBase64(seed), toBase64Url(seed), toHex(seed), seed.join(",")]) expect(text).not.toContain(secret);
    });
  }

  it("a clock that gives no time a signature can carry rejects the sign call with a TypeError that says so", async () => {
    expect(createSigner({ ...ed, expiresInSec: 999_999_999 }).keyId).toBe(ed.keyId);
    for (const now of [() => Number.NaN, () => -1000, () => 1e20, () => "1700000000000", () => new Date()]) {
      await expect(createSigner({ ...ed, now: now as never }).sign(new Request("https://api.example.com/x"))).rejects.toThrow(
        new TypeError("now must return milliseconds since 1970 (a number)"),
      );
    }
    // Milliseconds with a fraction (performance.timeOrigin + performance.now()) are fine.
    const signed = await createSigner({ ...ed, now: () => 1_700_000_000_123.75 }).sign(new Request("https://api.example.com/x"));
    expect(signed.headers.get("signature-input")).toContain("created=1700000000;expires=1700000300;");
  });

  it("a sign call, signedFetch, signRequest and signatureHeaders refuse an option of another name, and send nothing", async () => {
    const signer = createSigner(ed);
    await expect(signer.sign(new Request("https://api.example.com/x", { method: "POST", body: "{}" }), { bdy: "{}" } as never)).rejects.toThrow(
      /^options\.bdy is not an option of Signer\.sign/,
    );
    let sent = 0;
    const fetchImpl = async () => {
      sent++;
      return new Response("ok");
    };
    expect(() => signedFetch(signer, fetchImpl, { crossOriginRedirect: "unsigned" } as never)).toThrow(/^options\.crossOriginRedirect is not an option of signedFetch/);
    for (const sign of [signRequest, signatureHeaders]) {
      await expect(sign(new Request("https://api.example.com/x"), { keyId: "tok_1", key: { alg: "ed25519", privateKey: seed }, component: ["@method"] } as never)).rejects.toThrow(
        /^options\.component is not an option of signRequest/,
      );
    }
    expect(sent).toBe(0);
  });

  it("CryptoKeys of the wrong kind are refused", async () => {
    const hmacKey = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    expect(() => createSigner({ keyId: "tok_1", alg: "ed25519", privateKey: hmacKey })).toThrow(
      new TypeError('privateKey must be an Ed25519 private CryptoKey with the "sign" usage'),
    );
    const pair = (await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"])) as CryptoKeyPair;
    expect(() => createSigner({ keyId: "tok_1", alg: "ed25519", privateKey: pair.publicKey })).toThrow(TypeError);
    expect(() => createSigner({ keyId: "tok_1", alg: "hmac-sha256", secret: pair.privateKey })).toThrow(
      new TypeError('secret must be an HMAC SHA-256 CryptoKey with the "sign" usage'),
    );
    const sha512 = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, false, ["sign"]);
    expect(() => createSigner({ keyId: "tok_1", alg: "hmac-sha256", secret: sha512 })).toThrow(TypeError);
  });

  it("an HMAC CryptoKey under 128 bits is refused like a short Uint8Array (RangeError)", async () => {
    const hmac = (bytes: number) => crypto.subtle.importKey("raw", new Uint8Array(bytes).fill(7), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    for (const bytes of [1, 15]) {
      const secret = await hmac(bytes);
      expect(() => createSigner({ keyId: "tok_1", alg: "hmac-sha256", secret })).toThrow(
        new RangeError(`secret must be at least 16 bytes, got ${bytes}`),
      );
    }
    expect(createSigner({ keyId: "tok_1", alg: "hmac-sha256", secret: await hmac(16) })).toBeDefined();
  });
});

describe("createSigner: the key does not leak", () => {
  const { seed } = ed25519KeyPair();
  const token = fakeToken();
  const edSigner = createSigner({ keyId: "tok_ed", alg: "ed25519", privateKey: seed });
  const hmacSigner = createSigner({ keyId: "tok_hm", alg: "hmac-sha256", token });
  const forbidden = [token, toBase64(seed), toBase64Url(seed), toHex(seed), seed.join(","), seed.join(", ")];

  function renderings(signer: Signer): string[] {
    return [
      JSON.stringify(signer),
      JSON.stringify({ nested: { signer } }),
      inspect(signer),
      inspect(signer, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
      inspect(signer, { showHidden: true, depth: Number.POSITIVE_INFINITY, customInspect: false }),
      inspect({ signer }, { depth: Number.POSITIVE_INFINITY }),
      String(signer),
      `${signer}`,
      Object.prototype.toString.call(signer),
      JSON.stringify(structuredClone({ ...signer })),
      JSON.stringify(Object.getOwnPropertyDescriptors(signer)),
    ];
  }

  it("JSON, inspect and String show keyId and alg only", () => {
    expect(JSON.stringify(edSigner)).toBe('{"keyId":"tok_ed","alg":"ed25519"}');
    expect(edSigner.toJSON()).toEqual({ keyId: "tok_ed", alg: "ed25519" });
    expect(inspect(edSigner)).toBe("Signer { keyId: 'tok_ed', alg: 'ed25519' }");
    expect(inspect(hmacSigner)).toBe("Signer { keyId: 'tok_hm', alg: 'hmac-sha256' }");
    expect(String(hmacSigner)).toBe("Signer(tok_hm, hmac-sha256)");
    expect(Object.prototype.toString.call(edSigner)).toBe("[object Signer]");
    expect(Object.keys(edSigner)).toEqual(["keyId", "alg"]);
    expect({ ...hmacSigner }).toEqual({ keyId: "tok_hm", alg: "hmac-sha256" });
  });

  it("no rendering contains the seed or the token, in any encoding", () => {
    for (const signer of [edSigner, hmacSigner]) {
      for (const text of renderings(signer)) for (const secret of forbidden) expect(text).not.toContain(secret);
    }
  });

  it("no own property holds bytes, and the signer is frozen", () => {
    for (const signer of [edSigner, hmacSigner]) {
      for (const key of Reflect.ownKeys(signer)) {
        const value = (signer as unknown as Record<PropertyKey, unknown>)[key];
        expect(value instanceof Uint8Array).toBe(false);
      }
      expect(Object.isFrozen(signer)).toBe(true);
      expect(() => {
        (signer as { keyId: string }).keyId = "tok_other";
      }).toThrow(TypeError);
    }
  });

  it("sign works detached from the object", async () => {
    const { sign } = edSigner;
    expect((await sign(new Request(URL_Q))).headers.has("signature")).toBe(true);
  });
});

describe("createSigner: types", () => {
  it("options are a union over the key kinds", () => {
    const seed = new Uint8Array(32);
    expectTypeOf(createSigner({ keyId: "k", alg: "ed25519", privateKey: seed })).toEqualTypeOf<Signer>();
    expectTypeOf<Signer["alg"]>().toEqualTypeOf<"ed25519" | "hmac-sha256">();
    // @ts-expect-error token and secret are exclusive
    expect(() => createSigner({ keyId: "k", alg: "hmac-sha256", token: "t", secret: seed })).toThrow(TypeError);
    // @ts-expect-error ed25519 needs privateKey
    expect(() => createSigner({ keyId: "k", alg: "ed25519", token: "t" })).toThrow(TypeError);
    // @ts-expect-error no keyId
    expect(() => createSigner({ alg: "ed25519", privateKey: seed })).toThrow(TypeError);
  });
});
