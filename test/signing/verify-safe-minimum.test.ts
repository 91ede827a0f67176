// A custom `required` list keeps the safe minimum (freshness, and the body
// covered when there is one) unless the caller opts out with an unsafe-named
// option; nonces: length cap, returned on success, remembered as long as
// the signature would be accepted.
import { describe, expect, it } from "vitest";
import {
  computeContentDigest,
  nonceExpiresAtMs,
  type SignRequestOptions,
  type SigningKey,
  signRequest,
  type VerifyRequestOptions,
  verifyRequest,
} from "../../src/signing/index.js";
import { ED25519_PUBLIC, ED25519_SEED, frozen } from "./helpers.js";

const T = 1_700_000_000;
const DAY = 86_400;
const KEY: SigningKey = { alg: "ed25519", privateKey: ED25519_SEED };
const URL_ = "https://api.example.com/v1/items";

const sign = (request: Request, options: Partial<SignRequestOptions> = {}) =>
  signRequest(request, { keyid: "k", key: KEY, created: T, ...options });

const verify = (request: Request, options: Partial<VerifyRequestOptions> = {}) =>
  verifyRequest(request, { resolveKey: () => ({ alg: "ed25519", publicKey: ED25519_PUBLIC }), now: frozen(T), ...options });

/** A Map-backed nonce store, as an application would write one. */
function nonceStore(now: () => number) {
  const seen = new Map<string, number>();
  const remember = (nonce: string, expiresAtMs: number) => {
    const until = seen.get(nonce);
    if (until !== undefined && until > now()) return false;
    seen.set(nonce, expiresAtMs);
    return true;
  };
  return { seen, remember };
}

describe("verifyRequest: freshness stays required", () => {
  it("a custom list without created still needs created or expires", async () => {
    const required = ["@method", "@target-uri", "nonce"];
    const noTime = await sign(new Request(URL_), { nonce: "n1", params: ["nonce", "keyid", "alg"] });
    expect(await verify(noTime, { required })).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
    const expiresOnly = await sign(new Request(URL_), { nonce: "n2", expires: T + 60, params: ["expires", "nonce", "keyid", "alg"] });
    expect(await verify(expiresOnly, { required })).toMatchObject({ ok: true, nonceExpiresAtMs: (T + 60 + 30) * 1000 + 1 });
  });

  it("the reproduction: a nonce-only signature replayed 30 days later, once its nonce was forgotten", async () => {
    let nowMs = T * 1000;
    const store = nonceStore(() => nowMs);
    const options = { required: ["@method", "@target-uri", "nonce"], nonce: store.remember, now: () => nowMs };
    const signed = await sign(new Request(URL_), { nonce: "n1", params: ["nonce", "keyid", "alg"] });
    // Refused now: without created or expires it would be valid forever.
    expect(await verify(signed.clone(), options)).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
    expect(store.seen.size).toBe(0);
    // The same with created: accepted once; replayed 30 days later, it is too old.
    const dated = await sign(new Request(URL_), { nonce: "n2" });
    expect((await verify(dated.clone(), options)).ok).toBe(true);
    expect(await verify(dated.clone(), options)).toMatchObject({ code: "REPLAYED" });
    nowMs += 30 * DAY * 1000;
    expect(await verify(dated.clone(), options)).toMatchObject({ code: "SIGNATURE_EXPIRED" });
  });

  it("unsafeAllowNoFreshness: a signature without times is accepted, and its nonce is kept forever", async () => {
    let nowMs = T * 1000;
    const store = nonceStore(() => nowMs);
    const options = {
      required: ["@method", "@target-uri", "nonce"],
      unsafeAllowNoFreshness: true,
      nonce: store.remember,
      now: () => nowMs,
    };
    const signed = await sign(new Request(URL_), { nonce: "n1", params: ["nonce", "keyid", "alg"] });
    expect(await verify(signed.clone(), options)).toMatchObject({ ok: true, nonce: "n1", nonceExpiresAtMs: Number.MAX_SAFE_INTEGER });
    expect(store.seen.get("n1")).toBe(Number.MAX_SAFE_INTEGER);
    nowMs += 3650 * DAY * 1000;
    expect(await verify(signed.clone(), options)).toMatchObject({ ok: false, code: "REPLAYED" });
  });
});

