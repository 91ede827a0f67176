// verifyRequest policy: coverage, time, keys, algorithms, replay, digest, tampering, labels.
import { describe, expect, it } from "vitest";
import {
  type SignRequestOptions,
  type SigningKey,
  signRequest,
  type VerifyingKey,
  type VerifyRequestOptions,
  verifyRequest,
} from "../../src/signing/index.js";
import { ED25519_PUBLIC, ED25519_SEED, ed25519KeyPair, frozen, SHARED_SECRET } from "./helpers.js";

const T = 1_700_000_000;
const ED_SIGN: SigningKey = { alg: "ed25519", privateKey: ED25519_SEED };
const ED_VERIFY: VerifyingKey = { alg: "ed25519", publicKey: ED25519_PUBLIC };
const HMAC: SigningKey & VerifyingKey = { alg: "hmac-sha256", secret: SHARED_SECRET };

function sign(request: Request, options: Partial<SignRequestOptions> = {}): Promise<Request> {
  return signRequest(request, { keyid: "tok_1", key: ED_SIGN, created: T, ...options });
}

function verify(request: Request, options: Partial<VerifyRequestOptions> = {}) {
  return verifyRequest(request, {
    resolveKey: (keyid) => (keyid === "tok_1" ? ED_VERIFY : keyid === "tok_h" ? HMAC : null),
    now: frozen(T),
    ...options,
  });
}

const get = (url = "https://api.example.com/v1/items?id=7&x=1") => new Request(url);
const post = (body = '{"n":1}') => new Request("https://api.example.com/v1/items?id=7", { method: "POST", body });

/** Copies a signed request with changes (new URL, method, headers or body). */
function tamper(r: Request, change: { url?: string; method?: string; body?: string; set?: [string, string] }) {
  const headers = new Headers(r.headers);
  if (change.set) headers.set(...change.set);
  const method = change.method ?? r.method;
  return r.clone().text().then(
    (text) =>
      new Request(change.url ?? r.url, {
        method,
        headers,
        body: method === "GET" || method === "HEAD" ? null : (change.body ?? text),
      }),
  );
}

describe("verifyRequest: success", () => {
  it("reports keyid, label, alg, params and components", async () => {
    const signed = await sign(post(), { nonce: "n-1", expires: T + 60, tag: "app" });
    expect(await verify(signed)).toEqual({
      ok: true,
      keyid: "tok_1",
      label: "sig1",
      alg: "ed25519",
      keyIndex: 0,
      params: { created: T, expires: T + 60, nonce: "n-1", keyid: "tok_1", alg: "ed25519", tag: "app" },
      components: ["@method", "@target-uri", "content-digest"],
      // Kept until the signature is refused anyway: expires + skew (earlier than created + maxAge + skew), + 1 ms.
      nonce: "n-1",
      nonceExpiresAtMs: (T + 60 + 30) * 1000 + 1,
    });
  });

  it("@authority + @path + @query, or @authority + @request-target, stand for @target-uri", async () => {
    for (const components of [
      ["@method", "@authority", "@path", "@query"],
      ["@method", "@authority", "@request-target"],
    ]) {
      expect((await verify(await sign(get(), { components }))).ok).toBe(true);
    }
    for (const url of ["https://e.com/p", "https://e.com/p?", "https://e.com/p#a?b", "https://e.com/p?#x"]) {
      const noQuery = await sign(get(url), { components: ["@method", "@authority", "@path"] });
      expect((await verify(noQuery)).ok).toBe(true);
    }
    const query = await sign(get("https://e.com/p?a#x"), { components: ["@method", "@authority", "@path"] });
    expect(await verify(query)).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
  });

  it("without alg parameter the key decides", async () => {
    const signed = await sign(get(), { params: ["created", "keyid"] });
    expect(await verify(signed)).toMatchObject({ ok: true, alg: "ed25519" });
  });

  it("a POST with an empty body need not cover content-digest", async () => {
    const signed = await sign(post(""), { components: ["@method", "@target-uri"] });
    expect((await verify(signed)).ok).toBe(true);
  });
});

