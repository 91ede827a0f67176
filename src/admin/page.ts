// The console page: a host document for the <keyward-tokens> element. The
// page holds no data (the element fetches it), forbids every script, style
// and connection that is not this origin's (CSP Level 3), and gives no
// HTML or script sink a string (Trusted Types, with no policy: the element
// writes text nodes only), so text that slipped past every other guard
// still could not run.

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** Headers of the page: no inline script or style, no HTML from strings (Trusted Types), no framing (clickjacking), no referrer, never cached. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/html; charset=utf-8",
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
});

/** The page's HTML for a base path and title. */
export function consolePage(cfg: { basePath: string; title: string }): string {
  const base = escapeHtml(cfg.basePath);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(cfg.title)}</title>
<script type="module" src="${base}/console.js"></script>
</head>
<body>
<keyward-tokens api="${base}" heading="${escapeHtml(cfg.title)}"></keyward-tokens>
</body>
</html>
`;
}
