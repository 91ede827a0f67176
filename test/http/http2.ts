// The adapters over HTTP/2 (cleartext h2c), called with node:http2's own
// client: the request's authority comes in `:authority` (no Host field),
// pseudo-header fields sit among the raw headers, and a body may come without
// Content-Length. Each adapter's test file starts its server with two routes:
//   GET  /prices  requireToken({ scope: "core:read" })   → { token }
//   POST /orders  requireToken({ scope: "orders:write" }) → { token, body } (the framework's JSON parser)
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSigner } from "../../src/client/index.js";
import { ed25519KeyPair } from "../client/helpers.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { makeKeyward, type Started } from "./scenarios.js";

/** Starts the framework's h2c server with the routes above. */
export type StartHttp2Server = (kw: Keyward) => Promise<Started>;

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  json: Record<string, unknown>;
}

/** One request on the session; `headers` are sent as given (no Content-Length is added). */
export function send(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let answer: IncomingHttpHeaders = {};
    let text = "";
    stream.on("response", (h) => {
      answer = h;
    });
    stream.on("data", (c: Buffer) => {
      text += c.toString();
    });
    stream.on("end", () => resolve({ status: Number(answer[":status"]), headers: answer, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) }));
    stream.on("error", reject);
    if (body !== undefined) stream.end(body);
  });
}

