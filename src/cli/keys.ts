// keygen (an ed25519 key pair for signed requests) and sign (the header
// fields of a signed request, ready for curl: as a curl config for `curl -K -`,
// or as shell-quoted -H arguments to paste).
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as ed from "@noble/ed25519";
import { deriveSigningSecret } from "../index.js";
import { fromBase64, toBase64Url } from "../lib/bytes.js";
import { type SigningKey, signatureHeaders } from "../signing/index.js";
import { COMMON, type Command, positional, required } from "./command.js";
import { CliError, EXIT, type Io, json, line, reportWarning, shownPath, systemReason } from "./io.js";

export const keygen: Command = {
  summary: "Generate an ed25519 key pair: the private key for the client, the public key for create --ed25519-public-key.",
  options: { ...COMMON },
  run: async (ctx) => {
    positional(ctx, []);
    const privateKey = ed.utils.randomSecretKey();
    const pair = { privateKey: toBase64Url(privateKey), publicKey: toBase64Url(await ed.getPublicKeyAsync(privateKey)) };
    if (ctx.values.json) {
      json(ctx.io, pair);
    } else {
      ctx.io.out(`private key (keep secret; save to a file for sign --key-file): ${pair.privateKey}\n`);
      ctx.io.out(`public key  (give to keyward create --ed25519-public-key):    ${pair.publicKey}\n`);
    }
    return EXIT.OK;
  },
};

const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
/** A quoted parameter of a curl config file, where `\` and `"` are escaped with a backslash. */
const curlConfigQuote = (s: string) => `"${s.replace(/["\\]/g, "\\$&")}"`;

export const sign: Command = {
  summary: "Sign a request (RFC 9421): its header fields as curl -H arguments to paste, or --curl-config for curl -K -.",
  args: "<url>",
  options: {
    "key-id": { type: "string", value: "tok_…", description: "the token's id (the signature's keyid), required" },
    "key-file": { type: "string", value: "path", description: "file holding the ed25519 private key (default $KEYWARD_SIGNING_KEY, else $KEYWARD_PRIVATE_KEY)" },
    hmac: { type: "boolean", description: "sign with the key derived from the token in $KEYWARD_TOKEN instead" },
    method: { type: "string", short: "X", value: "method", description: "HTTP method (default GET, or POST with --data)" },
    data: {
      type: "string",
      short: "d",
      multiple: true,
      value: "body",
      description: "request body, as curl -d sends it: @file reads a file without its line breaks; several joined with &",
    },
    "data-binary": {
      type: "string",
      multiple: true,
      value: "body",
      description: "request body, as curl --data-binary sends it: @file reads a file as it is; several joined with &",
    },
    header: { type: "string", short: "H", multiple: true, value: "name: value", description: "request header" },
    "curl-config": { type: "boolean", description: "print a curl config (header = \"…\" lines): keyward sign … | curl -K - <url> …" },
    ...COMMON,
  },
  run: async (ctx) => {
    const [url] = positional(ctx, ["url"]);
    const keyid = required(ctx.values, "key-id");
    if (ctx.values.json && ctx.values["curl-config"]) throw new CliError("--json and --curl-config exclude each other", EXIT.USAGE);
    let target: URL;
    try {
      target = new URL(url!);
    } catch {
      throw new CliError("<url> must be an absolute URL", EXIT.USAGE);
    }
    const key = signingKey(ctx.values, ctx.io);
    const body = bodyOf(ctx.values, ctx.io.cwd);
    const headers = new Headers();
    for (const h of (ctx.values.header as string[] | undefined) ?? []) {
      const i = h.indexOf(":");
      if (i < 1) throw new CliError(`--header must be "name: value"`, EXIT.USAGE);
      headers.append(h.slice(0, i).trim(), h.slice(i + 1).trim());
    }
    const method = typeof ctx.values.method === "string" ? ctx.values.method.toUpperCase() : body === undefined ? "GET" : "POST";
    const request = new Request(target, { method, headers, ...(body !== undefined && { body }) });
    const fields = await signatureHeaders(request, { keyId: keyid, key, nonce: true });
    if (ctx.values.json) {
      json(ctx.io, fields);
    } else if (ctx.values["curl-config"]) {
      for (const [name, value] of Object.entries(fields)) line(ctx.io, `header = ${curlConfigQuote(`${name}: ${value}`)}`);
    } else {
      const args = Object.entries(fields).map(([name, value]) => `-H ${shellQuote(`${name}: ${value}`)}`);
      line(ctx.io, args.join(" "));
    }
    return EXIT.OK;
  },
};

