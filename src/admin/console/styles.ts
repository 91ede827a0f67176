// The console's styles, adopted by the element's shadow root. Theme it from
// the host page with the --kw-* custom properties (docs/console.md), which
// inherit into the shadow tree. Default colours meet WCAG 2.2 AA contrast
// (4.5:1 for text) on the default background.
export const STYLES = `
:host{--kw-font:system-ui,sans-serif;--kw-fg:#1b1b1f;--kw-bg:#fff;--kw-muted:#4a4a55;--kw-border:#c4c4cc;--kw-accent:#0b57d0;--kw-accent-fg:#fff;--kw-danger:#b3261e;--kw-pending:#7a4a00;--kw-radius:6px;display:block;font:15px/1.45 var(--kw-font);color:var(--kw-fg);background:var(--kw-bg);padding:1rem}
*{box-sizing:border-box}
header{display:flex;align-items:center;justify-content:space-between;gap:1rem;flex-wrap:wrap}
h1{font-size:1.4rem;margin:0}h2{font-size:1.1rem;margin:0 0 .75rem}
table{width:100%;border-collapse:collapse;margin-top:1rem}
th,td{text-align:left;vertical-align:top;padding:.5rem;border-bottom:1px solid var(--kw-border)}
th{font-weight:600;color:var(--kw-muted)}
code{font-family:ui-monospace,monospace;font-size:.9em;overflow-wrap:anywhere}td code{white-space:nowrap}
.note,.pending{display:block;font-size:.85em;color:var(--kw-muted)}.pending{color:var(--kw-pending);font-weight:600}.pending:empty{display:none}
.actions{display:flex;flex-wrap:wrap;gap:.35rem}
button,input,select,textarea{font:inherit;color:inherit}
button{border:1px solid var(--kw-border);background:var(--kw-bg);border-radius:var(--kw-radius);padding:.35rem .75rem;cursor:pointer}
button.primary{background:var(--kw-accent);border-color:var(--kw-accent);color:var(--kw-accent-fg)}
button.danger{color:var(--kw-danger);border-color:var(--kw-danger)}
button:disabled{opacity:.6;cursor:default}
:focus-visible{outline:3px solid var(--kw-accent);outline-offset:2px}
dialog{border:1px solid var(--kw-border);border-radius:var(--kw-radius);background:var(--kw-bg);color:var(--kw-fg);width:min(40rem,95vw);max-height:90vh;padding:1.25rem}
dialog::backdrop{background:rgb(0 0 0/.45)}
.field{display:flex;flex-direction:column;gap:.2rem;margin:.6rem 0}
label{font-weight:600}small{color:var(--kw-muted)}
input[type=text],input[type=number],input[type=datetime-local],select,textarea{border:1px solid var(--kw-border);border-radius:var(--kw-radius);padding:.35rem .5rem;background:var(--kw-bg)}
fieldset{border:1px solid var(--kw-border);border-radius:var(--kw-radius);margin:.6rem 0;padding:.5rem .75rem}
fieldset.dataset{display:flex;gap:1rem;flex-wrap:wrap}
.switch{display:flex;align-items:center;gap:.5rem;font-weight:400;margin:.2rem 0}
.switch input{accent-color:var(--kw-accent);width:1.1rem;height:1.1rem}
.buttons,.row{display:flex;gap:.5rem;align-items:center}.buttons{justify-content:flex-end;margin-top:1rem}
.secret{display:block;padding:.5rem;border:1px dashed var(--kw-border);border-radius:var(--kw-radius);user-select:all}
.error{color:var(--kw-danger);font-weight:600;margin:.5rem 0}.error:empty,.status:empty{display:none}
.detail{margin-top:1.5rem}
.chart{width:100%;max-width:40rem;height:auto}.chart text{font-size:10px;fill:var(--kw-muted)}.chart line{stroke:var(--kw-border)}
.allowed{fill:var(--kw-accent);background:var(--kw-accent)}.denied{fill:var(--kw-danger);background:var(--kw-danger)}
.key{display:inline-block;width:.8em;height:.8em;vertical-align:middle}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
[hidden]{display:none!important}
`;
