// Which requests count as "from a browser" (SECRET_IN_BROWSER), across real
// boundaries: a node:http server protected by kw.verify, called by Node's own
// fetch (undici), keyward's signedFetch and node:http. Chromium's side is in
// test/browser/chromium.test.ts.
import { createServer, type IncomingHttpHeaders, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSigner, signedFetch } from "../../src/client/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { type ApiServer, keywardVerifier, startApiServer } from "../browser/server.js";
import { ed25519KeyPair } from "../client/helpers.js";

describe("secret tokens from servers are not taken for browsers", () => {
  const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
  const pair = ed25519KeyPair();
  let server: ApiServer;
  let secret: string;
  let signedId: string;
  beforeAll(async () => {
    secret = (await kw.tokens.create({ owner: "acct_1", kind: "secret" })).token;
    const signed = await kw.tokens.create({
      owner: "acct_1",
      kind: "secret",
      requireSignedRequests: true,
      signing: { alg: "ed25519", publicKey: new Uint8Array(pair.publicKey) },
    });
    signedId = signed.record.id;
    server = await startApiServer({ verify: keywardVerifier(kw) });
  });
  afterAll(() => server.close());

  const codeOf = async (res: Response) => ((await res.json()) as { code?: string }).code ?? "OK";

  it("Node's fetch (undici, which sends sec-fetch-mode: cors) with a secret bearer token is allowed", async () => {
    const res = await fetch(`${server.url}/api/prices`, { headers: { authorization: `Bearer ${secret}` } });
    expect(await codeOf(res)).toBe("OK");
  });

  it("what undici puts on the wire: sec-fetch-mode: cors, no Origin, no Sec-Fetch-Site or -Dest", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const raw = createServer((req, res) => {
      seen.push(req.headers);
      res.end();
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/`;
    await (await fetch(url)).arrayBuffer();
    await (await fetch(url, { method: "POST", body: "{}" })).arrayBuffer();
    await new Promise<void>((resolve) => raw.close(() => resolve()));
    for (const h of seen) {
      expect(h["sec-fetch-mode"]).toBe("cors");
      expect([h.origin, h["sec-fetch-site"], h["sec-fetch-dest"]]).toEqual([undefined, undefined, undefined]);
    }
    expect(seen).toHaveLength(2);
  });

  it("keyward's signedFetch with a secret ed25519 token is allowed", async () => {
    const api = signedFetch(createSigner({ keyId: signedId, alg: "ed25519", privateKey: pair.seed }));
    expect(await codeOf(await api(`${server.url}/api/prices?symbol=X`))).toBe("OK");
    expect(await codeOf(await api(`${server.url}/api/orders`, { method: "POST", body: '{"qty":1}' }))).toBe("OK");
  });

  it("node:http with a secret bearer token is allowed", async () => {
    const code = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${server.url}/api/prices`, { headers: { authorization: `Bearer ${secret}` } }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => {
          text += c.toString();
        });
        res.on("end", () => resolve((JSON.parse(text) as { code?: string }).code ?? "OK"));
      });
      req.on("error", reject);
      req.end();
    });
    expect(code).toBe("OK");
  });

  it("the same calls carrying browser signals (Origin, Sec-Fetch-Site) are denied", async () => {
    const browsers: Record<string, string>[] = [{ origin: "https://app.test" }, { "sec-fetch-site": "same-origin", "sec-fetch-dest": "empty" }];
    for (const headers of browsers) {
      const res = await fetch(`${server.url}/api/prices`, { headers: { ...headers, authorization: `Bearer ${secret}` } });
      expect(await codeOf(res)).toBe("SECRET_IN_BROWSER");
    }
  });
});