/**
 * The body the signature covers: the bytes curl sends for the same options, so
 * that `keyward sign … -d @order.json | curl -K - … -d @order.json` verifies.
 * `-d @file` is the file without its carriage returns and line feeds, as curl
 * strips them; `--data-binary @file` the file as it is; text without `@` is
 * sent as given; an option given more than once, its pieces joined with `&`,
 * as curl joins them. Bytes, so that a file that is not UTF-8 is signed as sent.
 */
function bodyOf(values: Record<string, unknown>, cwd: string): Uint8Array<ArrayBuffer> | string | undefined {
  const { data, "data-binary": binary } = values as { data?: string[]; "data-binary"?: string[] };
  if (data !== undefined && binary !== undefined) throw new CliError("--data and --data-binary exclude each other", EXIT.USAGE);
  const pieces = data ?? binary;
  if (pieces === undefined) return undefined;
  if (pieces.every((p) => !p.startsWith("@"))) return pieces.join("&");
  const bytes = pieces.map((given) => {
    if (!given.startsWith("@")) return Buffer.from(given);
    const name = given.slice(1);
    if (name === "-" || name === "") throw new CliError(`${data !== undefined ? "--data" : "--data-binary"}: give a file after @ (standard input is not read)`, EXIT.USAGE);
    let file: Uint8Array;
    try {
      file = readFileSync(resolve(cwd, name));
    } catch (err) {
      throw new CliError(`cannot read ${name}: ${systemReason(err)}`, EXIT.IO);
    }
    return data === undefined ? file : file.filter((b) => b !== 0x0d && b !== 0x0a);
  });
  return new Uint8Array(Buffer.concat(bytes.flatMap((b, i) => (i === 0 ? [b] : [Buffer.from("&"), b]))));
}

/** The key from a file or the environment, never from argv (which other users can read in ps). */
function signingKey(values: Record<string, unknown>, io: Io): SigningKey {
  if (values.hmac === true) {
    // Trimmed, as KEYWARD_SIGNING_KEY and signerFromEnv's KEYWARD_TOKEN: a CR from a .env file with CRLF line
    // ends would derive another key, and every signature would be refused with nothing to say why.
    const token = io.env.KEYWARD_TOKEN?.trim();
    if (!token) throw new CliError("--hmac reads the token from $KEYWARD_TOKEN, which is not set", EXIT.USAGE);
    return { alg: "hmac-sha256", secret: deriveSigningSecret(token) };
  }
  // KEYWARD_PRIVATE_KEY is the name signerFromEnv (keyward/client) reads the same key by: an application's
  // environment signs here too. Blank is not set, as for every KEYWARD_ variable.
  let text: string | undefined = io.env.KEYWARD_SIGNING_KEY?.trim() || io.env.KEYWARD_PRIVATE_KEY?.trim();
  if (typeof values["key-file"] === "string") text = readKeyFile(io, values["key-file"], values.json === true);
  if (!text) throw new CliError("no signing key: give --key-file, set $KEYWARD_SIGNING_KEY (or $KEYWARD_PRIVATE_KEY, as signerFromEnv reads it), or use --hmac", EXIT.USAGE);
  const privateKey = fromBase64(text.trim());
  if (privateKey?.length !== 32) throw new CliError("the signing key must be 32 bytes, base64url (see keyward keygen)", EXIT.USAGE);
  return { alg: "ed25519", privateKey };
}

/**
 * The text of `--key-file`. A file other users may read or change (any
 * group or other bit, as ssh refuses a private key) is used with a warning
 * on stderr naming its mode and the fix (`KEY_FILE_PERMISSIONS`); a pipe (`--key-file <(pass show
 * key)`) is not a file to fix. A file that cannot be read fails with the
 * system's reason, never with what it holds.
 */
function readKeyFile(io: Io, file: string, asJson: boolean): string {
  const shown = shownPath(file);
  try {
    const fd = openSync(resolve(io.cwd, file), "r");
    try {
      const stat = fstatSync(fd);
      if (stat.isFile() && (stat.mode & 0o077) !== 0 && process.platform !== "win32") {
        const octal = `0${(stat.mode & 0o777).toString(8)}`;
        const message = `--key-file ${shown} can be read or changed by other users (mode ${octal}; ssh refuses such a key): chmod 600 ${shown}`;
        reportWarning(io, "keyward sign", { code: "KEY_FILE_PERMISSIONS", message, fields: { path: shown, mode: octal } }, asJson);
      }
      return readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new CliError(`cannot read --key-file ${shown}: ${systemReason(err)}`, EXIT.IO);
  }
}