describe("verifyRequest: coverage", () => {
  it.each<[string, string[]]>([
    ["no @method", ["@target-uri"]],
    ["no @target-uri", ["@method"]],
    ["@authority + @path without @query on a URL with a query", ["@method", "@authority", "@path"]],
    ["@request-target without @authority", ["@method", "@request-target"]],
    ["@path + @query without @authority", ["@method", "@path", "@query"]],
  ])("%s -> COMPONENT_MISSING", async (_n, components) => {
    expect(await verify(await sign(get(), { components }))).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
  });

  it("created is required by default", async () => {
    const signed = await sign(get(), { params: ["keyid", "alg"] });
    expect(await verify(signed)).toMatchObject({ ok: false, code: "COMPONENT_MISSING", label: "sig1", keyid: "tok_1" });
  });

  it("a body must be covered by content-digest by default", async () => {
    const signed = await sign(post(), { components: ["@method", "@target-uri"] });
    expect(await verify(signed)).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
  });

  it("custom required list, with parameters and dictionary keys", async () => {
    const r = new Request("https://e.com/?a=1", { headers: { "x-d": "k=1, j=2" } });
    const signed = await sign(r, { components: ['@query-param;name="a"', 'x-d;key="k"'], nonce: "n" });
    const ok = await verify(signed, { required: ['"x-d";key="k"', '@query-param;name="a"', "nonce", "keyid"] });
    expect(ok.ok).toBe(true);
    expect(await verify(signed, { required: ['x-d;key="j"'] })).toMatchObject({ code: "COMPONENT_MISSING" });
    expect(await verify(signed, { required: ["tag"] })).toMatchObject({ code: "COMPONENT_MISSING" });
  });

  it("requireNonce", async () => {
    expect(await verify(await sign(get()), { requireNonce: true })).toMatchObject({ code: "COMPONENT_MISSING" });
    expect((await verify(await sign(get(), { nonce: true }), { requireNonce: true })).ok).toBe(true);
  });
});

describe("verifyRequest: time", () => {
  it("too old, with skew", async () => {
    const signed = await sign(get());
    expect((await verify(signed, { now: frozen(T + 330) })).ok).toBe(true);
    expect(await verify(signed, { now: frozen(T + 331) })).toMatchObject({ code: "SIGNATURE_EXPIRED" });
    expect(await verify(signed, { now: frozen(T + 61), maxAgeSec: 30, clockSkewSec: 30 })).toMatchObject({
      code: "SIGNATURE_EXPIRED",
    });
  });

  it("in the future beyond skew", async () => {
    const signed = await sign(get());
    expect((await verify(signed, { now: frozen(T - 30) })).ok).toBe(true);
    expect(await verify(signed, { now: frozen(T - 31) })).toMatchObject({ code: "SIGNATURE_FUTURE" });
    expect(await verify(signed, { now: frozen(T - 1), clockSkewSec: 0 })).toMatchObject({ code: "SIGNATURE_FUTURE" });
  });

  it("past expires", async () => {
    const signed = await sign(get(), { expires: T + 10 });
    expect((await verify(signed, { now: frozen(T + 40) })).ok).toBe(true);
    expect(await verify(signed, { now: frozen(T + 41) })).toMatchObject({ code: "SIGNATURE_EXPIRED" });
  });
});

