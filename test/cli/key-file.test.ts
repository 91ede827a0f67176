// sign --key-file: a key other users can read is warned about (as ssh refuses
// one), a file that cannot be read says why, and the key is never echoed.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useCli } from "./helpers.js";

const cli = useCli();
const URL = "https://api.example.com/v1/orders";
const isRoot = process.getuid?.() === 0;

describe("keyward CLI: sign --key-file", () => {
  it("a key file group or others can access is used, with a warning on stderr naming its mode and chmod 600 (JSON with --json)", () => {
    const { privateKey } = JSON.parse(cli("keygen", "--json").stdout);
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o600, 0o400]) {
      const file = `key-${mode.toString(8)}`;
      writeFileSync(join(cli.dir, file), privateKey);
      chmodSync(join(cli.dir, file), mode);
      for (const json of [[], ["--json"]]) {
        const r = cli("sign", URL, "--key-id", "tok_1", "--key-file", file, ...json);
        expect([file, r.code]).toEqual([file, 0]);
        expect(r.stdout).toContain("signature");
        const message = `--key-file ${file} can be read or changed by other users (mode 0${mode.toString(8)}; ssh refuses such a key): chmod 600 ${file}`;
        // With --json, the warning is one line of JSON too, as an error is (docs/cli.md, "Warnings").
        const warning = !(mode & 0o077)
          ? ""
          : json.length === 0
            ? `keyward sign: warning: ${message}\n`
            : `${JSON.stringify({ level: "warning", code: "KEY_FILE_PERMISSIONS", message, path: file, mode: `0${mode.toString(8)}` })}\n`;
        expect([file, json, r.stderr]).toEqual([file, json, warning]);
        expect(r.stderr).not.toContain(privateKey);
      }
    }
  });

  it("a key read from a pipe (--key-file <(…)) is not warned about", () => {
    const { privateKey } = JSON.parse(cli("keygen", "--json").stdout);
    // bash gives <(…) as /dev/fd/63, a pipe (spawnSync's own stdin is a socket, which /dev/stdin cannot reopen).
    const r = spawnSync("bash", ["--norc", "--noprofile", "-c", 'exec "$0" "$1" sign "$2" --key-id tok_1 --key-file <(printf %s "$KEY")', process.execPath, cli.bin, URL], {
      cwd: cli.dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", KEY: privateKey },
    });
    expect([r.status, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain("signature");
  });

  it("a file that cannot be read: exit 6 with the system's reason, never the file's content", () => {
    mkdirSync(join(cli.dir, "a-folder"), { recursive: true });
    const cases: [string, string][] = [
      ["nope.key", "no such file or directory (ENOENT)"],
      ["a-folder", "illegal operation on a directory (EISDIR)"],
    ];
    for (const [file, reason] of cases) {
      const r = cli("sign", URL, "--key-id", "tok_1", "--key-file", file);
      expect([r.code, r.stdout, r.stderr]).toEqual([6, "", `keyward sign: cannot read --key-file ${file}: ${reason}\n`]);
      const json = cli("sign", URL, "--key-id", "tok_1", "--key-file", file, "--json");
      expect([json.code, JSON.parse(json.stderr)]).toEqual([6, { code: "IO_ERROR", message: `cannot read --key-file ${file}: ${reason}` }]);
    }
    // Not a key: what the file holds is not shown.
    writeFileSync(join(cli.dir, "wrong.key"), "my-database-password-hunter2\n", { mode: 0o600 });
    const wrong = cli("sign", URL, "--key-id", "tok_1", "--key-file", "wrong.key");
    expect([wrong.code, wrong.stderr]).toEqual([2, "keyward sign: the signing key must be 32 bytes, base64url (see keyward keygen)\n"]);
  });

  it.skipIf(isRoot)("a file the user may not read: permission denied (EACCES)", () => {
    writeFileSync(join(cli.dir, "locked.key"), "x", { mode: 0o000 });
    const r = cli("sign", URL, "--key-id", "tok_1", "--key-file", "locked.key");
    expect([r.code, r.stderr]).toEqual([6, "keyward sign: cannot read --key-file locked.key: permission denied (EACCES)\n"]);
  });
});
