import { describe, expect, it } from "vitest";
import { Keyward, type KeywardOptions, MemoryStore } from "../../src/index.js";

const make = (options: Partial<KeywardOptions> = {}) => new Keyward({ store: new MemoryStore(), prefix: "acme", ...options });
const get = (url: string, token: string) => new Request(url, { headers: { authorization: `Bearer ${token}` } });

describe("requireHttps", () => {
  it("live default: secret tokens over http are INSECURE_TRANSPORT (403), publishable ones pass, https passes", async () => {
    const kw = make();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const pk = (await kw.tokens.create({ owner: "o", kind: "publishable" })).token;
    const d = await kw.verify(get("http://api.example.com/x", token), { ip: "203.0.113.7" });
    expect([d.ok, d.code, d.status]).toEqual([false, "INSECURE_TRANSPORT", 403]);
    expect((await kw.verify(get("https://api.example.com/x", token), { ip: "203.0.113.7" })).ok).toBe(true);
    expect((await kw.verify(get("http://api.example.com/x", pk), { ip: "203.0.113.7" })).ok).toBe(true);
    expect((await kw.verify(get("http://localhost:3000/x", token), { ip: "127.0.0.1" })).ok).toBe(true);
    expect((await kw.verify(get("http://localhost:3000/x", token), { ip: "203.0.113.7" })).code).toBe("INSECURE_TRANSPORT");
  });

  it("credential failures come first: an unknown or revoked token over http is still 401", async () => {
    const kw = make();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await kw.tokens.revoke(record.id);
    expect((await kw.verify(get("http://api.example.com/x", token))).code).toBe("TOKEN_REVOKED");
    expect((await kw.verify(get("http://api.example.com/x", `${token.slice(0, -8)}AAAAAAAA`))).status).toBe(401);
  });

  it('"all" covers publishable tokens; false and the test environment turn it off', async () => {
    const all = make({ requireHttps: "all" });
    const pk = (await all.tokens.create({ owner: "o", kind: "publishable" })).token;
    expect((await all.verify(get("http://api.example.com/x", pk))).code).toBe("INSECURE_TRANSPORT");
    for (const kw of [make({ requireHttps: false }), make({ env: "test" })]) {
      const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
      expect((await kw.verify(get("http://api.example.com/x", token))).ok).toBe(true);
    }
    const testHttps = make({ env: "test", requireHttps: "secret" });
    const { token } = await testHttps.tokens.create({ owner: "o", kind: "secret" });
    expect((await testHttps.verify(get("http://api.example.com/x", token))).code).toBe("INSECURE_TRANSPORT");
  });

  it("kw.check applies it only when told the protocol; the loopback address is exempt", async () => {
    const kw = make();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    expect((await kw.check({ token })).ok).toBe(true);
    expect((await kw.check({ token, protocol: "https" })).ok).toBe(true);
    expect((await kw.check({ token, protocol: "http", ip: "203.0.113.7" })).code).toBe("INSECURE_TRANSPORT");
    expect((await kw.check({ token, protocol: "http", ip: "::1" })).ok).toBe(true);
    await expect(kw.check({ token, protocol: "ftp" as never })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "protocol" });
  });

  it("receivedUrl: a request rebuilt at an https public URL is read as it arrived, at the URL received", async () => {
    const kw = make();
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const atPublic = () => get("https://api.example.com/v2/x", token);
    const d = await kw.verify(atPublic(), { ip: "203.0.113.7", receivedUrl: "http://10.0.0.5:8080/x" });
    expect([d.ok, d.code]).toEqual([false, "INSECURE_TRANSPORT"]);
    expect((await kw.verify(atPublic(), { ip: "203.0.113.7", receivedUrl: "https://10.0.0.5:8443/x" })).ok).toBe(true);
    // A URL received that does not parse (a client's bad Host) is no secure transport, and no throw.
    expect((await kw.verify(atPublic(), { ip: "203.0.113.7", receivedUrl: "http://exa mple/x" })).code).toBe("INSECURE_TRANSPORT");
    expect((await kw.verify(atPublic(), { ip: "203.0.113.7" })).ok).toBe(true); // without it, the request's own URL
    await expect(kw.verify(atPublic(), { receivedUrl: new URL("http://a/") as never })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "receivedUrl" });
  });

  it("a bad option is INVALID_CONFIG", () => {
    expect(() => make({ requireHttps: true as never })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "requireHttps" }));
  });
});