describe("verifyRequest: keys and algorithms", () => {
  it("unknown key: null, throwing resolver, unusable key, no keyid", async () => {
    const signed = await sign(get());
    expect(await verify(signed, { resolveKey: () => null })).toMatchObject({ code: "KEY_UNKNOWN", keyid: "tok_1" });
    const boom = new Error("store down");
    expect(
      await verify(signed, {
        resolveKey: async () => {
          throw boom;
        },
      }),
    ).toMatchObject({ code: "KEY_UNKNOWN", cause: boom });
    expect(await verify(signed, { resolveKey: () => ({ alg: "ed25519", publicKey: new Uint8Array(31) }) })).toMatchObject({
      code: "KEY_UNKNOWN",
    });
    expect(await verify(signed, { resolveKey: () => ({ alg: "rsa" }) as unknown as VerifyingKey })).toMatchObject({
      code: "KEY_UNKNOWN",
    });
    const anonymous = await sign(get(), { params: ["created", "alg"] });
    expect(await verify(anonymous)).toMatchObject({ code: "KEY_UNKNOWN" });
  });

  it("resolveKey gets keyid and the alg parameter", async () => {
    const seen: [string, string | undefined][] = [];
    await verify(await sign(get()), {
      resolveKey: (keyid, alg) => {
        seen.push([keyid, alg]);
        return ED_VERIFY;
      },
    });
    expect(seen).toEqual([["tok_1", "ed25519"]]);
  });

  it("wrong key -> SIGNATURE_INVALID", async () => {
    const other = ed25519KeyPair();
    const signed = await sign(get());
    expect(await verify(signed, { resolveKey: () => ({ alg: "ed25519", publicKey: other.publicKey }) })).toMatchObject({
      code: "SIGNATURE_INVALID",
    });
    const h = await sign(get(), { keyid: "tok_h", key: HMAC });
    const wrongSecret = SHARED_SECRET.slice();
    wrongSecret[0]! ^= 1;
    expect(await verify(h, { resolveKey: () => ({ alg: "hmac-sha256", secret: wrongSecret }) })).toMatchObject({
      code: "SIGNATURE_INVALID",
    });
  });

  it("alg parameter must match the key's alg (algorithm confusion)", async () => {
    // Signed with HMAC using the Ed25519 *public* key bytes as secret, claiming hmac-sha256.
    const forged = await sign(get(), { key: { alg: "hmac-sha256", secret: ED25519_PUBLIC } });
    expect(await verify(forged)).toMatchObject({ ok: false, code: "ALG_MISMATCH" });
    // Same forgery without the alg parameter: the key (ed25519) decides, and it fails.
    const noAlg = await sign(get(), { key: { alg: "hmac-sha256", secret: ED25519_PUBLIC }, params: ["created", "keyid"] });
    expect(await verify(noAlg)).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
  });
});

describe("verifyRequest: replay", () => {
  it("a Map-backed nonce store refuses the second use, and spends nonces only on valid requests", async () => {
    const seen = new Map<string, number>();
    const nonce = (n: string, expiresAtMs: number) => {
      if (seen.has(n)) return false;
      seen.set(n, expiresAtMs);
      return true;
    };
    const signed = await sign(get(), { nonce: "abc" });
    const tampered = await tamper(signed, { url: "https://api.example.com/v1/other" });
    expect(await verify(tampered, { nonce })).toMatchObject({ code: "SIGNATURE_INVALID" });
    expect(seen.size).toBe(0);
    expect((await verify(signed.clone(), { nonce })).ok).toBe(true);
    expect(seen.get("abc")).toBe((T + 300 + 30) * 1000 + 1);
    expect(await verify(signed.clone(), { nonce })).toMatchObject({ code: "REPLAYED", keyid: "tok_1" });
  });

  it("nonce expiry follows expires when it is earlier", async () => {
    let expiry = 0;
    await verify(await sign(get(), { nonce: "x", expires: T + 5 }), {
      nonce: (_n, at) => {
        expiry = at;
        return true;
      },
    });
    expect(expiry).toBe((T + 5 + 30) * 1000 + 1);
  });

  it("a throwing nonce store fails closed", async () => {
    const err = new Error("down");
    const result = await verify(await sign(get(), { nonce: "x" }), {
      nonce: () => {
        throw err;
      },
    });
    expect(result).toMatchObject({ ok: false, code: "REPLAYED", cause: err });
  });
});

