// keyward/signing (RFC 9421) against the raw primitives and against the
// `http-message-signatures` package, on the same requests in the same run:
// POST https://api.example.com/v1/prices?symbol=X with a JSON body, covering
// @method @target-uri content-digest, and a GET covering @method @target-uri;
// parameters created, keyid, alg for both libraries, so both sign the same
// signature base (checked below by verifying each one's output with the other).
//
// Notes on what the rows measure:
// - Raw rows hash the signature base with a key prepared once (a KeyObject for
//   node:crypto: with raw key bytes createHmac is ~5x slower, shown as a row).
//   The baseline returns a Buffer, as usual; a string in and a string out
//   saves ~0.3 µs (its own row). keyward's node backend skips createHmac and
//   computes HMAC (RFC 2104) as two one-shot SHA-256 calls, about twice as fast.
// - signRequest rows build the Request in the timed function: deriving many
//   Requests from one makes undici pile up abort listeners (and body tees),
//   which no real client does. The "new Request" row is that cost alone.
//   "Body given" passes the body as the `body` option (as signedFetch does):
//   no clone of the stream, no read; the other row reads it through a clone.
//   signRequest(url, init) builds the one Request it returns and digests the
//   body from init.body (the URL form: no caller's Request, no clone, no read).
// - verifyRequest runs without a nonce callback; the same signed request is
//   verified repeatedly (its body is read through a clone each time).
// - http-message-signatures does not read bodies: its requests carry the
//   precomputed Content-Digest, and it does not check it; the keyward row
//   "verifyDigest: false" does the same work. It hands its key to node:crypto
//   as given: rows with the secret as a Buffer (as in its README and our
//   interop tests) and as a KeyObject (its fastest form). Goals compare with
//   the Buffer rows and, in brackets, the KeyObject rows.
// - The noble backend cannot be selected from the built package (the switch
//   is internal), so the portable path is shown as raw @noble/ed25519.
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
} from "node:crypto";
import * as ed from "@noble/ed25519";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { createSigner, createVerifier, httpbis } from "http-message-signatures";
import { createSigner as createClientSigner, signedFetch } from "../dist/client.js";
import { computeContentDigest, signatureBase, signatureHeaders, signRequest, verifyRequest } from "../dist/signing.js";
import { runGroup } from "./harness.js";

const URL_ = "https://api.example.com/v1/prices?symbol=X";
const BODY = JSON.stringify({ symbol: "X", side: "buy", quantity: 100, limit: 101.25, tif: "gtc", clientOrderId: "ord_7f3a9c2e41b8" });
const KEYID = "tok_2Qx7mK9pLr";

function variants() {
  const digest = computeContentDigest(BODY);
  return [
    {
      name: "POST, JSON body",
      components: ["@method", "@target-uri", "content-digest"],
      // What a client hands to signRequest (the digest is computed there)...
      init: () => ({ method: "POST", body: BODY, headers: { "content-type": "application/json" } }),
      // ...and the same request with its Content-Digest, for the other rows.
      headers: { "content-type": "application/json", "content-digest": digest },
      method: "POST",
    },
    { name: "GET", components: ["@method", "@target-uri"], init: () => ({}), headers: {}, method: "GET" },
  ];
}

const te = new TextEncoder();
const ratio = (a, b) => a / b;
const pct = (a, b) => `${Math.round((100 * a) / b)}%`;
const x = (a, b) => `${ratio(a, b).toFixed(1)}x`;

