// RFC 9421 Appendix B (B.1 example keys, B.2 test cases), unfolded per RFC 8792.
// Generated from /work/shared/reference/draft-ietf-httpbis-message-signatures.md;
// values are copied verbatim. Erratum (see reference/README.md): the
// Content-Digest shown on `test-response` does not match its body; the value
// inside the B.2.4 signature base is the correct SHA-512 and is used here.

/** B.1.2 `test-key-rsa-pss` public key (SPKI PEM). */
export const TEST_KEY_RSA_PSS_PUBLIC = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2\n+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+\noAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq\ngDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W\nUtzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4\naOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI\n2wIDAQAB\n-----END PUBLIC KEY-----";

/** B.1.3 `test-key-ecc-p256` public key (SPKI PEM). */
export const TEST_KEY_ECC_P256_PUBLIC = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf\nw0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==\n-----END PUBLIC KEY-----";

/** B.1.4 `test-key-ed25519` (JWK members, base64url). */
export const TEST_KEY_ED25519 = { d: "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU", x: "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs" } as const;

/** B.1.5 `test-shared-secret` (base64). */
export const TEST_SHARED_SECRET = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";

/** B.2 `test-request`. */
export const TEST_REQUEST = {
  method: "POST",
  url: "https://example.com/foo?param=Value&Pet=dog",
  headers: [
    ["Host", "example.com"],
    ["Date", "Tue, 20 Apr 2021 02:07:55 GMT"],
    ["Content-Type", "application/json"],
    ["Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"],
    ["Content-Length", "18"],
  ] as [string, string][],
  body: '{"hello": "world"}',
};

/** B.2 `test-response`, with the corrected Content-Digest (the one inside the B.2.4 base). */
export const TEST_RESPONSE = {
  status: 200,
  headers: [
    ["Date", "Tue, 20 Apr 2021 02:07:56 GMT"],
    ["Content-Type", "application/json"],
    ["Content-Digest", "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:"],
    ["Content-Length", "23"],
  ] as [string, string][],
  body: '{"message": "good dog"}',
};

/** The Content-Digest printed on `test-response` in B.2 (wrong: the erratum). */
export const TEST_RESPONSE_PRINTED_DIGEST = "sha-512=:JlEy2bfUz7WrWIjc1qV6KVLpdr/7L5/L4h7Sxvh6sNHpDQWDCL+GauFQWcZBvVDhiyOnAQsxzZFYwi0wDH+1pw==:";