describe("verifyRequest: tampering", () => {
  it.each<[string, { url?: string; method?: string; body?: string; set?: [string, string] }, string]>([
    ["method", { method: "PUT" }, "SIGNATURE_INVALID"],
    ["path", { url: "https://api.example.com/v1/itemz?id=7" }, "SIGNATURE_INVALID"],
    ["query", { url: "https://api.example.com/v1/items?id=8" }, "SIGNATURE_INVALID"],
    ["host", { url: "https://evil.example.com/v1/items?id=7" }, "SIGNATURE_INVALID"],
    ["body", { body: '{"n":2}' }, "DIGEST_MISMATCH"],
    ["content-digest header", { set: ["content-digest", "sha-256=:AAAA:"] }, "SIGNATURE_INVALID"],
    ["covered header", { set: ["x-account", "acct_2"] }, "SIGNATURE_INVALID"],
    ["signature bytes", { set: ["signature", "sig1=:AAAA:"] }, "SIGNATURE_INVALID"],
  ])("%s", async (_name, change, code) => {
    const original = new Request("https://api.example.com/v1/items?id=7", {
      method: "POST",
      body: '{"n":1}',
      headers: { "x-account": "acct_1" },
    });
    const signed = await sign(original, { components: ["@method", "@target-uri", "content-digest", "x-account"] });
    expect((await verify(signed.clone())).ok).toBe(true);
    expect(await verify(await tamper(signed, change))).toMatchObject({ ok: false, code });
  });

  it("a \"?\" appended to a query changes what every URL component covers", async () => {
    // `?dryRun` names the parameter "dryRun"; `?dryRun?` names "dryRun?": the application sees no dryRun.
    const url = "https://api.example.com/v1/items?id=7&dryRun";
    for (const c of [["@target-uri"], ["@authority", "@path", "@query"], ["@authority", "@request-target"]]) {
      const signed = await sign(get(url), { components: ["@method", ...c] });
      expect((await verify(signed.clone())).ok).toBe(true);
      expect(await verify(await tamper(signed, { url: `${url}?` }))).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
    }
    // A covered parameter's value: "7" signed, "7?" received.
    const required = ["@method", '@query-param;name="id"', "created"];
    const signed = await sign(get("https://api.example.com/v1/items?id=7"), { components: required.slice(0, 2) });
    expect((await verify(signed.clone(), { required })).ok).toBe(true);
    expect(await verify(await tamper(signed, { url: "https://api.example.com/v1/items?id=7?" }), { required })).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
  });

  it("a removed Content-Digest -> DIGEST_MISSING; verifyDigest: false skips the body check", async () => {
    const signed = await sign(post());
    const stripped = await tamper(signed, {});
    stripped.headers.delete("content-digest");
    expect(await verify(stripped)).toMatchObject({ code: "DIGEST_MISSING" });
    const swapped = await tamper(signed, { body: '{"n":9}' });
    expect((await verify(swapped, { verifyDigest: false })).ok).toBe(true);
  });

  it("HMAC signatures are checked too", async () => {
    const signed = await sign(post(), { keyid: "tok_h", key: HMAC });
    expect(await verify(signed.clone())).toMatchObject({ ok: true, alg: "hmac-sha256" });
    expect(await verify(await tamper(signed, { method: "PATCH" }))).toMatchObject({ code: "SIGNATURE_INVALID" });
  });
});

describe("verifyRequest: body and header limits", () => {
  it("body over the cap -> BODY_TOO_LARGE (streamed and with Content-Length)", async () => {
    const big = "x".repeat(2048);
    const signed = await sign(post(big));
    expect(await verify(signed.clone(), { maxBodyBytes: 1024 })).toMatchObject({ code: "BODY_TOO_LARGE" });
    expect((await verify(signed.clone(), { maxBodyBytes: 2048 })).ok).toBe(true);
    const declared = await tamper(signed, {});
    declared.headers.set("content-length", "999999999");
    expect(await verify(declared, { maxBodyBytes: 1024 })).toMatchObject({ code: "BODY_TOO_LARGE" });
  });

  it("the caller can still read the body after verification, even a refused oversized one", async () => {
    const signed = await sign(post());
    await verify(signed);
    expect(await signed.text()).toBe('{"n":1}');
    const big = await sign(post("y".repeat(100_000)));
    expect(await verify(big, { maxBodyBytes: 10 })).toMatchObject({ code: "BODY_TOO_LARGE" });
    expect(await big.text()).toHaveLength(100_000);
  });

  it("a body consumed before verification cannot be checked -> BODY_ALREADY_READ (the application's mistake, not the signature's)", async () => {
    const signed = await sign(post());
    await signed.text();
    expect(await verify(signed)).toMatchObject({ ok: false, code: "BODY_ALREADY_READ", keyid: "tok_1" });
    // Locked by a reader that has read nothing yet: as unreadable for the check.
    const locked = await sign(post());
    locked.body!.getReader();
    expect(await verify(locked)).toMatchObject({ ok: false, code: "BODY_ALREADY_READ", keyid: "tok_1" });
  });

  it("oversized Signature-Input or Signature -> LIMIT_EXCEEDED", async () => {
    const signed = await sign(get());
    expect(await verify(signed, { maxHeaderBytes: 40 })).toEqual({ ok: false, code: "LIMIT_EXCEEDED" });
  });
});

