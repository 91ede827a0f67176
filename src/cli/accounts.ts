// keyward suspend: stop every token of an account, or lift it (docs/accounts.md).
import { AccountNotFoundError } from "../index.js";
import { COMMON, type Command, parseTime, positional, required, STORE_OPTIONS } from "./command.js";
import { CliError, EXIT, json, line } from "./io.js";
import { withStore } from "./store.js";
import { ACTOR, actorOf } from "./tokens.js";

const iso = (ms: number) => new Date(ms).toISOString();

export const suspend: Command = {
  summary: "Suspend an account (--reason: every token denied ACCOUNT_SUSPENDED), or --lift it; at --effective-at (audited).",
  options: {
    owner: { type: "string", value: "id", description: "the account, required" },
    reason: { type: "string", value: "text", description: "why, kept in the audit log (never shown to the account)" },
    lift: { type: "boolean", description: "lift the suspension: the tokens work again" },
    "effective-at": { type: "string", value: "time", description: "when it applies: ISO-8601 or +duration (default now)" },
    ...ACTOR,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { "suspended.reason": "reason", effectiveAt: "effective-at", actor: "actor", owner: "owner" },
  run: async (ctx) => {
    positional(ctx, []);
    const owner = required(ctx.values, "owner");
    const lift = ctx.values.lift === true;
    if (lift === (typeof ctx.values.reason === "string")) throw new CliError("give --reason <text> to suspend, or --lift, not both", EXIT.USAGE);
    const now = Date.now();
    const effectiveAt = typeof ctx.values["effective-at"] === "string" ? parseTime(ctx.values["effective-at"], "effective-at", now) : undefined;
    const suspended = lift ? null : { reason: ctx.values.reason as string };
    return withStore(ctx, { create: false }, async ({ keyward }) => {
      // An owner with neither an account nor a token is a mistyped id: set() would make it an account, and report
      // a suspension (or a lift) of the owner meant that never happened.
      if ((await keyward.accounts.get(owner)) === null && (await keyward.tokens.list(owner, { limit: 1 })).items.length === 0) {
        throw new AccountNotFoundError(owner);
      }
      const options = { ...actorOf(ctx.values), ...(effectiveAt !== undefined && { effectiveAt }) };
      const account = await keyward.accounts.set(owner, { suspended }, options);
      if (ctx.values.json) json(ctx.io, account);
      else {
        // From the first revision to come that holds it, at or after --effective-at (moved to the fleet's bound, if
        // asked sooner): the state now may hold it already, before the change (a lift after a suspension to come).
        // Without a revision to come that holds it, in force now.
        const holds = (p: typeof account.policy) => (p.suspended != null) !== lift;
        const after = effectiveAt !== undefined && effectiveAt > now ? effectiveAt : Number.NEGATIVE_INFINITY;
        const due = account.scheduled.find((r) => r.effectiveAt >= after && holds(r.policy));
        const from = holds(account.policy) && after === Number.NEGATIVE_INFINITY ? undefined : due?.effectiveAt;
        const when = from === undefined ? "now" : `from ${iso(from)}`;
        line(ctx.io, lift ? `${owner}: suspension lifted ${when}` : `${owner}: suspended ${when}`);
      }
      return EXIT.OK;
    });
  },
};