describe("verifyRequest: a body stays covered", () => {
  const required = ["@method", "@target-uri", "created"];

  it("the reproduction: a body swapped under a signature that does not cover content-digest", async () => {
    const signed = await sign(new Request(URL_, { method: "POST", body: '{"amount":1}' }), { components: ["@method", "@target-uri"] });
    const swapped = new Request(signed, { body: '{"amount":1000000}' });
    expect(await verify(swapped, { required })).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
    const given = await verify(new Request(signed.clone(), { body: "x" }), { required, body: new TextEncoder().encode("x") });
    expect(given).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
  });

  it("a body the application read is covered even on a GET, whose Fetch Request carries none", async () => {
    const body = new TextEncoder().encode('{"amount":1000000}');
    const signed = await sign(new Request(URL_));
    expect(await verify(signed.clone(), { body })).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
    expect((await verify(signed.clone(), { body: new Uint8Array(0) })).ok).toBe(true);
    expect((await verify(signed.clone(), { body, unsafeAllowUncoveredBody: true })).ok).toBe(true);
    // Covered, it is checked against the Content-Digest.
    const digest = await sign(new Request(URL_, { headers: { "content-digest": computeContentDigest(body) } }), {
      components: ["@method", "@target-uri", "content-digest"],
    });
    expect((await verify(digest.clone(), { body })).ok).toBe(true);
    expect(await verify(digest.clone(), { body: new TextEncoder().encode("{}") })).toMatchObject({ ok: false, code: "DIGEST_MISMATCH" });
  });

  it("a GET's body nobody read, given as a stream, is read only once the signature verified, and held to the same rules", async () => {
    const bytes = new TextEncoder().encode('{"amount":1000000}');
    /** The body as a stream, and how many times it was pulled. */
    const streamed = (chunks: Uint8Array[] = [bytes]) => {
      const pulled = { count: 0 };
      const stream = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            pulled.count++;
            const next = chunks.shift();
            if (next === undefined) controller.close();
            else controller.enqueue(next);
          },
        },
        { highWaterMark: 0 },
      );
      return { stream, pulled };
    };
    // Uncovered, of unknown length (no Content-Length): read after the signature, refused unless empty.
    const plain = await sign(new Request(URL_));
    const uncovered = streamed();
    expect(await verify(plain.clone(), { body: uncovered.stream })).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
    expect((await verify(plain.clone(), { body: streamed([]).stream })).ok).toBe(true);
    // A Content-Length that announces a body is refused at once, nothing read.
    const announced = await sign(new Request(URL_, { headers: { "content-length": String(bytes.length) } }));
    const unread = streamed();
    expect(await verify(announced, { body: unread.stream })).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
    expect(unread.pulled.count).toBe(0);
    // Covered: checked against the Content-Digest; a forged signature reads none of it.
    const digest = await sign(new Request(URL_, { headers: { "content-digest": computeContentDigest(bytes) } }), {
      components: ["@method", "@target-uri", "content-digest"],
    });
    expect((await verify(digest.clone(), { body: streamed().stream })).ok).toBe(true);
    expect(await verify(digest.clone(), { body: streamed([new TextEncoder().encode("{}")]).stream })).toMatchObject({ ok: false, code: "DIGEST_MISMATCH" });
    const forged = new Request(digest, { headers: new Headers(digest.headers) });
    forged.headers.set("signature", `sig1=:${Buffer.alloc(64).toString("base64")}:`);
    const untouched = streamed();
    expect(await verify(forged, { body: untouched.stream })).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
    expect(untouched.pulled.count).toBe(0);
    // One something else holds a reader of, and one past the size limit.
    const locked = streamed();
    locked.stream.getReader();
    expect(await verify(digest.clone(), { body: locked.stream })).toMatchObject({ ok: false, code: "BODY_ALREADY_READ" });
    expect(await verify(digest.clone(), { body: streamed().stream, maxBodyBytes: 4 })).toMatchObject({ ok: false, code: "BODY_TOO_LARGE" });
  });

  it("unsafeAllowUncoveredBody opts out; an empty body never needed covering", async () => {
    const signed = await sign(new Request(URL_, { method: "POST", body: "x" }), { components: ["@method", "@target-uri"] });
    expect((await verify(signed, { required, unsafeAllowUncoveredBody: true })).ok).toBe(true);
    const empty = await sign(new Request(URL_, { method: "POST", body: "" }), { components: ["@method", "@target-uri"] });
    expect((await verify(empty, { required })).ok).toBe(true);
  });
});

describe("verifyRequest: nonces", () => {
  it("a nonce longer than maxNonceLength (default 128) is malformed, before the key is looked up", async () => {
    let looked = 0;
    const resolveKey = () => {
      looked++;
      return { alg: "ed25519", publicKey: ED25519_PUBLIC } as const;
    };
    const ok = await sign(new Request(URL_), { nonce: "n".repeat(128) });
    expect((await verify(ok, { resolveKey })).ok).toBe(true);
    const long = await sign(new Request(URL_), { nonce: "n".repeat(129) });
    expect(await verify(long, { resolveKey })).toMatchObject({ ok: false, code: "SIGNATURE_MALFORMED" });
    expect(looked).toBe(1);
    expect((await verify(long, { resolveKey, maxNonceLength: 129 })).ok).toBe(true);
  });

  it("without a nonce callback the nonce and its expiry come back, for the caller to spend after its own checks", async () => {
    const signed = await sign(new Request(URL_), { nonce: "n1" });
    const result = await verify(signed, { maxAgeSec: 60, clockSkewSec: 5 });
    expect(result).toMatchObject({ ok: true, nonce: "n1", nonceExpiresAtMs: (T + 65) * 1000 + 1 });
    expect(nonceExpiresAtMs({ created: T }, 60, 5)).toBe((T + 65) * 1000 + 1);
    expect(nonceExpiresAtMs({ created: T, expires: T + 10 }, 60, 5)).toBe((T + 15) * 1000 + 1);
    expect(nonceExpiresAtMs({})).toBe(Number.MAX_SAFE_INTEGER);
    const plain = await verify(await sign(new Request(URL_)));
    expect(plain.ok && "nonce" in plain).toBe(false);
  });
});
