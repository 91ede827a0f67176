// Size budget and contents of keyward/client as a browser bundle (minified ESM, gzipped).
import { gzipSync } from "node:zlib";
import type { Metafile } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { bundleClient } from "./helpers.js";

/**
 * min+gzip budget for keyward/client: noble (ed25519, sha2, hmac) + the structured-headers
 * serialiser + our code, including keyward's structured-field parser, the error base class that
 * redacts token-shaped strings and escapes control characters, generateKeyPair and PEM / JWK /
 * KeyObject keys (issue 8). 20 374 bytes on 5 December 2026, after the package's parser and the
 * verifier's subset parser left the bundle; 21 002 bytes once signedFetch followed redirects itself
 * (each hop signed anew, never for another origin: 530 bytes); 21 727 bytes on 6 December 2026, once
 * keys were checked strictly (a JWK's x against its d, one PEM block, short HMAC CryptoKeys: 270
 * bytes) and a body read was bounded by the request's signal and a Content-Digest the caller set
 * checked against the body (450 bytes); 22 020 bytes once signing ran where WebCrypto answers with another
 * realm's promises, refused an Ed25519 R of small order and signerFromEnv read only the variables it needs
 * (125 bytes); 22 118 bytes once stream chunks that are not bytes were refused and generateKeyPair
 * worked without WebCrypto; 22 411 bytes once createSigner, signRequest, signatureHeaders,
 * Signer.sign and signedFetch refused an option of another name (293 bytes); 22 520 bytes once
 * signed copies kept the request's referrer and referrer policy, and signedFetch its options across
 * redirects (109 bytes); 23 094 bytes on 7 December 2026, once PKCS #8 v2 private keys were read
 * (about 190 bytes), a redirect's raw UTF-8 Location was decoded, a non-ASCII covered field was named
 * in its error, createSigner checked expiresInSec and its clock, and signRequest took a URL and init
 * (digesting init.body without a Request clone): 576 bytes in all; 23 668 bytes once PKCS #8 keys were
 * read as DER (about 300 bytes) and that URL form digested only bodies a Request reads as their own
 * bytes (plain views and buffers, not shared memory or subclasses: about 270 bytes); 23 930 bytes once
 * signedFetch sent a URL's first hop as the one Request built from it, signed in place (262 bytes);
 * 24 054 bytes (from 24 030) once generateKeyPair's private key showed itself as [redacted] in a
 * copy of the pair too (24 bytes, the inspect symbol shared with createSigner's).
 * The budget keeps about 10 bytes of room.
 */
const BUDGET_GZIP_BYTES = 23.5 * 1024;

const FORBIDDEN = [
  /^src\/store\//,
  /^src\/manager\//,
  /^src\/verify\//,
  /^src\/config\.ts$/,
  /^src\/keyward\.ts$/,
  /^src\/index\.ts$/,
  /^src\/model\/schemas\.ts$/,
  /^src\/lib\/seal\.ts$/,
  /(^|\/)node_modules\/zod\//,
  /(^|\/)node_modules\/better-sqlite3\//,
  /(^|\/)node_modules\/pg\//,
];

let metafile: Metafile;
let minified: Uint8Array;
let gzipped: number;

beforeAll(async () => {
  const result = await bundleClient({ minify: true });
  metafile = result.metafile;
  minified = result.outputFiles[0]!.contents;
  gzipped = gzipSync(minified, { level: 9 }).length;
  console.log(
    `keyward/client: ${minified.length} B minified, ${gzipped} B min+gzip (budget ${BUDGET_GZIP_BYTES} B), ${Object.keys(metafile.inputs).length} inputs`,
  );
});

describe("keyward/client bundle", () => {
  it(`is under ${BUDGET_GZIP_BYTES} bytes minified and gzipped`, () => {
    expect(gzipped).toBeGreaterThan(0);
    expect(gzipped).toBeLessThanOrEqual(BUDGET_GZIP_BYTES);
  });

  it("pulls in no server code, no zod, no SQL driver", () => {
    const inputs = Object.keys(metafile.inputs);
    expect(inputs).toContain("src/client/index.ts");
    const bad = inputs.filter((path) => FORBIDDEN.some((re) => re.test(path)));
    expect(bad).toEqual([]);
    // Our own sources: the client, the signing module and the runtime-agnostic helpers only.
    const ours = inputs.filter((path) => path.startsWith("src/"));
    const allowed = /^src\/(client\/|signing\/|lib\/(bytes|crypto|derive|options|read-stream|text|thenable)\.ts$|errors\.ts$)/;
    expect(ours.filter((path) => !allowed.test(path))).toEqual([]);
    const packages = new Set(inputs.filter((p) => p.includes("node_modules/")).map((p) => p.split("node_modules/")[1]!.split("/").slice(0, 2).join("/")));
    expect([...packages].map((p) => (p.startsWith("@") ? p : p.split("/")[0])).sort()).toEqual(
      [...new Set(["@noble/ed25519", "@noble/hashes", "structured-headers"])].sort(),
    );
  });

  it("imports nothing from node: (or any external), statically or dynamically", () => {
    for (const [path, input] of Object.entries(metafile.inputs)) {
      for (const imp of input.imports) {
        expect(imp.path.startsWith("node:"), `${path} imports ${imp.path}`).toBe(false);
        expect(imp.external ?? false, `${path} imports external ${imp.path}`).toBe(false);
      }
    }
    for (const output of Object.values(metafile.outputs)) expect(output.imports).toEqual([]);
    const text = new TextDecoder().decode(minified);
    expect(text).not.toMatch(/\bfrom\s*["']node:/);
    expect(text).not.toMatch(/\bimport\(\s*["']node:/);
    expect(text).not.toMatch(/\brequire\(/);
    expect(text).not.toMatch(/\bBuffer\./);
  });
});
