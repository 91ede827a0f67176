// The conformance suite fails adapters that break the TokenStore contract: it runs,
// in a vitest of its own, against the broken adapters of broken-stores.ts.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

interface JsonReport {
  testResults: { assertionResults: { ancestorTitles: string[]; title: string; status: string }[] }[];
}

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Runs the suite against every store of broken-stores.kit.ts; returns each store's failed tests ("group > title"). */
async function runSuite(): Promise<Map<string, string[]>> {
  const dir = await mkdtemp(join(tmpdir(), "keyward-kit-"));
  const out = join(dir, "report.json");
  // The child is a vitest of its own, not a worker of this one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "NODE_OPTIONS"));
  try {
    await new Promise<void>((resolve) => {
      execFile(
        process.execPath,
        [join(root, "node_modules/vitest/vitest.mjs"), "run", "--config", "test/testing/broken-stores.config.ts", "--reporter=json", `--outputFile=${out}`],
        { cwd: root, env, maxBuffer: 64 * 1024 * 1024 },
        () => resolve(), // it exits 1: broken stores fail
      );
    });
    const report = JSON.parse(await readFile(out, "utf8")) as JsonReport;
    const failed = new Map<string, string[]>();
    for (const r of report.testResults.flatMap((f) => f.assertionResults)) {
      const [suite, group] = r.ancestorTitles;
      const store = suite!.replace(/^TokenStore: /, "");
      if (!failed.has(store)) failed.set(store, []);
      if (r.status === "failed") failed.get(store)!.push(`${group} > ${r.title}`);
    }
    return failed;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("the conformance suite (keyward/testing)", () => {
  let failed!: Map<string, string[]>;
  beforeAll(async () => {
    failed = await runSuite();
  }, 300_000);

  it("passes a correct adapter", () => {
    expect(failed.get("Delegate")).toEqual([]);
  });

  it("passes a correct adapter whose token id column holds ASCII only (keyward's ids are tok_ and base62: before, the list case wrote an id ending in é), and fails one that reads the audit log by token id in an accent-insensitive, padding collation", () => {
    expect(failed.get("AsciiTokenIds")).toEqual([]);
    expect(failed.get("FoldedAuditTokenIds")).toEqual([
      "insert > owners and ids that differ only in case, accents or a trailing space are distinct: one never finds the other's tokens or entries",
    ]);
  });

  it("fails a store whose reads go stale after a write: update, rotation, revoke, delete", () => {
    expect(failed.get("StaleReadCache")).toEqual(
      expect.arrayContaining([
        "update > reads made before an update see it after: get and findByHash by current and previous hash",
        "update > reads made before a rotation see it after: the new hash found, the kept one too, the dropped one not",
        "revoke > reads made before a revoke see it after: get and findByHash by current and previous hash",
        "delete > reads made before a delete find nothing after it: get and findByHash by current and previous hash",
      ]),
    );
  });

  it("fails a store that keeps answering null for a hash a write has since taken", () => {
    expect(failed.get("StaleMissCache")).toEqual(
      expect.arrayContaining(["findByHash > a hash not found is found once a token takes it: an insert, or an update as current or previous hash"]),
    );
  });

  it("fails a change feed that misses updates that keep the hashes, hard deletes and account writes", () => {
    expect(failed.get("LazyFeed")).toEqual([
      "changeFeed > announces every update, not only those that change a hash: name, policy, metadata, disable, enable",
      "changeFeed > announces a hard delete with every hash the token had",
      "changeFeed > announces every account write (putAccount) with its owner, and no token; a rejected one not at all",
    ]);
  });

  it("fails a store whose copies share nested objects, or that keeps what it was given", () => {
    expect(failed.get("SharedRefs")).toEqual(["list > returns copies: mutating them, nested fields included, does not change the store"]);
    expect(failed.get("KeepsRefs")).toEqual([
      "update > keeps no reference to next: mutating it after the call changes nothing stored",
      "audit > keeps copies of the entries it is given: the caller mutating them afterwards changes nothing stored",
    ]);
  });

  it("fails an update that stores next.revokedAt, and a lookup that matches on a prefix of the hash", () => {
    expect(failed.get("UpdateStoresRevokedAt")).toEqual(["update > ignores next.revokedAt: an update cannot revoke a live token"]);
    expect(failed.get("PrefixIndex")).toEqual([
      "findByHash > matches the whole hash: a hash sharing all but its tail with a current or previous one finds nothing",
    ]);
  });

  it("fails a billing store that answers every sum, or the first page again, rather than the page after `after`", () => {
    const page = "billing > answers a page: the sums strictly after an owner and pool, at most limit, by owner then pool, skipping pools of no row in the period";
    const longOwner = "billing > an owner as long as a usage event's may be, with a character SQL stores escape, is answered as itself, and pages after it";
    expect(failed.get("WholeBilling")).toEqual([page, longOwner]);
    expect(failed.get("BillingIgnoresAfter")).toEqual([page, longOwner]);
  });

  it("fails a lookup by anything but the hash, a nonce alive at its expiry, and an owner column that truncates", () => {
    expect(failed.get("FindsByAnyKey")).toEqual(["findByHash > finds by hash only: the token's id, owner or display start finds nothing"]);
    expect(failed.get("NonceLivesAtExpiry")).toEqual([
      "nonces > returns true again from its expiry on (an entry is expired at now ≥ expiresAt), with the new expiry",
      "nonces > keeps an expiry to the millisecond (not rounded to a second either way), and nonces that differ only in case apart",
    ]);
    expect(failed.get("ShortOwnerColumn")).toEqual([
      "insert > stores the longest owners keyward writes as given (256 UTF-16 code units, astral characters included), and lists and audits by them",
    ]);
  });

  it("fails a store atomic only within its own process (a lock of the instance) when given a peer over the same data; a correct one passes with its peer", () => {
    expect(failed.get("Delegate with a peer")).toEqual([]);
    // On one store, its lock hides the race: a second process's connection is the only way to see it.
    expect(failed.get("InstanceLockedNonces")).toEqual([]);
    expect(failed.get("InstanceLockedNonces with a peer")).toEqual(["races > concurrent rememberNonce of one key: exactly one true"]);
  });

  it("fails a cache of the adapter that only its own writes drop when given a peer: another process's revocation is never seen", () => {
    expect(failed.get("OwnWritesCache")).toEqual([]);
    expect(failed.get("OwnWritesCache with a peer")).toEqual(["revoke > reads made before a revoke written through the peer (another process) see it after"]);
  });

  it("fails a store that ignores a top-up's idempotency key (applied again when retried)", () => {
    expect(failed.get("IgnoresCreditKeys")).toEqual([
      "accounts > a top-up or reset with an idempotency key is applied once: the same operation again reads the balance, with no audit entry; the key with another balance, operation or amount is INVALID_INPUT",
      "accounts > 20 concurrent top-ups with one idempotency key apply once; with one key on several balances, one of them is topped up",
    ]);
  });

  it("fails token creation with idempotency keys ignored, kept per owner only, or read and written in two steps", () => {
    expect(failed.get("IgnoresCreateKeys")).toEqual([
      "idempotentCreate > inserts the token with its audit entry; the same request under the key again answers its id and writes nothing",
      "idempotentCreate > refuses another request under the key (IDEMPOTENCY_KEY_REUSED), writing nothing",
      "idempotentCreate > keeps keys per owner and per actor, compared as given: another owner's, actor's or case is another key",
      "idempotentCreate > forgets a key from its expiry on (expired at now ≥ expiresAt): the request then makes a new token, which the key then holds",
      "idempotentCreate > leaves the key of a token deleted since (replayed with its id), when the store deletes",
      "idempotentCreate > of concurrent calls with one key, exactly one inserts; the others answer its id",
    ]);
    expect(failed.get("CreateKeysPerOwner")).toEqual([
      "idempotentCreate > keeps keys per owner and per actor, compared as given: another owner's, actor's or case is another key",
    ]);
    expect(failed.get("CreateKeyReadThenWrite with a peer")).toEqual(["idempotentCreate > of concurrent calls with one key, exactly one inserts; the others answer its id"]);
  });

  it("fails columns that fold case or trailing spaces, order by locale, or keep astral characters as '?'", () => {
    expect(failed.get("FoldedOwners")).toEqual([
      "insert > owners and ids that differ only in case, accents or a trailing space are distinct: one never finds the other's tokens or entries",
    ]);
    expect(failed.get("FoldedCreditKeys")).toEqual([
      "accounts > a top-up or reset with an idempotency key is applied once: the same operation again reads the balance, with no audit entry; the key with another balance, operation or amount is INVALID_INPUT",
    ]);
    expect(failed.get("LocaleOrderedList")).toEqual([
      "list > orders the ids of one createdAt in code-unit order (keyward's base62 ids differ by case: B < Z < a < z), page by page",
    ]);
    expect(failed.get("Utf8mb3Names")).toEqual([
      "insert > keeps names and metadata as given: 256 code units with astral characters, combining marks, bidi text; JSON numbers exact",
    ]);
  });

  it("fails 32-bit credit and usage columns, day buckets counted from the query's start, and nonce expiries in whole seconds", () => {
    expect(failed.get("Int32Credits")).toEqual(["credits > keeps balances and costs beyond 2^32 exact, up to 10^15 (a 32-bit or float column would not)"]);
    expect(failed.get("Int32UsageCredits")).toEqual(["usage > counts credits beyond 2^32 exactly, in hours and days"]);
    expect(failed.get("DaysFromQueryStart")).toEqual(["usage > includes from and excludes to"]);
    expect(failed.get("NonceExpiryInSeconds")).toEqual([
      "nonces > keeps an expiry to the millisecond (not rounded to a second either way), and nonces that differ only in case apart",
    ]);
  });

  it("fails an update that leaves scheduled revisions and the signing key as they were, and an audit entry written outside the write's transaction", () => {
    expect(failed.get("UpdateKeepsSchedule")).toEqual([
      "update > stores every field of next: policy, scheduled revisions, signing key, previous secrets, metadata; and their removal",
    ]);
    expect(failed.get("AuditAfterWrite")).toEqual([
      "audit > an entry id already used is INVALID_INPUT: appendAudit keeps the first entry, and insert, update or revoke with it write nothing",
    ]);
  });

  it("fails an account store that keeps a suspension's reason and not when it began", () => {
    expect(failed.get("SuspensionReasonColumn")).toEqual([
      "accounts > keeps when a suspension began (`since`, now and scheduled), and a suspension without one as it was",
    ]);
  });
});
