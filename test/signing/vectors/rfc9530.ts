// RFC 9530 (Digest Fields) examples, unfolded per RFC 8792.
// Source: /work/shared/reference/draft-ietf-httpbis-digest-headers.md.

const HELLO = '{"hello": "world"}';

export interface DigestVector {
  section: string;
  body: string;
  alg: "sha-256" | "sha-512";
  /** The Byte Sequence as printed, colons included. */
  value: string;
}

export const DIGEST_VECTORS: DigestVector[] = [
  // Appendix D "Sample Digest Values": the JSON object without a trailing LF.
  { section: "Appendix D", body: HELLO, alg: "sha-512", value: ":WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:" },
  { section: "Appendix D", body: HELLO, alg: "sha-256", value: ":X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:" },
  // §2 and Appendix B.1: the same object followed by an LF.
  { section: "§2", body: `${HELLO}\n`, alg: "sha-512", value: ":YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:" },
  { section: "Appendix B.1", body: `${HELLO}\n`, alg: "sha-256", value: ":RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:" },
  // Appendix B.2: empty content (HEAD response).
  { section: "Appendix B.2", body: "", alg: "sha-256", value: ":47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:" },
  // Appendix B.3: partial content, bytes 10-18 of the object and its LF.
  { section: "Appendix B.3", body: '"world"}\n', alg: "sha-256", value: ":jjcgBDWNAtbYUXI37CVG3gRuGOAjaaDRGpIUFsdyepQ=:" },
];

/**
 * §2's two-algorithm example. Its sha-512 is that of the object plus LF, but
 * its sha-256 (`d435…`, reused in Appendix B for a Brotli-encoded
 * representation) is not, so a recipient checking every supported digest
 * must refuse it for that body.
 */
export const MIXED_DIGEST_EXAMPLE = {
  header:
    "sha-256=:d435Qo+nKZ+gLcUHn7GQtQ72hiBVAgqoLsZnZPiTGPk=:,sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:",
  body: `${HELLO}\n`,
};
