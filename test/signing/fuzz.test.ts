// Property tests: verifyRequest never throws and never accepts garbage.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../src/lib/bytes.js";
import { SignatureBaseError, signatureBase, signRequest, type VerifyingKey, verifyRequest } from "../../src/signing/index.js";
import { serializeInnerList } from "../../src/signing/structured.js";
import { ED25519_PUBLIC, ED25519_SEED, frozen, SHARED_SECRET } from "./helpers.js";
import { cpuClock } from "../support/cpu.js";

const T = 1_700_000_000;
const KEYS: Record<string, VerifyingKey> = {
  tok_1: { alg: "ed25519", publicKey: ED25519_PUBLIC },
  tok_h: { alg: "hmac-sha256", secret: SHARED_SECRET },
};
const resolveKey = (keyid: string) => KEYS[keyid] ?? null;

/** Characters a Fetch header value may hold (no NUL, CR, LF), trimmed like Headers does. */
const headerValue = fc
  .array(fc.integer({ min: 0x20, max: 0xff }), { maxLength: 300 })
  .map((codes) => String.fromCharCode(...codes).trim());

/** Strings built from structured-field fragments: mostly near-valid Signature-Input / Signature values. */
const sfFragments = fc
  .array(
    fc.constantFrom(
      "sig1", "sig2", "=", "(", ")", " ", ";", ",", ":", '"', "\\", "?1", "-1", "1.5", "@12", '%"x"',
      '"@method"', '"@target-uri"', '"@authority"', '"@path"', '"@query"', '"@query-param"', '"content-digest"',
      '"@status"', '"@signature-params"', '"x-a"', "name=", '"x"', "sf", "bs", "req", "tr", "key=",
      "created=", `${T}`, "expires=", "nonce=", "keyid=", '"tok_1"', '"tok_h"', "alg=", '"ed25519"', '"hmac-sha256"',
      "tag=", "AAAA", "==", "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==",
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(""));

const componentPool = fc.constantFrom(
  "@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query", "@status",
  '@query-param;name="a"', '@query-param;name="zz"', "@foo", "@method;req", "content-digest", "content-type",
  "x-a", "x-a;sf", 'x-a;key="k"', "x-a;bs", "x-a;sf;bs", "x-missing", "x-a;tr", "date",
);

/** A structurally valid Signature-Input member with random components and parameters. */
const validInput = fc
  .record({
    components: fc.uniqueArray(componentPool, { maxLength: 8 }),
    created: fc.option(fc.oneof(fc.constant(T), fc.integer({ min: 0, max: 2 * T })), { nil: undefined }),
    expires: fc.option(fc.integer({ min: 0, max: 2 * T }), { nil: undefined }),
    keyid: fc.option(fc.constantFrom("tok_1", "tok_h", "tok_x", ""), { nil: undefined }),
    alg: fc.option(fc.constantFrom("ed25519", "hmac-sha256", "rsa-pss-sha512", ""), { nil: undefined }),
    nonce: fc.option(fc.string({ maxLength: 10 }).filter((s) => /^[\x20-\x7e]*$/.test(s)), { nil: undefined }),
    signature: fc.uint8Array({ maxLength: 96 }),
    label: fc.constantFrom("sig1", "a", "b*"),
  })
  .map((r) => {
    const params = new Map<string, string | number>();
    for (const k of ["created", "expires", "keyid", "alg", "nonce"] as const) if (r[k] !== undefined) params.set(k, r[k]!);
    const items = r.components.map((c) => {
      const [name, ...rest] = c.split(";");
      const p = new Map<string, string | boolean>();
      for (const kv of rest) {
        const [k, v] = kv.split("=");
        p.set(k!, v === undefined ? true : JSON.parse(v));
      }
      return [name!, p] as [string, Map<string, string | boolean>];
    });
    return {
      input: `${r.label}=${serializeInnerList([items, params])}`,
      signature: `${r.label}=:${toBase64(r.signature)}:`,
    };
  });

const messageParts = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"),
  path: fc.constantFrom("/", "/a", "/a/b%20c", "/x?a=1", "/x?a=1&a=2", "/q?zz=%F0%9F%98%80&k="),
  headers: fc.array(fc.tuple(fc.constantFrom("x-a", "content-type", "content-digest", "date"), headerValue), { maxLength: 4 }),
  body: fc.option(fc.uint8Array({ maxLength: 512 }), { nil: null }),
});

function buildRequest(m: { method: string; path: string; headers: [string, string][]; body: Uint8Array | null }, extra: [string, string][]) {
  const headers = new Headers();
  for (const [k, v] of [...m.headers, ...extra]) headers.append(k, v);
  const body = m.method === "GET" ? null : (m.body as BodyInit | null);
  return new Request(`https://api.example.com${m.path}`, { method: m.method, headers, body });
}

async function neverThrowsNeverOk(request: Request, options: Partial<Parameters<typeof verifyRequest>[1]> = {}) {
  const result = await verifyRequest(request, { resolveKey, now: frozen(T), ...options });
  expect(result.ok).toBe(false);
  // verifyRequest turns an internal throw into SIGNATURE_INVALID with a `cause`: garbage must be refused, not crash.
  expect(result).not.toHaveProperty("cause");
  return result;
}

