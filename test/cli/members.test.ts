// keyward members through the real bin: removing someone who is not a member
// says so and fails, as a command on a token that does not exist does.
import { describe, expect, it } from "vitest";
import { useCli } from "./helpers.js";

const cli = useCli();

describe("keyward CLI: members", () => {
  it("--remove of someone who is not a member: MEMBER_NOT_FOUND, exit 3, nothing written", () => {
    expect(cli("init").code).toBe(0);
    expect(cli("members", "--owner", "acct_m", "--set", "user:1=owner").code).toBe(0);
    expect(cli("members", "--owner", "acct_m", "--set", "user:2=developer").code).toBe(0);
    const audited = () => JSON.parse(cli("audit", "--owner", "acct_m", "--json").stdout).items.length;
    const before = audited();
    for (const [owner, member] of [["acct_m", "user:3"], ["acct_none", "user:1"]] as const) {
      const r = cli("members", "--owner", owner, "--remove", member);
      expect([r.code, r.stdout, r.stderr]).toEqual([3, "", `keyward members: MEMBER_NOT_FOUND: ${member} is not a member of ${owner}\n`]);
      expect(JSON.parse(cli("members", "--owner", owner, "--remove", member, "--json").stderr)).toEqual({
        code: "MEMBER_NOT_FOUND",
        message: `${member} is not a member of ${owner}`,
        owner,
        member,
      });
    }
    expect(audited()).toBe(before);
    // A member is removed, once: the second time they are no longer one.
    expect(cli("members", "--owner", "acct_m", "--remove", "user:2")).toMatchObject({ code: 0, stdout: "owner      user:1\n" });
    expect(cli("members", "--owner", "acct_m", "--remove", "user:2").code).toBe(3);
    expect(audited()).toBe(before + 1);
  });
});