export async function benchSigning({ ms }) {
  const created = Math.floor(Date.now() / 1000);
  const goals = [];

  // ------------------------------------------------------------ HMAC-SHA256
  const secret = new Uint8Array(randomBytes(32));
  const secretKey = createSecretKey(secret);
  const hmacKey = { alg: "hmac-sha256", secret };
  const keyedNoble = hmac.create(sha256, secret);

  for (const v of variants()) {
    const request = new Request(URL_, { method: v.method, headers: v.headers, body: v.method === "GET" ? null : BODY });
    const signOptions = { keyid: KEYID, key: hmacKey, components: v.components, created };
    const base = signatureBase(request, { components: v.components, params: { created, keyid: KEYID, alg: "hmac-sha256" } });
    const baseBytes = te.encode(base);
    const signed = await signRequest(request, signOptions);
    const verifyOptions = { resolveKey: () => hmacKey };
    const verifyNoDigest = { resolveKey: () => hmacKey, verifyDigest: false };
    const verifyWithBody = { resolveKey: () => hmacKey, body: te.encode(v.method === "GET" ? "" : BODY) };

    const theirRequest = { method: v.method, url: URL_, headers: { ...v.headers } };
    const theirConfigs = (key) => [
      {
        key: createSigner(key, "hmac-sha256", KEYID),
        name: "sig1",
        fields: v.components,
        params: ["created", "keyid", "alg"],
        paramValues: { created: new Date(created * 1000) },
      },
      { keyLookup: async () => ({ id: KEYID, algs: ["hmac-sha256"], verify: createVerifier(key, "hmac-sha256") }) },
    ];
    const [theirSignConfig, theirVerifyConfig] = theirConfigs(Buffer.from(secret));
    const [theirSignConfigKO, theirVerifyConfigKO] = theirConfigs(secretKey);
    const theirSigned = await httpbis.signMessage(theirSignConfig, theirRequest);
    const oursForThem = { method: v.method, url: URL_, headers: Object.fromEntries(signed.headers) };
    await checkAgreement(v, signed, theirSigned, oursForThem, theirVerifyConfig, verifyOptions);

    const rows = await runGroup(
      `hmac-sha256, ${v.name} (${v.components.join(" ")}; base ${baseBytes.length} bytes)`,
      [
        { name: "raw node:crypto createHmac, KeyObject", fn: () => createHmac("sha256", secretKey).update(baseBytes).digest() },
        { name: "raw node:crypto createHmac, key bytes", fn: () => createHmac("sha256", secret).update(baseBytes).digest() },
        {
          name: 'raw node:crypto createHmac, KeyObject, string in, digest("binary") out',
          fn: () => createHmac("sha256", secretKey).update(base).digest("binary"),
        },
        { name: "raw @noble/hashes hmac", fn: () => hmac(sha256, secret, baseBytes) },
        { name: "raw @noble/hashes hmac, keyed state cloned", fn: () => keyedNoble.clone().update(baseBytes).digest() },
        { name: "keyward signatureHeaders", fn: () => signatureHeaders(request, signOptions) },
        {
          name: `keyward signRequest (new Request each${v.method === "POST" ? ", digest computed" : ""})`,
          fn: () => signRequest(new Request(URL_, v.init()), signOptions),
        },
        ...(v.method === "POST"
          ? [
              {
                name: "keyward signRequest (new Request each, body given: not read again)",
                fn: () => signRequest(new Request(URL_, v.init()), { ...signOptions, body: BODY }),
              },
            ]
          : []),
        { name: "keyward signRequest(url, init) (one Request, body digested from init.body)", fn: () => signRequest(URL_, v.init(), signOptions) },
        { name: "new Request alone (included above)", fn: () => new Request(URL_, v.init()) },
        { name: "keyward verifyRequest", fn: () => verifyRequest(signed, verifyOptions) },
        { name: "keyward verifyRequest, verifyDigest: false", fn: () => verifyRequest(signed, verifyNoDigest) },
        { name: "keyward verifyRequest, body given (digest checked)", fn: () => verifyRequest(signed, verifyWithBody) },
        { name: "http-message-signatures signMessage", fn: () => httpbis.signMessage(theirSignConfig, theirRequest) },
        { name: "http-message-signatures verifyMessage", fn: () => httpbis.verifyMessage(theirVerifyConfig, oursForThem) },
        { name: "http-message-signatures signMessage, KeyObject", fn: () => httpbis.signMessage(theirSignConfigKO, theirRequest) },
        { name: "http-message-signatures verifyMessage, KeyObject", fn: () => httpbis.verifyMessage(theirVerifyConfigKO, oursForThem) },
      ],
      { ms },
    );
    const ops = Object.fromEntries(rows.map((r) => [r.name, r.opsPerSec]));
    const raw = rows[0].opsPerSec;
    const theirSign = ops["http-message-signatures signMessage"];
    const theirVerify = ops["http-message-signatures verifyMessage"];
    const theirSignKO = ops["http-message-signatures signMessage, KeyObject"];
    const theirVerifyKO = ops["http-message-signatures verifyMessage, KeyObject"];
    const vs = (a, b, bKO) => `${x(a, b)} peer [${x(a, bKO)}]`;
    const signReq = rows.find((r) => r.name.startsWith("keyward signRequest")).opsPerSec;
    const headers = ops["keyward signatureHeaders"];
    const verify = ops["keyward verifyRequest"];
    const verifyNoDig = ops["keyward verifyRequest, verifyDigest: false"];
    const verifyBody = ops["keyward verifyRequest, body given (digest checked)"];
    const signGiven = ops["keyward signRequest (new Request each, body given: not read again)"];
    const signUrl = ops["keyward signRequest(url, init) (one Request, body digested from init.body)"];
    goals.push(
      `hmac ${v.method} signRequest = ${vs(signReq, theirSign, theirSignKO)}, ${pct(signReq, raw)} of raw HMAC;` +
        (signGiven === undefined ? "" : ` with the body given = ${vs(signGiven, theirSign, theirSignKO)};`) +
        ` signRequest(url, init) = ${vs(signUrl, theirSign, theirSignKO)};` +
        ` signatureHeaders = ${vs(headers, theirSign, theirSignKO)}, ${pct(headers, raw)} of raw HMAC`,
      `hmac ${v.method} verify = ${vs(verify, theirVerify, theirVerifyKO)}, ${pct(verify, raw)} of raw HMAC` +
        (v.method === "GET"
          ? ""
          : `; verifyDigest: false = ${vs(verifyNoDig, theirVerify, theirVerifyKO)}, ${pct(verifyNoDig, raw)} of raw HMAC` +
            `; body given = ${vs(verifyBody, theirVerify, theirVerifyKO)}, ${pct(verifyBody, raw)} of raw HMAC`),
    );
  }

  // ---------------------------------------------------------------- Ed25519
  const pair = generateKeyPairSync("ed25519");
  const jwk = pair.privateKey.export({ format: "jwk" });
  const seed = new Uint8Array(Buffer.from(jwk.d, "base64url"));
  const publicKey = new Uint8Array(Buffer.from(jwk.x, "base64url"));
  const privateKeyObject = createPrivateKey({ key: jwk, format: "jwk" });
  const publicKeyObject = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" });
  ed.hashes.sha512 = sha512;
  const v = variants()[0];
  const request = new Request(URL_, { method: "POST", headers: v.headers, body: BODY });
  const signOptions = { keyid: KEYID, key: { alg: "ed25519", privateKey: seed }, components: v.components, created };
  const verifyKey = { alg: "ed25519", publicKey };
  const base = te.encode(signatureBase(request, { components: v.components, params: { created, keyid: KEYID, alg: "ed25519" } }));
  const rawSignature = nodeSign(null, base, privateKeyObject);
  const signed = await signRequest(request, signOptions);
  const verifyOptions = { resolveKey: () => verifyKey };
  const theirSignConfig = {
    key: createSigner(privateKeyObject, "ed25519", KEYID),
    name: "sig1",
    fields: v.components,
    params: ["created", "keyid", "alg"],
    paramValues: { created: new Date(created * 1000) },
  };
  const theirVerifyConfig = { keyLookup: async () => ({ id: KEYID, algs: ["ed25519"], verify: createVerifier(publicKeyObject, "ed25519") }) };
  const theirRequest = { method: "POST", url: URL_, headers: { ...v.headers } };
  const theirSigned = await httpbis.signMessage(theirSignConfig, theirRequest);
  const oursForThem = { method: "POST", url: URL_, headers: Object.fromEntries(signed.headers) };
  await checkAgreement(v, signed, theirSigned, oursForThem, theirVerifyConfig, verifyOptions);
  if (!ed.verify(rawSignature, base, publicKey)) throw new Error("noble disagrees with node:crypto");
  // signedFetch's signing path without the network: a fetch that answers a 204 at once (createSigner's
  // defaults: nonce and expires too, so slower than the signRequest rows by their share).
  const answered = () => Promise.resolve(new Response(null, { status: 204 }));
  const clientFetch = signedFetch(createClientSigner({ keyId: KEYID, alg: "ed25519", privateKey: seed }), answered);

  const rows = await runGroup(
    `ed25519, ${v.name} (${v.components.join(" ")}; base ${base.length} bytes)`,
    [
      { name: "raw node:crypto verify, KeyObject", fn: () => nodeVerify(null, base, publicKeyObject, rawSignature) },
      { name: "raw node:crypto sign, KeyObject", fn: () => nodeSign(null, base, privateKeyObject) },
      { name: "raw @noble/ed25519 verify (portable)", fn: () => ed.verify(rawSignature, base, publicKey, { zip215: false }) },
      { name: "keyward signatureHeaders", fn: () => signatureHeaders(request, signOptions) },
      { name: "keyward signRequest (new Request each, digest computed)", fn: () => signRequest(new Request(URL_, v.init()), signOptions) },
      { name: "keyward verifyRequest", fn: () => verifyRequest(signed, verifyOptions) },
      { name: "keyward verifyRequest, verifyDigest: false", fn: () => verifyRequest(signed, { ...verifyOptions, verifyDigest: false }) },
      { name: "keyward verifyRequest, body given (digest checked)", fn: () => verifyRequest(signed, { ...verifyOptions, body: te.encode(BODY) }) },
      { name: "http-message-signatures signMessage", fn: () => httpbis.signMessage(theirSignConfig, theirRequest) },
      { name: "http-message-signatures verifyMessage", fn: () => httpbis.verifyMessage(theirVerifyConfig, oursForThem) },
      {
        name: "keyward signRequest (new Request each, body given: not read again)",
        fn: () => signRequest(new Request(URL_, v.init()), { ...signOptions, body: BODY }),
      },
      { name: "keyward signRequest(url, init) (one Request, body digested from init.body)", fn: () => signRequest(URL_, v.init(), signOptions) },
      { name: "keyward signedFetch(url, init), fetch answering at once (createSigner: + nonce, expires)", fn: () => clientFetch(URL_, v.init()) },
    ],
    { ms },
  );
  const raw = rows[0].opsPerSec;
  goals.push(
    `ed25519 verify = ${pct(rows[5].opsPerSec, raw)} of raw node verify (verifyDigest: false: ${pct(rows[6].opsPerSec, raw)};` +
      ` body given: ${pct(rows[7].opsPerSec, raw)});` +
      ` sign = ${pct(rows[3].opsPerSec, rows[1].opsPerSec)} of raw node sign (signatureHeaders);` +
      ` vs peer: sign ${x(rows[3].opsPerSec, rows[8].opsPerSec)}, verify ${x(rows[5].opsPerSec, rows[9].opsPerSec)};` +
      ` signRequest vs peer signMessage: ${x(rows[4].opsPerSec, rows[8].opsPerSec)}, with the body given ${x(rows[10].opsPerSec, rows[8].opsPerSec)},` +
      ` signRequest(url, init) ${x(rows[11].opsPerSec, rows[8].opsPerSec)}, signedFetch ${x(rows[12].opsPerSec, rows[8].opsPerSec)}`,
  );

  goals.push(await benchWorstCases({ ms, created, hmacKey }));
  console.log(`${goals.map((g) => `- ${g}`).join("\n")}\n`);
}