describe("verifyRequest: structure and labels", () => {
  it("no signature -> SIGNATURE_MISSING; one field only -> SIGNATURE_MALFORMED", async () => {
    expect(await verify(get())).toEqual({ ok: false, code: "SIGNATURE_MISSING" });
    const signed = await sign(get());
    const noSig = await tamper(signed, {});
    noSig.headers.delete("signature");
    expect(await verify(noSig)).toMatchObject({ code: "SIGNATURE_MALFORMED" });
    const noInput = await tamper(signed, {});
    noInput.headers.delete("signature-input");
    expect(await verify(noInput)).toMatchObject({ code: "SIGNATURE_MALFORMED" });
  });

  it("a duplicated label -> SIGNATURE_MALFORMED (the structured-field parser would keep the last)", async () => {
    const a = await sign(get());
    const b = await sign(get(), { components: ["@authority"] });
    const dup = new Request(a.url, { headers: a.headers });
    dup.headers.append("signature-input", b.headers.get("signature-input")!);
    dup.headers.append("signature", b.headers.get("signature")!);
    expect(await verify(dup)).toMatchObject({ code: "SIGNATURE_MALFORMED" });
    const inOneLine = new Request(a.url, {
      headers: {
        "signature-input": `${a.headers.get("signature-input")}, ${a.headers.get("signature-input")}`,
        signature: a.headers.get("signature")!,
      },
    });
    expect(await verify(inOneLine)).toMatchObject({ code: "SIGNATURE_MALFORMED" });
    // Behind a Display String holding a backslash, which is no escape there (a comma splitter took it for one).
    const behindDisplayString = new Request(a.url, {
      headers: { "signature-input": `sig1=%"\\";x, ${a.headers.get("signature-input")}`, signature: a.headers.get("signature")! },
    });
    expect(await verify(behindDisplayString)).toMatchObject({ code: "SIGNATURE_MALFORMED" });
  });

  it("a Signature-Input rewritten so that it parses to the signed one -> SIGNATURE_MALFORMED", async () => {
    // The base's @signature-params is rebuilt from the parse (§3.2 step 7): whatever the parse loses,
    // the rewrite keeps the signature valid while the field says something else.
    const signed = await sign(get(), { components: ["@method", "@target-uri", '@query-param;name="id"'] });
    const input = signed.headers.get("signature-input")!;
    const rewritten = (from: string, to: string) => {
      expect(input).toContain(from);
      return new Request(signed.url, { headers: { "signature-input": input.replace(from, to), signature: signed.headers.get("signature")! } });
    };
    expect((await verify(signed.clone())).ok).toBe(true);
    // created is an Integer (§2.3); as a Decimal it re-serialised as one.
    expect(await verify(rewritten(`created=${T}`, `created=${T}.0`))).toMatchObject({ ok: false, code: "SIGNATURE_MALFORMED" });
    // A parameter named twice (the parse keeps the last value, where the field names another key first).
    expect(await verify(rewritten(';keyid="tok_1"', ';keyid="tok_2";keyid="tok_1"'))).toMatchObject({ ok: false, code: "SIGNATURE_MALFORMED" });
    expect(await verify(rewritten(`created=${T}`, `created=${T + 1000};created=${T}`))).toMatchObject({ ok: false, code: "SIGNATURE_MALFORMED" });
    expect(await verify(rewritten(';name="id"', ';name="x";name="id"'))).toMatchObject({ ok: false, code: "SIGNATURE_MALFORMED" });
  });

  it("another label's parameter named twice or integral Decimal leaves this label's signature valid", async () => {
    // RFC 9651 allows both (the last value kept, 1.0 a Decimal): only the member verified must serialise back to what it says.
    const signed = await sign(get());
    const withOther = (input: string, signature: string) =>
      new Request(signed.url, {
        headers: {
          "signature-input": `${signed.headers.get("signature-input")!}, ${input}`,
          signature: `${signed.headers.get("signature")!}, ${signature}`,
        },
      });
    const others: [string, string][] = [
      ['proxy=("@method");keyid="p";keyid="q"', "proxy=:AAAA:"],
      ['proxy=("@method";x;x);keyid="p"', "proxy=:AAAA:"],
      ['proxy=("@method");keyid="p";w=1.0', "proxy=:AAAA:"],
      ['proxy=("@method");keyid="p"', "proxy=:AAAA:;x;x=2.0"],
    ];
    for (const [input, signature] of others) {
      expect(await verify(withOther(input, signature)), input + signature).toMatchObject({ ok: true, label: "sig1" });
      expect(await verify(withOther(input, signature), { label: "sig1" }), input + signature).toMatchObject({ ok: true, label: "sig1" });
      // The other label, asked for, is refused as malformed when its own Signature-Input member is.
      if (input.includes("keyid=\"q\"") || input.includes("x;x") || input.includes("1.0")) {
        expect(await verify(withOther(input, signature), { label: "proxy" })).toMatchObject({ ok: false, code: "SIGNATURE_MALFORMED", label: "proxy" });
      }
    }
  });

  it("label selection among several signatures", async () => {
    const weak = await sign(get(), { label: "weak", components: ["@authority"] });
    const both = await sign(weak, { label: "strong" });
    // Default: the first that satisfies the policy.
    expect(await verify(both)).toMatchObject({ ok: true, label: "strong" });
    // Asking for a label checks that one.
    expect(await verify(both, { label: "weak" })).toMatchObject({ ok: false, code: "COMPONENT_MISSING", label: "weak" });
    expect(await verify(both, { label: "weak", required: ["@authority"] })).toMatchObject({ ok: true, label: "weak" });
    expect(await verify(both, { label: "nope" })).toMatchObject({ ok: false, code: "SIGNATURE_MISSING", label: "nope" });
    // None satisfies the policy.
    const weak2 = await sign(weak, { label: "weak2", components: ["@method"] });
    expect(await verify(weak2)).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
  });

  it("a label in Signature-Input but not in Signature -> SIGNATURE_MALFORMED", async () => {
    const signed = await sign(get());
    const r = new Request(signed.url, {
      headers: { "signature-input": signed.headers.get("signature-input")!, signature: "other=:AAAA:" },
    });
    expect(await verify(r)).toMatchObject({ code: "SIGNATURE_MALFORMED", label: "sig1" });
  });

  it.each([
    ['sig1=("@method");created="x";keyid="tok_1"', "sig1=:AAAA:"],
    ['sig1=("@method");created=1.5;keyid="tok_1"', "sig1=:AAAA:"],
    ['sig1=("@method");keyid=tok_1', "sig1=:AAAA:"],
    ['sig1=("@method" 1);keyid="tok_1"', "sig1=:AAAA:"],
    ['sig1="@method";keyid="tok_1"', "sig1=:AAAA:"],
    ['sig1=("@method");keyid="tok_1"', 'sig1="AAAA"'],
    ['sig1=("@method");keyid="tok_1"', "sig1=(:AAAA:)"],
    ["sig1=(", "sig1=:AAAA:"],
  ])("malformed %s / %s", async (input, signature) => {
    const r = new Request("https://e.com/", { headers: { "signature-input": input, signature } });
    expect(await verify(r, { required: [], unsafeAllowNoFreshness: true })).toMatchObject({ ok: false, code: "SIGNATURE_MALFORMED" });
  });

  it("an unsupported covered component -> SIGNATURE_INVALID", async () => {
    const r = new Request("https://e.com/", {
      headers: { "signature-input": 'sig1=("@method;req" "@foo");created=1;keyid="tok_1"', signature: "sig1=:AAAA:" },
    });
    expect(await verify(r, { required: [], now: frozen(1) })).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
  });

  it("misuse rejects with TypeError / RangeError", async () => {
    await expect(verifyRequest(get(), {} as VerifyRequestOptions)).rejects.toThrow(TypeError);
    await expect(verifyRequest(get(), { resolveKey: () => null, maxAgeSec: -1 })).rejects.toThrow(RangeError);
    await expect(verifyRequest(get(), { resolveKey: () => null, maxParameters: -1 })).rejects.toThrow("maxParameters must be a non-negative number");
    await expect(verifyRequest(get(), { resolveKey: () => null, maxCoveredFieldBytes: Number.NaN })).rejects.toThrow(
      "maxCoveredFieldBytes must be a non-negative number",
    );
  });

  it("an option of another name rejects (a misspelt requireNonce accepted a signature without a nonce), naming it only when it is a plain name", async () => {
    const unsigned = await sign(get());
    await expect(verify(unsigned, { requireNonces: true } as never)).rejects.toThrow("options.requireNonces is not an option of verifyRequest");
    await expect(verify(unsigned, { requried: ["content-type"] } as never)).rejects.toThrow(TypeError);
    const tokenShaped = "acme_sk_live_4qT9aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const err = await verify(unsigned, { [tokenShaped]: true } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(String((err as Error).message)).not.toContain("acme_sk");
  });
});

