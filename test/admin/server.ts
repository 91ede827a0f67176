// A real server for the admin tests: keyward on SQLite in a temp dir, the
// admin handler behind node:http (through toNodeHandler) on 127.0.0.1, and
// sessions as an application would have them: a cookie or a bearer token
// that the server maps to an owner.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AdminHandlerOptions, createAdminHandler, toNodeHandler } from "../../src/admin/index.js";
import { Keyward, type KeywardOptions } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite/index.js";

export interface AdminServer {
  kw: Keyward;
  /** The origin, e.g. http://127.0.0.1:40123 */
  origin: string;
  /** origin + basePath */
  url: string;
  /** A session id per owner: send it as `Cookie: session=…` or `Authorization: Bearer …`. */
  session(owner: string): string;
  close(): Promise<void>;
}

export async function startAdminServer(
  options: { basePath?: string; keyward?: Partial<KeywardOptions> } & Partial<Omit<AdminHandlerOptions, "keyward">> = {},
): Promise<AdminServer> {
  const dir = await mkdtemp(join(tmpdir(), "keyward-admin-"));
  const store = sqliteStore(join(dir, "keyward.db"));
  const kw = new Keyward({ store, prefix: "acme", revocationBoundMs: 1000, ...options.keyward });
  const sessions = new Map<string, string>();
  const { keyward: _, basePath = "/account/tokens", ...rest } = options;
  const handler = createAdminHandler({
    keyward: kw,
    basePath,
    datasets: ["prices", "news"],
    authorize: (request) => {
      const cookie = /(?:^|;\s*)session=([A-Za-z0-9_-]+)/.exec(request.headers.get("cookie") ?? "")?.[1];
      const bearer = /^Bearer ([A-Za-z0-9_-]+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
      const owner = sessions.get(cookie ?? bearer ?? "");
      return owner === undefined ? null : { owner, actor: `user:${owner}` };
    },
    ...rest,
  });
  const server = createServer(toNodeHandler(handler));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    kw,
    origin,
    url: origin + basePath,
    session(owner) {
      const id = `s_${owner}_${sessions.size}`;
      sessions.set(id, owner);
      return id;
    },
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await kw.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
