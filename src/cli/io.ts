// What a command reads and writes: streams, environment and working folder,
// injected so the commands are plain functions (the bin passes the process's).
import { type ErrorCode, isKeywardError } from "../index.js";
import { MAKE_SEALING_KEY } from "../lib/seal.js";
import { cleanText, redactTokens } from "../lib/text.js";
import { inTypedUnit } from "./duration.js";

/** The process a command runs in. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stderr is a terminal (progress lines only there). */
  errIsTTY: boolean;
  /**
   * Whether stdout is the null device: `> /dev/null`, or a stdout the shell
   * closed (`>&-`), which Node reopens there. A token printed there is shown
   * to nobody.
   */
  outIsNull?: boolean;
  env: Record<string, string | undefined>;
  cwd: string;
  /**
   * Resolves once everything given to `out` so far is written (true), or
   * dropped because its reader left (false: EPIPE); rejects with a
   * {@link CliError} (`EXIT.IO`) when it could not be written (ENOSPC:
   * stdout on a full disk). Without it, what `out` is given counts as written.
   */
  flushOut?: () => Promise<boolean>;
}

/** Exit codes, documented in docs/cli.md. */
export const EXIT = {
  OK: 0,
  /** `scan` found a secret token. */
  FOUND: 1,
  /** Missing or wrong arguments, invalid input. */
  USAGE: 2,
  /** No token, account or member with that id. */
  NOT_FOUND: 3,
  /** Refused: the token is revoked, or was changed meanwhile. */
  REFUSED: 4,
  /** The database is missing, corrupt, newer than this version, or unavailable. */
  STORE: 5,
  /** A file or folder cannot be read, or the output cannot be written. */
  IO: 6,
  /** `create --idempotency-key`: made by an earlier run with the key, whose secret is not shown again. */
  REPLAYED: 7,
} as const;

/**
 * The codes of the CLI's own errors (docs/cli.md, "Errors"); with --json,
 * every error has a code: these, or a library error's.
 */
export type CliErrorCode = "USAGE" | "OPTION_REPEATED" | "IO_ERROR" | "UNEXPECTED_ERROR" | "MEMBER_NOT_FOUND" | "DATABASE_NOT_A_FILE" | "READ_ONLY";

/** The code of a CLI error made without one, by its exit code: shown with --json only. */
const EXIT_CODES: Partial<Record<number, CliErrorCode | ErrorCode>> = { [EXIT.STORE]: "STORE_UNAVAILABLE", [EXIT.IO]: "IO_ERROR" };

/** A failure the CLI reports in one line, with its exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  /** Given: shown in text too (`CODE: message`), as a library error's is. */
  readonly code: CliErrorCode | ErrorCode | undefined;
  /** Structured fields, for --json. */
  readonly details: Record<string, string>;
  constructor(message: string, exitCode: number, options: { code?: CliErrorCode | ErrorCode; details?: Record<string, string> } = {}) {
    super(message);
    this.exitCode = exitCode;
    this.code = options.code;
    this.details = options.details ?? {};
  }
}

const CODE_EXITS: Record<string, number> = {
  TOKEN_NOT_FOUND: EXIT.NOT_FOUND,
  ACCOUNT_NOT_FOUND: EXIT.NOT_FOUND,
  TOKEN_REVOKED: EXIT.REFUSED,
  REVISION_CONFLICT: EXIT.REFUSED,
  TOKEN_ALREADY_EXISTS: EXIT.REFUSED,
  IDEMPOTENCY_KEY_REUSED: EXIT.REFUSED,
  IDEMPOTENCY_KEY_IN_FLIGHT: EXIT.REFUSED,
  STORE_UNAVAILABLE: EXIT.STORE,
  STORE_UNSUPPORTED: EXIT.STORE,
};

/** What the CLI says instead of the library's message, where that names an option of `new Keyward` the CLI reads from the environment. */
const CODE_MESSAGES: Record<string, string> = {
  SEALING_KEY_REQUIRED: `HMAC signing keys need KEYWARD_SEALING_KEY, 32 random bytes in base64 (${MAKE_SEALING_KEY})`,
};