describe("verifyRequest: callbacks answering now, later, or failing", () => {
  // The verifier runs synchronously until a callback returns a Promise (or
  // any thenable); every form must give the same verdicts.
  const boom = new Error("down");
  const forms = <T>(value: T) => ({
    sync: () => value,
    async: async () => value,
    // biome-ignore lint/suspicious/noThenProperty: a non-Promise thenable, on purpose
    thenable: () => ({ then: (resolve: (v: T) => void) => resolve(value) }),
  });
  const failing = {
    throws: () => {
      throw boom;
    },
    rejects: async () => {
      throw boom;
    },
    // biome-ignore lint/suspicious/noThenProperty: a non-Promise thenable, on purpose
    thenableRejects: () => ({ then: (_: unknown, reject: (e: unknown) => void) => reject(boom) }),
  };

  it("resolveKey", async () => {
    for (const key of [HMAC, ED_VERIFY]) {
      const signed = await sign(get(), key === HMAC ? { key: HMAC, keyid: "tok_h" } : {});
      for (const [form, resolveKey] of Object.entries(forms(key))) {
        const result = await verify(signed, { resolveKey: resolveKey as VerifyRequestOptions["resolveKey"] });
        expect(result.ok, form).toBe(true);
      }
      for (const [form, resolveKey] of Object.entries(forms(null))) {
        expect(await verify(signed, { resolveKey: resolveKey as VerifyRequestOptions["resolveKey"] }), form).toMatchObject({
          code: "KEY_UNKNOWN",
        });
      }
      for (const [form, resolveKey] of Object.entries(failing)) {
        expect(await verify(signed, { resolveKey: resolveKey as never }), form).toMatchObject({ code: "KEY_UNKNOWN", cause: boom });
      }
    }
  });

  it("nonce", async () => {
    const signed = await sign(get(), { nonce: "n-1" });
    for (const [form, nonce] of Object.entries(forms(true))) {
      expect((await verify(signed, { nonce: nonce as VerifyRequestOptions["nonce"] })).ok, form).toBe(true);
    }
    for (const value of [false, "true", 1, undefined]) {
      for (const [form, nonce] of Object.entries(forms(value))) {
        expect(await verify(signed, { nonce: nonce as never }), form).toEqual({ ok: false, code: "REPLAYED", label: "sig1", keyid: "tok_1" });
      }
    }
    for (const [form, nonce] of Object.entries(failing)) {
      expect(await verify(signed, { nonce: nonce as never }), form).toMatchObject({ code: "REPLAYED", cause: boom });
    }
  });

  it("a bad signature is refused before the nonce is spent, in every form", async () => {
    const signed = await sign(get(), { nonce: "n-1" });
    const other = { alg: "ed25519", publicKey: ed25519KeyPair().publicKey } as const;
    for (const [form, resolveKey] of Object.entries(forms(other))) {
      let spent = false;
      const result = await verify(signed, {
        resolveKey: resolveKey as VerifyRequestOptions["resolveKey"],
        nonce: () => {
          spent = true;
          return true;
        },
      });
      expect([result.ok, spent], form).toEqual([false, false]);
    }
  });
});

describe("verifyRequest: body option", () => {
  it("uses the given bytes for Content-Digest, with the same cap", async () => {
    const secret = new Uint8Array(32).fill(3);
    const key = { alg: "hmac-sha256" as const, secret };
    const signed = await signRequest(new Request("https://x.test/p", { method: "POST", body: "hello" }), { keyid: "k", key });
    const opts = { resolveKey: () => key };
    expect((await verifyRequest(signed, { ...opts, body: new TextEncoder().encode("hello") })).ok).toBe(true);
    expect(await verifyRequest(signed, { ...opts, body: new TextEncoder().encode("hellO") })).toMatchObject({ code: "DIGEST_MISMATCH" });
    expect(await verifyRequest(signed, { ...opts, body: new TextEncoder().encode("hello"), maxBodyBytes: 4 })).toMatchObject({
      code: "BODY_TOO_LARGE",
    });
    await expect(verifyRequest(signed, { ...opts, body: "hello" as never })).rejects.toThrow(TypeError);
  });
});
