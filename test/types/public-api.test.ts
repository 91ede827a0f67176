// Type-level tests of the public API: checked by `tsc` (npm run lint), and
// the expectTypeOf calls run as no-ops under vitest.
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  Decision,
  type DenyCode,
  type ErrorCode,
  type IssuedToken,
  Keyward,
  KeywardError,
  MemoryStore,
  type ParseTokenResult,
  parseToken,
  type ReplayedToken,
  type TokenRecord,
} from "keyward";
import type { PolicyDecision } from "keyward/policy";
import type { SignatureFailureCode, VerifyRequestResult } from "keyward/signing";

describe("public types", () => {
  it("narrow as documented", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    // Without an idempotency key, a token issued; with one, maybe the one made the first time (no secret).
    expectTypeOf(kw.tokens.create({ owner: "acct_1", kind: "secret" })).resolves.toEqualTypeOf<IssuedToken>();
    expectTypeOf(kw.tokens.create({ owner: "acct_1", kind: "secret" }, { actor: "cli" })).resolves.toEqualTypeOf<IssuedToken>();
    expectTypeOf(kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKey: "k" })).resolves.toEqualTypeOf<IssuedToken | ReplayedToken>();
    const maybeKey = undefined as string | undefined;
    expectTypeOf(kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKey: maybeKey })).resolves.toEqualTypeOf<IssuedToken | ReplayedToken>();
    expectTypeOf(kw.tokens.get).returns.resolves.toEqualTypeOf<TokenRecord | null>();
    expectTypeOf(kw.verify).returns.resolves.toEqualTypeOf<Decision>();
    expectTypeOf<Decision["code"]>().toEqualTypeOf<"OK" | DenyCode>();

    const parsed = parseToken("x");
    expectTypeOf(parsed).toEqualTypeOf<ParseTokenResult>();
    if (parsed.ok) expectTypeOf(parsed.token.kind).toEqualTypeOf<"publishable" | "secret">();
    else expectTypeOf(parsed.code).toEqualTypeOf<"TOKEN_MALFORMED" | "TOKEN_CHECKSUM">();

    // A Decision narrows on ok: an allowed one always carries its token.
    const verdict = await kw.verify(new Request("https://api.test/"));
    if (verdict.ok) {
      expectTypeOf(verdict.token).toEqualTypeOf<TokenRecord>();
      expectTypeOf(verdict.tokenId).toEqualTypeOf<string>();
      expectTypeOf(verdict.code).toEqualTypeOf<"OK">();
    } else {
      expectTypeOf(verdict.code).toEqualTypeOf<DenyCode>();
      expectTypeOf(verdict.token).toEqualTypeOf<TokenRecord | null>();
    }
    // @ts-expect-error: before narrowing, the token may be null
    void (() => verdict.token.owner);
    expectTypeOf(verdict instanceof Decision).toEqualTypeOf<boolean>();

    const d = {} as PolicyDecision;
    if (!d.ok) expectTypeOf(d.code).toEqualTypeOf<DenyCode>();

    const err = new KeywardError("INVALID_INPUT", "x");
    expectTypeOf(err.code).toEqualTypeOf<ErrorCode>();
    expectTypeOf<VerifyRequestResult & { ok: false }>().toHaveProperty("code").toEqualTypeOf<SignatureFailureCode>();

    // @ts-expect-error: kind is a closed union
    void (() => kw.tokens.create({ owner: "o", kind: "admin" }));
    // @ts-expect-error: credits need a limit
    void (() => kw.tokens.create({ owner: "o", kind: "secret", credits: { refill: null } }));
    // @ts-expect-error: error codes are a closed union
    void new KeywardError("NOPE", "x");
    // @ts-expect-error: the store is required
    void (() => new Keyward({ prefix: "acme" }));
  });

  it("take what Node's http gives for the request's IP and headers, under exactOptionalPropertyTypes too", () => {
    // docs/security.md: kw.verify(request, { ip: socket.remoteAddress }); Node types it string | undefined.
    const source = `import type { IncomingMessage } from "node:http";
import type { Keyward } from "keyward";
export async function handle(kw: Keyward, req: IncomingMessage, request: Request) {
  await kw.verify(request, { ip: req.socket.remoteAddress });
  await kw.check({ token: req.headers.authorization, ip: req.socket.remoteAddress, origin: req.headers.origin, referer: req.headers.referer });
}
`;
    expectCompiles("test/types/node-http-input.ts", source);
  }, 60_000);

  it("take undefined for every optional input field of every entry point, as the runtime does, under exactOptionalPropertyTypes too", () => {
    expectCompiles("test/types/optional-inputs.ts");
    // The documented token inputs stay exactly what their zod schemas accept (`.optional()`: `T | undefined`).
    expectCompiles("test/types/token-inputs.test.ts");
  }, 60_000);
});

/** Type-checks one file of the project (or `source` in its place), with exactOptionalPropertyTypes off and on: no problem either way. */
function expectCompiles(path: string, source?: string): void {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const config = ts.getParsedCommandLineOfConfigFile(`${root}tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const file = `${root}${path}`;
  const host = ts.createCompilerHost(config.options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    source !== undefined && name === file ? ts.createSourceFile(name, source, version) : read(name, version, ...rest);
  for (const exactOptionalPropertyTypes of [false, true]) {
    const program = ts.createProgram([file], { ...config.options, exactOptionalPropertyTypes, noEmit: true }, host);
    const problems = ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
      const at = d.start === undefined ? "" : `${d.file!.getLineAndCharacterOfPosition(d.start).line + 1}: `;
      return at + ts.flattenDiagnosticMessageText(d.messageText, "\n");
    });
    expect(problems, `exactOptionalPropertyTypes: ${exactOptionalPropertyTypes}`).toEqual([]);
  }
}