/**
 * What one request can cost the verifier at worst (issues 13 and 15): next to
 * an ordinary HMAC verify (GET, @method @target-uri), the worst requests within
 * the default limits and the reproductions of the CPU bombs, which the limits
 * refuse before parsing. Every row runs with default options.
 */
async function benchWorstCases({ ms, created, hmacKey }) {
  const rows = await runGroup(
    "verifyRequest: the worst request per verify, default options (hmac-sha256)",
    await worstCases({ signRequest, verifyRequest }, { created, hmacKey }),
    { ms },
  );
  const slowest = rows.slice(2).reduce((a, b) => (b.opsPerSec < a.opsPerSec ? b : a));
  return (
    `worst verify within the defaults = ${x(rows[0].opsPerSec, slowest.opsPerSec)} the cost of an ordinary verify,` +
    ` ${x(rows[1].opsPerSec, slowest.opsPerSec)} that of one with an 8 KiB URL (${slowest.name}; p99 ${slowest.p99.toFixed(1)} µs)`
  );
}

/**
 * The requests of benchWorstCases, signed and verified with `signing` (a
 * build of keyward/signing; bench/compare-builds.js passes two), each
 * checked to get the expected answer (with `anyDenial`, any denial where a
 * code is expected), as cases named with `tag`.
 */