/** What the CLI reports of an error: its exit code, its code, its message and structured fields. */
export interface ErrorReport {
  exitCode: number;
  code: CliErrorCode | ErrorCode;
  /** Whether the text line names the code (`CODE: message`): a library error, or a CLI error given one. */
  named: boolean;
  message: string;
  fields: Record<string, unknown>;
}

/**
 * What the CLI reports of any error a command throws. A library error about
 * a setting that `settings` maps to an option (`{ graceMs: "grace" }`), or
 * about a part of one (`rateLimit.windowMs` of `rateLimit`), names the
 * option in its message (`--grace: …`), and in an `option` field; when the
 * setting is in milliseconds, the limits the message states are in the unit
 * of the option's value in `values` (the command's options as parsed).
 */
export function describeError(err: unknown, settings: Readonly<Record<string, string>> = {}, values: Readonly<Record<string, unknown>> = {}): ErrorReport {
  if (err instanceof CliError) {
    const code = err.code ?? EXIT_CODES[err.exitCode] ?? "USAGE";
    return { exitCode: err.exitCode, code, named: err.code !== undefined, message: err.message, fields: err.details };
  }
  if (isKeywardError(err)) {
    // keyward's messages and fields never hold a secret; escaped all the same, as they may echo input.
    const { name: _, code, message: __, ...fields } = err.toJSON();
    const exitCode = CODE_EXITS[err.code] ?? EXIT.USAGE;
    const { field } = fields;
    // The setting, or a part of it (`rateLimit.windowMs` of `rateLimit`).
    const setting = typeof field === "string" ? Object.keys(settings).find((s) => field === s || field.startsWith(`${s}.`)) : undefined;
    if (setting !== undefined && err.message.startsWith(`${field}: `)) {
      const name = settings[setting]!;
      const option = `--${name}`;
      const said = err.message.slice(`${field}: `.length);
      // A setting in milliseconds (`windowMs`, `graceMs`): its limits in the unit the option was typed in.
      const message = typeof field === "string" && field.endsWith("Ms") ? inTypedUnit(said, values[name]) : said;
      return { exitCode, code: err.code, named: true, message: `${option}: ${message}`, fields: { ...fields, option } };
    }
    return { exitCode, code: err.code, named: true, message: CODE_MESSAGES[err.code] ?? err.message, fields };
  }
  const code = (err as { code?: unknown })?.code;
  if ((typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) || err instanceof TypeError || err instanceof RangeError) {
    return { exitCode: EXIT.USAGE, code: "USAGE", named: false, message: (err as Error).message, fields: {} };
  }
  const message = `unexpected error: ${(err as Error)?.message ?? String(err)}`;
  return { exitCode: EXIT.STORE, code: "UNEXPECTED_ERROR", named: false, message, fields: {} };
}

/**
 * Reports an error on stderr: one line of text, `<label>: [CODE: ]message`,
 * or with `asJson` one line of JSON, `{"code", "message", …fields}`.
 * Messages may echo what was typed (an unknown option, a path): escaped, and
 * anything shaped like a token redacted, in both. `settings`: the command's
 * (see {@link describeError}).
 *
 * @returns its exit code
 */
export function reportError(
  io: Pick<Io, "err">,
  label: string,
  err: unknown,
  asJson: boolean,
  settings?: Readonly<Record<string, string>>,
  values?: Readonly<Record<string, unknown>>,
): number {
  const { exitCode, code, named, message, fields } = describeError(err, settings, values);
  reportLine(io, `${label}: ${named ? `${code}: ` : ""}`, { code, message, ...fields }, asJson);
  return exitCode;
}

/**
 * The codes of the CLI's warnings (docs/cli.md, "Warnings"): what a command
 * goes on despite; with --json, each is a line of JSON on stderr.
 */
export type CliWarningCode = "KEY_FILE_PERMISSIONS" | "GITIGNORE_NOT_APPLIED" | "NODE_WARNING";

/** A warning: its code, its message (the text line's, without the label) and structured fields. */
export interface CliWarning {
  code: CliWarningCode;
  message: string;
  fields: Record<string, string>;
}

/**
 * Reports a warning on stderr, as {@link reportError} reports an error: one
 * line of text, `<label>: warning: message`, or with `asJson` one line of
 * JSON, `{"level": "warning", "code", "message", …fields}`.
 */
