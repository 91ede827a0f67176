// Reading metered data: usage (a table and a bar chart) and the credit balance.
import { guardStore } from "../index.js";
import { COMMON, type Command, parseDuration, parseTime, positional, STORE_OPTIONS } from "./command.js";
import { CliError, EXIT, json, line } from "./io.js";
import { withStore } from "./store.js";

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
  run: async (ctx) => {
    const [id] = positional(ctx, ["id"]);
    const now = Date.now();
    const time = (name: "from" | "to") => {
      const v = ctx.values[name];
      if (typeof v !== "string") return undefined;
      // A bare duration counts back from now: `--from 7d` is a week ago.
      return /^\d+[a-z]*$/.test(v) ? now - parseDuration(v, name) : parseTime(v, name, now);
    };
    const granularity = ctx.values.granularity ?? "hour";
    if (granularity !== "hour" && granularity !== "day") throw new CliError("--granularity must be hour or day", EXIT.USAGE);
    const from = time("from");
    const to = time("to");
    return withStore(ctx, { create: false }, async ({ keyward }) => {
      if (!(await keyward.tokens.get(id!))) throw new CliError("no token with this id", EXIT.NOT_FOUND);
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
  summary: "Show a token's credit balance. Top-up and reset come with accounts (docs/cli.md).",
  args: "<id>",
  options: { ...STORE_OPTIONS, ...COMMON },
  run: async (ctx) => {
    const [id] = positional(ctx, ["id"]);
    return withStore(ctx, { create: false }, async ({ keyward, store }) => {
      const record = await keyward.tokens.get(id!);
      if (!record) throw new CliError("no token with this id", EXIT.NOT_FOUND);
      const policy = record.policy.credits;
      if (policy === null) {
        if (ctx.values.json) json(ctx.io, { id: record.id, credits: null });
        else line(ctx.io, `${record.id} is unmetered (no credit limit)`);
        return EXIT.OK;
      }
      // A zero-cost meter call without the rate limit reads the balance (with
      // any refill due) through the store's one atomic primitive, spending nothing.
      const result = await guardStore(store).meter({ tokenId: record.id, cost: 0, rateLimit: null, credits: policy }, Date.now());
      const balance = { id: record.id, limit: policy.limit, remaining: result.credits?.remaining ?? policy.limit, nextRefillAt: result.credits?.nextRefillAt ?? null };
      if (ctx.values.json) {
        json(ctx.io, balance);
      } else {
        const refill = balance.nextRefillAt === null ? "" : `, next refill ${new Date(balance.nextRefillAt).toISOString()}`;
        line(ctx.io, `${record.id}: ${balance.remaining} of ${balance.limit} credits left${refill}`);
      }
      return EXIT.OK;
    });
  },
};
