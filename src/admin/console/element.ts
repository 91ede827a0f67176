// <keyward-tokens>: the console page's element, a customer's own API tokens
// over the admin API. Runs in browsers only and is shipped as one bundled
// module (asset.ts, built by scripts/build-console.mjs). No framework, no
// innerHTML: every piece of data reaches the page as a text node or an
// attribute value, so a name such as `<img onerror=…>` is shown, never run.
// A new token or private key is shown once, in a modal dialog, and removed
// from the page (and from this script's variables) when the dialog closes.
import { redactTokens } from "../../lib/text.js";
import { STYLES } from "./styles.js";

type Json = Record<string, unknown>;
interface Credits {
  limit: number;
  refill: { amount: number; intervalMs: number } | null;
  reset?: "day" | "month" | null;
}
interface Policy {
  scopes: string[];
  domains: string[];
  ips: string[];
  credits: Credits | null;
  pools?: Record<string, Credits>;
  rateLimit: { limit: number; windowMs: number } | null;
  rateLimits?: { limit: number; windowMs: number }[];
  expiresAt: number | null;
  requireSignedRequests: boolean;
}
interface TokenRecord {
  id: string;
  start: string;
  kind: "publishable" | "secret";
  name: string;
  metadata: Json;
  policy: Policy;
  scheduled: { effectiveAt: number; policy: Policy }[];
  signing: { alg: string; publicKey?: string } | null;
  graceUntil: number | null;
  createdAt: number;
  revokedAt: number | null;
  disabledAt: number | null;
  revision: number;
}
interface Config {
  owner: string;
  actor: string;
  role: string;
  /** The operator suspended the account: its tokens are refused every request; `actions` holds no change but taking access away. */
  suspended: boolean;
  /** When the suspension began (epoch ms); null when not suspended, or not known. */
  suspendedSince: number | null;
  /** What the caller's role may do (the admin API refuses the rest). */
  actions: string[];
  grantableScopes: string[];
  datasets: string[];
}
interface Problem {
  detail?: string;
  field?: string;
  code?: string;
}
type Child = Node | string | null | undefined | false;

const HOUR = 3_600_000;
/** The first and the longest wait before asking again about a change still pending after this browser's clock says it is due. */
const LATE_WAIT_MS = 1000;
const MAX_LATE_WAIT_MS = 60_000;
const GRACE = [
  [0, "Stop the old token at once"],
  [HOUR, "Keep the old token working for 1 hour"],
  [24 * HOUR, "Keep the old token working for 24 hours"],
  [7 * 24 * HOUR, "Keep the old token working for 7 days"],
] as const;

let uid = 0;