export async function worstCases({ signRequest, verifyRequest }, { created, hmacKey }, tag = "", { anyDenial = false } = {}) {
  const sign = (request, components) => signRequest(request, { keyid: KEYID, key: hmacKey, components, created });
  const queryParams = (n) => Array.from({ length: n }, (_, i) => `q${i}=v${i}`).join("&");
  const queryComponents = (n) => Array.from({ length: n }, (_, i) => `@query-param;name="q${i}"`);
  const keyComponents = (n, field) => Array.from({ length: n }, (_, i) => `${field};key="k${i}"`);
  const dictionary = (n) => Array.from({ length: n }, (_, i) => `k${i}=${i};a=1;b="x"`).join(", ");
  const verifyOptions = { resolveKey: () => hmacKey };

  const ordinary = await sign(new Request(URL_), ["@method", "@target-uri"]);
  // Within the defaults: an 8 KiB URL of short parameters, 30 covered components
  // (27 @query-param, 3 Dictionary members of two 512-character Dictionaries that only
  // the general structured-field parser reads).
  let query = "";
  for (let i = 0; `https://api.example.com/p?${query}&q${i}=1`.length <= 8 * 1024; i++) query += `${query ? "&" : ""}q${i}=1`;
  const half = dictionary(200).slice(0, 511).replace(/,[^,]*$/, "");
  const keyed = await sign(new Request(`https://api.example.com/p?${query}`, { headers: { "x-a": half, "x-b": half.replace("k0=", "k00=") } }), [
    "@method",
    "@target-uri",
    ...queryComponents(27),
    ...keyComponents(2, "x-a"),
    'x-b;key="k1"',
  ]);
  // The same URL, 30 components: 27 @query-param and one ;sf, which parses and re-serialises a
  // whole 1 KiB Dictionary, of the costliest members to parse and serialise: Inner Lists of a
  // Token and an empty Byte Sequence, with a Decimal and a Display String as parameters.
  const mixed = Array.from({ length: 200 }, (_, i) => `k${i}=(t ::);b=1.5;c=%"%c3%a9"`)
    .join(", ")
    .slice(0, 1023)
    .replace(/,[^,]*$/, "");
  const worst = await sign(new Request(`https://api.example.com/p?${query}`, { headers: { "x-a": mixed } }), [
    "@method",
    "@target-uri",
    ...queryComponents(27),
    "x-a;sf",
  ]);
  // The same URL size of invalid percent-encoded bytes (slow for URLSearchParams to decode).
  let invalid = "";
  while (invalid.length < 8 * 1024 - 64) invalid += `${invalid ? "&" : ""}%FF%FE=%FF`;
  const worstBytes = await sign(new Request(`https://api.example.com/p?${invalid}&q0=1`), ["@method", "@target-uri", ...queryComponents(1)]);
  // And of empty pairs, 8 000 of them (a query scan that pays per pair pays most here).
  const emptyPairs = await sign(new Request(`https://api.example.com/p?${"&".repeat(8 * 1024 - 64)}q0=1`), [
    "@method",
    "@target-uri",
    ...queryComponents(1),
  ]);
  // 8 KiB of Signature-Input that passes the cheap checks and parses, so the whole value is read
  // before the signature fails: 8 signatures of as many parameters as maxParameters lets through
  // (empty Byte Sequences, the costliest per parameter), one long Display String, one long Token.
  const input = (value) => new Request(URL_, { headers: { "signature-input": value, signature: "sig1=:AAAA:" } });
  const head = (label) => `${label}=("@method" "@target-uri");created=${created};keyid="${KEYID}"`;
  const signatures = (n) =>
    Array.from({ length: 8 }, (_, m) => head(m === 0 ? "sig1" : `s${m}`) + Array.from({ length: n }, (_, i) => `;a${i}=::`).join("")).join(", ");
  let perSignature = 93; // with the three of head(): maxParameters (96)
  while (signatures(perSignature).length > 8 * 1024) perSignature--;
  const fill = (prefix, unit, suffix) => prefix + unit.repeat(Math.floor((8 * 1024 - prefix.length - suffix.length) / unit.length)) + suffix;
  const manyParameters = input(signatures(perSignature));
  const displayString = input(fill(`${head("sig1")};x=%"`, "%c3%a9", '"'));
  const token = input(fill(`${head("sig1")};x=`, "t", ""));
  const overParameters = input(fill(head("sig1"), ";a", ""));
  // Costly per character to derive (found by a review): an 8 KiB query value of "!", which the
  // form-urlencoding of @query-param escapes, the same as an encoded name in Signature-Input (the
  // parameter absent), and an 8 KiB header field covered with ;bs (base64 of the field line).
  const marks = await sign(new Request(`https://api.example.com/p?v=${"!".repeat(8 * 1024 - 28)}`), [
    "@method",
    "@target-uri",
    '@query-param;name="v"',
  ]);
  const encodedName = input(fill(`sig1=("@method" "@target-uri" "@query-param";name="`, "%21", `");created=${created};keyid="${KEYID}"`));
  const bs = await sign(new Request(URL_, { headers: { "x-big": "v".repeat(8 * 1024) } }), ["@method", "@target-uri", "x-big;bs"]);
  const big = (() => {
    const url = `https://api.example.com/p?${queryParams(20_000)}`;
    return sign(new Request(url), ["@method", "@target-uri", ...queryComponents(285)]);
  })();
  const dict = sign(new Request(URL_, { headers: { "x-d": dictionary(900) } }), ["@method", "@target-uri", ...keyComponents(450, "x-d")]);
  const longUrl = sign(new Request(`https://api.example.com/p?a=${"x".repeat(64 * 1024)}&${queryParams(285)}`), [
    "@method",
    "@target-uri",
    ...queryComponents(285),
  ]);
  const ordinaryLongUrl = await sign(new Request(`https://api.example.com/p?${query}`), ["@method", "@target-uri"]);
  const cases = [
    { name: "ordinary verify (GET, @method @target-uri)", request: ordinary, expect: true },
    { name: "the same with an 8 KiB URL of short parameters", request: ordinaryLongUrl, expect: true },
    { name: "worst within the defaults (8 KiB URL, 30 components: 27 @query-param, ;sf over 1 KiB of Inner Lists, Tokens, Byte Sequences, Decimals, Display Strings)", request: worst, expect: true },
    { name: "8 KiB URL, 30 components: 27 @query-param, 3 ;key over 1 KiB of Dictionaries", request: keyed, expect: true },
    { name: '8 KiB URL of "%FF%FE=%FF" pairs, one @query-param', request: worstBytes, expect: true },
    { name: '8 KiB URL of empty pairs ("&&&…"), one @query-param', request: emptyPairs, expect: true },
    { name: `8 KiB Signature-Input: 8 signatures of ${perSignature + 3} parameters (empty Byte Sequences; parsed, refused)`, request: manyParameters, expect: "SIGNATURE_INVALID" },
    { name: "8 KiB Signature-Input: one Display String parameter (parsed, refused)", request: displayString, expect: "SIGNATURE_INVALID" },
    { name: "8 KiB Signature-Input: one Token parameter (parsed, refused)", request: token, expect: "SIGNATURE_INVALID" },
    { name: '8 KiB URL of one value of "!", one @query-param (each "!" encoded)', request: marks, expect: true },
    { name: '8 KiB Signature-Input: one @query-param named "%21%21…" (decoded, encoded again; absent, refused)', request: encodedName, expect: "SIGNATURE_INVALID" },
    { name: "8 KiB header field covered with ;bs", request: bs, expect: true },
    { name: '285 "@query-param" over a 170 KB URL (refused: LIMIT_EXCEEDED)', request: await big, expect: "LIMIT_EXCEEDED" },
    { name: '450 "x-d";key over a 16 KB Dictionary (refused: LIMIT_EXCEEDED)', request: await dict, expect: "LIMIT_EXCEEDED" },
    { name: "64 KB URL, 285 components (refused: LIMIT_EXCEEDED)", request: await longUrl, expect: "LIMIT_EXCEEDED" },
    { name: '8 KiB Signature-Input of 4 000 parameters (";a"; refused: LIMIT_EXCEEDED)', request: overParameters, expect: "LIMIT_EXCEEDED" },
  ];
  for (const c of cases) {
    const result = await verifyRequest(c.request, verifyOptions);
    // anyDenial: an older build may refuse with another code (bench/compare-builds.js).
    const expected = c.expect === true ? result.ok : anyDenial ? !result.ok : result.code === c.expect;
    if (!expected) {
      throw new Error(`benchmark setup: ${c.name}: ${JSON.stringify(result)}`);
    }
  }
  // within: a request the default limits let through (the others are refused by them).
  return cases.map((c) => ({ name: `${tag}${c.name}`, within: c.expect !== "LIMIT_EXCEEDED", fn: () => verifyRequest(c.request, verifyOptions) }));
}

/** Both libraries accept each other's signatures, so they sign the same base. */
async function checkAgreement(v, signed, theirSigned, oursForThem, theirVerifyConfig, verifyOptions) {
  const ours = await verifyRequest(signed.clone(), verifyOptions);
  const theirs = await httpbis.verifyMessage(theirVerifyConfig, oursForThem);
  const crossed = await verifyRequest(
    new Request(URL_, { method: v.method, headers: theirSigned.headers, body: v.method === "GET" ? null : BODY }),
    verifyOptions,
  );
  if (!ours.ok || theirs !== true || !crossed.ok) {
    throw new Error(`benchmark setup: signatures do not verify (${JSON.stringify([ours, theirs, crossed])})`);
  }
  if (theirSigned.headers["Signature-Input"] !== signed.headers.get("signature-input")) {
    throw new Error("benchmark setup: the two libraries do not sign the same parameters");
  }
}
