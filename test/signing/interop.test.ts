// Interoperability with the `http-message-signatures` package (dhensby), both
// directions, on a matrix of requests, for hmac-sha256 and ed25519.
import { createSigner, createVerifier, httpbis } from "http-message-signatures";
import { describe, expect, it } from "vitest";
import { toBase64Url } from "../../src/lib/bytes.js";
import { nodeCrypto } from "../../src/lib/crypto.js";
import { computeContentDigest, type SigningKey, signRequest, type VerifyingKey, verifyRequest } from "../../src/signing/index.js";
import { BACKENDS, ed25519KeyPair, withBackend } from "./helpers.js";

const c = nodeCrypto!;
const NOW_SEC = Math.floor(Date.now() / 1000) - 5;

interface Case {
  name: string;
  method: string;
  url: string;
  headers: [string, string][];
  body: string | null;
  components: string[];
}

const HEADER_SETS: { name: string; headers: [string, string][]; components: string[] }[] = [
  { name: "no headers", headers: [], components: [] },
  {
    name: "typed headers",
    headers: [
      ["Content-Type", "application/json"],
      ["X-Request-Id", "req-42"],
    ],
    components: ["content-type", "x-request-id"],
  },
  {
    name: "repeated header + structured",
    headers: [
      ["Accept", "application/json"],
      ["Accept", "text/plain"],
      ["X-Dict", "a=1,   b=2;x=1, c=(1 2)"],
    ],
    components: ["accept", "x-dict;sf", 'x-dict;key="b"'],
  },
];

const URLS = [
  { name: "no query", url: "https://api.example.com/v1/items", query: false },
  { name: "query", url: "https://API.example.com:443/v1/items/7?id=7&sort=desc&q=a%20b", query: true },
  { name: "port", url: "http://localhost:8080/x/y?z=1", query: true },
];

function cases(): Case[] {
  const out: Case[] = [];
  for (const method of ["GET", "POST", "PUT", "DELETE"]) {
    for (const u of URLS) {
      for (const h of HEADER_SETS) {
        const bodies = method === "GET" ? [null] : method === "DELETE" ? [null, ""] : ['{"price":1.5}', ""];
        for (const body of bodies) {
          const target = u.query ? ["@authority", "@path", "@query", '@query-param;name="z"'] : ["@target-uri"];
          const fields = [...h.components, ...(body === null ? [] : ["content-digest"])];
          const components = ["@method", ...target.filter((t) => !t.includes('"z"') || u.url.includes("z=")), ...fields];
          out.push({
            name: `${method} ${u.name} ${h.name} body=${body === null ? "none" : body.length}`,
            method,
            url: u.url,
            headers: body === null ? h.headers : [...h.headers, ["Content-Digest", computeContentDigest(body)]],
            body,
            components,
          });
        }
      }
    }
  }
  return out;
}

/** Their message shape. */
function toTheirs(r: Request): { method: string; url: string; headers: Record<string, string> } {
  return { method: r.method, url: r.url, headers: Object.fromEntries(r.headers) };
}

interface KeySet {
  alg: "ed25519" | "hmac-sha256";
  ours: SigningKey;
  oursVerify: VerifyingKey;
  theirsSign: Parameters<typeof createSigner>[0];
  theirsVerify: Parameters<typeof createVerifier>[0];
}

function keySets(): KeySet[] {
  const pair = ed25519KeyPair();
  const d = toBase64Url(pair.seed);
  const x = toBase64Url(pair.publicKey);
  const secret = new Uint8Array(c.randomBytes(32));
  return [
    {
      alg: "ed25519",
      ours: { alg: "ed25519", privateKey: pair.seed },
      oursVerify: { alg: "ed25519", publicKey: pair.publicKey },
      theirsSign: c.createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d, x }, format: "jwk" }),
      theirsVerify: c.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" }),
    },
    {
      alg: "hmac-sha256",
      ours: { alg: "hmac-sha256", secret },
      oursVerify: { alg: "hmac-sha256", secret },
      theirsSign: Buffer.from(secret),
      theirsVerify: Buffer.from(secret),
    },
  ];
}

const CASES = cases();
const KEYS = keySets();

describe.each(BACKENDS)("interop with http-message-signatures (%s backend)", (backend) => {
  for (const k of KEYS) {
    describe(k.alg, () => {
      it.each(CASES.map((x) => [x.name, x] as const))("ours -> theirs: %s", async (_n, t) => {
        await withBackend(backend, async () => {
          const request = new Request(t.url, { method: t.method, headers: t.headers, body: t.body });
          const signed = await signRequest(request, {
            keyid: "tok_interop",
            key: k.ours,
            components: t.components,
            created: NOW_SEC,
          });
          const verified = await httpbis.verifyMessage(
            {
              keyLookup: async (params) =>
                params.keyid === "tok_interop" ? { id: "tok_interop", algs: [k.alg], verify: createVerifier(k.theirsVerify, k.alg) } : null,
              requiredFields: t.components.map((x) => x.split(";")[0]!).filter((x) => !x.includes("@query-param")),
              requiredParams: ["created", "keyid", "alg"],
            },
            toTheirs(signed),
          );
          expect(verified).toBe(true);
        });
      });

      it.each(CASES.map((x) => [x.name, x] as const))("theirs -> ours: %s", async (_n, t) => {
        await withBackend(backend, async () => {
          const unsigned = new Request(t.url, { method: t.method, headers: t.headers });
          const signedTheirs = await httpbis.signMessage(
            {
              key: createSigner(k.theirsSign, k.alg, "tok_interop"),
              name: "sig1",
              fields: t.components,
              params: ["created", "keyid", "alg"],
              paramValues: { created: new Date(NOW_SEC * 1000) },
            },
            toTheirs(unsigned),
          );
          const received = new Request(t.url, { method: t.method, headers: signedTheirs.headers, body: t.body });
          const result = await verifyRequest(received, {
            resolveKey: (keyid, alg) => (keyid === "tok_interop" && alg === k.alg ? k.oursVerify : null),
            now: () => NOW_SEC * 1000,
          });
          expect(result).toMatchObject({ ok: true, keyid: "tok_interop", alg: k.alg, label: "sig1", components: t.components });
        });
      });
    });
  }

  it("their signature over a tampered request is refused by us", async () => {
    await withBackend(backend, async () => {
      const k = KEYS[0]!;
      const signedTheirs = await httpbis.signMessage(
        {
          key: createSigner(k.theirsSign, k.alg, "tok_interop"),
          fields: ["@method", "@target-uri"],
          params: ["created", "keyid", "alg"],
          paramValues: { created: new Date(NOW_SEC * 1000) },
        },
        { method: "GET", url: "https://api.example.com/a", headers: {} },
      );
      const received = new Request("https://api.example.com/b", { headers: signedTheirs.headers });
      const result = await verifyRequest(received, { resolveKey: () => k.oursVerify, now: () => NOW_SEC * 1000 });
      expect(result).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
    });
  });
});
