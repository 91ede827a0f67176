// The CLI on PostgreSQL: `--database postgres://…` (the pg driver, an optional peer).
import { describe, expect, it } from "vitest";
import { hasPostgres, PG_URL } from "../postgres/server.js";
import { useCli } from "./helpers.js";

describe.runIf(hasPostgres)("keyward CLI on PostgreSQL", () => {
  const cli = useCli({ KEYWARD_PREFIX: "acme" });

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

  it("a wrong password is a store error with no password in it", () => {
    const wrong = PG_URL!.replace(/:[^:@/]*@/, ":not-the-password@");
    const r = cli("list", "--database", wrong, "--owner", "o");
    expect(r.code).toBe(5);
    expect(r.stderr + r.stdout).not.toContain("not-the-password");
  });
});