export function describeHttp2(name: string, start: StartHttp2Server): void {
  describe(`${name} over HTTP/2 (h2c, node:http2's client)`, () => {
    const kw = makeKeyward();
    const pair = ed25519KeyPair();
    let server: Started;
    let session: ClientHttp2Session;
    let token: string;
    let keyId: string;

    beforeAll(async () => {
      server = await start(kw);
      session = connect(server.url);
      const created = await kw.tokens.create({
        owner: "acct_1",
        kind: "secret",
        scopes: ["core:read", "orders:write"],
        signing: { alg: "ed25519", publicKey: new Uint8Array(pair.publicKey) },
      });
      token = created.token;
      keyId = created.record.id;
    });
    afterAll(async () => {
      session.close();
      await server.close();
    });

    /** The request signed for `url`, as HTTP/2 fields: pseudo-headers for the target, then the signed request's fields. */
    const signed = async (url: string, init: RequestInit = {}) => {
      const request = await createSigner({ keyId, alg: "ed25519", privateKey: pair.seed }).sign(new Request(url, init));
      const target = new URL(url);
      const headers: OutgoingHttpHeaders = { ":method": request.method, ":path": target.pathname + target.search };
      for (const [field, value] of request.headers) headers[field] = value;
      return headers;
    };
    const json = { "content-type": "application/json" };

    it("a bearer token is checked as over HTTP/1.1", async () => {
      const r = await send(session, { ":path": "/prices", authorization: `Bearer ${token}` });
      expect(r).toMatchObject({ status: 200, json: { token: keyId } });
    });

    it("a signed GET verifies against the :authority the client sent (there is no Host field)", async () => {
      const r = await send(session, await signed(`${server.url}/prices`));
      expect(r).toMatchObject({ status: 200, json: { token: keyId } });
      // Signed for another authority and sent to this one: the signature does not hold.
      const elsewhere = await signed(`${server.url.replace("127.0.0.1", "localhost")}/prices`);
      const denied = await send(session, { ...elsewhere, ":authority": new URL(server.url).host });
      expect(denied).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
    });

    it("Host and :authority naming different hosts: a malformed request, whose signature holds for neither", async () => {
      const authority = new URL(server.url).host;
      const headers = { ...(await signed(`${server.url}/prices`)), ":authority": authority };
      const r = await send(session, { ...headers, host: "elsewhere.example" });
      expect(r).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
      // The same host in both (letter case aside) is no conflict.
      const same = await send(session, { ...headers, host: authority.toUpperCase() });
      expect(same).toMatchObject({ status: 200, json: { token: keyId } });
    });

    it("a signature covering cookie holds when the client sends the cookie in crumbs (RFC 9113 §8.2.3: joined with \"; \")", async () => {
      const request = await createSigner({ keyId, alg: "ed25519", privateKey: pair.seed, components: ["@method", "@target-uri", "cookie"] }).sign(
        new Request(`${server.url}/prices`, { headers: { cookie: "a=1; b=2" } }),
      );
      const headers: OutgoingHttpHeaders = { ":path": "/prices", ...Object.fromEntries(request.headers), cookie: ["a=1", "b=2"] };
      expect(await send(session, headers)).toMatchObject({ status: 200, json: { token: keyId } });
    });

    it("a signed GET whose stream stays open after its headers is answered at once: a GET's body is not read", async () => {
      const stream = session.request(await signed(`${server.url}/prices`), { endStream: false });
      const status = await new Promise<number>((resolve, reject) => {
        stream.on("response", (h) => resolve(Number(h[":status"])));
        stream.on("error", reject);
      });
      stream.end();
      stream.resume();
      expect(status).toBe(200);
    });

    it("a signed JSON body without Content-Length: its digest is checked and the framework still parses it; a tampered one is refused", async () => {
      const body = JSON.stringify({ symbol: "X", qty: 3 });
      const headers = await signed(`${server.url}/orders`, { method: "POST", headers: json, body });
      expect(headers["content-length"]).toBeUndefined();
      expect(await send(session, headers, body)).toMatchObject({ status: 200, json: { token: keyId, body: { symbol: "X", qty: 3 } } });
      const tampered = await send(session, headers, body.replace("3", "4"));
      expect(tampered).toMatchObject({ status: 401, json: { code: "DIGEST_MISMATCH" } });
    });

    it("a token that requires signatures, sent as a bearer token with a body and no Content-Length: Accept-Signature asks for content-digest", async () => {
      const created = await kw.tokens.create({
        owner: "acct_1",
        kind: "secret",
        scopes: ["orders:write"],
        requireSignedRequests: true,
        signing: { alg: "ed25519", publicKey: new Uint8Array(pair.publicKey) },
      });
      const post = { ":method": "POST", ":path": "/orders", authorization: `Bearer ${created.token}` };
      const withBody = await send(session, { ...post, ...json }, "{}");
      expect(withBody).toMatchObject({ status: 401, json: { code: "SIGNATURE_REQUIRED" } });
      expect(withBody.headers["accept-signature"]).toMatch(/^sig1=\("@method" "@target-uri" "content-digest"\);created;/);
      // A POST whose HEADERS frame ended the stream has no body: no digest is asked for (and no JSON parser refuses it first).
      const without = await send(session, post);
      expect(without).toMatchObject({ status: 401, json: { code: "SIGNATURE_REQUIRED" } });
      expect(without.headers["accept-signature"]).toMatch(/^sig1=\("@method" "@target-uri"\);created;/);
    });

    describe("a signed upload keyward stopped reading", () => {
      // A deadline short enough for a test; 1 KiB of body at most (makeKeyward).
      const quick = new Keyward({ store: new MemoryStore(), prefix: "acme", signatures: { maxBodyBytes: 1024, bodyTimeoutMs: 300 } });
      let quickServer: Started;
      let quickSession: ClientHttp2Session;
      let quickKeyId: string;
      beforeAll(async () => {
        quickServer = await start(quick);
        quickSession = connect(quickServer.url);
        const created = await quick.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["orders:write"], signing: { alg: "ed25519", publicKey: new Uint8Array(pair.publicKey) } });
        quickKeyId = created.record.id;
      });
      afterAll(async () => {
        // Not close(): it waits for streams whose uploads the server cut short.
        quickSession.destroy();
        await quickServer.close();
      });

      /**
       * Sends `sent` of a signed upload of `body` (all of it, ended, when not
       * given), reads the answer, then waits up to 2 s for the server to close
       * the stream (Node's client keeps a stream it still has bytes to send
       * open, not closed, until the server resets it).
       */
      const upload = async (body: Buffer, sent?: Buffer) => {
        const request = await createSigner({ keyId: quickKeyId, alg: "ed25519", privateKey: pair.seed }).sign(
          new Request(`${quickServer.url}/orders`, { method: "POST", headers: json, body: new Uint8Array(body) }),
        );
        const stream = quickSession.request({ ":method": "POST", ":path": "/orders", ...Object.fromEntries(request.headers) }, { endStream: false });
        stream.on("error", () => {});
        let status = 0;
        let text = "";
        stream.on("response", (h) => {
          status = Number(h[":status"]);
        });
        stream.on("data", (c: Buffer) => {
          text += c.toString();
        });
        if (sent === undefined) stream.end(body);
        else stream.write(sent);
        await new Promise((resolve) => stream.once("end", resolve));
        for (let waited = 0; !stream.closed && waited < 2000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
        return { status, code: (JSON.parse(text) as { code?: string }).code, closed: stream.closed, rstCode: stream.rstCode };
      };

      it("past signatures.maxBodyBytes (no Content-Length): 413, and the stream is closed with NO_ERROR once answered, so the client stops sending", async () => {
        // Far more than the stream's flow-control window: unread, the upload could never end.
        const body = Buffer.alloc(256 * 1024, 120);
        expect(await upload(body)).toEqual({ status: 413, code: "BODY_TOO_LARGE", closed: true, rstCode: 0 });
      });

      it("a body that stops coming: 408 at signatures.bodyTimeoutMs, and the stream is closed with NO_ERROR", async () => {
        const body = Buffer.alloc(800, 120);
        expect(await upload(body, body.subarray(0, 400))).toEqual({ status: 408, code: "BODY_TIMEOUT", closed: true, rstCode: 0 });
      });
    });

    describe("a cleartext connection whose client claims :scheme https", () => {
      // env "live": HTTPS required for secret tokens; no trusted proxies.
      const live = new Keyward({ store: new MemoryStore(), prefix: "acme", env: "live" });
      let liveServer: Started;
      let liveSession: ClientHttp2Session;
      beforeAll(async () => {
        liveServer = await start(live);
        liveSession = connect(liveServer.url);
      });
      afterAll(async () => {
        liveSession.close();
        await liveServer.close();
      });

      it("is plain http to keyward: a live secret token is INSECURE_TRANSPORT, a signature made for https:// does not hold", async () => {
        const created = await live.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"], signing: { alg: "ed25519", publicKey: new Uint8Array(pair.publicKey) } });
        const target = { ":scheme": "https", ":authority": "api.example.com", ":path": "/prices" };
        const bearer = await send(liveSession, { ...target, authorization: `Bearer ${created.token}` });
        expect(bearer).toMatchObject({ status: 403, json: { code: "INSECURE_TRANSPORT" } });
        const request = await createSigner({ keyId: created.record.id, alg: "ed25519", privateKey: pair.seed }).sign(new Request("https://api.example.com/prices"));
        const sig = await send(liveSession, { ...target, ...Object.fromEntries(request.headers) });
        expect(sig).toMatchObject({ status: 401, json: { type: "urn:keyward:problem:invalid-token" } });
      });
    });
  });
}
