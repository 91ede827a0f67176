// keyward members: an account's team and their roles (docs/roles.md).
import type { Keyward, Member } from "../index.js";
import { isRole, ROLES } from "../model/roles.js";
import { COMMON, type Command, positional, required, STORE_OPTIONS } from "./command.js";
import { CliError, EXIT, json, line } from "./io.js";
import { withStore } from "./store.js";
import { ACTOR, ACTOR_SETTING, actorOf } from "./tokens.js";

export const members: Command = {
  summary: "List an account's members and roles; --set id=role adds or changes one, --remove id removes one (audited).",
  options: {
    owner: { type: "string", value: "id", description: "the account, required" },
    set: { type: "string", value: "id=role", description: `a member and their role: ${ROLES.join(", ")}` },
    remove: { type: "string", value: "id", description: "a member to remove (never the last owner)" },
    ...ACTOR,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { ...ACTOR_SETTING, owner: "owner" },
  run: async (ctx) => {
    positional(ctx, []);
    const owner = required(ctx.values, "owner");
    const set = typeof ctx.values.set === "string" ? ctx.values.set : undefined;
    const remove = typeof ctx.values.remove === "string" ? ctx.values.remove : undefined;
    if (set !== undefined && remove !== undefined) throw new CliError("give --set or --remove, not both", EXIT.USAGE);
    let change: [string, (typeof ROLES)[number]] | undefined;
    if (set !== undefined) {
      const at = set.lastIndexOf("=");
      const role = set.slice(at + 1);
      if (at <= 0 || !isRole(role)) throw new CliError(`--set: expected id=role, role one of ${ROLES.join(", ")}`, EXIT.USAGE);
      change = [set.slice(0, at), role];
    }
    return withStore(ctx, { create: false, readsOnly: change === undefined && remove === undefined }, async ({ keyward }) => {
      const team = keyward.accounts.members;
      const list = change
        ? await team.set(owner, change[0], change[1], actorOf(ctx.values))
        : remove !== undefined
          ? await removeMember(keyward, owner, remove, actorOf(ctx.values))
          : await team.list(owner);
      if (ctx.values.json) json(ctx.io, list);
      else if (list.length === 0) line(ctx.io, "no members (the account's single user is its owner)");
      else for (const m of list) line(ctx.io, `${m.role.padEnd(10)} ${m.id}`);
      return EXIT.OK;
    });
  },
};

/**
 * Removes a member, or fails with MEMBER_NOT_FOUND (exit 3) when they are
 * not one: the library's removal of a non-member changes nothing, silently,
 * and a mistyped id would pass for done. Removed on the role read, so that a
 * change made meanwhile is REVISION_CONFLICT (exit 4), not a removal of
 * someone already gone reported as done.
 */
async function removeMember(keyward: Keyward, owner: string, member: string, actor: { actor: string }): Promise<Member[]> {
  const team = keyward.accounts.members;
  const role = await team.roleOf(owner, member);
  if (role === null) throw new CliError(`${member} is not a member of ${owner}`, EXIT.NOT_FOUND, { code: "MEMBER_NOT_FOUND", details: { owner, member } });
  return team.remove(owner, member, { ...actor, expectedRole: role });
}
