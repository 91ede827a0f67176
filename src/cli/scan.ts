// keyward scan: finds keyward tokens in files and folders (findTokens: the
// checksum rules out look-alikes), in what git would push (.gitignore as git
// reads it) or in what is staged for a commit, reads files of any size in
// chunks, skips binaries, and prints only redacted forms, each as it is found.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ignore, { type Ignore } from "ignore";
import { findTokens, type GuardedStore, guardStore, hashToken, policyAt } from "../index.js";
import { MAX_TOKEN_LENGTH } from "../token/format.js";
import { COMMON, type Command, type CommandContext, parseCount, STORE_OPTIONS } from "./command.js";
import { CliError, EXIT, type Io, type JsonStream, jsonStream, line, reportWarning, shownPath, systemReason } from "./io.js";
import { type OpenedStore, openStore } from "./store.js";
import { statusOf, type TokenStatus } from "./tokens.js";

/** Bytes read at a time: a file of any size is scanned in this much memory. */
const CHUNK_BYTES = 1024 * 1024;
// Git's own test: a NUL byte in the first 8 000 bytes makes a file binary.
const BINARY_SNIFF_BYTES = 8000;
const PROGRESS_EVERY = 500;
/** Findings printed between two waits for stdout to take them: what a slow reader leaves buffered. */
const FLUSH_EVERY = 1000;

interface Finding {
  path: string;
  line: number;
  column: number;
  /** `acme_sk_live_abcd…[redacted]`: the token's start, never the whole. */
  token: string;
  prefix: string;
  kind: "publishable" | "secret";
  env: "live" | "test";
  /** With --check-store: `live` (works now), why it does not, or `unknown` (not in the store). */
  status?: "live" | Exclude<TokenStatus, "active"> | "unknown";
}

/** Why a file was not scanned: not text, or over `--max-bytes`. */
type Skip = "binary" | "too large";

interface ScanState {
  /** Prints a finding as soon as it is found (its status first, with --check-store): none is kept. */
  found: (finding: Finding, token: string) => Promise<void>;
  /** Tokens found, and how many of them secret. */
  tokens: number;
  secrets: number;
  scanned: number;
  skipped: { path: string; reason: Skip }[];
  /** Files and folders that could not be read, and why: the scan goes on, and does not pass. */
  unreadable: { path: string; reason: string }[];
  /** The buffer every file is read through. */
  chunk: Buffer;
  /** The real path of every file read: one that two paths given reach (`scan . .`, a link) is scanned once. */
  files: Set<string>;
}

