// Reading metered data: usage (a table and a bar chart) and the credit balance.
import { InvalidInputError } from "../index.js";
import { redactTokens } from "../lib/text.js";
import { monthRange } from "../manager/billing.js";
import { COMMON, type Command, parseCount, parseSince, positional, STORE_OPTIONS } from "./command.js";
import { CliError, EXIT, json, line } from "./io.js";
import { withStore } from "./store.js";
import { ACTOR, ACTOR_SETTING, actorOf, load } from "./tokens.js";

const BAR_WIDTH = 40;

export const usage: Command = {
  summary: "Requests allowed and denied, and credits spent, per hour or day, with a chart.",
  args: "<id>",
  options: {
    from: { type: "string", value: "time", description: "start: ISO-8601, or a duration ago like 7d (default 24 h before --to)" },
    to: { type: "string", value: "time", description: "end: ISO-8601 or a duration ago (default now)" },
    granularity: { type: "string", value: "hour|day", description: "bucket size (default hour)" },
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { from: "from", to: "to" },
  run: async (ctx) => {
    const [id] = positional(ctx, ["id"]);
    const now = Date.now();
    const time = (name: "from" | "to") => {
      const v = ctx.values[name];
      return typeof v === "string" ? parseSince(v, name, now).at : undefined;
    };
    const granularity = ctx.values.granularity ?? "hour";
    if (granularity !== "hour" && granularity !== "day") throw new CliError("--granularity must be hour or day", EXIT.USAGE);
    const from = time("from");
    const to = time("to");
    return withStore(ctx, { create: false, readsOnly: true }, async ({ keyward }) => {
      await load(keyward, id!);
      const buckets = await keyward.usage.get(id!, { granularity, ...(from !== undefined && { from }), ...(to !== undefined && { to }) });
      if (ctx.values.json) {
        json(ctx.io, buckets);
        return EXIT.OK;
      }
      if (buckets.length === 0) {
        line(ctx.io, "no usage in this period");
        return EXIT.OK;
      }
      const max = Math.max(1, ...buckets.map((b) => b.allowed + b.denied));
      line(ctx.io, `${"start (UTC)".padEnd(17)} ${"allowed".padStart(8)} ${"denied".padStart(8)} ${"credits".padStart(8)}`);
      for (const b of buckets) {
        const at = new Date(b.start).toISOString().slice(0, granularity === "hour" ? 16 : 10).replace("T", " ");
        // Allowed as full blocks, denied as light shade: the chart reads at a glance in any terminal.
        const ok = Math.round((b.allowed / max) * BAR_WIDTH);
        const no = Math.round(((b.allowed + b.denied) / max) * BAR_WIDTH) - ok;
        line(ctx.io, `${at.padEnd(17)} ${String(b.allowed).padStart(8)} ${String(b.denied).padStart(8)} ${String(b.credits).padStart(8)}  ${"█".repeat(ok)}${"░".repeat(no)}`);
      }
      line(ctx.io, "█ allowed  ░ denied");
      return EXIT.OK;
    });
  },
};

export const credits: Command = {
  summary: "Show, top up or reset the credit balance of a token (<id>) or of an account (--owner).",
  args: "[<id>]",
  options: {
    owner: { type: "string", value: "id", description: "an account's pool instead of a token's credits" },
    "top-up": { type: "string", value: "n", description: "add n credits (audited); they last until spent" },
    reset: { type: "boolean", description: "start the period afresh: the full limit, top-ups dropped (audited)" },
    "idempotency-key": {
      type: "string",
      value: "key",
      description: "with --top-up or --reset: apply it once for this key, such as the payment's id (run again, it changes nothing)",
    },
    ...ACTOR,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { amount: "top-up", idempotencyKey: "idempotency-key", ...ACTOR_SETTING, "target.owner": "owner" },
  run: async (ctx) => {
    const owner = typeof ctx.values.owner === "string" ? ctx.values.owner : undefined;
    // Both named: acting on one of them would top up or reset what the user did not mean.
    if (owner !== undefined && ctx.positionals.length > 0) throw new CliError("give <id> or --owner, not both", EXIT.USAGE);
    const [id] = owner === undefined ? positional(ctx, ["id"]) : [];
    const topUp = typeof ctx.values["top-up"] === "string" ? parseCount(ctx.values["top-up"], "top-up") : undefined;
    if (topUp !== undefined && ctx.values.reset) throw new CliError("give --top-up or --reset, not both", EXIT.USAGE);
    const key = ctx.values["idempotency-key"];
    if (typeof key === "string" && topUp === undefined && !ctx.values.reset) throw new CliError("--idempotency-key needs --top-up or --reset", EXIT.USAGE);
    const options = { ...actorOf(ctx.values), ...(typeof key === "string" && { idempotencyKey: key }) };
    const target = owner === undefined ? { tokenId: id! } : { owner };
    return withStore(ctx, { create: false, readsOnly: topUp === undefined && !ctx.values.reset }, async ({ keyward }) => {
      const who = owner ?? id!;
      // Reading goes through the store's one atomic primitive with cost 0: it spends nothing.
      const balance = await (
        topUp !== undefined ? keyward.credits.topUp(target, topUp, options) : ctx.values.reset ? keyward.credits.reset(target, options) : keyward.credits.get(target)
      ).catch((err: unknown) => {
        throw isNoLimit(err) ? noLimitError(owner, who) : err;
      });
      if (ctx.values.json) {
        json(ctx.io, { ...target, ...balance });
      } else {
        const refill = balance.nextRefillAt === null ? "" : `, next refill ${new Date(balance.nextRefillAt).toISOString()}`;
        // A repeat of a keyed top-up or reset: said, so a rerun is not taken for a second payment.
        if (balance.replayed) line(ctx.io, `${who}: already applied with this idempotency key: nothing changed`);
        line(ctx.io, `${who}: ${balance.remaining} of ${balance.limit} credits left${refill}`);
      }
      return EXIT.OK;
    });
  },
};

/** The library's refusal of a target without credits: `target: has no credit limit`, naming its argument. */
const isNoLimit = (err: unknown) => err instanceof InvalidInputError && err.field === "target" && err.message === "target: has no credit limit";

/** That refusal said of what was typed: the account (`--owner`) or the token, and how to give it credits. */
function noLimitError(owner: string | undefined, who: string): CliError {
  const message =
    owner === undefined
      ? `${who}: the token has no credit limit (give it one: keyward update ${who} --credits <n>)`
      : `--owner ${who}: the account has no credit pool (give it one with kw.accounts.set, docs/accounts.md)`;
  const details: Record<string, string> = owner === undefined ? { field: "target", tokenId: who } : { field: "target", option: "--owner", owner };
  return new CliError(message, EXIT.USAGE, { code: "INVALID_INPUT", details });
}

const HOUR_MS = 3_600_000;

/**
 * A billing bound: usage is kept per UTC hour, so a time counted from now
 * (`30d` ago, `+1h`) is taken from the start of its hour; an ISO-8601 time is
 * taken as given (the library refuses one that is not on the hour).
 */
function onTheHour(text: string, name: string, now: number): number {
  const { at, relative } = parseSince(text, name, now);
  return relative ? Math.floor(at / HOUR_MS) * HOUR_MS : at;
}

export const billing: Command = {
  summary: "Export each account's spend per credit pool for a period, as CSV (RFC 4180) or JSON.",
  options: {
    month: { type: "string", value: "YYYY-MM", description: "a UTC calendar month (or --from and --to)" },
    from: { type: "string", value: "time", description: "start: ISO-8601 on a UTC hour, or a duration ago like 30d (from the start of that hour)" },
    to: { type: "string", value: "time", description: "end: ISO-8601 on a UTC hour, or a duration ago like 0 or +1h (from the start of that hour)" },
    owner: { type: "string", value: "id", description: "one account (default every account with usage)" },
    format: { type: "string", value: "csv|json", description: "output format (default csv; --json is json)" },
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { period: "month", from: "from", to: "to", owner: "owner" },
  run: async (ctx) => {
    positional(ctx, []);
    const now = Date.now();
    const v = ctx.values;
    let range: { from: number; to: number };
    if (typeof v.month === "string") {
      // Both given: one of them would be billed without a word.
      if (v.from !== undefined || v.to !== undefined) throw new CliError("give --month, or --from and --to, not both", EXIT.USAGE);
      range = monthRange(v.month, "period");
    } else if (typeof v.from === "string" && typeof v.to === "string") {
      range = { from: onTheHour(v.from, "from", now), to: onTheHour(v.to, "to", now) };
    } else throw new CliError("give --month, or --from and --to", EXIT.USAGE);
    const format = v.json ? "json" : (v.format ?? "csv");
    if (format !== "csv" && format !== "json") throw new CliError("--format must be csv or json", EXIT.USAGE);
    return withStore(ctx, { create: false, readsOnly: true }, async ({ keyward }) => {
      const text = await keyward.billing.export({ ...range, ...(typeof v.owner === "string" ? { owner: v.owner } : {}), format });
      // An owner stored before keyward refused tokens in it shows no secret (redacting keeps CSV and JSON valid).
      const shown = redactTokens(text);
      ctx.io.out(format === "json" ? `${shown}\n` : shown);
      return EXIT.OK;
    });
  },
};
