// A command: its options for node:util parseArgs, its help, and what it does.
import { parseArgs } from "node:util";
import { isoToEpochMs, SECONDS_BOUND } from "../model/schemas.js";
import { UNITS } from "./duration.js";
import { CliError, EXIT, type Io } from "./io.js";

type OptionSpec = { type: "string" | "boolean"; multiple?: boolean; short?: string; description: string; value?: string };

/** One subcommand of the `keyward` bin. */
export interface Command<O extends Record<string, OptionSpec> = Record<string, OptionSpec>> {
  summary: string;
  /** Positional arguments, for the help line (e.g. `<id>`). */
  args?: string;
  options: O;
  /**
   * The option that gives each setting of the library's its value, by the
   * setting's name (`{ graceMs: "grace" }`): an error the library reports
   * about that setting, or a part of it, names the option instead.
   */
  settings?: Readonly<Record<string, string>>;
  run: (ctx: CommandContext) => Promise<number>;
}

/** What a command's `run` receives. */
export interface CommandContext {
  io: Io;
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Options every command takes. */
export const COMMON = {
  json: { type: "boolean", description: "print JSON instead of text" },
  help: { type: "boolean", short: "h", description: "show this help" },
} satisfies Record<string, OptionSpec>;

/** Options of the commands that use the token store. */
export const STORE_OPTIONS = {
  database: {
    type: "string",
    value: "path|url",
    description: "SQLite file or postgres:// URL (default $KEYWARD_DATABASE or ./keyward.db)",
  },
  "read-only": {
    type: "boolean",
    description: "open the database read-only; a command that writes is refused (READ_ONLY)",
  },
} satisfies Record<string, OptionSpec>;

/**
 * Parses a command's argv strictly: an unknown option or a missing value is
 * a usage error, and so is an option that takes one value given more than
 * once (`--owner a --owner b`: parseArgs keeps the last without a word),
 * `OPTION_REPEATED`, unless it is repeatable.
 */
export function parse(command: Command, argv: string[]): { values: CommandContext["values"]; positionals: string[] } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {};
  for (const [name, spec] of Object.entries(command.options)) {
    options[name] = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}), ...(spec.short ? { short: spec.short } : {}) };
  }
  const { values, positionals, tokens } = parseArgs({ args: attachDashValues(argv, options), options, allowPositionals: true, strict: true, tokens: true });
  const seen = new Set<string>();
  for (const t of tokens) {
    if (t.kind !== "option" || options[t.name]?.type !== "string" || options[t.name]?.multiple) continue;
    if (seen.has(t.name)) {
      throw new CliError(`--${t.name} is given more than once: it takes one value`, EXIT.USAGE, { code: "OPTION_REPEATED", details: { option: `--${t.name}` } });
    }
    seen.add(t.name);
  }
  return { values: values as CommandContext["values"], positionals };
}

/**
 * parseArgs refuses `--opt -x` as ambiguous, but a base64url key or a negative
 * number may well start with a dash (one key in 64 does). A string option's
 * next argument that is not itself one of the command's options is its value.
 */
