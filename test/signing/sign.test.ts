// signRequest: defaults, digests, multiple signatures, argument checks.
import { getEventListeners } from "node:events";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, expectTypeOf, it } from "vitest";
import { isKeywardError } from "../../src/errors.js";
import { utf8 } from "../../src/lib/bytes.js";
import {
  computeContentDigest,
  type SignRequestOptions,
  type SigningKey,
  signatureHeaders,
  signRequest,
  verifyRequest,
  type VerifyRequestResult,
} from "../../src/signing/index.js";
import { generateToken } from "../../src/token/format.js";
import { ED25519_PUBLIC, ED25519_SEED, frozen, SHARED_SECRET } from "./helpers.js";

const T = 1_700_000_000;
const ed = { alg: "ed25519", privateKey: ED25519_SEED } as const;
const resolveKey = () => ({ alg: "ed25519", publicKey: ED25519_PUBLIC }) as const;
const hmac = { alg: "hmac-sha256", secret: SHARED_SECRET } as const;

describe("signRequest", () => {
  it("defaults: label sig1, @method @target-uri, created/keyid/alg", async () => {
    const signed = await signRequest(new Request("https://api.example.com/v1/prices?symbol=X"), {
      keyid: "tok_1",
      key: ed,
      now: frozen(T + 0.9),
    });
    expect(signed.headers.get("signature-input")).toBe(
      `sig1=("@method" "@target-uri");created=${T};keyid="tok_1";alg="ed25519"`,
    );
    expect(signed.headers.get("signature")).toMatch(/^sig1=:[A-Za-z0-9+/]{86}==:$/);
    expect(await verifyRequest(signed, { resolveKey, now: frozen(T) })).toMatchObject({ ok: true, keyid: "tok_1" });
  });

  it("keyId names the key like every other option; the deprecated keyid gives the same signature; both must agree", async () => {
    const request = () => new Request("https://api.example.com/v1/prices");
    const now = frozen(T);
    const byKeyId = await signatureHeaders(request(), { keyId: "tok_1", key: ed, now });
    expect(await signatureHeaders(request(), { keyid: "tok_1", key: ed, now })).toEqual(byKeyId);
    expect(await signatureHeaders(request(), { keyId: "tok_1", keyid: "tok_1", key: ed, now })).toEqual(byKeyId);
    expect(byKeyId["signature-input"]).toContain('keyid="tok_1"');
    await expect(signatureHeaders(request(), { keyId: "tok_1", keyid: "tok_2", key: ed, now })).rejects.toThrow(/keyId and its deprecated alias keyid differ/);
    await expect(signatureHeaders(request(), { keyId: "", key: ed, now })).rejects.toThrow(/keyId must be a non-empty string/);
  });

  it("refuses a token as the key id, as keyward/client does, without echoing it: it would be sent in the clear", async () => {
    const request = () => new Request("https://api.example.com/v1/prices");
    for (const token of [generateToken({ prefix: "acme", kind: "secret", env: "live" }), generateToken({ prefix: "kw", kind: "publishable", env: "test" })]) {
      for (const options of [
        { keyId: token, key: hmac },
        { keyid: token, key: ed },
      ] as SignRequestOptions[]) {
        for (const sign of [signRequest, signatureHeaders] as const) {
          const err = await sign(request(), options).then(
            () => null,
            (e: unknown) => e as Error,
          );
          expect(err).toBeInstanceOf(TypeError);
          expect(err!.message).toBe("keyId looks like a token; pass the token's public id (tok_…), never the token");
          expect(String(err) + err!.stack).not.toContain(token);
        }
      }
    }
  });

  it("with a body: covers content-digest, computes it, keeps the body, leaves the original untouched", async () => {
    const original = new Request("https://api.example.com/v1/items", { method: "POST", body: '{"a":1}' });
    const signed = await signRequest(original, { keyid: "tok_1", key: ed, now: frozen(T) });
    expect(signed.headers.get("content-digest")).toBe(computeContentDigest('{"a":1}'));
    expect(signed.headers.get("signature-input")).toContain('("@method" "@target-uri" "content-digest")');
    expect(original.headers.has("signature")).toBe(false);
    expect(original.headers.has("content-digest")).toBe(false);
    expect(await original.text()).toBe('{"a":1}');
    const result = await verifyRequest(signed, { resolveKey, now: frozen(T) });
    expect(result.ok).toBe(true);
    expect(await signed.text()).toBe('{"a":1}');
  });

  it("the signed copy keeps the request's options, its referrer and referrer policy too (a Request built with an init resets those: a browser would send the Referer its caller turned off)", async () => {
    const url = "https://api.example.com/v1/items";
    const options = { cache: "no-store", credentials: "omit", keepalive: true, mode: "same-origin", redirect: "manual" } as const;
    for (const policy of ["unsafe-url", "no-referrer"] as const) {
      for (const body of [undefined, '{"a":1}']) {
        const init = { ...options, method: body === undefined ? "GET" : "POST", body, referrer: `${url}?from=page`, referrerPolicy: policy };
        for (const given of body === undefined ? [undefined] : [undefined, body]) {
          const signed = await signRequest(new Request(url, init), { keyId: "tok_1", key: ed, body: given });
          const { cache, credentials, keepalive, mode, redirect, referrer, referrerPolicy } = signed;
          expect({ cache, credentials, keepalive, mode, redirect, referrer, referrerPolicy }, `${policy} ${body} ${given}`).toEqual({ ...options, referrer: init.referrer, referrerPolicy: policy });
        }
      }
    }
    // The defaults stay the defaults.
    const plain = await signRequest(new Request(url), { keyId: "tok_1", key: ed });
    expect([plain.referrer, plain.referrerPolicy]).toEqual(["about:client", ""]);
  });

  it("body given: the digest comes from it and the stream is never read or cloned; the result verifies", async () => {
    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        pulls++;
        c.enqueue(new TextEncoder().encode('{"a":1}'));
        c.close();
      },
    });
    const original = new Request("https://api.example.com/v1/items", { method: "POST", body: stream, duplex: "half" } as RequestInit);
    const signed = await signRequest(original, { keyId: "tok_1", key: ed, now: frozen(T), body: '{"a":1}' });
    expect(signed.headers.get("content-digest")).toBe(computeContentDigest('{"a":1}'));
    // The stream's first pull happens at construction (highWaterMark 1); nothing more is asked of it.
    const before = pulls;
    expect(original.bodyUsed).toBe(false);
    expect((await verifyRequest(signed, { resolveKey, now: frozen(T) })).ok).toBe(true);
    expect(await signed.text()).toBe('{"a":1}');
    expect(pulls).toBe(before);
    // The same digest as from the stream, and bytes work as a string does.
    const fields = await signatureHeaders(new Request("https://api.example.com/v1/items", { method: "POST", body: '{"a":1}' }), {
      keyId: "tok_1",
      key: ed,
      now: frozen(T),
      body: new TextEncoder().encode('{"a":1}'),
    });
    expect(fields["content-digest"]).toBe(signed.headers.get("content-digest"));
    expect(fields.signature).toBe(signed.headers.get("signature"));
  });

  it("body given where it cannot be: INVALID_INPUT naming body", async () => {
    const get = new Request("https://api.example.com/v1/items");
    const post = new Request("https://api.example.com/v1/items", { method: "POST", body: "x" });
    for (const [request, body] of [
      [get, "x"],
      [post, 5],
      [post, new ArrayBuffer(1)],
    ] as const) {
      const err = await signRequest(request, { keyId: "tok_1", key: ed, body: body as never }).catch((e: unknown) => e);
      expect(isKeywardError(err) && err.code === "INVALID_INPUT" && (err as { field?: string }).field).toBe("body");
    }
  });

  it("keeps an existing Content-Digest; digest algorithms are configurable", async () => {
    const body = "hello";
    const given = computeContentDigest(body, ["sha-512"]);
    const a = await signRequest(new Request("https://e.com/", { method: "PUT", body, headers: { "content-digest": given } }), {
      keyid: "k",
      key: ed,
    });
    expect(a.headers.get("content-digest")).toBe(given);
    const b = await signRequest(new Request("https://e.com/", { method: "PUT", body }), {
      keyid: "k",
      key: ed,
      digestAlgorithms: ["sha-512"],
    });
    expect(b.headers.get("content-digest")).toBe(given);
  });

  it("a Content-Digest the request carries is checked against the body, given or read: a wrong one is INVALID_INPUT, never signed", async () => {
    const url = "https://api.example.com/v1/orders";
    const body = '{"qty":2}';
    const wrong = [
      computeContentDigest('{"qty":1}'), // another body's
      `${computeContentDigest(body)}, ${computeContentDigest('{"qty":1}', ["sha-512"])}`, // one member right, one wrong
      "md5=:XUFAKrxLKna5cZ2REBfFkg==:", // no algorithm keyward knows
      "sha-256=nope", // not a Byte Sequence
      "", // empty
    ];
    for (const field of wrong) {
      const request = () => new Request(url, { method: "POST", body, headers: { "content-digest": field } });
      for (const [name, call] of [
        ["signRequest, body read", () => signRequest(request(), { keyId: "tok_1", key: ed })],
        ["signRequest, body given", () => signRequest(request(), { keyId: "tok_1", key: ed, body })],
        ["signatureHeaders, body given", () => signatureHeaders(request(), { keyId: "tok_1", key: hmac, body: utf8(body) })],
      ] as const) {
        const err = await call().catch((e: unknown) => e);
        expect(isKeywardError(err) && [err.code, (err as { field?: string }).field], `${name}: ${field}`).toEqual(["INVALID_INPUT", "body"]);
      }
    }
    // Not covered (a GET-like list): not checked, as it is not signed.
    const uncovered = new Request(url, { method: "POST", body, headers: { "content-digest": wrong[0]! } });
    expect((await signRequest(uncovered, { keyId: "tok_1", key: ed, components: ["@method"] })).headers.get("content-digest")).toBe(wrong[0]);
  });

  it("appends a second signature under another label; both verify", async () => {
    const first = await signRequest(new Request("https://e.com/x"), { keyid: "k1", key: ed, now: frozen(T) });
    const hmacKey = { alg: "hmac-sha256", secret: SHARED_SECRET } as const;
    const both = await signRequest(first, { label: "proxy", keyid: "k2", key: hmacKey, now: frozen(T), tag: "edge" });
    expect(both.headers.get("signature-input")).toBe(
      `sig1=("@method" "@target-uri");created=${T};keyid="k1";alg="ed25519", proxy=("@method" "@target-uri");created=${T};keyid="k2";alg="hmac-sha256";tag="edge"`,
    );
    const keys = { k1: resolveKey(), k2: { alg: "hmac-sha256", secret: SHARED_SECRET } } as const;
    const resolve = (id: string) => keys[id as "k1"] ?? null;
    expect(await verifyRequest(both, { resolveKey: resolve, label: "sig1", now: frozen(T) })).toMatchObject({ ok: true, keyid: "k1" });
    expect(await verifyRequest(both, { resolveKey: resolve, label: "proxy", now: frozen(T) })).toMatchObject({
      ok: true,
      keyid: "k2",
      alg: "hmac-sha256",
      params: { tag: "edge" },
    });
    await expect(signRequest(both, { label: "proxy", keyid: "k", key: ed })).rejects.toSatisfy((e) =>
      isKeywardError(e, "INVALID_INPUT"),
    );
  });

  it("params: exactly the listed ones, in order; nonce true is 128 random bits", async () => {
    const signed = await signRequest(new Request("https://e.com/"), {
      keyid: "k",
      key: ed,
      created: T,
      expires: T + 60,
      nonce: true,
      random: (n) => new Uint8Array(n).fill(0xfb),
      params: ["keyid", "nonce", "created", "expires"],
    });
    expect(signed.headers.get("signature-input")).toBe(
      `sig1=("@method" "@target-uri");keyid="k";nonce="-_v7-_v7-_v7-_v7-_v7-w";created=${T};expires=${T + 60}`,
    );
    const random = await signRequest(new Request("https://e.com/"), { keyid: "k", key: ed, nonce: true });
    expect(random.headers.get("signature-input")).toMatch(/;nonce="[A-Za-z0-9_-]{22}";keyid="k"/);
  });

  it("expires, nonce and tag join the default parameters when given", async () => {
    const signed = await signRequest(new Request("https://e.com/"), {
      keyid: "k",
      key: ed,
      created: T,
      expires: T + 5,
      nonce: "n1",
      tag: "t",
    });
    expect(signed.headers.get("signature-input")).toBe(
      `sig1=("@method" "@target-uri");created=${T};expires=${T + 5};nonce="n1";keyid="k";alg="ed25519";tag="t"`,
    );
  });

  it("refuses misuse with precise errors", async () => {
    const r = () => new Request("https://e.com/");
    const shortHmacKey = await crypto.subtle.importKey("raw", new Uint8Array(8), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const cases: [Partial<SignRequestOptions> & Record<string, unknown>, (e: unknown) => boolean][] = [
      [{ label: "Sig" }, (e) => isKeywardError(e, "INVALID_INPUT")],
      [{ params: ["nonce"] }, (e) => isKeywardError(e, "INVALID_INPUT")],
      [{ params: ["bogus" as "tag"] }, (e) => isKeywardError(e, "INVALID_INPUT")],
      [{ components: ["x-missing"] }, (e) => isKeywardError(e, "INVALID_INPUT")],
      [{ keyid: "" }, (e) => e instanceof TypeError],
      [{ keyid: "caf\u00e9" }, (e) => isKeywardError(e, "INVALID_INPUT")],
      [{ key: { alg: "ed25519", privateKey: new Uint8Array(31) } }, (e) => e instanceof RangeError],
      [{ key: { alg: "hmac-sha256", secret: new Uint8Array(8) } }, (e) => e instanceof RangeError],
      [{ key: { alg: "hmac-sha256", secret: shortHmacKey } }, (e) => e instanceof RangeError],
      [{ key: { alg: "rsa" } as unknown as SigningKey }, (e) => e instanceof TypeError],
      [{ created: 1.5 }, (e) => isKeywardError(e, "INVALID_INPUT")],
    ];
    for (const [patch, check] of cases) {
      await expect(signRequest(r(), { keyid: "k", key: ed, ...patch } as SignRequestOptions)).rejects.toSatisfy(check);
      await expect(signatureHeaders(r(), { keyid: "k", key: ed, ...patch } as SignRequestOptions)).rejects.toSatisfy(check);
    }
    await expect(signRequest("https://e.com" as unknown as Request, { keyid: "k", key: ed })).rejects.toThrow(TypeError);
    const broken = new Request("https://e.com/", { headers: { "signature-input": "((" } });
    await expect(signRequest(broken, { keyid: "k", key: ed })).rejects.toSatisfy((e) => isKeywardError(e, "INVALID_INPUT"));
  });

  it("accepts WebCrypto keys", async () => {
    const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const signed = await signRequest(new Request("https://e.com/"), {
      keyid: "k",
      key: { alg: "ed25519", privateKey: pair.privateKey },
      now: frozen(T),
    });
    const result = await verifyRequest(signed, { resolveKey: () => ({ alg: "ed25519", publicKey: pair.publicKey }), now: frozen(T) });
    expect(result.ok).toBe(true);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    expect((await verifyRequest(signed, { resolveKey: () => ({ alg: "ed25519", publicKey: raw }), now: frozen(T) })).ok).toBe(true);

    const hmacKey = await crypto.subtle.importKey("raw", SHARED_SECRET as BufferSource, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    const h = await signRequest(new Request("https://e.com/"), { keyid: "k", key: { alg: "hmac-sha256", secret: hmacKey }, now: frozen(T) });
    const viaRaw = await verifyRequest(h, { resolveKey: () => ({ alg: "hmac-sha256", secret: SHARED_SECRET }), now: frozen(T) });
    const viaKey = await verifyRequest(h, { resolveKey: () => ({ alg: "hmac-sha256", secret: hmacKey }), now: frozen(T) });
    expect([viaRaw.ok, viaKey.ok]).toEqual([true, true]);
  });

  it("signatureHeaders: the fields signRequest sets, which sign a request built from them", async () => {
    const url = "https://api.example.com/v1/prices?symbol=X";
    const hmacKey = { alg: "hmac-sha256", secret: SHARED_SECRET } as const;
    const digest = computeContentDigest('{"a":1}');
    const existing = await signRequest(new Request(url), { keyid: "k0", key: ed, created: T });
    const inits: [string, RequestInit, boolean][] = [
      ["GET", {}, false],
      ["POST, digest computed", { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } }, true],
      ["POST, digest given", { method: "POST", body: '{"a":1}', headers: { "content-digest": digest } }, false],
      ["already signed", { headers: existing.headers }, false],
    ];
    for (const [name, init, computed] of inits) {
      for (const key of [ed, hmacKey]) {
        const options: SignRequestOptions = { keyid: "k1", key, created: T, label: "sig2" };
        const fields = await signatureHeaders(new Request(url, init), options);
        const signed = await signRequest(new Request(url, init), options);
        expect(fields, name).toEqual({
          "signature-input": signed.headers.get("signature-input"),
          signature: signed.headers.get("signature"),
          ...(computed ? { "content-digest": digest } : {}),
        });
        const headers = new Headers(init.headers);
        for (const [field, value] of Object.entries(fields)) headers.set(field, value);
        const own = new Request(url, { ...init, headers });
        const resolve = (id: string) => (id === "k1" && key === hmacKey ? hmacKey : resolveKey());
        expect((await verifyRequest(own, { resolveKey: resolve, label: "sig2", now: frozen(T) })).ok, name).toBe(true);
      }
    }
  });

  it("signing one Request again and again adds nothing to it: no chain of followers on its signal", async () => {
    const controller = new AbortController();
    const request = new Request("https://api.example.com/v1/prices?symbol=X", { signal: controller.signal });
    const signed: Request[] = [];
    for (let i = 0; i < 200; i++) signed.push(await signRequest(request, { keyid: "tok_1", key: ed, created: T }));
    // A Request made from another registers on that one's signal (undici scans those on every
    // construction, so the 20 000th call was 15-20x slower than the first): only the first
    // copy does; the others follow through a signal of their own.
    expect(getEventListeners(request.signal, "abort").length).toBeLessThanOrEqual(1);
    // ...and still abort with the caller's signal.
    controller.abort();
    expect(signed.every((r) => r.signal.aborted)).toBe(true);
  });

  it("signing one Request with a body again and again reads its body once: no nested tees", async () => {
    // Each clone tees the caller's stream; cloning for every signature nested the body one
    // level deeper per call, until reading it overflowed the stack (after ~2 500 calls).
    const body = '{"symbol":"X"}';
    const computed = new Request("https://api.example.com/v1/orders", { method: "POST", body });
    const preset = new Request("https://api.example.com/v1/orders", {
      method: "POST",
      body,
      headers: { "content-digest": computeContentDigest(body) },
    });
    for (const request of [computed, preset]) {
      let signed = request;
      for (let i = 0; i < 4000; i++) signed = await signRequest(request, { keyId: "tok_1", key: hmac, created: T });
      const verified = await verifyRequest(signed.clone(), { resolveKey: () => hmac, now: frozen(T) });
      expect(verified.ok).toBe(true);
      expect(await signed.text()).toBe(body);
      expect(await request.text()).toBe(body); // the caller's stays readable
      // Once the caller has consumed it, its body is refused, as on a first call.
      await expect(signRequest(request, { keyId: "tok_1", key: hmac, created: T })).rejects.toThrow(TypeError);
    }
  });

  it("a body read for the digest is bounded by the request's signal: a stalled stream rejects with its reason", async () => {
    const stalled = () =>
      new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new TextEncoder().encode("part 1")) });
    const request = (signal: AbortSignal) =>
      new Request("https://api.example.com/v1/upload", { method: "POST", body: stalled(), duplex: "half", signal } as RequestInit);
    for (const sign of [signRequest, signatureHeaders] as const) {
      const controller = new AbortController();
      const call = sign(request(controller.signal), { keyId: "tok_1", key: ed }).catch((e: unknown) => e);
      setTimeout(() => controller.abort(), 20);
      expect(await call).toBe(controller.signal.reason);
      const timeout = await sign(request(AbortSignal.timeout(20)), { keyId: "tok_1", key: hmac }).catch((e: unknown) => e);
      expect((timeout as DOMException).name).toBe("TimeoutError");
      const reason = new Error("gave up");
      await expect(sign(request(AbortSignal.abort(reason)), { keyId: "tok_1", key: ed })).rejects.toBe(reason);
    }
  });

  it("the signal still bounds the read, and reaches the signed copy, once the caller's Request is no longer held (undici follows a Request's signal only while the Request lives)", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const settle = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const stalled = () =>
      new ReadableStream<Uint8Array>({ start: (controller) => controller.enqueue(new TextEncoder().encode("part 1")) });
    // The read of a body nobody else holds the Request of: aborted after a collection, it still rejects.
    const reading = new AbortController();
    const read = signatureHeaders(new Request("https://api.example.com/v1/upload", { method: "POST", body: stalled(), duplex: "half", signal: reading.signal } as RequestInit), {
      keyId: "tok_1",
      key: ed,
    }).catch((e: unknown) => e);
    await settle();
    reading.abort();
    const outcome = await Promise.race([read, new Promise((r) => setTimeout(() => r("still waiting"), 2000))]);
    expect(outcome).toBe(reading.signal.reason);
    // The signed copy of a Request the caller dropped follows the caller's signal all the same.
    const following = new AbortController();
    const signed = await signRequest(new Request("https://api.example.com/v1/prices", { signal: following.signal }), { keyId: "tok_1", key: ed });
    await settle();
    following.abort();
    expect(signed.signal.aborted).toBe(true);
  });

  it("public types", () => {
    expectTypeOf(signRequest).returns.toEqualTypeOf<Promise<Request>>();
    expectTypeOf(signatureHeaders).returns.toEqualTypeOf<
      Promise<{ "signature-input": string; signature: string; "content-digest"?: string }>
    >();
    expectTypeOf(verifyRequest).returns.toEqualTypeOf<Promise<VerifyRequestResult>>();
    // @ts-expect-error keyId is required
    const missing: SignRequestOptions = { key: ed };
    // @ts-expect-error an ed25519 key has no secret
    const wrong: SigningKey = { alg: "ed25519", secret: new Uint8Array(32) };
    expect([missing, wrong]).toHaveLength(2);
  });
});