/** An element with properties (`on…` are listeners) and children; strings become text nodes. */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Json = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v as EventListener);
    else if (k in el && k !== "list" && !k.startsWith("aria")) (el as unknown as Json)[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  el.append(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
  return el;
}

const svg = (tag: string, attrs: Record<string, string | number>, text?: string) => {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
};

const when = (ms: number) => h("time", { dateTime: new Date(ms).toISOString() }, new Date(ms).toLocaleString());
const lines = (s: string) => s.split(/[\s,]+/).filter(Boolean);
/** The policy in force at `ms`: the last change scheduled by then (they are in ascending order), or the one in force now. */
const policyAt = (t: TokenRecord, ms: number) => t.scheduled.findLast((s) => s.effectiveAt <= ms)?.policy ?? t.policy;
/** A new token's policy, as the create form starts. */
const NEW_POLICY: Policy = { scopes: ["core:read"], domains: [], ips: [], credits: null, rateLimit: null, expiresAt: null, requireSignedRequests: false };
/** The policy fields the form edits. */
const EDITED = ["scopes", "domains", "ips", "credits", "expiresAt", "requireSignedRequests"] as const;
type Edited = (typeof EDITED)[number];

/** A policy field's value, as a note of a scheduled change shows it (the credit limit with its refill or reset). */
function shownValue(k: Edited, p: Policy): Node | string {
  const c = p.credits;
  if (k === "credits") return c ? `${c.limit}${c.refill ? `, refilled by ${c.refill.amount} every ${c.refill.intervalMs / 1000} s` : ""}${c.reset ? ` per ${c.reset}` : ""}` : "no limit";
  if (k === "expiresAt") return p.expiresAt === null ? "never" : when(p.expiresAt);
  if (k === "requireSignedRequests") return p.requireSignedRequests ? "required" : "not required";
  return p[k].join(", ") || (k === "scopes" ? "none" : "any");
}

/**
 * Writes into `note` the changes of field `k` scheduled after `ms`, each with
 * its time: a change of the field that takes effect at `ms` replaces them
 * (the admin API sets a field from then on, over what was scheduled).
 */
function pendingNote(note: HTMLElement, t: TokenRecord, k: Edited, ms: number): void {
  let prev = JSON.stringify(policyAt(t, ms)[k]);
  const parts: (Node | string)[] = [];
  for (const s of t.scheduled) {
    const v = JSON.stringify(s.policy[k]);
    if (s.effectiveAt <= ms || v === prev) continue;
    prev = v;
    parts.push(parts.length ? "; from " : "Scheduled from ", when(s.effectiveAt), ": ", shownValue(k, s.policy));
  }
  note.replaceChildren(...(parts.length ? [...parts, `. A change here replaces ${parts.length > 4 ? "them" : "it"}.`] : []));
}
const b64url = (b: ArrayBuffer | Uint8Array) =>
  btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** A JWK typed or uploaded, as an object; anything else (a malformed JWK too) as typed, for the server to judge and name. */
function jwkOr(text: string): unknown {
  if (!text.startsWith("{")) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** A new Idempotency-Key: 128 random bits, base64url (getRandomValues: a page that is no secure context has no randomUUID). */
const freshKey = () => b64url(crypto.getRandomValues(new Uint8Array(16)));

/** A create's Idempotency-Key, one per token the user means to create: a new one once a submission under it made a token. */
interface Idem {
  key: string;
}

/** A note, with an id to describe a control by. */
const noteEl = () => h("small", { id: `kw${++uid}`, className: "pending" });

/** A labelled field: label, control, optional hint and note, all tied by ids (WCAG 1.3.1). */
function field(label: string, control: HTMLElement, hint?: string, note?: HTMLElement): HTMLElement {
  const id = `kw${++uid}`;
  control.id = id;
  const help = hint ? h("small", { id: `${id}h` }, hint) : null;
  const described = [help?.id, note?.id].filter(Boolean).join(" ");
  if (described) control.setAttribute("aria-describedby", described);
  return h("div", { className: "field" }, h("label", { htmlFor: id }, label), control, help, note);
}

function toggle(label: string, checked: boolean, disabled = false): [HTMLElement, HTMLInputElement] {
  const input = h("input", { type: "checkbox", role: "switch", checked, disabled });
  return [h("label", { className: "switch" }, input, label), input];
}

/** datetime-local value (local time) of epoch ms, and back. */
const toLocalInput = (ms: number) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
};
const fromLocalInput = (v: string) => (v === "" ? null : new Date(v).getTime());

/** The create / edit form's controls. */
interface Controls {
  name: HTMLInputElement;
  kind: HTMLSelectElement;
  scopeBoxes: Map<string, HTMLInputElement>;
  domains: HTMLTextAreaElement;
  ips: HTMLTextAreaElement;
  credits: HTMLInputElement;
  expires: HTMLInputElement;
  signed: HTMLInputElement;
  keyMode: HTMLSelectElement;
  publicKey: HTMLTextAreaElement;
  metadata: HTMLTextAreaElement;
  effective: HTMLInputElement;
}

/**
 * What each field of the form holds, to tell the fields the user changed
 * from the ones left as shown: scopes as the set of switches on, lists
 * without their separators, the rest as typed.
 */
const formState = (f: Controls): Record<string, string> => ({
  name: f.name.value,
  scopes: [...f.scopeBoxes].filter(([, b]) => b.checked).map(([s]) => s).join(" "),
  domains: lines(f.domains.value).join(" "),
  ips: lines(f.ips.value).join(" "),
  credits: f.credits.value.trim(),
  expiresAt: f.expires.value,
  requireSignedRequests: String(f.signed.checked),
  metadata: f.metadata.value.trim(),
});

/** The scope switches turned on (true) or off (false) since the form showed them. */
const turnedSwitches = (f: Controls, shown: Record<string, string>): Map<string, boolean> => {
  const was = new Set(shown.scopes!.split(" "));
  return new Map([...f.scopeBoxes].filter(([s, b]) => b.checked !== was.has(s)).map(([s, b]) => [s, b.checked]));
};

/**
 * A record as the page shows it: a token pasted into any of its text (name,
 * metadata, allowed domains, scopes, in force or scheduled) before keyward
 * refused one there is redacted (`kw_sk_live_[redacted]`), in the list and
 * in the edit form alike (saving the form then drops it from a name or
 * metadata, and refuses a redacted domain until its line is removed).
 */
const shownRecord = (t: TokenRecord): TokenRecord => JSON.parse(redactTokens(JSON.stringify(t))) as TokenRecord;

class KeywardTokens extends HTMLElement {
  #root = this.attachShadow({ mode: "open" });
  #config: Config | null = null;
  #tokens: TokenRecord[] = [];
  #cursor: string | null = null;
  #status = h("p", { className: "status", role: "status" });
  #error = h("p", { className: "error", role: "alert" });
  #list = h("tbody");
  #more = h("button", { type: "button", hidden: true, onclick: () => this.#load(true) }, "Show more");
  #detail = h("section", { className: "detail", hidden: true, "aria-live": "polite" });
  #who = h("p", { className: "note" });
  #create = h("button", { type: "button", className: "primary", hidden: true, onclick: (e: Event) => this.#openForm(null, e.currentTarget as HTMLElement) }, "Create a token");
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The wait before asking again about a change that is due by this browser's clock but still pending on the server. */
  #lateWait = LATE_WAIT_MS;
  #headers: Record<string, string> = {};
  /** Which load of the page is the latest: an earlier one, answered late, shows nothing. */
  #loads = 0;
  /** The store cannot create under an Idempotency-Key (a keyed create was answered 501): creates are sent without one. */
  #keyless = false;

  constructor() {
    super();
    // Set on the element before this module defined it: an own property, which would hide the accessor below.
    if (Object.hasOwn(this, "headers")) {
      const given = (this as { headers?: Record<string, string> }).headers;
      delete (this as { headers?: Record<string, string> }).headers;
      this.#headers = given ?? {};
    }
  }

  /**
   * Extra request headers, e.g. `{ authorization: "Bearer …" }` for bearer
   * sessions. Set before or after the element is in the page: set on a
   * connected element, other headers than before load the page again with
   * them (the first load, made without them, may have been refused).
   */
  get headers(): Record<string, string> {
    return this.#headers;
  }

  set headers(value: Record<string, string>) {
    const same = JSON.stringify(Object.entries(value ?? {})) === JSON.stringify(Object.entries(this.#headers));
    this.#headers = value ?? {};
    // The same headers again (a framework setting the property at each render) load nothing again.
    if (this.isConnected && !same) void this.#start();
  }

  connectedCallback(): void {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES);
    this.#root.adoptedStyleSheets = [sheet];
    const heading = this.getAttribute("heading") ?? "API tokens";
    this.#root.replaceChildren(
      h(
        "section",
        { "aria-labelledby": "kw-title" },
        h(
          "header",
          {},
          h("h1", { id: "kw-title" }, heading),
          this.#create,
        ),
        this.#who,
        this.#status,
        this.#error,
        h(
          "table",
          {},
          h("caption", { className: "sr" }, heading),
          h("thead", {}, h("tr", {}, ...["Name", "Token", "Kind", "Access", "Status", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
          this.#list,
        ),
        this.#more,
        this.#detail,
      ),
    );
    void this.#start();
  }

  disconnectedCallback(): void {
    clearTimeout(this.#timer);
  }

  async #start(): Promise<void> {
    const load = ++this.#loads;
    // Its problem is shown only if no later load started meanwhile (one with the headers given since).
    const problem = h("p");
    const config = await this.#call<Config>("GET", "/config", undefined, problem);
    if (load !== this.#loads) return;
    this.#error.replaceChildren(...problem.childNodes);
    if (!config) return;
    this.#config = config;
    this.#who.replaceChildren(`Signed in as ${config.actor} (${config.role})`);
    if (config.suspended) {
      this.#who.append(
        h("strong", { className: "error" }, "This account is suspended", config.suspendedSince !== null && " since ", config.suspendedSince !== null && when(config.suspendedSince), ": every request with its tokens is refused. Tokens can be revoked or disabled, not created, changed or deleted, until it is lifted."),
      );
    }
    this.#create.hidden = !this.#can("tokens.create.publishable") && !this.#can("tokens.create.secret");
    await this.#load(false);
  }

  /** Whether the caller's role may do `action`: what it may not is not offered. */
  #can(action: string): boolean {
    return this.#config?.actions.includes(action) ?? false;
  }

  /**
   * One API call; a problem is shown in `where` (the page's alert by default) and null returned.
   * `idem`: a create's Idempotency-Key, sent with it (docs/console.md).
   */
  async #call<T>(method: string, path: string, body?: unknown, where: HTMLElement = this.#error, idem?: Idem): Promise<T | null> {
    where.replaceChildren();
    let res = await this.#request<T>(method, path, body, idem);
    // A store without idempotent creation made nothing: sent again without the key, as every later create is.
    if (idem && res?.status === 501 && res.data.code === "STORE_UNSUPPORTED" && !this.#keyless) {
      this.#keyless = true;
      res = await this.#request<T>(method, path, body);
    }
    if (idem && res?.status === 422 && res.data.code === "IDEMPOTENCY_KEY_REUSED") {
      // An earlier submission of this form, with other values, made a token whose answer never arrived: the next one is another creation.
      idem.key = freshKey();
      void this.#load(false);
      where.append("An earlier submission of this form created a token, but its answer never arrived: it is in the list now, its token lost (revoke it unless you need it). Submit again to create this one.");
      return null;
    }
    if (res === null) {
      where.append("The server could not be reached. Check your connection and try again.");
      return null;
    }
    if (res.ok) return res.data;
    // Someone changed the token meanwhile: show its current state, so trying again applies to it.
    const id = res.status === 409 ? /^\/tokens\/([^/?]+)/.exec(path)?.[1] : undefined;
    if (id !== undefined) await this.#reread(id);
    where.append(res.data.detail ?? `Request failed (${res.status}).`, res.data.field ? ` (${res.data.field})` : "");
    return null;
  }

  /** One API call, its status and JSON body; null when the server could not be reached. */
  async #request<T>(method: string, path: string, body?: unknown, idem?: Idem): Promise<{ ok: boolean; status: number; data: T & Problem } | null> {
    const headers: Record<string, string> = { accept: "application/json", ...this.headers };
    if (idem && !this.#keyless) headers["idempotency-key"] = `"${idem.key}"`;
    const csrf = this.getAttribute("csrf-token");
    if (body !== undefined) headers["content-type"] = "application/json";
    // Every request that may change something carries the token, with a body or without (DELETE).
    if (csrf && method !== "GET" && method !== "HEAD") headers["x-csrf-token"] = csrf;
    let res: Response;
    try {
      // referrerPolicy: under a no-referrer page (the console's), a browser true to Fetch §3.1 names a change's origin `null`,
      // which the API refuses from a browser that sends no Sec-Fetch-Site; same-origin names it, and refers to no other site.
      res = await fetch(`${this.getAttribute("api") ?? ""}${path}`, { method, headers, credentials: "same-origin", referrerPolicy: "same-origin", ...(body !== undefined && { body: JSON.stringify(body) }) });
    } catch {
      return null;
    }
    // Only the API's own JSON answers: a page a redirect led to (the sign-in page `authorize` may send a
    // caller whose session ended) or an HTML error page of a proxy is no success, whatever its status.
    const json = /^application\/(problem\+)?json\s*(;|$)/i.test(res.headers.get("content-type") ?? "");
    if (res.redirected) {
      const detail = "The server sent this request elsewhere (has your session ended?): nothing was done. Reload the page to sign in again.";
      return { ok: false, status: res.status, data: { detail } as T & Problem };
    }
    const data = (json ? await res.json().catch(() => ({})) : {}) as T & Problem;
    return { ok: res.ok && json, status: res.status, data };
  }

  /**
   * Shows a token as the server answered it, in place; a token not shown
   * yet (one just created: the newest, so the list's last) is appended. An
   * action changes its token's row only: the pages shown stay.
   */
  #put(record: TokenRecord): void {
    const shown = shownRecord(record);
    const i = this.#tokens.findIndex((x) => x.id === record.id);
    this.#tokens = i < 0 ? [...this.#tokens, shown] : this.#tokens.map((x, j) => (j === i ? shown : x));
    this.#render();
  }

  /** Reads one token again, in place (gone, it leaves the list); a failure leaves the row as it was. */
  async #reread(id: string): Promise<void> {
    const res = await this.#request<TokenRecord>("GET", `/tokens/${id}`);
    if (res?.ok) this.#put(res.data);
    else if (res?.status === 404) this.#drop(id);
  }

  #drop(id: string): void {
    this.#tokens = this.#tokens.filter((x) => x.id !== id);
    this.#render();
  }

  async #load(more: boolean): Promise<void> {
    const page = await this.#call<{ items: TokenRecord[]; nextCursor: string | null }>(
      "GET",
      `/tokens?limit=50${more && this.#cursor ? `&cursor=${encodeURIComponent(this.#cursor)}` : ""}`,
    );
    if (!page) return;
    const items = page.items.map(shownRecord);
    // A token created since the first page was appended: in the next page, it moves to its place.
    const ids = new Set(items.map((t) => t.id));
    this.#tokens = more ? [...this.#tokens.filter((t) => !ids.has(t.id)), ...items] : items;
    this.#cursor = page.nextCursor;
    this.#more.hidden = page.nextCursor === null;
    this.#render();
  }

  /**
   * Reads the tokens again when their next pending change takes effect, so
   * "pending" turns into the policy in force. A change this browser's clock
   * says is due but the server still shows pending (the server's clock is
   * behind) is asked about again after a wait that doubles each time, up to
   * a minute: not four times a second per token for as long as the clocks differ.
   * A read that failed (the network, the server) is tried again the same way.
   */
  #schedule(): void {
    clearTimeout(this.#timer);
    const next = Math.min(...this.#tokens.flatMap((t) => t.scheduled.map((s) => s.effectiveAt)));
    if (!Number.isFinite(next)) return;
    const late = next <= Date.now();
    if (!late) this.#lateWait = LATE_WAIT_MS;
    // setTimeout takes at most 2^31 - 1 ms (about 24.8 days): a later change is scheduled again then.
    const wait = Math.min(late ? this.#lateWait : next - Date.now() + 250, 2 ** 31 - 1);
    this.#timer = setTimeout(() => {
      if (late) this.#lateWait = Math.min(this.#lateWait * 2, MAX_LATE_WAIT_MS);
      const now = Date.now();
      const due = this.#tokens.filter((t) => t.scheduled.some((s) => s.effectiveAt <= now));
      // Scheduled again once they are read, or not: a reread that failed (the network) is tried again.
      void Promise.all(due.map((t) => this.#reread(t.id))).then(() => this.#schedule());
    }, wait);
  }

  #render(): void {
    this.#list.replaceChildren(...this.#tokens.map((t) => this.#row(t)));
    if (this.#tokens.length === 0) this.#list.append(h("tr", {}, h("td", { colSpan: 6 }, "No tokens yet.")));
    this.#schedule();
  }

  #row(t: TokenRecord): HTMLElement {
    const name = t.name || "(unnamed)";
    const now = Date.now();
    const expired = t.policy.expiresAt !== null && t.policy.expiresAt <= now;
    const status = h("td", { className: "state" }, t.revokedAt !== null ? "Revoked" : t.disabledAt !== null ? "Disabled" : expired ? "Expired" : "Active");
    if (t.revokedAt === null) status.append(...this.#pending(t));
    return this.#rowOf(t, name, status);
  }

  /** What is still to come for a live token: scheduled changes, and the end of a regeneration's grace period. */
  #pending(t: TokenRecord): HTMLElement[] {
    const out = t.scheduled.map((s) => h("span", { className: "pending" }, "Change pending: takes effect at ", when(s.effectiveAt)));
    if (t.graceUntil !== null) out.push(h("span", { className: "note" }, "Previous token works until ", when(t.graceUntil)));
    return out;
  }

  #rowOf(t: TokenRecord, name: string, status: HTMLElement): HTMLElement {
    const action = (label: string, run: (opener: HTMLElement) => void, danger = false) =>
      h("button", { type: "button", className: danger ? "danger" : "", "aria-label": `${label} ${name}`, onclick: (e: Event) => run(e.currentTarget as HTMLElement) }, label);
    const live = t.revokedAt === null;
    const p = t.policy;
    return h(
      "tr",
      { "data-id": t.id },
      h("td", {}, name),
      h("td", {}, h("code", {}, `${t.start}…`)),
      h("td", {}, t.kind),
      h(
        "td",
        {},
        p.scopes.join(", "),
        p.domains.length ? h("span", { className: "note" }, `Domains: ${p.domains.join(", ")}`) : null,
        p.ips.length ? h("span", { className: "note" }, `IPs: ${p.ips.join(", ")}`) : null,
        p.credits ? h("span", { className: "note" }, `Credit limit: ${p.credits.limit}`) : null,
        ...Object.entries(p.pools ?? {}).map(([pool, c]) => h("span", { className: "note" }, `Pool ${pool}: ${c.limit}${c.reset ? ` per ${c.reset}` : ""}`)),
        ...[p.rateLimit, ...(p.rateLimits ?? [])].map((r) => r && h("span", { className: "note" }, `Rate limit: ${r.limit} per ${r.windowMs} ms`)),
        p.requireSignedRequests ? h("span", { className: "note" }, "Signed requests required") : null,
        p.expiresAt !== null ? h("span", { className: "note" }, "Expires ", when(p.expiresAt)) : null,
      ),
      status,
      h(
        "td",
        { className: "actions" },
        live && this.#can("tokens.update") && action("Edit", (o) => this.#openForm(t, o)),
        action("Usage", () => void this.#usage(t, "hour")),
        live &&
          this.#can("tokens.regenerate") &&
          (t.kind !== "secret" || this.#can("tokens.create.secret")) &&
          action("Regenerate", (o) => this.#regenerate(t, o)),
        // Enabling waits for the end of a suspension: the API refuses it meanwhile.
        live && this.#can("tokens.disable") && (t.disabledAt === null || !this.#config?.suspended) && action(t.disabledAt === null ? "Disable" : "Enable", () => void this.#toggle(t)),
        live && this.#can("tokens.revoke") && action("Revoke", (o) => this.#revoke(t, o), true),
        this.#can("tokens.delete") && action("Delete", (o) => this.#delete(t, o), true),
      ),
    );
  }

  /**
   * A modal dialog: focus moves in (the first control, or the one with
   * `autofocus`) and back to `opener` when it closes. Closing (a button,
   * Escape) runs `onClose` and removes the dialog at once, in the same task.
   */
  #dialog(title: string, opener: HTMLElement, build: (close: () => void) => Child[], onClose?: () => void): { dialog: HTMLDialogElement; close: () => void } {
    const id = `kw${++uid}`;
    const dialog = h("dialog", { "aria-labelledby": id }, h("h2", { id }, title));
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      onClose?.();
      close();
      dialog.remove();
      opener.focus();
    };
    dialog.append(...build(close).filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
    // Escape: closed here, synchronously, rather than by the browser a task later.
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      close();
    });
    this.#root.append(dialog);
    dialog.showModal();
    return { dialog, close };
  }

  /** Shows a new token (and a generated private key) once; both are gone from the page when the dialog closes. */
  #showOnce(title: string, opener: HTMLElement, secrets: [string, string][]): void {
    const codes: HTMLElement[] = [];
    const done = h("button", { type: "button", className: "primary" }, "Done");
    const { dialog } = this.#dialog(
      title,
      opener,
      (close) => {
        done.addEventListener("click", close);
        return [
          h("p", {}, "Copy it now: this is the only time it is shown. Store it where your application keeps secrets."),
          ...secrets.map(([label, value]) => {
            const copied = h("span", { className: "note", role: "status" });
            const code = h("code", { className: "secret" }, value);
            codes.push(code);
            const copy = h(
              "button",
              {
                type: "button",
                "aria-label": `Copy ${label}`,
                onclick: async () => {
                  copied.textContent = "";
                  await navigator.clipboard.writeText(code.textContent ?? "").then(
                    () => copied.append("Copied."),
                    () => copied.append("Copy failed: select the text and copy it."),
                  );
                },
              },
              "Copy",
            );
            return h("div", { className: "field" }, h("strong", {}, label), code, h("div", { className: "row" }, copy, copied));
          }),
          h("div", { className: "buttons" }, done),
        ];
      },
      () => {
        for (const c of codes) c.textContent = "";
        secrets.length = 0;
      },
    );
    dialog.querySelector<HTMLButtonElement>("button")?.focus();
  }

  #confirm(title: string, opener: HTMLElement, text: string, label: string, extra: Child, run: (error: HTMLElement) => Promise<boolean>): void {
    const error = h("p", { className: "error", role: "alert" });
    this.#dialog(title, opener, (close) => {
      const go = h("button", { type: "button", className: "danger" }, label);
      go.addEventListener("click", async () => {
        go.disabled = true;
        if (await run(error)) close();
        else go.disabled = false;
      });
      return [h("p", {}, text), extra, error, h("div", { className: "buttons" }, h("button", { type: "button", autofocus: true, onclick: close }, "Cancel"), go)];
    });
  }

  #revoke(t: TokenRecord, opener: HTMLElement, title = `Revoke ${t.name || t.start}?`, text = "Applications using this token stop working within seconds. This cannot be undone."): void {
    const name = t.name || t.start;
    this.#confirm(title, opener, text, "Revoke", null, async (error) => {
      const ok = await this.#call<TokenRecord>("POST", `/tokens/${t.id}/revoke`, {}, error);
      if (ok) {
        this.#announce(`${name} was revoked.`);
        this.#put(ok);
      }
      return ok !== null;
    });
  }

  /** Disables a token, or enables a disabled one: reversible, so no confirmation. */
  async #toggle(t: TokenRecord): Promise<void> {
    const name = t.name || t.start;
    const enable = t.disabledAt !== null;
    const ok = await this.#call<TokenRecord>("POST", `/tokens/${t.id}/${enable ? "enable" : "disable"}`, {});
    if (ok) {
      this.#announce(`${name} was ${enable ? "enabled" : "disabled"}.`);
      this.#put(ok);
    }
  }

  #delete(t: TokenRecord, opener: HTMLElement): void {
    const name = t.name || t.start;
    this.#confirm(`Delete ${name}?`, opener, "The token, its limits and its usage are removed for good. Only the audit log keeps a trace.", "Delete", null, async (error) => {
      const ok = await this.#call<Json>("DELETE", `/tokens/${t.id}`, undefined, error);
      if (ok) {
        this.#announce(`${name} was deleted.`);
        this.#drop(t.id);
      }
      return ok !== null;
    });
  }

  #regenerate(t: TokenRecord, opener: HTMLElement): void {
    const grace = h("select", {}, ...GRACE.map(([ms, label]) => h("option", { value: String(ms) }, label)));
    const name = t.name || t.start;
    this.#confirm(
      `Regenerate ${name}?`,
      opener,
      "A new token replaces this one; its settings stay.",
      "Regenerate",
      field("Old token", grace),
      async (error) => {
        const res = await this.#call<{ token: string; record: TokenRecord }>("POST", `/tokens/${t.id}/regenerate`, { expectedRevision: this.#latest(t).revision, graceMs: Number(grace.value) }, error);
        if (!res) return false;
        this.#put(res.record);
        this.#showOnce("Your new token", this.#rowButton(t.id, "Regenerate") ?? opener, [["Token", res.token]]);
        return true;
      },
    );
  }

  /** The token as last loaded (a reload may have happened while a dialog was open). */
  #latest(t: TokenRecord): TokenRecord {
    return this.#tokens.find((x) => x.id === t.id) ?? t;
  }

  #rowButton(id: string, label: string): HTMLElement | null {
    return this.#list.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(id)}"] button[aria-label^="${label} "]`);
  }

  #announce(text: string): void {
    this.#status.textContent = text;
  }

  /**
   * The create / edit form. On edit it shows the token as it will be when the
   * change takes effect ("Takes effect at", empty: now), each field with the
   * changes scheduled after that, and sends only the fields the user changed,
   * at the revision shown: a field left as shown stays as stored, scheduled
   * changes included. A changed field is sent whole, completed from the
   * policy it applies to with what the form shows only in part (a credit
   * limit's refill or calendar reset, scopes it has no switch for, the order
   * of the scopes); an expiry's seconds and milliseconds stay unless it is
   * changed.
   */
  #openForm(t: TokenRecord | null, opener: HTMLElement): void {
    const config = this.#config;
    if (!config) return;
    const name = h("input", { type: "text", maxLength: 256, value: t?.name ?? "", autocomplete: "off" });
    const kind = h(
      "select",
      { disabled: t !== null },
      h("option", { value: "publishable", disabled: !this.#can("tokens.create.publishable") }, "Publishable (web pages and apps)"),
      h("option", { value: "secret", disabled: !this.#can("tokens.create.secret") }, "Secret (servers only)"),
    );
    kind.value = t?.kind ?? "publishable";
    const scopeBoxes = new Map<string, HTMLInputElement>();
    const scopeSwitch = (scope: string, label: string) => {
      if (!config.grantableScopes.includes(scope)) return null;
      const [el, input] = toggle(label, false);
      scopeBoxes.set(scope, input);
      return el;
    };
    const notes = Object.fromEntries(EDITED.map((k) => [k, noteEl()])) as Record<Edited, HTMLElement>;
    const access = h(
      "fieldset",
      { "aria-describedby": notes.scopes.id },
      h("legend", {}, "Data access"),
      notes.scopes,
      scopeSwitch("core:read", "Core data (read)"),
      scopeSwitch("premium:read", "Premium data (read)"),
      ...config.datasets.map((d) =>
        h("fieldset", { className: "dataset" }, h("legend", {}, `Dataset ${d}`), ...["read", "write", "delete"].map((a) => scopeSwitch(`datasets/${d}:${a}`, a))),
      ),
    );
    // Write and delete are for secret tokens: a publishable one lives in pages anyone can read.
    const syncKind = () => {
      for (const [scope, box] of scopeBoxes) {
        if (/:(write|delete)$/.test(scope)) {
          box.disabled = kind.value === "publishable";
          if (box.disabled) box.checked = false;
        }
      }
    };
    kind.addEventListener("change", syncKind);
    const domains = h("textarea", { rows: 2 });
    const ips = h("textarea", { rows: 2 });
    // Limits are the owner's and admins' (the API refuses them to other roles).
    const credits = h("input", { type: "number", min: 0, step: 1, inputMode: "numeric", disabled: !this.#can("tokens.limits") });
    const expires = h("input", { type: "datetime-local", step: 1 });
    const [signedEl, signed] = toggle("Require signed requests (HTTP Message Signatures)", false);
    signed.setAttribute("aria-describedby", notes.requireSignedRequests.id);
    // A new key of a secret token signs for it: the right to make secret tokens (the API refuses it to other roles).
    const newKey = t?.kind !== "secret" || this.#can("tokens.create.secret");
    const keyMode = h(
      "select",
      {},
      h("option", { value: "" }, t?.signing ? `Keep the current ${t.signing.alg} key` : "No signing key"),
      h("option", { value: "generate", disabled: !newKey }, "Generate an Ed25519 key pair in this browser"),
      h("option", { value: "upload", disabled: !newKey }, "Use my Ed25519 public key"),
      !t && h("option", { value: "hmac" }, "HMAC-SHA256, derived from the token"),
    );
    const publicKey = h("textarea", { rows: 2, placeholder: "base64url, SPKI PEM or JWK" });
    const keyFile = h("input", { type: "file", accept: ".pem,.pub,.txt,.json" });
    keyFile.addEventListener("change", async () => {
      publicKey.value = (await keyFile.files?.[0]?.text())?.trim() ?? "";
    });
    const upload = h("div", { hidden: true }, field("Public key", publicKey), field("Or upload it", keyFile));
    keyMode.addEventListener("change", () => {
      upload.hidden = keyMode.value !== "upload";
    });
    const metadataText = (r: TokenRecord | null) => (r && Object.keys(r.metadata).length ? JSON.stringify(r.metadata, null, 2) : "");
    const metadata = h("textarea", { rows: 2, value: metadataText(t) });
    const effective = h("input", { type: "datetime-local", step: 1 });
    const error = h("p", { className: "error", role: "alert" });
    const submit = h("button", { type: "submit", className: "primary" }, t ? "Save changes" : "Create token");
    const form = h(
      "form",
      { noValidate: true },
      field("Name", name, "A nickname to tell your tokens apart."),
      !t && field("Kind", kind),
      access,
      field("Allowed domains", domains, "One per line, e.g. example.com or *.example.com. Empty: any.", notes.domains),
      field("IP ranges", ips, "Addresses or CIDR ranges, one per line. Empty: any.", notes.ips),
      field("Credit limit", credits, "Credits this token may use. Empty: no limit.", notes.credits),
      field("Expires", expires, "Empty: never.", notes.expiresAt),
      h("fieldset", {}, h("legend", {}, "Signed requests"), signedEl, notes.requireSignedRequests, field("Signing key", keyMode), upload),
      field("Metadata (JSON)", metadata),
      t &&
        field(
          "Takes effect at",
          effective,
          "Permission changes take effect at this time (empty: as soon as possible), and the form shows the token as it will be then; name and metadata change at once.",
        ),
      error,
      h("div", { className: "buttons" }, h("button", { type: "button", value: "cancel" }, "Cancel"), submit),
    );
    const { close } = this.#dialog(t ? `Edit ${t.name || t.start}` : "Create a token", opener, () => [form]);
    // One key for the token this form creates, however often it is sent (a retry after a lost answer): one token.
    const idem: Idem = { key: freshKey() };
    form.querySelector<HTMLButtonElement>('button[value="cancel"]')!.addEventListener("click", close);
    name.focus();
    const controls: Controls = { name, kind, scopeBoxes, domains, ips, credits, expires, signed, keyMode, publicKey, metadata, effective };
    const shown = formState(controls);
    /** The token the form edits: the one opened, or the one read after a conflict. */
    let current = t;
    const put: Record<Exclude<Edited, "scopes">, (q: Policy) => void> = {
      domains: (q) => (domains.value = q.domains.join("\n")),
      ips: (q) => (ips.value = q.ips.join("\n")),
      credits: (q) => (credits.value = q.credits ? String(q.credits.limit) : ""),
      expiresAt: (q) => (expires.value = q.expiresAt === null ? "" : toLocalInput(q.expiresAt)),
      requireSignedRequests: (q) => (signed.checked = q.requireSignedRequests),
    };
    // Shows the token as it will be at the time the change takes effect: the fields (and scope switches) the user left as shown follow it.
    const refresh = () => {
      const at = fromLocalInput(effective.value) ?? Date.now();
      const q = current ? policyAt(current, at) : NEW_POLICY;
      const before = formState(controls);
      const turned = turnedSwitches(controls, shown);
      for (const [s, b] of scopeBoxes) if (!turned.has(s)) b.checked = q.scopes.includes(s);
      syncKind();
      for (const [k, set] of Object.entries(put)) if (before[k] === shown[k]) set(q);
      const after = formState(controls);
      for (const k of Object.keys(after)) if (before[k] === shown[k]) shown[k] = after[k]!;
      shown.scopes = [...scopeBoxes].filter(([s, b]) => (turned.has(s) ? !b.checked : b.checked)).map(([s]) => s).join(" ");
      if (current) for (const k of EDITED) pendingNote(notes[k], current, k, at);
    };
    refresh();
    effective.addEventListener("input", refresh);
    /** The controls with a text value, by the formState key of what they hold. */
    const typed = { name, domains, ips, credits, expiresAt: expires, metadata } as Record<string, HTMLInputElement | HTMLTextAreaElement>;
    /**
     * Moves the form onto `latest` (someone changed the token since it was
     * shown): every field the user left as shown follows it, every field and
     * switch they changed keeps their value, and a save applies to `latest`.
     */
    const rebase = (latest: TokenRecord) => {
      const before = formState(controls);
      const changed = Object.keys(before).filter((k) => before[k] !== shown[k]);
      const turned = turnedSwitches(controls, shown);
      const values = Object.fromEntries(Object.entries(typed).map(([k, el]) => [k, el.value]));
      const wasSigned = signed.checked;
      current = latest;
      name.value = latest.name;
      metadata.value = metadataText(latest);
      keyMode.options[0]!.text = latest.signing ? `Keep the current ${latest.signing.alg} key` : "No signing key";
      // Everything as shown, then shown as `latest` is.
      Object.assign(shown, formState(controls));
      refresh();
      for (const k of changed) if (k in typed) typed[k]!.value = values[k]!;
      if (changed.includes("requireSignedRequests")) signed.checked = wasSigned;
      for (const [scope, on] of turned) scopeBoxes.get(scope)!.checked = on;
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      // One submit at a time: a double click sends one request.
      if (submit.disabled) return;
      submit.disabled = true;
      try {
        await this.#submit(current, controls, shown, error, close, opener, idem);
        const latest = current && this.#latest(current);
        if (latest && latest.revision !== current!.revision && form.isConnected) {
          rebase(latest);
          error.append(" The form now shows the token as it is, with your changes: check them and save again.");
        }
      } finally {
        submit.disabled = false;
      }
    });
  }

  async #submit(t: TokenRecord | null, f: Controls, shown: Record<string, string>, error: HTMLElement, close: () => void, opener: HTMLElement, idem: Idem): Promise<void> {
    error.replaceChildren();
    // A changed field is completed from the policy it applies to: the one in force when the change takes effect.
    const effectiveAt = fromLocalInput(f.effective.value);
    const p = t ? policyAt(t, effectiveAt ?? Date.now()) : NEW_POLICY;
    // The switches the user turned on or off, applied to its scopes: the others (the operator's included) stay, in their order.
    const turned = turnedSwitches(f, shown);
    const scopes = [...p.scopes.filter((s) => turned.get(s) !== false), ...[...turned].filter(([s, on]) => on && !p.scopes.includes(s)).map(([s]) => s)];
    const limit = f.credits.value.trim();
    let metadata: unknown = null;
    try {
      metadata = f.metadata.value.trim() === "" ? null : JSON.parse(f.metadata.value);
    } catch {
      error.append("Metadata must be JSON, e.g. {\"team\": \"web\"}.");
      return;
    }
    const next: Json = {
      name: f.name.value,
      scopes,
      domains: lines(f.domains.value),
      ips: lines(f.ips.value),
      // The form shows the limit only: a refill or reset stays.
      credits: limit === "" ? null : { ...(p.credits ?? { refill: null }), limit: Number(limit) },
      expiresAt: fromLocalInput(f.expires.value),
      requireSignedRequests: f.signed.checked,
      metadata: metadata ?? {},
    };
    let privateKey: string | null = null;
    if (f.keyMode.value === "generate") {
      const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
      next.signing = { alg: "ed25519", publicKey: b64url(await crypto.subtle.exportKey("raw", pair.publicKey)) };
      // PKCS #8 of an Ed25519 key (RFC 8410 §7): the 32-byte seed is its last 32 bytes.
      privateKey = b64url(new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey)).slice(-32));
    } else if (f.keyMode.value === "upload") {
      const v = f.publicKey.value.trim();
      next.signing = { alg: "ed25519", publicKey: jwkOr(v) };
    } else if (f.keyMode.value === "hmac") next.signing = { alg: "hmac-sha256" };
    if (t === null) {
      // No limit is the default of a new token: sent only when set.
      const { credits: c, ...rest } = next;
      const body = { kind: f.kind.value, ...rest, ...(c === null ? {} : { credits: c }) };
      const res = await this.#call<{ token: string | null; replayed?: true; record: TokenRecord }>("POST", "/tokens", body, error, idem);
      if (!res) return;
      close();
      this.#put(res.record);
      if (res.token === null) {
        // Sent again under its key: the token the first submission made, never its secret (shown once, in that answer).
        const title = `${res.record.name || res.record.start} was already created`;
        const revoke = this.#can("tokens.revoke");
        const text = `An earlier submission of this form created this token. Its token was shown then, once (or lost, if that answer never arrived), and cannot be shown again: it is not kept. If you do not have it, ${revoke ? "revoke" : "have an owner or admin revoke"} this token and create another.`;
        if (revoke) this.#revoke(res.record, this.#rowButton(res.record.id, "Revoke") ?? opener, title, text);
        else this.#dialog(title, opener, (done) => [h("p", {}, text), h("div", { className: "buttons" }, h("button", { type: "button", onclick: done }, "Close"))]);
        return;
      }
      const secrets: [string, string][] = [["Token", res.token]];
      if (privateKey) secrets.push(["Private key (KEYWARD_PRIVATE_KEY)", privateKey]);
      this.#showOnce("Your new token", this.#rowButton(res.record.id, "Edit") ?? opener, secrets);
      return;
    }
    const now = formState(f);
    const patch = Object.fromEntries(Object.entries(next).filter(([k]) => k === "signing" || now[k] !== shown[k]));
    if (Object.keys(patch).length === 0) {
      close();
      return;
    }
    const body = { expectedRevision: t.revision, patch, ...(effectiveAt !== null && { effectiveAt }) };
    const saved = await this.#call<TokenRecord>("PATCH", `/tokens/${t.id}`, body, error);
    if (!saved) return;
    close();
    this.#put(saved);
    // The revision this change made, if it is still to come: a new instant, or the one asked for (a change already scheduled then is replaced).
    const pending = EDITED.some((k) => k in patch) && saved.scheduled.find((s) => s.effectiveAt === effectiveAt || !t.scheduled.some((o) => o.effectiveAt === s.effectiveAt));
    this.#announce(pending ? `Saved. The change takes effect at ${new Date(pending.effectiveAt).toLocaleString()}.` : "Saved.");
    if (privateKey) this.#showOnce("Your new private key", opener, [["Private key (KEYWARD_PRIVATE_KEY)", privateKey]]);
  }

  /**
   * Usage of one token as an inline SVG bar chart: allowed and denied
   * requests per hour (24 h) or day (30 days). The buckets are UTC hours and
   * days, so they are labelled in UTC (a local date would put a request west
   * of UTC under the day before), and the heading says so.
   */
  async #usage(t: TokenRecord, granularity: "hour" | "day"): Promise<void> {
    const step = granularity === "hour" ? HOUR : 24 * HOUR;
    const slots = granularity === "hour" ? 24 : 30;
    const end = Math.floor(Date.now() / step) * step + step;
    const from = end - slots * step;
    const data = await this.#call<{ buckets: { start: number; allowed: number; denied: number; credits: number }[] }>(
      "GET",
      `/tokens/${t.id}/usage?granularity=${granularity}&from=${from}&to=${end}`,
    );
    if (!data) return;
    const by = new Map(data.buckets.map((b) => [b.start, b]));
    const total = (k: "allowed" | "denied" | "credits") => data.buckets.reduce((n, b) => n + b[k], 0);
    const max = Math.max(1, ...data.buckets.map((b) => b.allowed + b.denied));
    const W = 600;
    const H = 120;
    const bw = W / slots;
    const summary = `${total("allowed")} requests allowed, ${total("denied")} denied, ${total("credits")} credits used`;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H + 16}`, role: "img", "aria-label": `Usage of ${t.name || t.start}: ${summary}`, class: "chart" });
    chart.append(svg("line", { x1: 0, y1: H, x2: W, y2: H }));
    for (let i = 0; i < slots; i++) {
      const start = from + i * step;
      const b = by.get(start);
      const g = svg("g", {});
      const label = new Date(start).toLocaleString(undefined, {
        timeZone: "UTC",
        ...(granularity === "hour" ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric" }),
      });
      g.append(svg("title", {}, `${label}: ${b?.allowed ?? 0} allowed, ${b?.denied ?? 0} denied`));
      const ha = ((b?.allowed ?? 0) / max) * H;
      const hd = ((b?.denied ?? 0) / max) * H;
      g.append(svg("rect", { x: i * bw + 1, y: H - ha, width: bw - 2, height: ha, class: "allowed" }));
      g.append(svg("rect", { x: i * bw + 1, y: H - ha - hd, width: bw - 2, height: hd, class: "denied" }));
      if (i % (granularity === "hour" ? 6 : 7) === 0) g.append(svg("text", { x: i * bw + 1, y: H + 13 }, label));
      chart.append(g);
    }
    const other = granularity === "hour" ? "day" : "hour";
    this.#detail.hidden = false;
    this.#detail.replaceChildren(
      h("h2", {}, `Usage of ${t.name || t.start}, last ${granularity === "hour" ? "24 hours" : "30 days"} (UTC)`),
      h("p", {}, summary),
      chart,
      h("p", { className: "legend" }, h("span", { className: "key allowed" }), " allowed ", h("span", { className: "key denied" }), " denied"),
      h("button", { type: "button", onclick: () => void this.#usage(t, other) }, other === "day" ? "Show 30 days" : "Show 24 hours"),
    );
  }
}

if (!customElements.get("keyward-tokens")) customElements.define("keyward-tokens", KeywardTokens);
