// keyward/client in a real browser: the esbuild browser bundle runs in Debian's
// Chromium (via playwright-core), signs with signedFetch, and a node:http server
// protected by keyward (`kw.verify`) checks every request.
//
// Needs /usr/bin/chromium (or KEYWARD_CHROMIUM). Absent: the suite fails when
// CI is set, and is skipped otherwise.
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as Client from "../../src/client/index.js";
import { keywardFetch } from "../../src/fetch/index.js";
import type { EdgeOptions } from "../../src/http/core.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { bundleClient, keyring, verifyAll } from "../client/helpers.js";
import { CHROMIUM, haveChromium, launchChromium } from "../support/chromium.js";
import { type ApiServer, keywardVerifier, startApiServer } from "./server.js";

const inCI = Boolean(process.env.CI) && process.env.CI !== "false" && process.env.CI !== "0";

if (!haveChromium && inCI) {
  it("Chromium is installed", () => {
    expect.fail(`${CHROMIUM} not found: CI must run the browser test (apt-get install -y chromium, or set KEYWARD_CHROMIUM)`);
  });
}

/** What the page's script sees as globalThis. */
type PageGlobals = typeof globalThis & { keyward: typeof Client };

/** The keys as handed to the page: plain JSON. */
interface PageKeys {
  ed: { keyId: string; seed: number[] };
  hmac: { keyId: string; token: string };
}

/** A response as the page reports it. */
interface Reply {
  status: number;
  ok?: boolean;
  code?: string;
  keyid?: string;
  alg?: string;
  method?: string;
  url?: string;
  body?: string;
}

