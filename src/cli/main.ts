// The `keyward` bin: one parseArgs-driven subcommand per admin task.

import { SCHEMA_VERSION } from "../sqlite/index.js";
import { account, suspend } from "./accounts.js";
import { COMMON, type Command, type CommandContext, helpText, parse, STORE_OPTIONS } from "./command.js";
import { CliError, EXIT, type Io, json, line, reportError } from "./io.js";
import { keygen, sign } from "./keys.js";
import { members } from "./members.js";
import { billing, credits, usage } from "./metering.js";
import { scan } from "./scan.js";
import { withStore } from "./store.js";
import { audit, create, disable, enable, lifecycle, list, regenerate, remove, reseal, revoke, show, update } from "./tokens.js";
import { packageVersion } from "./version.js";

const init: Command = {
  summary: "Create the database (default ./keyward.db) or bring its schema up to date.",
  options: { ...STORE_OPTIONS, ...COMMON },
  run: async (ctx) =>
    withStore(ctx, { create: true }, async ({ where }) => {
      if (ctx.values.json) json(ctx.io, { database: where, schemaVersion: SCHEMA_VERSION });
      else line(ctx.io, `${where}: schema version ${SCHEMA_VERSION}`);
      return EXIT.OK;
    }),
};

/** Every subcommand, in the order of the help. */
export const COMMANDS: Record<string, Command> = {
  init,
  migrate: { ...init, summary: "Same as init: apply pending schema migrations." },
  create,
  list,
  show,
  update,
  revoke,
  disable,
  enable,
  delete: remove,
  regenerate,
  reseal,
  lifecycle,
  credits,
  usage,
  billing,
  account,
  members,
  suspend,
  audit,
  keygen,
  sign,
  scan,
};

/** Where the exit codes are documented: the page online (the package ships no docs/). */
const EXIT_CODES_URL = "https://github.com/keyward/keyward/blob/main/docs/cli.md#exit-codes";

function mainHelp(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `usage: keyward <command> [options]\n\ncommands:\n${rows.join("\n")}\n\nkeyward <command> --help shows a command's options; keyward --version prints the version. Exit codes: ${EXIT_CODES_URL}\n`;
}

/** `keyward --version` / `-V` (curl's spelling, as `sign` takes curl's `-X`, `-d`, `-H`), alone or with `--json`. */
function isVersion(argv: string[]): boolean {
  return (argv[0] === "--version" || argv[0] === "-V") && (argv.length === 1 || (argv.length === 2 && argv[1] === "--json"));
}

/** `--json` anywhere before `--`: JSON errors and warnings, even those found before the command is parsed. */
export function wantsJson(argv: string[]): boolean {
  return (argv.includes("--") ? argv.slice(0, argv.indexOf("--")) : argv).includes("--json");
}

/**
 * Runs the CLI.
 *
 * @param argv the arguments after the program name
 * @param io streams, environment and working folder
 * @returns the exit code
 */
export async function main(argv: string[], io: Io): Promise<number> {
  // `help <command>` is `<command> --help`.
  if (argv[0] === "help" && argv.length === 2 && Object.hasOwn(COMMANDS, argv[1]!)) return main([argv[1]!, "--help"], io);
  const asJson = wantsJson(argv);
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(mainHelp());
    return finished(io, "keyward", name === undefined ? EXIT.USAGE : EXIT.OK, asJson);
  }
  if (isVersion(argv)) {
    try {
      const version = packageVersion();
      if (asJson) json(io, { name: "keyward", version });
      else io.out(`${version}\n`);
    } catch (err) {
      return reportError(io, "keyward", err, asJson);
    }
    return finished(io, "keyward", EXIT.OK, asJson);
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    // A command name is a short word: anything else may be a token pasted in the wrong place, and is not echoed.
    const shown = /^[a-z][a-z-]{0,31}$/i.test(name) ? `"${name}"` : "(not shown: it is not a command name)";
    const message = name.startsWith("-")
      ? "options go after the command: keyward <command> [options] (run keyward --help)"
      : `unknown command ${shown} (run keyward --help)`;
    return reportError(io, "keyward", new CliError(message, EXIT.USAGE), asJson);
  }
  let code: number;
  let values: CommandContext["values"] | undefined;
  try {
    const parsed = parse(command, rest);
    values = parsed.values;
    const { positionals } = parsed;
    if (values.help === true) {
      io.out(helpText(name, command));
      code = EXIT.OK;
    } else code = await command.run({ io, values, positionals });
  } catch (err) {
    code = reportError(io, `keyward ${name}`, err, asJson, command.settings, values);
  }
  return finished(io, `keyward ${name}`, code, asJson);
}

/** A command that succeeded but whose output could not be written failed (exit 6); a failed one keeps its code. */
async function finished(io: Io, label: string, code: number, asJson: boolean): Promise<number> {
  if (code !== EXIT.OK) return code;
  try {
    await io.flushOut?.();
    return code;
  } catch (err) {
    return reportError(io, label, err, asJson);
  }
}