export const scan: Command = {
  summary: "Find keyward tokens in files and folders, or in what is staged for a commit; exit 1 when a secret token is found.",
  args: "[path…]",
  options: {
    staged: { type: "boolean", description: "scan the files the next commit adds or changes, as staged (the pre-commit hook)" },
    "check-store": { type: "boolean", description: "say whether each token found is live, revoked, disabled, expired or unknown" },
    "max-bytes": { type: "string", value: "n", description: "skip larger files (default: none, every file is scanned whole)" },
    "no-gitignore": { type: "boolean", description: "scan files that .gitignore excludes too" },
    ...STORE_OPTIONS,
    ...COMMON,
  },
  run: async (ctx) => {
    const maxBytes = typeof ctx.values["max-bytes"] === "string" ? parseCount(ctx.values["max-bytes"], "max-bytes") : null;
    const out = ctx.values.json === true ? jsonStream(ctx.io, "findings") : null;
    const status = ctx.values["check-store"] === true ? storeStatus(ctx) : null;
    let unflushed = 0;
    // A progress line on stderr (a terminal) ends with no line feed: erased before a finding, so as not to run into it.
    let progressShown = false;
    const found = async (finding: Finding, token: string) => {
      if (status) finding.status = await status.of(token);
      if (progressShown) ctx.io.err("\r\x1b[K");
      progressShown = false;
      if (out) out.item(finding);
      else line(ctx.io, `${finding.path}:${finding.line}:${finding.column}  ${finding.token}  ${finding.kind} ${finding.env}${finding.status ? `  ${finding.status}` : ""}`);
      state.tokens++;
      if (finding.kind === "secret") state.secrets++;
      if (++unflushed === FLUSH_EVERY) {
        unflushed = 0;
        await ctx.io.flushOut?.();
      }
    };
    const state: ScanState = { found, tokens: 0, secrets: 0, scanned: 0, skipped: [], unreadable: [], chunk: Buffer.alloc(CHUNK_BYTES), files: new Set() };
    const scanned = (path: string, skip: Skip | null) => {
      if (skip) state.skipped.push({ path: shown(ctx.io, path), reason: skip });
      if (ctx.io.errIsTTY && state.scanned % PROGRESS_EVERY === 0 && state.scanned > 0) {
        ctx.io.err(`\rscanned ${state.scanned} files`);
        progressShown = true;
      }
    };
    try {
      if (ctx.values.staged === true) {
        if (ctx.positionals.length > 0) throw new CliError("--staged scans what is staged: no path", EXIT.USAGE);
        await scanStaged(ctx, maxBytes, state, scanned);
      } else {
        const roots = ctx.positionals.length > 0 ? ctx.positionals : ["."];
        for (const root of roots) await scanRoot(ctx, root, maxBytes, state, scanned);
      }
    } catch (err) {
      // Findings printed make one JSON document all the same (none printed: nothing on stdout, as before any scan).
      if (state.tokens > 0) out?.end(totals(state));
      throw err;
    } finally {
      await status?.close();
    }
    if (progressShown) ctx.io.err("\n");
    report(ctx, state, out);
    if (state.secrets > 0) return EXIT.FOUND;
    return state.unreadable.length > 0 ? EXIT.IO : EXIT.OK;
  },
};

/** What the scan does after each file of a folder or of the staged ones: `skip`, why it was not scanned. */
type Scanned = (path: string, skip: Skip | null) => void;

/** Scans a path given on the command line: a file, a folder, or `-`, standard input. */
async function scanRoot(ctx: CommandContext, given: string, maxBytes: number | null, state: ScanState, scanned: Scanned): Promise<void> {
  // `-` itself, as cat reads it: a file named `-` is `./-` (or its full path), which is scanned as any other.
  if (given === "-") {
    // Standard input, all of it (a diff, a log, …).
    const skip = await scanStdin(state, maxBytes);
    if (skip) throw new CliError(`cannot scan <stdin>: ${why(skip, maxBytes)}`, EXIT.IO);
    return;
  }
  const root = byteString(resolve(ctx.io.cwd, given));
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(fsPath(root));
  } catch (err) {
    throw new CliError(`cannot read ${shown(ctx.io, root)}: ${systemReason(err)}`, EXIT.IO);
  }
  if (!stat.isDirectory()) {
    // A file named on the command line must be scanned: a binary or too large one is an error, not a skip.
    // So is a pipe (`keyward scan <(git log -p)`) or a device, read as a file is.
    const skip = await scanFile(ctx.io, root, maxBytes, state);
    if (skip) throw new CliError(`cannot scan ${shown(ctx.io, root)}: ${why(skip, maxBytes)}`, EXIT.IO);
    return;
  }
  const visit = async (path: string) => scanned(path, await scanFile(ctx.io, path, maxBytes, state));
  await scanFolder(ctx, root, ctx.values["no-gitignore"] !== true, visit, state, new Set());
}

function why(skip: Skip, maxBytes: number | null): string {
  return skip === "too large" ? `larger than ${maxBytes} bytes (see --max-bytes)` : skip;
}

/**
 * Scans a folder. In a git work tree, the files git would push or add:
 * every tracked file (a `.env` committed before it was added to .gitignore
 * is in the tree all the same) and the untracked ones git does not ignore,
 * as `git ls-files` lists them. Elsewhere, .gitignore files as git reads
 * them. With neither (`--no-gitignore`, or git unable to answer), every file.
 */
