let query = "";
for (let i = 0; `https://api.example.com/p?${query}&q${i}=1`.length <= 8 * 1024; i++) query += `${query ? "&" : ""}q${i}=1`;
const sliced = new URL("https://a.b/p?" + query).search;
const flat = Buffer.from(sliced, "latin1").toString("latin1");
function scan(s) { let n = 0; for (let i = 0; i < s.length; i++) n += s.charCodeAt(i); return n; }
function idx(s) { let n = 0; for (let p = 0; p < s.length; ) { let a = s.indexOf("&", p); if (a < 0) a = s.length; n++; p = a + 1; } return n; }
for (const [name, s] of [["sliced", sliced], ["flat", flat]]) for (const [fn, f] of [["scan", scan], ["idx", idx]]) {
  for (let i = 0; i < 3000; i++) f(s);
  const N = 5000, t = performance.now(); for (let i = 0; i < N; i++) f(s);
  console.log(name, fn, ((performance.now() - t) / N * 1000).toFixed(1), "µs");
}
