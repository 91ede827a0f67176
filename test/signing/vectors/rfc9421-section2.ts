// Component-value examples of RFC 9421 §2 (non-normative), as data.
// Source: /work/shared/reference/draft-ietf-httpbis-message-signatures.md.

export interface ComponentVector {
  section: string;
  method?: string;
  url: string;
  headers?: [string, string][];
  /** Component identifier as a caller writes it. */
  component: string;
  /** The expected signature base line. */
  line: string;
}

// §2.1: "X-Obs-Fold-Header: Obsolete\n    line folding." cannot be carried by the
// Fetch API (it rejects newlines), so only its expected result is used.
const FIELDS: [string, string][] = [
  ["Host", "www.example.com"],
  ["Date", "Tue, 20 Apr 2021 02:07:56 GMT"],
  ["X-OWS-Header", "   Leading and trailing whitespace.   "],
  ["X-Obs-Fold-Header", "Obsolete line folding."],
  ["Cache-Control", "max-age=60"],
  ["Cache-Control", "   must-revalidate"],
  ["Example-Dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)"],
  ["X-Empty-Header", ""],
];

// §2.1.2 uses a slightly different Example-Dict value.
const DICT: [string, string][] = [["Example-Dict", " a=1, b=2;x=1;y=2, c=(a   b    c), d"]];

const REQ = "http://www.example.com/path?param=value";

export const COMPONENT_VECTORS: ComponentVector[] = [
  { section: "§2.1", url: REQ, headers: FIELDS, component: "host", line: '"host": www.example.com' },
  { section: "§2.1", url: REQ, headers: FIELDS, component: "date", line: '"date": Tue, 20 Apr 2021 02:07:56 GMT' },
  { section: "§2.1", url: REQ, headers: FIELDS, component: "x-ows-header", line: '"x-ows-header": Leading and trailing whitespace.' },
  { section: "§2.1", url: REQ, headers: FIELDS, component: "x-obs-fold-header", line: '"x-obs-fold-header": Obsolete line folding.' },
  { section: "§2.1", url: REQ, headers: FIELDS, component: "cache-control", line: '"cache-control": max-age=60, must-revalidate' },
  { section: "§2.1", url: REQ, headers: FIELDS, component: "example-dict", line: '"example-dict": a=1,    b=2;x=1;y=2,   c=(a   b   c)' },
  { section: "§2.1", url: REQ, headers: FIELDS, component: "x-empty-header", line: '"x-empty-header": ' },
  { section: "§2.1.1", url: REQ, headers: FIELDS, component: "example-dict;sf", line: '"example-dict";sf: a=1, b=2;x=1;y=2, c=(a b c)' },
  { section: "§2.1.2", url: REQ, headers: DICT, component: 'example-dict;key="a"', line: '"example-dict";key="a": 1' },
  { section: "§2.1.2", url: REQ, headers: DICT, component: 'example-dict;key="d"', line: '"example-dict";key="d": ?1' },
  { section: "§2.1.2", url: REQ, headers: DICT, component: 'example-dict;key="b"', line: '"example-dict";key="b": 2;x=1;y=2' },
  { section: "§2.1.2", url: REQ, headers: DICT, component: 'example-dict;key="c"', line: '"example-dict";key="c": (a b c)' },
  {
    section: "§2.1.3",
    url: REQ,
    headers: [["Example-Header", "value, with, lots, of, commas"]],
    component: "example-header;bs",
    line: '"example-header";bs: :dmFsdWUsIHdpdGgsIGxvdHMsIG9mLCBjb21tYXM=:',
  },
  { section: "§2.2.1", method: "POST", url: REQ, component: "@method", line: '"@method": POST' },
  {
    section: "§2.2.2",
    method: "POST",
    url: "https://www.example.com/path?param=value",
    component: "@target-uri",
    line: '"@target-uri": https://www.example.com/path?param=value',
  },
  { section: "§2.2.3", method: "POST", url: REQ, component: "@authority", line: '"@authority": www.example.com' },
  { section: "§2.2.4", method: "POST", url: REQ, component: "@scheme", line: '"@scheme": http' },
  { section: "§2.2.5", method: "POST", url: REQ, component: "@request-target", line: '"@request-target": /path?param=value' },
  { section: "§2.2.6", url: REQ, component: "@path", line: '"@path": /path' },
  {
    section: "§2.2.7",
    url: "http://www.example.com/path?param=value&foo=bar&baz=bat%2Dman",
    component: "@query",
    line: '"@query": ?param=value&foo=bar&baz=bat%2Dman',
  },
  { section: "§2.2.7", method: "POST", url: "http://www.example.com/path?queryString", component: "@query", line: '"@query": ?queryString' },
  { section: "§2.2.7", url: "http://www.example.com/path", component: "@query", line: '"@query": ?' },
  {
    section: "§2.2.8",
    url: "http://www.example.com/path?param=value&foo=bar&baz=batman&qux=",
    component: '@query-param;name="baz"',
    line: '"@query-param";name="baz": batman',
  },
  {
    section: "§2.2.8",
    url: "http://www.example.com/path?param=value&foo=bar&baz=batman&qux=",
    component: '@query-param;name="qux"',
    line: '"@query-param";name="qux": ',
  },
  {
    section: "§2.2.8",
    url: "http://www.example.com/path?param=value&foo=bar&baz=batman&qux=",
    component: '@query-param;name="param"',
    line: '"@query-param";name="param": value',
  },
  {
    section: "§2.2.8",
    url: "http://www.example.com/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something",
    component: '@query-param;name="var"',
    line: '"@query-param";name="var": this%20is%20a%20big%0Amultiline%20value',
  },
  {
    section: "§2.2.8",
    url: "http://www.example.com/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something",
    component: '@query-param;name="bar"',
    line: '"@query-param";name="bar": with%20plus%20whitespace',
  },
  {
    section: "§2.2.8",
    url: "http://www.example.com/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something",
    component: '@query-param;name="fa%C3%A7ade%22%3A%20"',
    line: '"@query-param";name="fa%C3%A7ade%22%3A%20": something',
  },
];