async function scanFolder(ctx: CommandContext, root: string, useGitignore: boolean, visit: Visit, state: ScanState, seen: Set<string>): Promise<void> {
  // Each folder once (by device and inode), whatever path git gives for it: no input can make the scan loop.
  const { dev, ino } = statSync(fsPath(root));
  if (seen.has(`${dev}:${ino}`)) return;
  seen.add(`${dev}:${ino}`);
  if (!useGitignore || !inGitWorkTree(root)) {
    await walk(ctx.io, root, useGitignore ? [] : null, visit, state);
    return;
  }
  const listed = gitFiles(root, ctx.io.env);
  if (listed === "ignored" || "error" in listed) {
    // A folder git ignores (build output, say), named on the command line, is scanned whole, as a named file is.
    // Without git's answer, reading the .gitignore files alone would skip committed files that match them.
    if (listed !== "ignored") {
      const path = shown(ctx.io, root);
      const message = `${listed.error}: scanning every file in ${path}, .gitignore not applied`;
      reportWarning(ctx.io, "keyward scan", { code: "GITIGNORE_NOT_APPLIED", message, fields: { path, reason: listed.error } }, ctx.values.json === true);
    }
    await walk(ctx.io, root, null, visit, state);
    return;
  }
  const lstat = (path: string) => {
    try {
      return lstatSync(fsPath(path));
    } catch (err) {
      // Tracked but deleted from the work tree: nothing on disk to scan.
      if ((err as { code?: string }).code !== "ENOENT") cannotRead(ctx.io, state, path, err);
      return null;
    }
  };
  // Git lists what its index names: a tracked file whose folder was since replaced by a symbolic link is
  // listed all the same, and reached through the link (outside the tree). Each folder checked once.
  const folders = new Map<string, boolean>([[".", true]]);
  const inTree = (rel: string): boolean => {
    let known = folders.get(rel);
    if (known === undefined) {
      known = inTree(dirname(rel)) && lstat(join(root, rel))?.isDirectory() === true;
      folders.set(rel, known);
    }
    return known;
  };
  for (const rel of listed.paths) {
    const path = join(root, rel);
    const stat = inTree(dirname(rel)) ? lstat(path) : null;
    if (stat === null) continue;
    // A folder in the list is a submodule or a nested repository: scanned as its own git sees it. A
    // submodule not checked out (`git clone` without --recurse-submodules: no `.git` in its folder) has
    // nothing to scan, for git as for us; git run inside it lists it as `./`, the folder itself.
    if (stat.isDirectory()) {
      if (existsSync(fsPath(join(path, ".git")))) await scanFolder(ctx, path, true, visit, state, seen);
    } else if (stat.isFile()) await visit(path);
  }
}

/** Scans one file of a folder. */
type Visit = (path: string) => Promise<void>;

/** Whether `dir` is in a git work tree: a `.git` (a folder, or a file in a worktree or submodule) in it or a folder above. */
function inGitWorkTree(dir: string): boolean {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(fsPath(join(at, ".git")))) return true;
    if (dirname(at) === at) return false;
  }
}

// Variables that point git at another repository or index (a hook sets
// GIT_DIR and GIT_INDEX_FILE): dropped, so git answers for the folder scanned.
const GIT_LOCATION_ENV = new Set(["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_PREFIX"]);

/**
 * How long git may take to answer, ms: a repository's config may make it wait
 * for good (an `include.path`, or a .gitignore, that is a FIFO git opens).
 * A folder git did not list in time is then scanned whole.
 */
const GIT_WAIT_MS = 60_000;

/**
 * What git says of a folder in a work tree: `ignored` (the folder itself),
 * its files relative to it (tracked, then untracked and not ignored, in
 * name order), or why git could not tell (not installed, the repository
 * refused as another user's, no answer within `waitMs`, …).
 *
 * @internal exported for tests
 */