describe("fuzz: verifyRequest", () => {
  it("random header strings: never throws, never ok", async () => {
    await fc.assert(
      fc.asyncProperty(messageParts, fc.oneof(headerValue, sfFragments), fc.oneof(headerValue, sfFragments), async (m, si, sg) => {
        await neverThrowsNeverOk(buildRequest(m, [["signature-input", si], ["signature", sg]]));
      }),
      { numRuns: 600 },
    );
  });

  it("well-formed Signature-Input, random components, parameters and signature bytes: never ok", async () => {
    await fc.assert(
      fc.asyncProperty(messageParts, validInput, fc.boolean(), async (m, v, withRequired) => {
        const request = buildRequest(m, [["signature-input", v.input], ["signature", v.signature], ["x-a", "k=1"]]);
        await neverThrowsNeverOk(request, withRequired ? {} : { required: [], nonce: () => true });
      }),
      { numRuns: 600 },
    );
  });

  it("one-character mutations of a valid Signature-Input are refused", async () => {
    const signed = await signRequest(new Request("https://api.example.com/v1/x?a=1", { method: "POST", body: "hi" }), {
      keyid: "tok_1",
      key: { alg: "ed25519", privateKey: ED25519_SEED },
      created: T,
      nonce: "n",
    });
    const input = signed.headers.get("signature-input")!;
    expect((await verifyRequest(signed.clone(), { resolveKey, now: frozen(T) })).ok).toBe(true);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: input.length - 1 }), fc.integer({ min: 0x20, max: 0x7e }), async (at, code) => {
        const mutated = input.slice(0, at) + String.fromCharCode(code) + input.slice(at + 1);
        fc.pre(mutated !== input);
        const r = signed.clone();
        r.headers.set("signature-input", mutated);
        await neverThrowsNeverOk(r);
      }),
      { numRuns: 400 },
    );
  });

  it("random bodies: verified when intact, refused when swapped or over the cap", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 4096 }),
        fc.uint8Array({ maxLength: 4096 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.constantFrom("tok_1", "tok_h"),
        async (body, other, cap, keyid) => {
          const key =
            keyid === "tok_1"
              ? ({ alg: "ed25519", privateKey: ED25519_SEED } as const)
              : ({ alg: "hmac-sha256", secret: SHARED_SECRET } as const);
          const signed = await signRequest(new Request("https://e.com/u", { method: "PUT", body: body as BodyInit }), {
            keyid,
            key,
            created: T,
          });
          const ok = await verifyRequest(signed.clone(), { resolveKey, now: frozen(T), maxBodyBytes: cap });
          if (body.length > cap) expect(ok).toMatchObject({ ok: false, code: "BODY_TOO_LARGE" });
          else expect(ok.ok).toBe(true);
          const swapped = new Request(signed.url, { method: "PUT", headers: signed.headers, body: other as BodyInit });
          const result = await verifyRequest(swapped, { resolveKey, now: frozen(T) });
          const same = other.length === body.length && other.every((b, i) => b === body[i]);
          expect(result.ok).toBe(same);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("bounded time: an oversized header is refused before parsing", async () => {
    const huge = `sig1=("${"@method\" \"".repeat(200_000)}@path");created=${T}`;
    const r = new Request("https://e.com/", { headers: { "signature-input": huge, signature: "sig1=:AAAA:" } });
    const cpu = cpuClock();
    expect(await verifyRequest(r, { resolveKey, now: frozen(T) })).toEqual({ ok: false, code: "LIMIT_EXCEEDED" });
    expect(cpu()).toBeLessThan(50);
  });

  it("bounded time: worst-case headers just under the cap parse quickly", async () => {
    const cap = 8 * 1024;
    const shapes = [
      `sig1=(${'"x-a" '.repeat(cap / 6)})`.slice(0, cap),
      `sig1=("@method");${"a=1;".repeat(cap / 4)}`.slice(0, cap),
      `${"a, ".repeat(cap / 3)}`.slice(0, cap - 1),
      `sig1=:${"A".repeat(cap - 8)}:`,
      `sig1="${"\\\\".repeat(cap / 2 - 4)}"`,
    ];
    for (const value of shapes) {
      const r = new Request("https://e.com/", { headers: { "signature-input": value, signature: value } });
      const cpu = cpuClock();
      const result = await verifyRequest(r, { resolveKey, now: frozen(T) });
      expect(result.ok).toBe(false);
      expect(cpu()).toBeLessThan(100);
    }
  });
});

describe("fuzz: signatureBase", () => {
  it("random component lists: returns a string or throws a coded SignatureBaseError", () => {
    fc.assert(
      fc.property(messageParts, fc.array(fc.oneof(componentPool, sfFragments), { maxLength: 6 }), (m, components) => {
        try {
          const base = signatureBase(buildRequest(m, [["x-a", "k=1"]]), { components, params: { created: T } });
          expect(base.endsWith(`;created=${T}`)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(SignatureBaseError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
