let query = "";
for (let i = 0; `https://api.example.com/p?${query}&q${i}=1`.length <= 8 * 1024; i++) query += `${query ? "&" : ""}q${i}=1`;
const search = "?" + query;
const values = new Map([["q0", undefined]]);
function loop(mode) {
  const end = search.length; let equals = -1; let n = 0;
  for (let pos = 1; pos < end; ) {
    let amp = search.indexOf("&", pos); if (amp < 0) amp = end;
    if (equals < pos) { equals = search.indexOf("=", pos); if (equals < 0) equals = end; }
    if (amp > pos) {
      const nameEnd = Math.min(equals, amp);
      if (mode >= 1) { const name = search.slice(pos, nameEnd);
        if (mode >= 2) { if (name.indexOf("%") >= 0 || name.indexOf("+") >= 0) n++; }
        if (mode >= 3) { if (values.has(name)) n++; } }
    }
    pos = amp + 1;
  }
  return n;
}
function charloop() {
  let n = 0; const end = search.length;
  for (let i = 1; i < end; i++) { const c = search.charCodeAt(i); if (c === 38) n++; }
  return n;
}
for (const [name, f] of [["indexOf only", () => loop(0)], ["+slice", () => loop(1)], ["+%/+ check", () => loop(2)], ["+Map.has", () => loop(3)], ["charCodeAt scan", charloop]]) {
  for (let i = 0; i < 2000; i++) f();
  const N = 5000; const t = performance.now();
  for (let i = 0; i < N; i++) f();
  console.log(name, ((performance.now() - t) / N * 1000).toFixed(1), "µs");
}