export function gitFiles(dir: string, env: Io["env"], waitMs = GIT_WAIT_MS): "ignored" | { paths: string[] } | { error: string } {
  // No transport allowed: the listing reads what is on disk. An object missing there (a partial clone, a sparse
  // index whose tree is gone) is not fetched, as git would from the repository's promisor remote, running the
  // upload-pack, ssh command or credential helper its config names. GIT_ALLOW_PROTOCOL (empty: no protocol)
  // overrides any config file's protocol.*.allow, which `-c protocol.allow=never` would not.
  const git = (...args: string[]) => runGit(dir, args, { ...gitEnv(env, GIT_LOCATION_ENV), GIT_ALLOW_PROTOCOL: "" }, waitMs);
  const ignored = git("check-ignore", "-q", ".");
  if ("error" in ignored) return ignored;
  if (ignored.status === 0) return "ignored";
  // -z: names as they are, unquoted. An unmerged file is listed once per stage, hence the Set.
  const listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard");
  if ("error" in listed) return listed;
  const paths = [...new Set(listed.stdout.split("\0"))].filter((p) => p !== "").map((p) => p.replace(/\/$/, ""));
  return { paths: paths.sort(byName) };
}

/** The environment git runs with: `env` without unset variables, nor those `drop` names. */
function gitEnv(env: Io["env"], drop: ReadonlySet<string> = new Set()): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && !drop.has(e[0])));
}

/**
 * How git is run, in `dir`: with no command of the repository's own config
 * (a folder scanned may come from an archive or anyone's disk, its
 * `.git/config` too). `core.fsmonitor` is the one git runs for the commands
 * scan gives (any that reads the index): off, as the command line overrides
 * any config file. The others are a fetch's, which a folder's listing
 * refuses (see {@link gitFiles}); `--staged` reads the repository being
 * committed, whose own hooks run the scan.
 */
const gitArgs = (dir: string, args: string[]) => ["-c", "core.fsmonitor=false", "-C", dir, ...args];

/**
 * Runs git in `dir`: its output (a byte string, see {@link byteString}), or why it failed (not installed, the
 * repository refused as another user's, no answer within `waitMs`, …). `check-ignore` answers with its
 * exit status: 1 (not ignored) is an answer too.
 */
function runGit(dir: string, args: string[], env: Record<string, string>, waitMs = GIT_WAIT_MS): { status: number; stdout: string } | { error: string } {
  const r = spawnSync("git", gitArgs(textOf(dir), args), { env, maxBuffer: 1 << 30, timeout: waitMs, killSignal: "SIGKILL" });
  if (r.error) {
    const code = (r.error as { code?: string }).code;
    if (code === "ENOENT") return { error: "git is not installed" };
    return { error: code === "ETIMEDOUT" ? `git did not answer within ${waitMs / 1000} s` : `git failed: ${r.error.message}` };
  }
  // Paths as byte strings, as the folder walk keeps them.
  if (r.status === 0 || (r.status === 1 && args[0] === "check-ignore")) return { status: r.status, stdout: r.stdout.toString("latin1") };
  return { error: `git failed: ${shownPath(r.stderr.toString().trim().split("\n")[0] ?? "")}` };
}

/**
 * Scans, each whole, the files the next commit adds or changes, as staged:
 * the blobs the index names, not the work tree. The index is the one git
 * hands its pre-commit hook (GIT_DIR and GIT_INDEX_FILE are kept, unlike in
 * {@link gitFiles}): `git commit -a` and `git commit <path>` commit a
 * temporary one. Submodules (gitlinks) are not files: their own repository
 * scans them. Paths are printed relative to the working folder.
 */