/** §2.3: a `@signature-params` value with parameters in a chosen order. */
export const SIGNATURE_PARAMS_EXAMPLE = {
  url: "https://www.example.com/",
  headers: [
    ["Date", "Tue, 20 Apr 2021 02:07:56 GMT"],
    ["Cache-Control", "max-age=60"],
  ] as [string, string][],
  components: ["@target-uri", "@authority", "date", "cache-control"],
  params: { keyid: "test-key-rsa-pss", alg: "rsa-pss-sha512", created: 1618884475, expires: 1618884775 },
  order: ["keyid", "alg", "created", "expires"] as ("keyid" | "alg" | "created" | "expires")[],
  value:
    '("@target-uri" "@authority" "date" "cache-control");keyid="test-key-rsa-pss";alg="rsa-pss-sha512";created=1618884475;expires=1618884775',
};

/** §2.5 example base and the §3.1 signature over it (rsa-pss-sha512, test-key-rsa-pss). */
export const SECTION_2_5_EXAMPLE = {
  components: ["@method", "@authority", "@path", "content-digest", "content-length", "content-type"],
  params: { created: 1618884473, keyid: "test-key-rsa-pss" },
  base: [
    '"@method": POST',
    '"@authority": example.com',
    '"@path": /foo',
    '"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
    '"content-length": 18',
    '"content-type": application/json',
    '"@signature-params": ("@method" "@authority" "@path" "content-digest" "content-length" "content-type");created=1618884473;keyid="test-key-rsa-pss"',
  ].join("\n"),
  signature:
    "HIbjHC5rS0BYaa9v4QfD4193TORw7u9edguPh0AW3dMq9WImrlFrCGUDih47vAxi4L2YRZ3XMJc1uOKk/J0ZmZ+wcta4nKIgBkKq0rM9hs3CQyxXGxHLMCy8uqK488o+9jrptQ+xFPHK7a9sRL1IXNaagCNN3ZxJsYapFj+JXbmaI5rtAdSfSvzPuBCh+ARHBmWuNo1UzVVdHXrl8ePL4cccqlazIJdC4QEjrF+Sn4IxBQzTZsL9y9TP5FsZYzHvDqbInkTNigBcE9cKOYNFCn4D/WM7F6TNuZO9EgtzepLWcjTymlHzK7aXq6Am6sfOrpIC49yXjj3ae6HRalVc/g==",
};