describe.skipIf(!haveChromium)("keyward/client in Chromium", () => {
  // Secret tokens used from a page: allowed explicitly (the default denies them as SECRET_IN_BROWSER).
  const store = new MemoryStore();
  const kw = new Keyward({
    store,
    prefix: "acme",
    sealingKey: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    allowSecretInBrowser: true,
  });
  const secretTokens = { kind: "secret", requireSignedRequests: true, owner: "acct_browser" } as const;
  const keys = { ed: keyring().ed, hmac: { keyId: "", token: "" } };
  // The default policy on the same store, behind /api/strict/: what a page sending a secret token meets.
  const strict = new Keyward({ store, prefix: "acme" });
  let pageKeys: PageKeys;
  let server: ApiServer;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];
  beforeAll(async () => {
    // Real tokens: an ed25519 one holding the client's public key, an HMAC one whose token the client derives its key from.
    const ed = await kw.tokens.create({ ...secretTokens, signing: { alg: "ed25519", publicKey: new Uint8Array(keys.ed.publicKey) } });
    keys.ed.keyId = ed.record.id;
    const hmac = await kw.tokens.create({ ...secretTokens, signing: { alg: "hmac-sha256" } });
    keys.hmac = { keyId: hmac.record.id, token: hmac.token };
    pageKeys = { ed: { keyId: keys.ed.keyId, seed: [...keys.ed.seed] }, hmac: keys.hmac };
    const bundle = await bundleClient();
    const lenient = keywardVerifier(kw);
    const byDefault = keywardVerifier(strict);
    const verify = (request: Request) => (new URL(request.url).pathname.startsWith("/api/strict/") ? byDefault(request) : lenient(request));
    server = await startApiServer({ verify, bundle: bundle.outputFiles[0]!.text });
    profile = await mkdtemp(join(tmpdir(), "keyward-chromium-"));
    context = await launchChromium(profile);
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => pageErrors.push(String(err)));
    page.on("console", (msg) => {
      // The 401s the tests provoke are logged by Chromium as "Failed to load resource"; anything else counts.
      if (msg.type() === "error" && !/^Failed to load resource: .* 401 \(Unauthorized\)$/.test(msg.text())) {
        pageErrors.push(msg.text());
      }
    });
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => document.title === "ready", undefined, { timeout: 15_000 });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it("the bundle loads in a page without Node globals", async () => {
    const env = await page.evaluate(() => {
      const g = globalThis as PageGlobals;
      return {
        process: typeof (g as { process?: unknown }).process,
        buffer: typeof (g as { Buffer?: unknown }).Buffer,
        exports: Object.keys(g.keyward).sort(),
        userAgent: navigator.userAgent,
      };
    });
    expect(env.process).toBe("undefined");
    expect(env.buffer).toBe("undefined");
    expect(env.exports).toEqual(["createSigner", "generateKeyPair", "signedFetch", "signerFromEnv"]);
    expect(env.userAgent).toMatch(/Chrome\/\d+/);
    expect(pageErrors).toEqual([]);
  });

  for (const alg of ["ed25519", "hmac-sha256"] as const) {
    it(`${alg}: signedFetch GET with a query and POST with a JSON body; the server verifies both`, async () => {
      const before = server.calls.length;
      const replies = await page.evaluate(
        async ({ alg, k }) => {
          const { createSigner, signedFetch } = (globalThis as PageGlobals).keyward;
          const signer =
            alg === "ed25519"
              ? createSigner({ keyId: k.ed.keyId, alg, privateKey: new Uint8Array(k.ed.seed) })
              : createSigner({ keyId: k.hmac.keyId, alg, token: k.hmac.token });
          const api = signedFetch(signer);
          const read = async (res: Response) => ({ status: res.status, ...(await res.json()) });
          return [
            await read(await api("/api/prices?symbol=X&limit=10", { headers: { accept: "application/json" } })),
            await read(
              await api("/api/orders", {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ symbol: "X", qty: 3 }),
              }),
            ),
          ];
        },
        { alg, k: pageKeys },
      );
      const keyid = alg === "ed25519" ? keys.ed.keyId : keys.hmac.keyId;
      expect(replies).toEqual([
        { status: 200, ok: true, keyid, alg, method: "GET", url: `${server.url}/api/prices?symbol=X&limit=10`, body: "" },
        { status: 200, ok: true, keyid, alg, method: "POST", url: `${server.url}/api/orders`, body: '{"symbol":"X","qty":3}' },
      ]);
      expect(server.calls.slice(before).map((c) => c.verdict)).toEqual([
        { ok: true, keyid, alg },
        { ok: true, keyid, alg },
      ]);
    });
  }

  it("signedFetch keeps the page's referrer policy: no-referrer sends no Referer (the signed copy reset it to the default before)", async () => {
    const before = server.calls.length;
    await page.evaluate(async (k) => {
      const { createSigner, signedFetch } = (globalThis as PageGlobals).keyward;
      const api = signedFetch(createSigner({ keyId: k.ed.keyId, alg: "ed25519", privateKey: new Uint8Array(k.ed.seed) }));
      await (await api("/api/prices?via=default")).text();
      await (await api("/api/prices?via=no-referrer", { referrerPolicy: "no-referrer" })).text();
      await (await api("/api/orders?via=no-referrer", { method: "POST", body: "{}", referrerPolicy: "no-referrer" })).text();
    }, pageKeys);
    const calls = server.calls.slice(before);
    expect(calls.map((c) => [new URL(c.url).search, c.verdict.ok, c.referer])).toEqual([
      ["?via=default", true, page.url()],
      ["?via=no-referrer", true, null],
      ["?via=no-referrer", true, null],
    ]);
  });

  it("a non-extractable Ed25519 CryptoKey made in the page signs requests the server verifies", async () => {
    const publicKey: number[] = await page.evaluate(async () => {
      const pair = (await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"])) as CryptoKeyPair;
      (globalThis as { pagePrivateKey?: CryptoKey }).pagePrivateKey = pair.privateKey;
      return [...new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey))];
    });
    const { record } = await kw.tokens.create({
      ...secretTokens,
      signing: { alg: "ed25519", publicKey: new Uint8Array(publicKey) },
    });
    const reply: Reply = await page.evaluate(async (keyId) => {
      const g = globalThis as PageGlobals & { pagePrivateKey: CryptoKey };
      const signer = g.keyward.createSigner({ keyId, alg: "ed25519", privateKey: g.pagePrivateKey });
      const res = await g.keyward.signedFetch(signer)("/api/orders", { method: "POST", body: '{"qty":1}' });
      return { status: res.status, ...(await res.json()) };
    }, record.id);
    expect(reply).toMatchObject({ status: 200, ok: true, keyid: record.id, alg: "ed25519", body: '{"qty":1}' });
  });

  it("every body kind the browser can send: Blob, ArrayBuffer, URLSearchParams, FormData, ReadableStream", async () => {
    const replies: Reply[] = await page.evaluate(async (k) => {
      const { createSigner, signedFetch } = (globalThis as PageGlobals).keyward;
      const api = signedFetch(createSigner({ keyId: k.ed.keyId, alg: "ed25519", privateKey: new Uint8Array(k.ed.seed) }));
      const form = new FormData();
      form.set("name", "prices");
      form.set("file", new Blob(["a,b\n1,2\n"], { type: "text/csv" }), "prices.csv");
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("chunk 1\n"));
          controller.enqueue(new TextEncoder().encode("chunk 2\n"));
          controller.close();
        },
      });
      const bodies: BodyInit[] = [
        new Blob(['{"a":1}'], { type: "application/json" }),
        new TextEncoder().encode("bytes").buffer as ArrayBuffer,
        new URLSearchParams({ a: "1", b: "x y" }),
        form,
        stream,
      ];
      const out = [];
      for (const body of bodies) {
        const res = await api("/api/upload", { method: "PUT", body });
        out.push({ status: res.status, ...(await res.json()) });
      }
      return out;
    }, pageKeys);
    expect(replies.map((r) => [r.status, r.ok, r.code])).toEqual(Array.from({ length: 5 }, () => [200, true, undefined]));
    expect(replies[0]!.body).toBe('{"a":1}');
    expect(replies[1]!.body).toBe("bytes");
    expect(replies[2]!.body).toBe("a=1&b=x+y");
    expect(replies[3]!.body).toContain('Content-Disposition: form-data; name="file"; filename="prices.csv"');
    expect(replies[4]!.body).toBe("chunk 1\nchunk 2\n");
  });

  it("generateKeyPair in the page: a token made from its public key verifies the page's signed requests", async () => {
    const publicKey: number[] = await page.evaluate(async () => {
      const pair = await (globalThis as PageGlobals).keyward.generateKeyPair();
      (globalThis as { pageSeed?: Uint8Array }).pageSeed = pair.privateKey;
      return [...pair.publicKey];
    });
    const { record } = await kw.tokens.create({ ...secretTokens, signing: { alg: "ed25519", publicKey: new Uint8Array(publicKey) } });
    const reply: Reply = await page.evaluate(async (keyId) => {
      const g = globalThis as PageGlobals & { pageSeed: Uint8Array };
      const api = g.keyward.signedFetch(g.keyward.createSigner({ keyId, alg: "ed25519", privateKey: g.pageSeed }));
      const res = await api("/api/prices");
      return { status: res.status, ...(await res.json()) };
    }, record.id);
    expect(reply).toMatchObject({ status: 200, ok: true, keyid: record.id });
  });

  it("a page served over plain HTTP from a host name (no secure context, no crypto.subtle): generateKeyPair works, and its key signs requests that verify", async () => {
    const insecure = await context.newPage();
    try {
      await insecure.goto(server.url.replace("127.0.0.1", "insecure.test"));
      await insecure.waitForFunction(() => document.title === "ready", undefined, { timeout: 15_000 });
      const pair = await insecure.evaluate(async () => {
        const made = await (globalThis as PageGlobals).keyward.generateKeyPair().then(
          (p) => {
            (globalThis as { pageSeed?: Uint8Array }).pageSeed = p.privateKey;
            return [...p.publicKey];
          },
          (err: Error) => `${err.name}: ${err.message}`,
        );
        return { secure: isSecureContext, subtle: typeof crypto.subtle, made };
      });
      expect(pair).toMatchObject({ secure: false, subtle: "undefined" });
      expect(pair.made).toHaveLength(32);
      // The page signs (keyward refuses a secret token over plain HTTP, INSECURE_TRANSPORT); Node verifies the signature.
      const url = "https://api.example.com/v1/orders";
      const fields: Record<string, string> = await insecure.evaluate(async (url) => {
        const g = globalThis as PageGlobals & { pageSeed: Uint8Array };
        const signer = g.keyward.createSigner({ keyId: "tok_4qTz8Rk2mXbN7wLcP1dYeF", alg: "ed25519", privateKey: g.pageSeed });
        const signed = await signer.sign(new Request(url, { method: "POST", body: '{"qty":2}' }));
        return Object.fromEntries(signed.headers);
      }, url);
      const publicKey = new Uint8Array(pair.made as number[]);
      const result = await verifyAll(new Request(url, { method: "POST", headers: fields, body: '{"qty":2}' }), () => ({ alg: "ed25519", publicKey }));
      expect(result).toMatchObject({ ok: true, keyid: "tok_4qTz8Rk2mXbN7wLcP1dYeF" });
    } finally {
      await insecure.close();
    }
  });

  it("a redirect: the page cannot see its target to sign for it, so signedFetch rejects and sends nothing there; redirect: \"manual\" is fetch's", async () => {
    const before = server.calls.length;
    const reply = await page.evaluate(async (k) => {
      const { createSigner, signedFetch } = (globalThis as PageGlobals).keyward;
      const api = signedFetch(createSigner({ keyId: k.ed.keyId, alg: "ed25519", privateKey: new Uint8Array(k.ed.seed) }));
      const followed = await api("/redirect/api/orders", { method: "POST", body: "{}" }).then(
        (res) => `resolved ${res.status}`,
        (err: Error) => `${err.name}: ${err.message}`,
      );
      const manual = await api("/redirect/api/prices", { redirect: "manual" });
      return { followed, manual: manual.type };
    }, pageKeys);
    expect(reply).toEqual({ followed: "TypeError: redirected, and the runtime hides where: cannot sign for it", manual: "opaqueredirect" });
    expect(server.calls.length).toBe(before);
  });

  it("a secret token sent by the page is SECRET_IN_BROWSER: a same-origin GET (Sec-Fetch-Site only) and a POST (Origin too) alike", async () => {
    const { token } = await kw.tokens.create({ owner: "acct_browser", kind: "secret" });
    const replies: Reply[] = await page.evaluate(async (token) => {
      const headers = { authorization: `Bearer ${token}` };
      const read = async (res: Response) => ({ status: res.status, ...(await res.json()) });
      return [
        await read(await fetch("/api/strict/prices", { headers })),
        await read(await fetch("/api/strict/orders", { method: "POST", headers, body: "{}" })),
      ];
    }, token);
    expect(replies.map((r) => r.code)).toEqual(["SECRET_IN_BROWSER", "SECRET_IN_BROWSER"]);
  });

  it("a page on another origin sends a publishable token in x-api-key: the preflight lets it through only with cors.allowHeaders", async () => {
    // keyward/fetch on a second port (another origin than the page's), reading the token from x-api-key.
    const api = async (cors: EdgeOptions["cors"]) => {
      const guard = keywardFetch(strict, { cors });
      const handler = guard.requireToken({ getToken: (req) => req.headers.get("x-api-key") }, (_req, d) => Response.json({ token: d.tokenId }));
      const listening = serve({ fetch: handler as never, port: 0, hostname: "127.0.0.1" }) as Server;
      await once(listening, "listening");
      return { url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`, server: listening };
    };
    const withHeader = await api({ allowHeaders: ["x-api-key"] });
    const without = await api(true);
    const { token, record } = await strict.tokens.create({ owner: "acct_browser", kind: "publishable", domains: [new URL(server.url).host] });
    const call = (url: string) =>
      page.evaluate(
        async ({ url, token }) => {
          try {
            const res = await fetch(`${url}/prices`, { headers: { "x-api-key": token } });
            return { status: res.status, ...(await res.json()) };
          } catch (err) {
            return { status: 0, code: String(err) };
          }
        },
        { url, token },
      );
    try {
      const errorsBefore = pageErrors.length;
      // Without the header allowed, Chromium refuses to send the request after the preflight.
      expect(await call(without.url)).toEqual({ status: 0, code: "TypeError: Failed to fetch" });
      await expect.poll(() => pageErrors.slice(errorsBefore).some((e) => /CORS policy/.test(e) && /x-api-key/.test(e))).toBe(true);
      pageErrors.splice(errorsBefore);
      expect(await call(withHeader.url)).toEqual({ status: 200, token: record.id });
    } finally {
      for (const { server: s } of [withHeader, without]) {
        s.closeAllConnections();
        s.close();
      }
    }
  });

  it("the server refuses tampered, replayed and unsigned requests", async () => {
    const replies: Reply[] = await page.evaluate(async (k) => {
      const { createSigner } = (globalThis as PageGlobals).keyward;
      const signer = createSigner({ keyId: k.hmac.keyId, alg: "hmac-sha256", token: k.hmac.token });
      const read = async (res: Response) => ({ status: res.status, ...(await res.json()) });
      const get = await signer.sign(new Request("/api/prices?symbol=X"));
      const post = await signer.sign(new Request("/api/orders", { method: "POST", body: '{"qty":3}' }));
      return [
        // Another query under the same signature.
        await read(await fetch("/api/prices?symbol=Y", { headers: get.headers })),
        // Another body under the same signature and digest.
        await read(await fetch("/api/orders", { method: "POST", headers: post.headers, body: '{"qty":4}' })),
        // Another method.
        await read(await fetch("/api/prices?symbol=X", { method: "DELETE", headers: get.headers })),
        // The genuine one, then the same bytes again.
        await read(await fetch(get.clone())),
        await read(await fetch(get.clone())),
        // No signature at all.
        await read(await fetch("/api/prices?symbol=X")),
      ];
    }, pageKeys);
    expect(replies.map((r) => [r.status, r.code ?? "OK"])).toEqual([
      [401, "SIGNATURE_INVALID"],
      [401, "DIGEST_MISMATCH"],
      [401, "SIGNATURE_INVALID"],
      [200, "OK"],
      [401, "REPLAYED"],
      [401, "TOKEN_MISSING"],
    ]);
  });

  it("the signer shows no key, and signerFromEnv reports the missing variable (no process in a page)", async () => {
    const seen = await page.evaluate((k) => {
      const { createSigner, signerFromEnv } = (globalThis as PageGlobals).keyward;
      const signer = createSigner({ keyId: k.hmac.keyId, alg: "hmac-sha256", token: k.hmac.token });
      let envError = "";
      try {
        signerFromEnv();
      } catch (err) {
        envError = `${(err as Error).name} ${(err as { code?: string }).code} ${(err as Error).message}`;
      }
      return { json: JSON.stringify(signer), text: String(signer), keys: Object.keys(signer), envError };
    }, pageKeys);
    expect(seen.json).toBe(JSON.stringify({ keyId: keys.hmac.keyId, alg: "hmac-sha256" }));
    expect(seen.text).toBe(`Signer(${keys.hmac.keyId}, hmac-sha256)`);
    expect(seen.keys).toEqual(["keyId", "alg"]);
    expect(`${seen.json}${seen.text}`).not.toContain(keys.hmac.token);
    expect(seen.envError).toBe("ConfigError INVALID_CONFIG KEYWARD_KEY_ID: is not set");
    expect(pageErrors).toEqual([]);
  });
});