async function scanStaged(ctx: CommandContext, maxBytes: number | null, state: ScanState, scanned: Scanned): Promise<void> {
  const env = gitEnv(ctx.io.env);
  const fail = (error: string) => new CliError(`cannot read the staged files: ${error}`, EXIT.IO);
  const top = runGit(byteString(ctx.io.cwd), ["rev-parse", "--show-toplevel"], env);
  if ("error" in top) throw fail(top.error);
  // One `:<old mode> <new mode> <old id> <new id> <status>` and one path per file, -z: the path as it is.
  // A renamed file is an added one (--no-renames); a deleted one has nothing to scan.
  const diff = runGit(byteString(ctx.io.cwd), ["diff", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames", "--diff-filter=ACMT"], env);
  if ("error" in diff) throw fail(diff.error);
  const fields = diff.stdout.split("\0");
  const blobs: { path: string; id: string }[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [, mode, , id] = fields[i]!.split(" ");
    if (mode !== "160000") blobs.push({ path: join(top.stdout.replace(/\n$/, ""), fields[i + 1]!), id: id! });
  }
  if (blobs.length === 0) return;
  // One git for every blob, each read as it comes, a chunk at a time: files of any size in bounded memory.
  const git = spawn("git", gitArgs(ctx.io.cwd, ["cat-file", "--batch"]), { env, stdio: ["pipe", "pipe", "pipe"] });
  const exited = new Promise<number | null>((done) => git.on("close", done).on("error", () => done(null)));
  let stderr = "";
  git.stderr.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  git.stdin.on("error", () => {}).end(blobs.map((b) => `${b.id}\n`).join(""));
  const out = pull(git.stdout);
  let done = 0;
  try {
    for (const blob of blobs) {
      // `<id> blob <size>`, the content, a line feed.
      const size = /^[0-9a-f]+ blob (\d+)$/.exec((await out.line()) ?? "")?.[1];
      if (size === undefined) break;
      let left = Number(size);
      const read = async (into: Buffer, at: number) => {
        const n = await out.read(into, at, left);
        left -= n;
        return n;
      };
      const skip = maxBytes !== null && left > maxBytes ? "too large" : await scanStream(read, shown(ctx.io, blob.path), state, null);
      // What was not read (a binary's rest, a file too large) and the line feed.
      if (!(await out.skip(left + 1))) break;
      scanned(blob.path, skip);
      done++;
    }
  } finally {
    git.kill();
  }
  if (done < blobs.length) {
    const status = await exited;
    throw fail(status === null ? "git failed" : `git failed: ${shownPath(stderr.trim().split("\n")[0] || `exit ${status}`)}`);
  }
}

/** Reads a stream as it is asked: a line, or bytes up to a count. */
function pull(stream: AsyncIterable<Buffer>) {
  const chunks = stream[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  const more = async () => {
    const next = await chunks.next();
    if (next.done) return false;
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value]);
    return true;
  };
  return {
    /** The next line, without its line feed; null at the end. */
    async line(): Promise<string | null> {
      for (let from = 0; ; ) {
        const feed = pending.indexOf(10, from);
        if (feed !== -1) {
          const text = pending.toString("utf8", 0, feed);
          pending = pending.subarray(feed + 1);
          return text;
        }
        from = pending.length;
        if (!(await more())) return null;
      }
    },
    /** Up to `count` bytes into `into` from `at`: how many, 0 at the end. */
    async read(into: Buffer, at: number, count: number): Promise<number> {
      if (count === 0 || (pending.length === 0 && !(await more()))) return 0;
      const n = pending.copy(into, at, 0, Math.min(count, into.length - at));
      pending = pending.subarray(n);
      return n;
    },
    /** Passes `count` bytes: whether there were as many. */
    async skip(count: number): Promise<boolean> {
      while (count > 0) {
        if (pending.length === 0 && !(await more())) return false;
        const n = Math.min(count, pending.length);
        pending = pending.subarray(n);
        count -= n;
      }
      return true;
    },
  };
}

/** Paths in the order the folder walk visits them: name by name, a folder's files right after its name. */
function byName(a: string, b: string): number {
  const x = a.split("/");
  const y = b.split("/");
  for (let i = 0; i < x.length && i < y.length; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

/** A folder's .gitignore rules, matched against paths relative to it. */
interface IgnoreLevel {
  base: string;
  ig: Ignore;
}

/**
 * Walks a folder in name order, calling `visit` on each file; `levels`: the
 * .gitignore rules of the folders above (null: none read). `.git` is never
 * entered, symbolic links never followed.
 */
async function walk(io: Io, dir: string, levels: IgnoreLevel[] | null, visit: Visit, state: ScanState): Promise<void> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(fsPath(dir), { withFileTypes: true, encoding: "latin1" });
  } catch (err) {
    cannotRead(io, state, dir, err);
    return;
  }
  const here = levels && gitignoreOf(dir);
  const active = here ? [...levels, { base: dir, ig: here }] : levels;
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (entry.name === ".git") continue;
    const path = join(dir, entry.name);
    const isDir = entry.isDirectory();
    if (active && isIgnored(active, path, isDir)) continue;
    if (isDir) await walk(io, path, active, visit, state);
    else if (entry.isFile()) await visit(path);
  }
}