function attachDashValues(argv: string[], options: Record<string, { type: string; short?: string }>): string[] {
  const specOf = (arg: string) =>
    /^--[^=]+$/.test(arg) ? options[arg.slice(2)] : /^-[^-]$/.test(arg) ? Object.values(options).find((o) => o.short === arg[1]) : undefined;
  const isOption = (arg: string) => arg === "--" || specOf(arg.split("=")[0]!) !== undefined;
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return out.concat(argv.slice(i));
    const next = argv[i + 1];
    if (specOf(arg)?.type === "string" && next?.startsWith("-") && next !== "-" && !isOption(next)) {
      // `--opt=value` and `-xvalue` are parseArgs' own spellings of an explicit value.
      out.push(arg.startsWith("--") ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** The help text of a command. */
export function helpText(name: string, command: Command): string {
  const rows = Object.entries(command.options).map(([opt, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ""}--${opt}${spec.type === "string" ? ` <${spec.value ?? "value"}>` : ""}`;
    return `  ${flag.padEnd(30)} ${spec.description}${spec.multiple ? " (repeatable)" : ""}`;
  });
  return `usage: keyward ${name}${command.args ? ` ${command.args}` : ""} [options]\n\n${command.summary}\n\noptions:\n${rows.join("\n")}\n`;
}

/** The value of a string option, or a usage error naming it. */
export function required(values: CommandContext["values"], name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new CliError(`missing --${name}`, EXIT.USAGE);
  return v;
}

/** Exactly `count` positional arguments, or a usage error. */
export function positional(ctx: CommandContext, names: string[]): string[] {
  if (ctx.positionals.length !== names.length) {
    throw new CliError(`expected ${names.map((n) => `<${n}>`).join(" ") || "no arguments"}, got ${ctx.positionals.length}`, EXIT.USAGE);
  }
  return ctx.positionals;
}

/** A duration: `500ms`, `30s`, `5m`, `1h`, `7d`, or plain milliseconds. */
export function parseDuration(text: string, name: string): number {
  const m = /^(\d{1,12})(ms|s|m|h|d)?$/.exec(text);
  if (!m) throw new CliError(`--${name}: expected a duration like 30s, 5m, 1h, 7d or milliseconds`, EXIT.USAGE);
  return Number(m[1]) * UNITS[m[2] ?? "ms"]!;
}

/**
 * A time: an ISO-8601 date-time with its zone or a date (midnight UTC), read
 * as the library reads one (RFC 3339: a time without a zone would be another
 * instant on every machine, and a day the month does not have is refused),
 * or `+<duration>` from now.
 */
export function parseTime(text: string, name: string, now: number): number {
  if (text.startsWith("+")) return now + parseDuration(text.slice(1), name);
  const t = isoToEpochMs(text);
  if (t === null) {
    throw new CliError(`--${name}: expected an ISO-8601 time with its zone (2026-07-01T00:00:00Z), a date, or +<duration> (e.g. +10m)`, EXIT.USAGE);
  }
  return sinceSecondsBound(t, name);
}

/**
 * A time the library takes as one: it reads a number of milliseconds before
 * 3 March 1973 as seconds (`TIME_IN_SECONDS`, "multiply by 1000"), which says
 * nothing to whoever typed `1970-01-01` or `20000d` ago.
 */
function sinceSecondsBound(t: number, name: string): number {
  if (t < SECONDS_BOUND) throw new CliError(`--${name}: must be a time from ${new Date(SECONDS_BOUND).toISOString()} on`, EXIT.USAGE);
  return t;
}

/**
 * A time in the past: a bare duration counts back from now (`7d`: a week
 * ago), else as {@link parseTime}. `relative`: it was counted from now (a
 * bare duration or `+<duration>`), not an ISO-8601 time.
 */
export function parseSince(text: string, name: string, now: number): { at: number; relative: boolean } {
  // A bare number of 10 digits or more is a Unix time given where milliseconds ago were expected (11.6 days or more
  // written without a unit): 1780000000 (seconds) would be 20 days ago.
  if (/^\d{10,}$/.test(text)) {
    throw new CliError(`--${name}: ${text} looks like a Unix time: give an ISO-8601 time (2026-07-01T00:00:00Z), or a duration with its unit (90d)`, EXIT.USAGE);
  }
  if (/^\d+[a-z]*$/.test(text)) return { at: sinceSecondsBound(now - parseDuration(text, name), name), relative: true };
  return { at: parseTime(text, name, now), relative: text.startsWith("+") };
}

/**
 * A non-negative integer option, any a number holds exactly (the library
 * states its own limit, such as 10^15 credits, naming the option).
 */
export function parseCount(text: string, name: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new CliError(`--${name}: expected a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`, EXIT.USAGE);
  return n;
}
