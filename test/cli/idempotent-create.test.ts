// `keyward create --idempotency-key`, through the real bin, on a temp SQLite
// file: a rerun makes no second token and prints no secret (keyward keeps
// none), another request under the key is refused, and both say so.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { useCli } from "./helpers.js";

const cli = useCli({ KEYWARD_PREFIX: "acme" });

const TOKEN = /acme_sk_live_[0-9A-Za-z]{49}/;
const ids = (owner: string) => JSON.parse(cli("list", "--owner", owner, "--json").stdout).items.map((t: { id: string }) => t.id);

describe("keyward create --idempotency-key", () => {
  it("run again with the key, makes no second token: prints the token made first (no secret), says why on stderr, exit 7; --json gives replayed: true and token null", () => {
    cli("init");
    const first = cli("create", "--owner", "acct_i", "--name", "ci", "--scope", "core:read", "--idempotency-key", "deploy-42");
    expect([first.code, first.stderr]).toEqual([0, expect.stringContaining("this is the only time it is shown")]);
    expect(first.stdout.trim()).toMatch(new RegExp(`^${TOKEN.source}$`));
    const [id] = ids("acct_i");
    // The same request (its options in another order): the token made by the first run, as it is now.
    const again = cli("create", "--scope", "core:read", "--idempotency-key", "deploy-42", "--name", "ci", "--owner", "acct_i");
    expect(again.code).toBe(7);
    expect(again.stdout).toMatch(new RegExp(`^id +${id}$`, "m"));
    expect(again.stdout).toMatch(/^name +ci$/m);
    expect(again.stdout).not.toMatch(TOKEN);
    expect(again.stderr).toBe(
      `keyward create: token ${id} was made by an earlier run with this --idempotency-key: its secret was printed then and is not available again (keyward keeps none). Lost? Revoke it (keyward revoke ${id}) and create another with a new key\n`,
    );
    const json = cli("create", "--owner", "acct_i", "--name", "ci", "--scope", "core:read", "--idempotency-key", "deploy-42", "--json");
    expect(json.code).toBe(7);
    expect(JSON.parse(json.stdout)).toMatchObject({ token: null, replayed: true, record: { id, name: "ci", owner: "acct_i" } });
    expect(json.stderr).toBe("");
    expect(ids("acct_i")).toEqual([id]);
    // Without a key, or with another one, a new token each time.
    expect(cli("create", "--owner", "acct_i", "--name", "ci", "--scope", "core:read").code).toBe(0);
    expect(cli("create", "--owner", "acct_i", "--name", "ci", "--scope", "core:read", "--idempotency-key", "deploy-43").code).toBe(0);
    expect(ids("acct_i")).toHaveLength(3);
  });

  it("the key with another request is refused, exit 4, IDEMPOTENCY_KEY_REUSED, and nothing is made; a malformed key is exit 2 naming the option", () => {
    cli("init");
    expect(cli("create", "--owner", "acct_r", "--name", "a", "--idempotency-key", "k1").code).toBe(0);
    const reused = cli("create", "--owner", "acct_r", "--name", "b", "--idempotency-key", "k1");
    expect([reused.code, reused.stdout]).toEqual([4, ""]);
    expect(reused.stderr).toMatch(/^keyward create: IDEMPOTENCY_KEY_REUSED: --idempotency-key .*another request.*\n$/);
    expect(JSON.parse(cli("create", "--owner", "acct_r", "--name", "b", "--idempotency-key", "k1", "--json").stderr)).toMatchObject({
      code: "IDEMPOTENCY_KEY_REUSED",
      option: "--idempotency-key",
    });
    expect(ids("acct_r")).toHaveLength(1);
    const bad = cli("create", "--owner", "acct_r", "--idempotency-key", "x".repeat(256), "--json");
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr)).toMatchObject({ code: "INVALID_INPUT", option: "--idempotency-key" });
    expect(ids("acct_r")).toHaveLength(1);
  });

  it("4 processes at once with one key on one SQLite file make one token: one prints it, the others exit 7", async () => {
    cli("init");
    const env = { PATH: process.env.PATH ?? "", KEYWARD_PREFIX: "acme" };
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        promisify(execFile)(process.execPath, [cli.bin, "create", "--owner", "acct_race", "--idempotency-key", "once"], { cwd: cli.dir, env }).then(
          (r) => ({ code: 0, stdout: r.stdout }),
          (e: { code?: number; stdout?: string }) => ({ code: e.code, stdout: e.stdout ?? "" }),
        ),
      ),
    );
    expect(runs.map((r) => r.code).sort()).toEqual([0, 7, 7, 7]);
    expect(runs.filter((r) => TOKEN.test(r.stdout))).toHaveLength(1);
    expect(ids("acct_race")).toHaveLength(1);
  });
});