/**
 * Whether .gitignore rules exclude a path, as git decides: the deepest
 * .gitignore with a rule for the path decides, and there the last rule that
 * matches it (a `!` rule re-includes). The folders above the path are not
 * excluded (the walk does not enter those that are).
 */
function isIgnored(levels: IgnoreLevel[], path: string, isDir: boolean): boolean {
  for (let i = levels.length - 1; i >= 0; i--) {
    const { base, ig } = levels[i]!;
    const rel = textOf(relative(base, path));
    const { ignored, unignored } = ig.test(isDir ? `${rel}/` : rel);
    if (unignored) return false;
    if (ignored) {
      // `ignore` counts a path in a folder these rules exclude as excluded
      // too. That folder was entered, so a deeper .gitignore re-included it,
      // and what these rules say of the path itself is unknown: scan it.
      const parent = dirname(rel);
      return parent === "." || !ig.test(`${parent}/`).ignored;
    }
  }
  return false;
}

/**
 * The rules of `dir`'s .gitignore, or null: none, or one that is not a file.
 * Opened without waiting: a FIFO so named (or a link to one, or to a
 * device) would hold the scan for good, as it holds git.
 */
function gitignoreOf(dir: string): Ignore | null {
  let text: string;
  try {
    const fd = openSync(fsPath(join(dir, ".gitignore")), constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    try {
      if (!fstatSync(fd).isFile()) return null;
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
  return ignore().add(text);
}

/** Scans one file; returns why it was skipped, or null (a file that cannot be read is noted in `state.unreadable`). */
async function scanFile(io: Io, path: string, maxBytes: number | null, state: ScanState): Promise<Skip | null> {
  if (scannedBefore(state, path)) return null;
  let fd: number;
  try {
    fd = openSync(fsPath(path), "r");
  } catch (err) {
    // Gone since the folder was listed: nothing to scan.
    if ((err as { code?: string }).code === "ENOENT") return null;
    cannotRead(io, state, path, err);
    return null;
  }
  // The file's own failure (EIO, say) is noted and the scan goes on; a finding's (its store lookup, stdout) ends the scan.
  let failed = false;
  const own = <T>(op: () => T): T => {
    try {
      return op();
    } catch (err) {
      failed = true;
      throw err;
    }
  };
  try {
    if (maxBytes !== null && own(() => fstatSync(fd).size) > maxBytes) return "too large";
    return await scanStream((into, at) => own(() => readSync(fd, into, at, into.length - at, null)), shown(io, path), state, null);
  } catch (err) {
    if (!failed) throw err;
    cannotRead(io, state, path, err);
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether a file was scanned already, reached by another path given (`scan . .`, `scan repo repo/src`, a link named
 * on the command line): by its real path. Notes it when not. One without a real path (a pipe) is scanned.
 */
function scannedBefore(state: ScanState, path: string): boolean {
  let real: string;
  try {
    real = realpathSync.native(fsPath(path), "latin1");
  } catch {
    return false;
  }
  if (state.files.has(real)) return true;
  state.files.add(real);
  return false;
}

/** Notes a file or folder that could not be read: the scan goes on, and then fails (exit 6) unless a secret fails it (exit 1). */
function cannotRead(io: Io, state: ScanState, path: string, err: unknown): void {
  state.unreadable.push({ path: shown(io, path), reason: systemReason(err) });
}

/** Reads into `into` from `at`, up to its end: the number of bytes read, 0 at the end of what is read. */
type Read = (into: Buffer, at: number) => number | Promise<number>;

/**
 * Scans standard input, to its end, through `process.stdin`: its reads wait
 * for input (epoll, kqueue) whatever the descriptor is, where a synchronous
 * read of one set non-blocking (a socket, a TTY another program left so)
 * fails with EAGAIN at once, and retrying it spun a core until input came.
 * Released when done, read to its end or not (binary, too large).
 */
async function scanStdin(state: ScanState, maxBytes: number | null): Promise<Skip | null> {
  const chunks: AsyncIterator<Buffer> = process.stdin[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  const read: Read = async (into, at) => {
    if (pending.length === 0) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (err) {
        throw new CliError(`cannot read standard input: ${systemReason(err)}`, EXIT.IO);
      }
      if (next.done) return 0;
      pending = next.value;
    }
    const n = pending.copy(into, at);
    pending = pending.subarray(n);
    return n;
  };
  try {
    return await scanStream(read, "<stdin>", state, maxBytes);
  } finally {
    process.stdin.destroy();
  }
}

/**
 * Scans what `read` gives, to its end, a chunk at a time: a file of any size
 * in bounded memory. Each chunk is searched with the end of the one before
 * (a token's length less one character), so a token across two chunks is
 * found, and each token is reported once: in the chunk where it ends.
 * UTF-16 text is decoded, other text read as UTF-8 (see {@link textEncoding}).
 * Returns why it was skipped, or null.
 */
async function scanStream(read: Read, path: string, state: ScanState, limit: number | null): Promise<Skip | null> {
  const chunk = state.chunk;
  let filled = 0;
  let ended = false;
  const fill = async () => {
    filled = 0;
    while (filled < chunk.length) {
      const n = await read(chunk, filled);
      if (n === 0) {
        ended = true;
        return;
      }
      filled += n;
    }
  };
  await fill();
  const encoding = textEncoding(chunk.subarray(0, filled));
  if (encoding === null) return "binary";
  const decoder = new TextDecoder(encoding);
  // The line (1-based) and the column (0-based) where the text searched starts.
  let line = 1;
  let column = 0;
  let carry = "";
  let total = 0;
  for (;;) {
    total += filled;
    if (limit !== null && total > limit) return "too large";
    const text = carry + decoder.decode(chunk.subarray(0, filled), { stream: !ended });
    const found = findTokens(text).filter((t) => t.index + t.token.length > carry.length);
    const at = linePositions(lineFeeds(text), found.map((t) => t.index));
    for (const t of found) {
      const p = at.next().value!;
      const finding: Finding = {
        path,
        line: line + p.line - 1,
        column: p.line === 1 ? column + p.column : p.column,
        token: `${t.token.slice(0, t.prefix.length + 13)}…[redacted]`,
        prefix: t.prefix,
        kind: t.kind,
        env: t.env,
      };
      await state.found(finding, t.token);
    }
    if (ended) break;
    const kept = Math.min(text.length, MAX_TOKEN_LENGTH - 1);
    const cut = text.length - kept;
    let lastFeed = -1;
    for (const feed of lineFeeds(text)) {
      if (feed >= cut) break;
      line++;
      lastFeed = feed;
    }
    column = lastFeed === -1 ? column + cut : cut - lastFeed - 1;
    carry = text.slice(cut);
    await fill();
  }
  state.scanned++;
  return null;
}

/**
 * How a text is encoded, from its first bytes: UTF-16 with a byte order mark
 * (PowerShell 5's default), UTF-16 without one (`iconv`'s: an even number of
 * bytes, NUL in half or more of the odd ones (little-endian) or of the even
 * ones (big-endian) and in no other, as in text mostly below U+0100), UTF-8
 * (no NUL byte), or else binary (null; git's test: a NUL byte in the first
 * 8 000).
 */
function textEncoding(head: Buffer): "utf-16le" | "utf-16be" | "utf-8" | null {
  if (head[0] === 0xff && head[1] === 0xfe) return "utf-16le";
  if (head[0] === 0xfe && head[1] === 0xff) return "utf-16be";
  const sniff = head.subarray(0, BINARY_SNIFF_BYTES);
  if (!sniff.includes(0)) return "utf-8";
  // UTF-16 comes in pairs of bytes: a whole file of an odd length is not.
  if (sniff.length % 2 !== 0) return null;
  const nuls = [0, 0];
  for (let i = 0; i < sniff.length; i++) if (sniff[i] === 0) nuls[i % 2]!++;
  const [even, odd] = nuls as [number, number];
  if (even === 0 && odd >= sniff.length / 4) return "utf-16le";
  if (odd === 0 && even >= sniff.length / 4) return "utf-16be";
  return null;
}

/** The offsets of a text's line feeds, in order, found as they are asked for: each character is read once. */
export function* lineFeeds(text: string): Generator<number, void, undefined> {
  for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) yield at;
}

/**
 * The 1-based line and column (in UTF-16 units) of each offset, in ascending
 * order, from the text's line feeds: one pass over the line feeds before the
 * last offset, whatever the number of offsets (tokens on one line or many).
 */
export function* linePositions(feeds: Iterator<number>, offsets: Iterable<number>): Generator<{ line: number; column: number }, void, undefined> {
  let line = 1;
  let lineStart = 0;
  let next = feeds.next();
  for (const offset of offsets) {
    while (!next.done && next.value < offset) {
      line++;
      lineStart = next.value + 1;
      next = feeds.next();
    }
    yield { line, column: offset - lineStart + 1 };
  }
}

/**
 * With --check-store: each token's status in the store, opened at the first token (a scan that finds none
 * needs no store), and closed by `close`.
 */
function storeStatus(ctx: CommandContext): { of: (token: string) => Promise<NonNullable<Finding["status"]>>; close: () => Promise<void> } {
  let opened: Promise<{ opened: OpenedStore; store: GuardedStore }> | undefined;
  return {
    of: async (token) => {
      opened ??= openStore(ctx, { create: false, readsOnly: true }).then((o) => ({ opened: o, store: guardStore(o.store) }));
      const { store } = await opened;
      const hash = hashToken(token);
      const stored = await store.findByHash(hash);
      const now = Date.now();
      if (stored === null) return "unknown";
      // An old secret past its grace period: rotated out, as good as revoked.
      if (stored.hash !== hash && !stored.previous.some((p) => p.hash === hash && p.expiresAt > now)) return "revoked";
      const status = statusOf({ revokedAt: stored.revokedAt, disabledAt: stored.disabledAt ?? null, policy: policyAt(stored, now) }, now);
      return status === "active" ? "live" : status;
    },
    close: async () => {
      const o = await opened?.catch(() => null);
      await o?.opened.close();
    },
  };
}

/** The members of `--json`'s document after its findings. */
function totals(state: ScanState) {
  return { scanned: state.scanned, skipped: state.skipped, unreadable: state.unreadable };
}

/** Ends the output: with --json, the document's other members; else what was skipped or not read, and the counts, on stderr. */
function report(ctx: CommandContext, state: ScanState, out: JsonStream | null): void {
  if (out) {
    out.end(totals(state));
    return;
  }
  for (const s of state.skipped) ctx.io.err(`skipped ${s.path}: ${s.reason}\n`);
  for (const u of state.unreadable) ctx.io.err(`cannot read ${u.path}: ${u.reason}\n`);
  const unreadable = state.unreadable.length > 0 ? `, ${state.unreadable.length} unreadable` : "";
  ctx.io.err(`scanned ${state.scanned} files: ${state.tokens} tokens found (${state.secrets} secret)${unreadable}\n`);
}

/** A path (a byte string) relative to the working folder, as every path is printed (escaped and redacted, see {@link shownPath}). */
function shown(io: Io, path: string): string {
  return shownPath(textOf(relative(byteString(io.cwd), path)) || ".");
}

// Paths are kept as byte strings, one character (Latin-1) per byte of the
// name: a name that is not UTF-8 (`caf\xe9.env`, as Latin-1 systems write
// it) is opened as it is on disk, where its decoded form would name no file
// and the file would go unscanned.

/** A path (text) as a byte string. */
function byteString(path: string): string {
  return Buffer.from(path).toString("latin1");
}

/** A byte string as the file system takes it: the bytes. */
function fsPath(path: string): Buffer {
  return Buffer.from(path, "latin1");
}

/** A byte string as text (bytes that are not UTF-8 as U+FFFD), to print or match against .gitignore rules. */
function textOf(path: string): string {
  return fsPath(path).toString();
}
