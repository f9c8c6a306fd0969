// TLS failures: a handshake the client or the server refused, told apart from an unreachable
// server so that a misconfiguration fails fast with its reason instead of timing out.

import { TikvError, type TikvErrorOptions } from "./base.js";

/** Why a TLS connection was refused. */
export type TlsFailureReason =
  /** The server's certificate is not signed by the configured CA. */
  | "untrusted-certificate"
  /** A certificate (the server's, or ours as the server reported) is expired or not yet valid. */
  | "certificate-expired"
  /** The server's certificate does not name the dialed host (or `tls.serverName`). */
  | "server-name-mismatch"
  /** The server's certificate common name is not in `tls.verifyCN`. */
  | "common-name-not-allowed"
  /** The server refused our certificate: missing, wrong CA, or its CN is not allowed (cert-allowed-cn). */
  | "client-certificate-rejected"
  /** The endpoint does not speak TLS (plaintext server while TLS is configured). */
  | "plaintext-endpoint";

/**
 * A TLS handshake or certificate check failed; not retryable (the configuration must change).
 *
 * @example
 * ```ts
 * try {
 *   await TikvClient.connect({ pdEndpoints, tls: { ca, cert, key } });
 * } catch (e) {
 *   if (e instanceof TlsError && e.reason === "certificate-expired") rotateCertificates();
 * }
 * ```
 */
export class TlsError extends TikvError {
  constructor(
    /** What was refused. */
    readonly reason: TlsFailureReason,
    /** The transport's description of the failure. */
    readonly details: string,
    /** Address of the server, when known. */
    readonly address?: string,
    options?: TikvErrorOptions,
  ) {
    super("TLS", `tls ${reason}${address ? ` with ${address}` : ""}: ${details}`, options);
  }
}

// Node / OpenSSL texts as grpc-js reports them in a status' details ("Last error: ...").
const PATTERNS: readonly [RegExp, TlsFailureReason][] = [
  [
    /certificate has expired|CERT_HAS_EXPIRED|certificate is not yet valid|alert certificate expired/i,
    "certificate-expired",
  ],
  [/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i, "server-name-mismatch"],
  [/peer certificate common name .* is not one of/i, "common-name-not-allowed"],
  [
    /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|certificate signature failure/i,
    "untrusted-certificate",
  ],
  [
    /alert certificate required|alert unknown ca|alert bad certificate|alert certificate unknown|alert handshake failure|Common name check fail/i,
    "client-certificate-rejected",
  ],
  [/wrong version number|packet length too long|http request/i, "plaintext-endpoint"],
];

/** The TLS failure `text` describes (a gRPC status' details or an error message), if any. */
export function tlsFailureReason(text: string): TlsFailureReason | undefined {
  for (const [re, reason] of PATTERNS) if (re.test(text)) return reason;
  return undefined;
}