export function reportWarning(io: Pick<Io, "err">, label: string, warning: CliWarning, asJson: boolean): void {
  reportLine(io, `${label}: warning: `, { level: "warning", code: warning.code, message: warning.message, ...warning.fields }, asJson);
}

/** One line on stderr: `<prefix>message`, or the entry as JSON; every string escaped, anything shaped like a token redacted. */
function reportLine(io: Pick<Io, "err">, prefix: string, entry: { message: string } & Record<string, unknown>, asJson: boolean): void {
  if (asJson) {
    const clean = Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, typeof v === "string" ? cleanText(v, true) : v]));
    io.err(`${redactTokens(JSON.stringify(clean))}\n`);
  } else io.err(`${prefix}${cleanText(entry.message, true)}\n`);
}

/**
 * Why a file could not be read or written, as the system says it, with its
 * code: `no such file or directory (ENOENT)`, `permission denied (EACCES)`.
 */
export function systemReason(err: unknown): string {
  const { code, errno } = err as NodeJS.ErrnoException;
  if (typeof errno !== "number") return code ?? "unreadable";
  // Loaded when called, as node:sqlite is: a static import would fail to link on a Node too old for the bin,
  // before index.ts can say which Node it needs.
  const { getSystemErrorMessage } = process.getBuiltinModule("node:util") as typeof import("node:util");
  return `${getSystemErrorMessage(errno)}${code ? ` (${code})` : ""}`;
}

/**
 * Writes one line of text that came (even partly) from stored or user data:
 * escaped, and anything shaped like a token redacted (`kw_sk_live_[redacted]`),
 * so text stored before keyward refused tokens in it shows no secret.
 */
export function line(io: Io, text: string): void {
  io.out(`${cleanText(text, true)}\n`);
}

/**
 * A path (or a database's location) as the CLI prints it, in text and JSON
 * alike: what could send escape sequences to a terminal or forge a line is
 * escaped as {@link line} does, and anything shaped like a token is redacted
 * (`kw_sk_live_[redacted]`), so a file named after a token shows no secret.
 */
export function shownPath(path: string): string {
  return cleanText(path, true);
}

/**
 * Writes a value as JSON (escaping is JSON's own), with anything shaped like
 * a token redacted, in keys and strings alike (a token has no character that
 * JSON escapes, and its redaction none either, so the JSON stays valid).
 */
export function json(io: Io, value: unknown): void {
  io.out(`${redactTokens(JSON.stringify(value, null, 2))}\n`);
}

/** A JSON object written a member at a time, see {@link jsonStream}. */
export interface JsonStream {
  /** Writes the next item of the list. */
  item: (value: unknown) => void;
  /** Closes the list, writes the other members (at least one) and closes the object. */
  end: (rest: Record<string, unknown>) => void;
}

/**
 * Writes a JSON object whose first member, `key`, is a list given an item at
 * a time, as it comes: output of any length in bounded memory, and the same
 * text, byte for byte, as {@link json} gives of the whole object (escaped and
 * redacted as it is). Nothing is written before the first item or `end`: a
 * command that fails before either prints nothing on stdout.
 */
export function jsonStream(io: Io, key: string): JsonStream {
  let items = 0;
  const open = `{\n  ${JSON.stringify(key)}: [`;
  return {
    item: (value) => {
      const text = redactTokens(JSON.stringify(value, null, 2)).replaceAll("\n", "\n    ");
      io.out(`${items++ === 0 ? open : ","}\n    ${text}`);
    },
    end: (rest) => {
      // `{\n  "a": 1\n}` without its opening brace: the members, then the closing brace.
      io.out(`${items === 0 ? `${open}]` : "\n  ]"},\n${redactTokens(JSON.stringify(rest, null, 2)).slice(2)}\n`);
    },
  };
}

/** As {@link json}, with `token` as is: the new token that `create` and `regenerate` print once. */
export function issuedJson(io: Io, token: string, record: unknown): void {
  io.out(`${JSON.stringify({ token, record: JSON.parse(redactTokens(JSON.stringify(record))) }, null, 2)}\n`);
}
