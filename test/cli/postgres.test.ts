// The CLI on PostgreSQL: `--database postgres://…` (the pg driver, an optional peer).
import { Keyward } from "keyward";
import { postgresStore } from "keyward/postgres";
import { describe, expect, it } from "vitest";
import { hasPostgres, PG_URL, testPool } from "../postgres/server.js";
import { useCli } from "./helpers.js";

describe.runIf(hasPostgres)("keyward CLI on PostgreSQL", () => {
  const cli = useCli({ KEYWARD_PREFIX: "acme" });
  const pool = testPool();

  it("init, create, list, credits, revoke against a real server; the password never printed", () => {
    const db = ["--database", PG_URL!];
    const owner = `acct_${Date.now()}`;
    const init = cli("init", ...db, "--json");
    expect(init.code).toBe(0);
    expect(init.stdout).not.toContain(":keyward@");
    const created = cli("create", ...db, "--owner", owner, "--credits", "10", "--json");
    expect(created.code).toBe(0);
    const { record } = JSON.parse(created.stdout);
    expect(JSON.parse(cli("list", ...db, "--owner", owner, "--json").stdout).items.map((r: { id: string }) => r.id)).toEqual([record.id]);
    // The PostgreSQL store has no accounts part: a token's balance is still read (through its meter).
    expect(JSON.parse(cli("credits", record.id, ...db, "--json").stdout).remaining).toBe(10);
    expect(cli("revoke", record.id, ...db).code).toBe(0);
    expect(JSON.parse(cli("show", record.id, ...db, "--json").stdout).revokedAt).not.toBeNull();
  });

  it("a revoke run by the CLI reaches a listening server at once, not at its revocation bound", async () => {
    const db = ["--database", PG_URL!];
    expect(cli("init", ...db).code).toBe(0);
    const store = await postgresStore(pool);
    const kw = new Keyward({ store, prefix: "acme", revocationBoundMs: 60_000 });
    try {
      const { token, record } = await kw.tokens.create({ owner: `acct_${Date.now()}`, kind: "secret" });
      expect((await kw.check({ token })).ok).toBe(true); // cached for up to 60 s
      expect(cli("revoke", record.id, ...db).code).toBe(0);
      const deadline = Date.now() + 5_000;
      let code: string | null = null;
      while (code !== "TOKEN_REVOKED" && Date.now() < deadline) {
        code = (await kw.check({ token })).code;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(code).toBe("TOKEN_REVOKED");
    } finally {
      await kw.close();
      await store.close();
    }
  });

  it("a wrong password is a store error with no password in it", () => {
    const wrong = PG_URL!.replace(/:[^:@/]*@/, ":not-the-password@");
    const r = cli("list", "--database", wrong, "--owner", "o");
    expect(r.code).toBe(5);
    expect(r.stderr + r.stdout).not.toContain("not-the-password");
  });
});
