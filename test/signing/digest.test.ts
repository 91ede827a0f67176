// RFC 9530 Content-Digest.
import { describe, expect, it } from "vitest";
import { computeContentDigest, setContentDigest, verifyContentDigest } from "../../src/signing/index.js";
import { BACKENDS, utf8, withBackend } from "./helpers.js";
import { DIGEST_VECTORS, MIXED_DIGEST_EXAMPLE } from "./vectors/rfc9530.js";

describe.each(BACKENDS)("RFC 9530 vectors (%s backend)", (backend) => {
  for (const v of DIGEST_VECTORS) {
    it(`${v.section} ${v.alg} of ${JSON.stringify(v.body)}`, async () => {
      await withBackend(backend, () => {
        expect(computeContentDigest(v.body, [v.alg])).toBe(`${v.alg}=${v.value}`);
        expect(computeContentDigest(utf8(v.body), [v.alg])).toBe(`${v.alg}=${v.value}`);
        expect(verifyContentDigest(`${v.alg}=${v.value}`, utf8(v.body))).toEqual({ ok: true });
      });
    });
  }
});

describe("computeContentDigest", () => {
  it("defaults to sha-256 and lists several algorithms in order", () => {
    expect(computeContentDigest('{"hello": "world"}')).toBe("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");
    expect(computeContentDigest('{"hello": "world"}', ["sha-512", "sha-256"])).toBe(
      "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
    );
  });

  it("refuses bad arguments", () => {
    expect(() => computeContentDigest("x", [])).toThrow(TypeError);
    expect(() => computeContentDigest("x", ["md5" as "sha-256"])).toThrow(RangeError);
    expect(() => computeContentDigest(3 as unknown as string)).toThrow(TypeError);
  });
});

describe("verifyContentDigest", () => {
  const body = utf8('{"hello": "world"}');
  const sha256 = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
  const sha512 = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

  it.each<[string | null, string]>([
    [null, "DIGEST_MISSING"],
    ["", "DIGEST_MISSING"],
    ["md5=:Sd/dVLAcvNLSq16eXua5uQ==:", "DIGEST_MISSING"],
    ["sha-256", "DIGEST_MALFORMED"],
    ['sha-256="abc"', "DIGEST_MALFORMED"],
    ["sha-256=:abc", "DIGEST_MALFORMED"],
    ["sha-256=(:AA==:)", "DIGEST_MALFORMED"],
    ["SHA-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", "DIGEST_MALFORMED"],
    ["sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:", "DIGEST_MISMATCH"],
    [`${sha256}, sha-512=:AAAA:`, "DIGEST_MISMATCH"],
  ])("%s -> %s", (header, code) => {
    expect(verifyContentDigest(header, body)).toEqual({ ok: false, code });
  });

  it("accepts one or both supported algorithms and ignores unknown ones", () => {
    expect(verifyContentDigest(sha256, body)).toEqual({ ok: true });
    expect(verifyContentDigest(sha512, body)).toEqual({ ok: true });
    expect(verifyContentDigest(`${sha512}, ${sha256}`, body)).toEqual({ ok: true });
    expect(verifyContentDigest(`md5=:AAAA:, unixsum=:GQU=:, ${sha256}`, body)).toEqual({ ok: true });
  });

  it("RFC 9530 §2's two-digest example pairs digests of different content: refused", () => {
    const body = utf8(MIXED_DIGEST_EXAMPLE.body);
    expect(verifyContentDigest(MIXED_DIGEST_EXAMPLE.header, body)).toEqual({ ok: false, code: "DIGEST_MISMATCH" });
    expect(verifyContentDigest(MIXED_DIGEST_EXAMPLE.header.split(",")[1]!, body)).toEqual({ ok: true });
  });

  it("never throws", () => {
    expect(verifyContentDigest(42 as unknown as string, body)).toMatchObject({ ok: false });
    expect(verifyContentDigest(sha256, "x" as unknown as Uint8Array)).toMatchObject({ ok: false });
  });
});

describe("setContentDigest", () => {
  it("adds the header, keeps the body, leaves the original readable", async () => {
    const original = new Request("https://e.com/", { method: "POST", body: '{"hello": "world"}' });
    const withDigest = await setContentDigest(original, ["sha-256", "sha-512"]);
    expect(withDigest.headers.get("content-digest")).toBe(
      "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
    );
    expect(await withDigest.text()).toBe('{"hello": "world"}');
    expect(await original.text()).toBe('{"hello": "world"}');
  });

  it("replaces a wrong header; a body-less request gets the digest of empty content", async () => {
    const r = new Request("https://e.com/", { method: "PUT", body: "abc", headers: { "content-digest": "sha-256=:AAAA:" } });
    expect((await setContentDigest(r)).headers.get("content-digest")).toBe(computeContentDigest("abc"));
    const get = await setContentDigest(new Request("https://e.com/"));
    expect(get.headers.get("content-digest")).toBe("sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");
    expect(get.body).toBeNull();
  });
});
