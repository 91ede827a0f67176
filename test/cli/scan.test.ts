// keyward scan through the real bin: findings, redaction, .gitignore (in a
// real git repository and outside one), binaries, UTF-16, files read in
// chunks, --check-store, exit codes; progress through main().
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateToken, Keyward as KeywardClass } from "keyward";
import { describe, expect, it, onTestFinished } from "vitest";
import { main } from "../../src/cli/main.js";
import { gitFiles, lineFeeds, linePositions } from "../../src/cli/scan.js";
import { ROOT, useCli } from "./helpers.js";
import { Keyward } from "./verify-helpers.js";

const cli = useCli();
const inCI = Boolean(process.env.CI) && process.env.CI !== "false" && process.env.CI !== "0";
const gitInstalled = spawnSync("git", ["--version"]).status === 0;

function write(path: string, content: string | Uint8Array): void {
  mkdirSync(join(cli.dir, path, ".."), { recursive: true });
  writeFileSync(join(cli.dir, path), content);
}

describe("keyward scan", () => {
  it("reports well-formed tokens, redacted, honours .gitignore, skips binaries and huge files", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const publishable = generateToken({ prefix: "acme", kind: "publishable", env: "test" });
    // A look-alike: right shape, wrong checksum (last character changed).
    const lookAlike = secret.slice(0, -1) + (secret.endsWith("A") ? "B" : "A");
    write("repo/.gitignore", "ignored/\n*.log\n");
    write("repo/src/config.ts", `// settings\nexport const key = "${secret}";\n`);
    write("repo/src/web.ts", `const pk = '${publishable}'; const typo = '${lookAlike}';\n`);
    write("repo/ignored/leak.txt", secret);
    write("repo/debug.log", secret);
    write("repo/sub/.gitignore", "local.env\n");
    write("repo/sub/local.env", secret);
    write("repo/image.png", new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, ...new TextEncoder().encode(secret)]));
    write("repo/big.txt", `${"x".repeat(2000)}${secret}`);

    const r = cli("scan", "repo", "--max-bytes", "1000");
    expect(r.code).toBe(1);
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    const pk = publishable.slice(0, "acme_pk_test_".length + 4);
    expect(r.stdout).toBe(`repo/src/config.ts:2:21  ${sk}…[redacted]  secret live\nrepo/src/web.ts:1:13  ${pk}…[redacted]  publishable test\n`);
    expect(r.stderr).toBe(
      "skipped repo/big.txt: too large\nskipped repo/image.png: binary\nscanned 4 files: 2 tokens found (1 secret)\n",
    );
    for (const out of [r.stdout, r.stderr]) for (const tok of [secret, publishable]) expect(out).not.toContain(tok);

    // --no-gitignore sees the ignored files too; --json carries the same redacted forms.
    const all = JSON.parse(cli("scan", "repo", "--no-gitignore", "--max-bytes", "1000", "--json").stdout);
    expect(all.findings.map((f: { path: string }) => f.path)).toEqual([
      "repo/debug.log",
      "repo/ignored/leak.txt",
      "repo/src/config.ts",
      "repo/src/web.ts",
      "repo/sub/local.env",
    ]);
    expect(JSON.stringify(all)).not.toContain(secret);

    // Only publishable tokens: exit 0. Nothing: exit 0.
    expect(cli("scan", "repo/src/web.ts").code).toBe(0);
    write("clean/a.txt", "nothing here");
    // `-`: standard input, as the pre-commit recipe pipes the staged diff.
    const piped = cli.run(["scan", "-"], { input: `+++ b/src/config.ts\n+export const key = "${secret}";\n` });
    expect([piped.code, piped.stdout]).toEqual([1, `<stdin>:2:22  ${sk}…[redacted]  secret live\n`]);
    expect(cli.run(["scan", "-", "--max-bytes", "10"], { input: "x".repeat(11) }).code).toBe(6);
    expect(cli("scan", "clean")).toEqual({ code: 0, stdout: "", stderr: "scanned 1 files: 0 tokens found (0 secret)\n" });
  });

  it("only the argument `-` is standard input: a file named `-`, given as ./- or by its full path, is scanned", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    write("dash/-", `key=${secret}\n`);
    // Run in the folder that holds it: `./-` and the full path resolve to where `-` would.
    for (const path of ["./-", join(cli.dir, "dash", "-")]) {
      const r = spawnSync(process.execPath, [cli.bin, "scan", path], { cwd: join(cli.dir, "dash"), input: "", encoding: "utf8" });
      expect([path, r.status, r.stdout]).toEqual([path, 1, `-:1:5  ${sk}…[redacted]  secret live\n`]);
    }
  });

  it.skipIf(!gitInstalled && !inCI)("in a git work tree, scans what git would push: committed files .gitignore matches, files a nested .gitignore re-includes (skipped without git, which CI installs)", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    const git = (dir: string, ...args: string[]) => {
      const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", ...args], {
        cwd: join(cli.dir, dir),
        encoding: "utf8",
      });
      expect(r.status, r.stderr).toBe(0);
    };
    mkdirSync(join(cli.dir, "git/vendor/lib"), { recursive: true });
    git("git", "init", "-q");
    // A .env committed, then added to .gitignore (as usually happens): still in the tree.
    write("git/.env", `API_KEY=${secret}\n`);
    write("git/gone.env", `API_KEY=${secret}\n`);
    git("git", "add", ".env", "gone.env");
    git("git", "commit", "-qm", "env");
    write("git/.gitignore", ".env\n*.env\nignored/\n");
    // The root ignores *.env; a deeper .gitignore re-includes one, which git then tracks.
    write("git/deploy/.gitignore", "!prod.env\n");
    write("git/deploy/prod.env", `KEY=${secret}\n`);
    git("git", "add", ".gitignore", "deploy");
    git("git", "commit", "-qm", "deploy");
    // Tracked, then deleted from the work tree: nothing to scan, no error.
    rmSync(join(cli.dir, "git/gone.env"));
    // Untracked: ignored (by .gitignore or .git/info/exclude) or not.
    write("git/local.env", `KEY=${secret}\n`);
    write("git/ignored/leak.txt", secret);
    write("git/.git/info/exclude", "scratch.txt\n");
    write("git/scratch.txt", secret);
    write("git/notes.txt", `KEY=${secret}\n`);
    // A nested repository: its own git's view (its committed file matches its own .gitignore).
    git("git/vendor/lib", "init", "-q");
    write("git/vendor/lib/key.txt", secret);
    git("git/vendor/lib", "add", "key.txt");
    git("git/vendor/lib", "commit", "-qm", "key");
    write("git/vendor/lib/.gitignore", "key.txt\n");

    const pushed = ["git/.env", "git/deploy/prod.env", "git/notes.txt", "git/vendor/lib/key.txt"];
    const r = cli("scan", "git");
    expect([r.code, r.stderr]).toEqual([1, "scanned 7 files: 4 tokens found (4 secret)\n"]);
    expect(r.stdout.split("\n").filter(Boolean).map((l) => l.split(":")[0])).toEqual(pushed);
    expect(r.stdout).toContain(`git/.env:1:9  ${sk}…[redacted]  secret live\n`);
    // A subfolder: git's view of it. A folder git ignores, named on the command line: scanned whole.
    expect(cli("scan", "git/deploy").stdout).toBe(`git/deploy/prod.env:1:5  ${sk}…[redacted]  secret live\n`);
    expect(cli("scan", "git/ignored").stdout).toBe(`git/ignored/leak.txt:1:1  ${sk}…[redacted]  secret live\n`);

    // Without git, which alone knows what is tracked: every file, said on stderr (never fewer than git's).
    const everything = ["git/.env", "git/deploy/prod.env", "git/ignored/leak.txt", "git/local.env", "git/notes.txt", "git/scratch.txt", "git/vendor/lib/key.txt"];
    const noGit = cli.run(["scan", "git"], { env: { PATH: "/nonexistent" } });
    expect(noGit.code).toBe(1);
    expect(noGit.stdout.split("\n").filter(Boolean).map((l) => l.split(":")[0])).toEqual(everything);
    expect(noGit.stderr).toBe(
      "keyward scan: warning: git is not installed: scanning every file in git, .gitignore not applied\nscanned 10 files: 7 tokens found (7 secret)\n",
    );
    // With --json, that warning is a line of JSON on stderr, with a code.
    const noGitJson = cli.run(["scan", "git", "--json"], { env: { PATH: "/nonexistent" } });
    expect([noGitJson.code, JSON.parse(noGitJson.stdout).findings.length]).toEqual([1, 7]);
    expect(noGitJson.stderr.split("\n").map((l) => (l === "" ? l : JSON.parse(l)))).toEqual([
      { level: "warning", code: "GITIGNORE_NOT_APPLIED", message: "git is not installed: scanning every file in git, .gitignore not applied", path: "git", reason: "git is not installed" },
      "",
    ]);
    // --no-gitignore: every file too, git or not.
    expect(JSON.parse(cli("scan", "git", "--no-gitignore", "--json").stdout).findings.map((f: { path: string }) => f.path)).toEqual(everything);

    // Outside git, the .gitignore files as git reads them: the deepest rule for a path decides, a `!` re-includes.
    write("plain/.gitignore", "*.env\nbuild/\n*.log\n");
    write("plain/a.env", secret);
    write("plain/deploy/.gitignore", "!prod.env\n!build/\n");
    write("plain/deploy/prod.env", secret);
    write("plain/deploy/staging.env", secret);
    write("plain/deploy/build/out.txt", secret);
    write("plain/build/out.txt", secret);
    const plain = cli("scan", "plain", "--json");
    expect(JSON.parse(plain.stdout).findings.map((f: { path: string }) => f.path)).toEqual(["plain/deploy/build/out.txt", "plain/deploy/prod.env"]);
  });

  it.skipIf(!gitInstalled && !inCI)("a clone whose submodule is not checked out, a worktree inside the tree: each folder scanned once, no loop", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const git = (dir: string, ...args: string[]) => {
      const r = spawnSync(
        "git",
        ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "protocol.file.allow=always", ...args],
        { cwd: join(cli.dir, dir), encoding: "utf8" },
      );
      expect(r.status, r.stderr).toBe(0);
    };
    mkdirSync(join(cli.dir, "sm/lib"), { recursive: true });
    mkdirSync(join(cli.dir, "sm/app"), { recursive: true });
    write("sm/lib/key.txt", `KEY=${secret}\n`);
    git("sm/lib", "init", "-q");
    git("sm/lib", "add", "key.txt");
    git("sm/lib", "commit", "-qm", "lib");
    git("sm/app", "init", "-q");
    write("sm/app/app.env", `KEY=${secret}\n`);
    git("sm/app", "submodule", "add", "-q", "../lib", "vendor/lib");
    git("sm/app", "add", "app.env");
    git("sm/app", "commit", "-qm", "app");
    // A fresh clone, as actions/checkout makes it: the submodule's folder is there, empty, without a `.git`.
    git("sm", "clone", "-q", "app", "clone");
    const r = cli("scan", "sm/clone");
    expect([r.code, r.stdout.split("\n").filter(Boolean).map((l) => l.split(":")[0])]).toEqual([1, ["sm/clone/app.env"]]);
    expect(r.stderr).toBe("scanned 2 files: 1 tokens found (1 secret)\n");
    expect(cli("scan", "sm/clone/vendor/lib")).toEqual({ code: 0, stdout: "", stderr: "scanned 0 files: 0 tokens found (0 secret)\n" });
    // Checked out, the submodule is scanned as its own git sees it.
    git("sm/clone", "submodule", "update", "-q", "--init");
    expect(cli("scan", "sm/clone").stdout.split("\n").filter(Boolean).map((l) => l.split(":")[0])).toEqual(["sm/clone/app.env", "sm/clone/vendor/lib/key.txt"]);
    // A worktree inside the main tree (untracked there, so a nested repository), its submodule not checked out.
    git("sm/app", "worktree", "add", "-q", "wt");
    const wt = cli("scan", "sm/app", "--json");
    expect(wt.code).toBe(1);
    expect(JSON.parse(wt.stdout).findings.map((f: { path: string }) => f.path)).toEqual(["sm/app/app.env", "sm/app/vendor/lib/key.txt", "sm/app/wt/app.env"]);
  });

  it.skipIf(!gitInstalled && !inCI)("a folder from elsewhere (an archive, a clone) runs none of its repository's commands: core.fsmonitor is not run", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const git = (...args: string[]) => {
      const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", ...args], { cwd: join(cli.dir, "untrusted"), encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    };
    write("untrusted/key.env", `KEY=${secret}\n`);
    git("init", "-q");
    git("add", "key.env");
    git("commit", "-qm", "key");
    // What an archive's .git/config may say: git runs the "fsmonitor" for any command that reads the index.
    const marker = join(cli.dir, "fsmonitor-ran");
    git("config", "core.fsmonitor", `touch '${marker}'; false`);
    const r = cli("scan", "untrusted");
    expect([r.code, r.stdout.split(":")[0]]).toEqual([1, "untrusted/key.env"]);
    expect(existsSync(marker)).toBe(false);
  });

  it.skipIf(!gitInstalled && !inCI)("a folder from elsewhere runs none of its repository's commands: no lazy fetch, whose upload-pack its config names", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const git = (...args: string[]) => {
      const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", ...args], { cwd: join(cli.dir, "partial"), encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout;
    };
    write("partial/key.env", `KEY=${secret}\n`);
    write("partial/far/away.txt", "clean\n");
    git("init", "-q");
    git("add", ".");
    git("commit", "-qm", "c");
    // A sparse index names the folder not checked out by its tree; the tree is gone, as in a partial clone.
    git("sparse-checkout", "set", "--cone", "near");
    git("config", "index.sparse", "true");
    git("sparse-checkout", "reapply");
    const tree = git("rev-parse", "HEAD:far").trim();
    rmSync(join(cli.dir, "partial/.git/objects", tree.slice(0, 2), tree.slice(2)));
    // Its promisor remote: git fetches what is missing from it, running the upload-pack its config names.
    // protocol.file.allow=always: a repository's own config cannot turn the refusal off.
    const marker = join(cli.dir, "upload-pack-ran");
    git("config", "remote.origin.url", join(cli.dir, "nowhere"));
    git("config", "remote.origin.promisor", "true");
    git("config", "remote.origin.uploadpack", `touch '${marker}'; false`);
    git("config", "protocol.file.allow", "always");
    const r = cli("scan", "partial");
    expect([r.code, r.stdout.split(":")[0]]).toEqual([1, "partial/key.env"]);
    expect(existsSync(marker)).toBe(false);
  });

  it.skipIf(!gitInstalled && !inCI)("git held for good by a folder's repository (a FIFO its config includes, or its .gitignore) is given up: the folder is then scanned whole", () => {
    for (const [name, fifo, config] of [
      ["included", ".git/more", ["include.path", "more"]],
      ["fifoignore", ".gitignore", null],
    ] as const) {
      const dir = join(cli.dir, name);
      mkdirSync(dir, { recursive: true });
      expect(spawnSync("git", ["init", "-q"], { cwd: dir }).status).toBe(0);
      if (config) expect(spawnSync("git", ["config", ...config], { cwd: dir }).status).toBe(0);
      expect(spawnSync("mkfifo", [join(dir, fifo)]).status).toBe(0);
      // Before, git waited on the FIFO for a writer, and the scan with it, for good.
      const since = performance.now();
      expect(gitFiles(dir, { PATH: process.env.PATH }, 500)).toEqual({ error: "git did not answer within 0.5 s" });
      expect(performance.now() - since).toBeLessThan(5_000);
    }
  });

  it.skipIf(!gitInstalled && !inCI)("in a git work tree, a tracked file behind a folder turned into a symbolic link is not read: nothing outside the tree", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const git = (...args: string[]) => {
      const r = spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", ...args], { cwd: join(cli.dir, "linked"), encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    };
    write("linked/conf/app.txt", "clean\n");
    write("linked/top.txt", "clean\n");
    git("init", "-q");
    git("add", ".");
    git("commit", "-qm", "conf");
    // git still lists conf/app.txt (its index says so); on disk, conf now leads out of the tree.
    write("elsewhere/app.txt", `KEY=${secret}\n`);
    rmSync(join(cli.dir, "linked/conf"), { recursive: true });
    symlinkSync(join(cli.dir, "elsewhere"), join(cli.dir, "linked/conf"));
    expect(cli("scan", "linked")).toEqual({ code: 0, stdout: "", stderr: "scanned 1 files: 0 tokens found (0 secret)\n" });
  });

  it("scans a file whose name is not UTF-8 (Latin-1 `café.env`), in a folder and in a git work tree", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    mkdirSync(join(cli.dir, "latin1/sub"), { recursive: true });
    // é as Latin-1 writes it, one byte (0xe9): not UTF-8.
    writeFileSync(Buffer.concat([Buffer.from(join(cli.dir, "latin1/sub/caf")), Buffer.from([0xe9]), Buffer.from(".env")]), `KEY=${secret}\n`);
    const found = { code: 1, stdout: `latin1/sub/caf\u{fffd}.env:1:5  ${sk}…[redacted]  secret live\n`, stderr: "scanned 1 files: 1 tokens found (1 secret)\n" };
    expect(cli("scan", "latin1")).toEqual(found);
    if (!gitInstalled) return;
    for (const args of [["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", "commit", "-qm", "c"]]) {
      expect(spawnSync("git", args, { cwd: join(cli.dir, "latin1") }).status).toBe(0);
    }
    expect(cli("scan", "latin1")).toEqual(found);
  });

  it("a FIFO or a device in a folder is passed over (no hang); one named on the command line, as `<(command)` gives it, is read as a file", async () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    write("pipes/a.txt", "clean\n");
    expect(spawnSync("mkfifo", [join(cli.dir, "pipes/fifo")]).status).toBe(0);
    symlinkSync("/dev/zero", join(cli.dir, "pipes/zero"));
    expect(cli("scan", "pipes")).toEqual({ code: 0, stdout: "", stderr: "scanned 1 files: 0 tokens found (0 secret)\n" });
    // A writer in another process, as the shell runs the command of `keyward scan <(git log -p)`.
    const writer = spawn("sh", ["-c", `printf 'KEY=%s\\n' '${secret}' > pipes/fifo`], { cwd: cli.dir });
    const written = new Promise((done) => writer.on("close", done));
    const r = cli("scan", "pipes/fifo");
    writer.kill("SIGKILL"); // still waiting for a reader, when the scan did not read it
    await written;
    expect(r).toEqual({ code: 1, stdout: `pipes/fifo:1:5  ${sk}…[redacted]  secret live\n`, stderr: "scanned 1 files: 1 tokens found (1 secret)\n" });
  });

  it("paths given twice or overlapping (a folder and a folder or file in it, a link to a file) report each file once, at the first path that reaches it, in text and --json", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const publishable = generateToken({ prefix: "acme", kind: "publishable", env: "live" });
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    const pk = publishable.slice(0, "acme_pk_live_".length + 4);
    write("twice/b.env", publishable);
    write("twice/src/a.env", `KEY=${secret}\n`);
    write("twice/src/data.bin", new Uint8Array([0, 1, 2]));
    symlinkSync("src/a.env", join(cli.dir, "twice/link.env"));
    const paths = ["twice", "twice/src/a.env", "twice", "twice/src", "twice/link.env", "twice/src/../src/a.env"];
    // Before: each finding once per path that reached its file (four times for a.env).
    expect(cli("scan", ...paths)).toEqual({
      code: 1,
      stdout: `twice/b.env:1:1  ${pk}…[redacted]  publishable live\ntwice/src/a.env:1:5  ${sk}…[redacted]  secret live\n`,
      stderr: "skipped twice/src/data.bin: binary\nscanned 2 files: 2 tokens found (1 secret)\n",
    });
    const out = JSON.parse(cli("scan", ...paths, "--json").stdout);
    expect(out.findings.map((f: { path: string }) => f.path)).toEqual(["twice/b.env", "twice/src/a.env"]);
    expect([out.scanned, out.skipped]).toEqual([2, [{ path: "twice/src/data.bin", reason: "binary" }]]);
  });

  it("prints each finding as it is found, in text and --json (one JSON document, valid even when the scan then fails)", async () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    const fifo = join(cli.dir, "stream.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    for (const args of [[], ["--json"]]) {
      // The scan reads the FIFO, whose writer (this test) holds it open after the first token: the scan is not over.
      const scan = spawn(process.execPath, [cli.bin, "scan", "stream.fifo", ...args], { cwd: cli.dir });
      let stdout = "";
      scan.stdout.setEncoding("utf8").on("data", (text: string) => {
        stdout += text;
      });
      const exited = new Promise<number | null>((done) => scan.on("close", done));
      onTestFinished(() => void scan.kill());
      const { createWriteStream } = await import("node:fs");
      const writer = createWriteStream(fifo);
      writer.write(`KEY=${secret}\n${"x".repeat(2 * 1024 * 1024)}\n`);
      // Before: nothing was printed until every file was read.
      const deadline = Date.now() + 10_000;
      while (!stdout.includes(`${sk}…[redacted]`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(stdout).toContain(`${sk}…[redacted]`);
      expect(scan.exitCode).toBe(null);
      writer.end(`OTHER=${secret}\n`);
      expect(await exited).toBe(1);
      if (args.length === 0) expect(stdout).toBe(`stream.fifo:1:5  ${sk}…[redacted]  secret live\nstream.fifo:3:7  ${sk}…[redacted]  secret live\n`);
      else expect(JSON.parse(stdout).findings.map((f: { line: number }) => f.line)).toEqual([1, 3]);
      expect(stdout).not.toContain(secret);
    }
    // A binary file named after a file with a token: exit 6, and stdout is one JSON document all the same, with what was found.
    write("then-binary/a.env", `KEY=${secret}\n`);
    write("then-binary/b.bin", new Uint8Array([0, 1, 2]));
    const failed = cli("scan", "then-binary/a.env", "then-binary/b.bin", "--json");
    expect(failed.code).toBe(6);
    expect(JSON.parse(failed.stdout)).toEqual({
      findings: [{ path: "then-binary/a.env", line: 1, column: 5, token: `${sk}…[redacted]`, prefix: "acme", kind: "secret", env: "live" }],
      scanned: 1,
      skipped: [],
      unreadable: [],
    });
    expect(JSON.parse(failed.stderr)).toMatchObject({ code: "IO_ERROR" });
  });

  it("a FIFO named .gitignore (outside git) is no rules, not waited on: before, the scan hung on it for good", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    write("piped/sub/key.env", `KEY=${secret}\n`);
    expect(spawnSync("mkfifo", [join(cli.dir, "piped/sub/.gitignore")]).status).toBe(0);
    // A link to one too (read through, as git's rules outside git are).
    symlinkSync(join(cli.dir, "piped/sub/.gitignore"), join(cli.dir, "piped/.gitignore"));
    const r = cli("scan", "piped");
    expect([r.code, r.stdout.split(":")[0], r.stderr]).toEqual([1, "piped/sub/key.env", "scanned 1 files: 1 tokens found (1 secret)\n"]);
  });

  it.skipIf(!gitInstalled && !inCI)("--staged, the pre-commit hook: scans the staged content of each file the commit adds or changes, whole, as files are read", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    const repo = join(cli.dir, "hooked");
    mkdirSync(join(repo, "src"), { recursive: true });
    const git = (...args: string[]) =>
      spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", ...args], {
        cwd: repo,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "" },
      });
    const commit = (...args: string[]) => {
      const r = git("commit", "-qm", "c", ...args);
      return { code: r.status, stderr: r.stderr };
    };
    expect(git("init", "-q").status).toBe(0);
    // The hook as docs/cli.md gives it, run with the bin under test.
    const hook = /### Pre-commit hook[\s\S]*?```sh\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, "docs/cli.md"), "utf8"))![1]!;
    expect(hook).toBe("#!/bin/sh\nexec npx --no-install keyward scan --staged\n");
    writeFileSync(join(repo, ".git/hooks/pre-commit"), hook.replace("npx --no-install keyward", `"${process.execPath}" "${join(cli.dir, "cli.mjs")}"`), { mode: 0o755 });
    const put = (path: string, content: string | Uint8Array) => writeFileSync(join(repo, path), content);

    // The first commit (no HEAD yet) with a secret: blocked, at the staged path, line and column.
    put("src/config.ts", `// settings\nexport const key = "${secret}";\n`);
    put("README.md", "hello\n");
    git("add", ".");
    expect(commit()).toEqual({ code: 1, stderr: `src/config.ts:2:21  ${sk}…[redacted]  secret live\nscanned 2 files: 1 tokens found (1 secret)\n` });
    // The staged content, not the work tree's: the file fixed but not staged is still blocked.
    put("src/config.ts", "export const key = process.env.KEY;\n");
    expect(commit().code).toBe(1);
    expect(commit("--no-verify").code).toBe(0);
    // Removing the secret commits: a deleted line, a deleted file, are not scanned.
    git("add", "src/config.ts");
    expect(commit()).toEqual({ code: 0, stderr: "scanned 1 files: 0 tokens found (0 secret)\n" });
    put("leaked.env", `KEY=${secret}\n`);
    git("add", "leaked.env");
    expect(commit("--no-verify").code).toBe(0);
    git("rm", "-q", "leaked.env");
    expect(commit()).toEqual({ code: 0, stderr: "scanned 0 files: 0 tokens found (0 secret)\n" });
    // A file the commit changes is scanned whole: a secret committed earlier in it still blocks.
    put("old.env", `KEY=${secret}\nA=1\n`);
    git("add", "old.env");
    expect(commit("--no-verify").code).toBe(0);
    put("old.env", `KEY=${secret}\nA=2\n`);
    expect(commit("-a")).toMatchObject({ code: 1, stderr: expect.stringContaining(`old.env:1:5  ${sk}…[redacted]`) });
    git("checkout", "-q", "old.env");
    // UTF-16, which git's diff shows as binary: decoded, blocked.
    put("ps.env", Buffer.from(`\ufeffKEY=${secret}\r\n`, "utf16le"));
    git("add", "ps.env");
    expect(commit()).toMatchObject({ code: 1, stderr: expect.stringContaining(`ps.env:1:5  ${sk}…[redacted]  secret live\n`) });
    git("rm", "-q", "--cached", "ps.env");
    // A binary file (a NUL byte) is skipped, and said so: it does not block the commit.
    put("data.bin", new Uint8Array([1, 0, 2, ...new TextEncoder().encode(secret)]));
    git("add", "data.bin");
    expect(commit()).toEqual({ code: 0, stderr: "skipped data.bin: binary\nscanned 0 files: 0 tokens found (0 secret)\n" });

    // Run by hand: paths relative to the working folder; no path with --staged; outside git, exit 6.
    // A staged file read in chunks (3 MiB), the next one after it.
    put("src/big.txt", `${`${"x".repeat(1023)}\n`.repeat(3 * 1024)}KEY=${secret}\n`);
    put("src/new.env", `KEY=${secret}\n`);
    git("add", "src");
    const inSrc = spawnSync(process.execPath, [join(cli.dir, "cli.mjs"), "scan", "--staged", "--json"], { cwd: join(repo, "src"), encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    expect(inSrc.status).toBe(1);
    expect(JSON.parse(inSrc.stdout).findings.map((f: { path: string; line: number }) => `${f.path}:${f.line}`)).toEqual(["big.txt:3073", "new.env:1"]);
    expect(cli("scan", "--staged", "hooked")).toEqual({ code: 2, stdout: "", stderr: "keyward scan: --staged scans what is staged: no path\n" });
    mkdirSync(join(cli.dir, "no-git"));
    const outside = cli.run(["scan", "--staged"], { env: { GIT_CEILING_DIRECTORIES: cli.dir } });
    expect(outside).toMatchObject({ code: 6, stderr: expect.stringMatching(/^keyward scan: cannot read the staged files: git failed: fatal: not a git repository/) });
  });

  it("gives the line and column of every token in a file of many, on one line or many", () => {
    const tokens = Array.from({ length: 2000 }, (_, i) => generateToken({ prefix: "acme", kind: "publishable", env: i % 2 ? "live" : "test" }));
    // One per line (LF or CRLF), then a thousand on one line.
    const text = `${tokens.slice(0, 1000).map((t, i) => `k${i}=${t}${i % 3 ? "\n" : "\r\n"}`).join("")}${tokens.slice(1000).join(" ")}\n`;
    write("many-tokens/a.txt", text);
    const r = cli("scan", "many-tokens", "--json");
    expect(r.code, r.stderr).toBe(0);
    const expected = tokens.map((t) => {
      const before = text.slice(0, text.indexOf(t));
      return { line: before.split("\n").length, column: before.length - before.lastIndexOf("\n") };
    });
    expect(JSON.parse(r.stdout).findings.map((f: { line: number; column: number }) => ({ line: f.line, column: f.column }))).toEqual(expected);
  });

  it("reads text of any size, UTF-8 or UTF-16, in chunks: a token across two chunks is found once, at its line and column", () => {
    const CHUNK = 1024 * 1024;
    const token = () => generateToken({ prefix: "acme", kind: "secret", env: "live" });
    // Tokens ending before, across and just after the 1 MiB chunk boundaries, among long and short lines.
    const places = [-200, -70, -62, -61, -40, -1, 0, 1, 30, CHUNK - 31, CHUNK + 5];
    const textWith = (boundary: number, unit: number) => {
      let text = "";
      const tokens: string[] = [];
      for (const at of places) {
        const target = Math.floor((boundary + at) / unit);
        const gap = target - text.length;
        text += gap > 1 ? `${"x".repeat(gap - 1)}\n` : "";
        tokens.push(token());
        text += tokens.at(-1);
      }
      return { text: `${text}\n`, tokens };
    };
    const positions = (text: string, tokens: string[]) =>
      tokens.map((t) => {
        const before = text.slice(0, text.indexOf(t));
        return { line: before.split("\n").length, column: before.length - before.lastIndexOf("\n") };
      });
    const utf16 = (text: string, bom: boolean, be = false) => {
      const le = Buffer.from(`${bom ? "\ufeff" : ""}${text}`, "utf16le");
      return be ? le.swap16() : le;
    };
    const check = (name: string, bytes: Uint8Array, text: string, tokens: string[]) => {
      write(`chunks/${name}`, bytes);
      const r = cli("scan", `chunks/${name}`, "--json");
      expect(r.code, r.stderr).toBe(1);
      const found = JSON.parse(r.stdout).findings.map((f: { line: number; column: number; token: string }) => ({ line: f.line, column: f.column, token: f.token }));
      expect(found).toEqual(positions(text, tokens).map((p, i) => ({ ...p, token: `${tokens[i]!.slice(0, 17)}…[redacted]` })));
    };
    // No size limit unless --max-bytes is given: a 6 MB log in a folder is scanned, not skipped.
    const late = token();
    write("huge/big.log", `${" ".repeat(6_000_000)}KEY=${late}\n`);
    expect(cli("scan", "huge")).toEqual({
      code: 1,
      stdout: `huge/big.log:1:6000005  ${late.slice(0, 17)}…[redacted]  secret live\n`,
      stderr: "scanned 1 files: 1 tokens found (1 secret)\n",
    });
    // UTF-8, over 2 MiB: two boundaries.
    const utf8 = textWith(CHUNK, 1);
    check("utf8.log", Buffer.from(utf8.text), utf8.text, utf8.tokens);
    // A two-byte character cut by the boundary, right before a token on the same line: columns in UTF-16 units.
    const cut = `${"x".repeat(CHUNK - 1)}é${token()}\n`;
    check("cut.log", Buffer.from(cut), cut, [cut.slice(CHUNK)].map((t) => t.trim()));
    // UTF-16: little-endian with a byte order mark (PowerShell 5), big-endian with one, little-endian without (iconv).
    const le = textWith(CHUNK - 2, 2);
    check("bom-le.txt", utf16(le.text, true), le.text, le.tokens);
    check("bom-be.txt", utf16(le.text, true, true), le.text, le.tokens);
    const raw = textWith(CHUNK, 2);
    check("raw-le.txt", utf16(raw.text, false), raw.text, raw.tokens);
    // A small UTF-16 file in a folder is scanned, not skipped as binary.
    const secret = token();
    write("utf16/secrets.ps1.txt", utf16(`API_KEY=${secret}\r\n`, true));
    expect(cli("scan", "utf16").stdout).toBe(`utf16/secrets.ps1.txt:1:9  ${secret.slice(0, 17)}…[redacted]  secret live\n`);
    // Standard input is read in chunks too, with no limit unless --max-bytes is given.
    const piped = cli.run(["scan", "-", "--json"], { input: utf8.text });
    expect(JSON.parse(piped.stdout).findings.map((f: { line: number; column: number }) => ({ line: f.line, column: f.column }))).toEqual(
      positions(utf8.text, utf8.tokens),
    );
  });

  it("reads each line feed once to place the tokens, however many there are (no work per token over the text before it)", () => {
    const counted = (text: string) => {
      const feeds = lineFeeds(text);
      let pulled = 0;
      const next = () => {
        pulled++;
        return feeds.next();
      };
      return { feeds: { next }, pulled: () => pulled };
    };
    // 100 000 offsets on the last of 100 000 lines: each line feed is pulled once, not once per offset.
    const lines = "x\n".repeat(100_000);
    const offsets = Array.from({ length: 100_000 }, (_, i) => lines.length + i);
    const many = counted(`${lines}${"y".repeat(100_000)}`);
    const positions = [...linePositions(many.feeds, offsets)];
    expect(many.pulled()).toBe(100_001);
    expect([positions[0], positions.at(-1)]).toEqual([{ line: 100_001, column: 1 }, { line: 100_001, column: 100_000 }]);
    // Offsets on one long line: one line feed is looked for, whatever the number of offsets.
    const one = counted(`${"y".repeat(100_000)}\nz\n`);
    expect([...linePositions(one.feeds, offsets.map((o) => o - lines.length))].at(-1)).toEqual({ line: 1, column: 100_000 });
    expect(one.pulled()).toBe(1);
  });

  it("--check-store says live, revoked, disabled, expired or unknown; an old secret the store no longer holds is unknown", async () => {
    expect(cli("init").code).toBe(0);
    const { store, kw } = await Keyward.open(join(cli.dir, "keyward.db"), "acme");
    const live = (await kw.tokens.create({ owner: "a", kind: "secret" })).token;
    const gone = await kw.tokens.create({ owner: "a", kind: "secret" });
    await kw.tokens.revoke(gone.record.id);
    const rotated = await kw.tokens.create({ owner: "a", kind: "secret" });
    // The old secret of a rotation still works during its grace period.
    await kw.tokens.regenerate(rotated.record.id, { graceMs: 3_600_000 });
    const disabled = await kw.tokens.create({ owner: "a", kind: "secret" });
    await kw.tokens.disable(disabled.record.id);
    // Created by a clock two days back, expired a day ago.
    const past = new KeywardClass({ store, prefix: "acme", now: () => Date.now() - 2 * 86_400_000 });
    const expired = (await past.tokens.create({ owner: "a", kind: "secret", expiresAt: Date.now() - 86_400_000 })).token;
    // Rotated out two days back with a day's grace: past its grace period, still held: revoked.
    const pastGrace = await past.tokens.create({ owner: "a", kind: "secret" });
    await past.tokens.regenerate(pastGrace.record.id, { graceMs: 86_400_000 });
    await past.close();
    // Rotated out without a grace period (the default): the store drops its hash at once.
    const dropped = await kw.tokens.create({ owner: "a", kind: "secret" });
    await kw.tokens.regenerate(dropped.record.id);
    await store.close();
    const unknown = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    write("check/a.env", `A=${live}\nB=${gone.token}\nC=${unknown}\nD=${rotated.token}\nE=${disabled.token}\nF=${expired}\nG=${pastGrace.token}\nH=${dropped.token}\n`);
    const r = cli("scan", "check", "--check-store", "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).findings.map((f: { status: string }) => f.status)).toEqual(["live", "revoked", "unknown", "live", "disabled", "expired", "revoked", "unknown"]);
    expect(cli("scan", "check", "--check-store").stdout.split("\n")[0]).toMatch(/secret live {2}live$/);
  });

  it("prints every path escaped and redacted, in findings, skipped files and JSON alike", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const body = secret.slice("acme_sk_live_".length);
    // File names that set the terminal's title, clear the screen, or are a token.
    write("names/evil\u001b]0;pwned\u0007kw_sk_live_AAAAA.bin", new Uint8Array([0x61, 0, 0x62]));
    write(`names/${secret}.env`, `KEY=${secret}\n`);
    write("names/x\u001b[2J\u202e.txt", `KEY=${secret}\n`);
    const r = cli("scan", "names");
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    expect([r.code, r.stdout]).toEqual([
      1,
      `names/acme_sk_live_[redacted].env:1:5  ${sk}…[redacted]  secret live\nnames/x\\u{1b}[2J\\u{202e}.txt:1:5  ${sk}…[redacted]  secret live\n`,
    ]);
    expect(r.stderr).toBe("skipped names/evil\\u{1b}]0;pwned\\u{7}kw_sk_live_[redacted].bin: binary\nscanned 2 files: 2 tokens found (2 secret)\n");
    const json = cli("scan", "names", "--json").stdout;
    expect(JSON.parse(json)).toMatchObject({
      findings: [{ path: "names/acme_sk_live_[redacted].env" }, { path: "names/x\\u{1b}[2J\\u{202e}.txt" }],
      skipped: [{ path: "names/evil\\u{1b}]0;pwned\\u{7}kw_sk_live_[redacted].bin", reason: "binary" }],
    });
    for (const out of [r.stdout, r.stderr, json]) {
      expect(out).not.toMatch(/[\u0007\u001b\u202e]|\\u001b|\\u0007|AAAA/);
      expect(out).not.toContain(body.slice(0, 8));
    }
  });

  it("a missing path, an unreadable folder, a binary or huge file named on the command line: exit 6", () => {
    expect(cli("scan", "nope")).toEqual({ code: 6, stdout: "", stderr: "keyward scan: cannot read nope: no such file or directory (ENOENT)\n" });
    write("one/bin.dat", new Uint8Array([1, 0, 2]));
    expect(cli("scan", "one/bin.dat").stderr).toBe("keyward scan: cannot scan one/bin.dat: binary\n");
    write("one/huge.txt", "y".repeat(50));
    const huge = cli("scan", "one/huge.txt", "--max-bytes", "10");
    expect([huge.code, huge.stderr]).toEqual([6, "keyward scan: cannot scan one/huge.txt: larger than 10 bytes (see --max-bytes)\n"]);
    expect(cli("scan", "one", "--max-bytes", "lots").code).toBe(2);
    expect(cli("scan", "check", "--check-store", "--database", "missing.db").code).toBe(5);
  });

  it.skipIf(process.getuid?.() === 0)("an unreadable folder or file is listed and the scan goes on; then exit 6 (1 when a secret is found): a scan that could not read the tree does not pass", () => {
    const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
    const sk = secret.slice(0, "acme_sk_live_".length + 4);
    write("locked/inner/a.txt", "x");
    write("locked/b.txt", "clean");
    write("locked/c.txt", "x");
    write("locked/d.txt", "clean");
    chmodSync(join(cli.dir, "locked/inner"), 0o000);
    chmodSync(join(cli.dir, "locked/c.txt"), 0o000);
    try {
      expect(cli("scan", "locked")).toEqual({
        code: 6,
        stdout: "",
        stderr: "cannot read locked/c.txt: permission denied (EACCES)\ncannot read locked/inner: permission denied (EACCES)\nscanned 2 files: 0 tokens found (0 secret), 2 unreadable\n",
      });
      // A file named on the command line too; the files after it are scanned, and a secret found is exit 1.
      write("locked/e.txt", `KEY=${secret}\n`);
      const r = cli("scan", "locked/c.txt", "locked/e.txt", "--json");
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toEqual({
        findings: [{ path: "locked/e.txt", line: 1, column: 5, token: `${sk}…[redacted]`, prefix: "acme", kind: "secret", env: "live" }],
        scanned: 1,
        skipped: [],
        unreadable: [{ path: "locked/c.txt", reason: "permission denied (EACCES)" }],
      });
    } finally {
      chmodSync(join(cli.dir, "locked/inner"), 0o755);
      chmodSync(join(cli.dir, "locked/c.txt"), 0o644);
    }
  });

  it("shows progress on stderr on a terminal only, every 500 files", async () => {
    for (let i = 0; i < 1100; i++) write(`many/f${i}.txt`, "ok");
    const run = async (errIsTTY: boolean) => {
      const err: string[] = [];
      const code = await main(["scan", "many"], { out: () => {}, err: (s) => void err.push(s), errIsTTY, env: {}, cwd: cli.dir });
      return { code, err };
    };
    const tty = await run(true);
    expect(tty.code).toBe(0);
    expect(tty.err).toEqual(["\rscanned 500 files", "\rscanned 1000 files", "\n", "scanned 1100 files: 0 tokens found (0 secret)\n"]);
    expect((await run(false)).err).toEqual(["scanned 1100 files: 0 tokens found (0 secret)\n"]);
    // A finding, printed as it is found, erases the progress line first: on a terminal, it does not run into it.
    write("many/z.env", generateToken({ prefix: "acme", kind: "secret", env: "live" }));
    const lines: string[] = [];
    const code = await main(["scan", "many"], { out: (s) => void lines.push(`out ${s}`), err: (s) => void lines.push(s), errIsTTY: true, env: {}, cwd: cli.dir });
    expect(code).toBe(1);
    expect(lines).toEqual(["\rscanned 500 files", "\rscanned 1000 files", "\r\x1b[K", expect.stringMatching(/^out many\/z\.env:1:1 /), "scanned 1101 files: 1 tokens found (1 secret)\n"]);
  });
});