export interface B2Case {
  /** RFC section. */
  section: string;
  message: "request" | "response";
  label: string;
  components: string[];
  params: { created: number; keyid: string; nonce?: string; tag?: string };
  order: ("created" | "keyid" | "nonce" | "tag")[];
  alg: "rsa-pss-sha512" | "ecdsa-p256-sha256" | "hmac-sha256" | "ed25519";
  base: string;
  signatureInput: string;
  signature: string;
}
/** B.2.1-B.2.6: signature bases and the fields added to the message. */
export const B2_CASES: B2Case[] = [
  {
    section: "B.2.1",
    message: "request",
    label: "sig-b21",
    components: [],
    params: { created: 1618884473, keyid: "test-key-rsa-pss", nonce: "b3k2pp5k7z-50gnwp.yemd" },
    order: ["created", "keyid", "nonce"],
    alg: "rsa-pss-sha512",
    base: [
      "\"@signature-params\": ();created=1618884473;keyid=\"test-key-rsa-pss\";nonce=\"b3k2pp5k7z-50gnwp.yemd\"",
    ].join("\n"),
    signatureInput: "sig-b21=();created=1618884473;keyid=\"test-key-rsa-pss\";nonce=\"b3k2pp5k7z-50gnwp.yemd\"",
    signature: "sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:",
  },
  {
    section: "B.2.2",
    message: "request",
    label: "sig-b22",
    components: ["@authority", "content-digest", "@query-param;name=\"Pet\""],
    params: { created: 1618884473, keyid: "test-key-rsa-pss", tag: "header-example" },
    order: ["created", "keyid", "tag"],
    alg: "rsa-pss-sha512",
    base: [
      "\"@authority\": example.com",
      "\"content-digest\": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
      "\"@query-param\";name=\"Pet\": dog",
      "\"@signature-params\": (\"@authority\" \"content-digest\" \"@query-param\";name=\"Pet\");created=1618884473;keyid=\"test-key-rsa-pss\";tag=\"header-example\"",
    ].join("\n"),
    signatureInput: "sig-b22=(\"@authority\" \"content-digest\" \"@query-param\";name=\"Pet\");created=1618884473;keyid=\"test-key-rsa-pss\";tag=\"header-example\"",
    signature: "sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==:",
  },
  {
    section: "B.2.3",
    message: "request",
    label: "sig-b23",
    components: ["date", "@method", "@path", "@query", "@authority", "content-type", "content-digest", "content-length"],
    params: { created: 1618884473, keyid: "test-key-rsa-pss" },
    order: ["created", "keyid"],
    alg: "rsa-pss-sha512",
    base: [
      "\"date\": Tue, 20 Apr 2021 02:07:55 GMT",
      "\"@method\": POST",
      "\"@path\": /foo",
      "\"@query\": ?param=Value&Pet=dog",
      "\"@authority\": example.com",
      "\"content-type\": application/json",
      "\"content-digest\": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
      "\"content-length\": 18",
      "\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@query\" \"@authority\" \"content-type\" \"content-digest\" \"content-length\");created=1618884473;keyid=\"test-key-rsa-pss\"",
    ].join("\n"),
    signatureInput: "sig-b23=(\"date\" \"@method\" \"@path\" \"@query\" \"@authority\" \"content-type\" \"content-digest\" \"content-length\");created=1618884473;keyid=\"test-key-rsa-pss\"",
    signature: "sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:",
  },
  {
    section: "B.2.4",
    message: "response",
    label: "sig-b24",
    components: ["@status", "content-type", "content-digest", "content-length"],
    params: { created: 1618884473, keyid: "test-key-ecc-p256" },
    order: ["created", "keyid"],
    alg: "ecdsa-p256-sha256",
    base: [
      "\"@status\": 200",
      "\"content-type\": application/json",
      "\"content-digest\": sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:",
      "\"content-length\": 23",
      "\"@signature-params\": (\"@status\" \"content-type\" \"content-digest\" \"content-length\");created=1618884473;keyid=\"test-key-ecc-p256\"",
    ].join("\n"),
    signatureInput: "sig-b24=(\"@status\" \"content-type\" \"content-digest\" \"content-length\");created=1618884473;keyid=\"test-key-ecc-p256\"",
    signature: "sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:",
  },
  {
    section: "B.2.5",
    message: "request",
    label: "sig-b25",
    components: ["date", "@authority", "content-type"],
    params: { created: 1618884473, keyid: "test-shared-secret" },
    order: ["created", "keyid"],
    alg: "hmac-sha256",
    base: [
      "\"date\": Tue, 20 Apr 2021 02:07:55 GMT",
      "\"@authority\": example.com",
      "\"content-type\": application/json",
      "\"@signature-params\": (\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\"",
    ].join("\n"),
    signatureInput: "sig-b25=(\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\"",
    signature: "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:",
  },
  {
    section: "B.2.6",
    message: "request",
    label: "sig-b26",
    components: ["date", "@method", "@path", "@authority", "content-type", "content-length"],
    params: { created: 1618884473, keyid: "test-key-ed25519" },
    order: ["created", "keyid"],
    alg: "ed25519",
    base: [
      "\"date\": Tue, 20 Apr 2021 02:07:55 GMT",
      "\"@method\": POST",
      "\"@path\": /foo",
      "\"@authority\": example.com",
      "\"content-type\": application/json",
      "\"content-length\": 18",
      "\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"",
    ].join("\n"),
    signatureInput: "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"",
    signature: "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:",
  },
];
