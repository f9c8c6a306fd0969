// gRPC channel creation shared by the PD and TiKV connections.

import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { checkServerIdentity, createSecureContext, type PeerCertificate } from "node:tls";
import { type ChannelCredentials, type ChannelOptions, credentials, experimental } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../errors/base.js";
import { TlsError } from "../errors/tls.js";

/** A PEM blob: a Buffer / Uint8Array, an inline PEM string ("-----BEGIN ..."), or a file path. */
export type PemSource = Buffer | Uint8Array | string;

/**
 * TLS of every channel (PD members and every store address PD gives), as client-go's
 * config.Security: CA for verifying servers, optional client cert/key for mutual TLS, and the
 * common names a server certificate may carry (ClusterVerifyCN). With TLS set every channel
 * speaks TLS; a plaintext server is refused (TlsError). grpc-js sends the dialed host as the
 * TLS server name (SNI); for an IP address Node warns once (DEP0123), so use host names or
 * `serverName` where certificates allow it. Files are read again for every new channel, so a
 * rotated certificate is used by the next connection.
 *
 * @example
 * ```ts
 * const client = await TikvClient.connect({
 *   pdEndpoints: ["pd.example:2379"],
 *   tls: { ca: "/etc/tikv/ca.pem", cert: "/etc/tikv/client.pem", key: "/etc/tikv/client-key.pem" },
 * });
 * ```
 */
export interface TlsOptions {
  /** CA certificate(s) (PEM, or a path to a PEM file); default: Node's built-in roots. */
  ca?: PemSource;
  /** Client certificate (PEM or path); needs `key`. */
  cert?: PemSource;
  /** Client private key (PEM or path); needs `cert`. */
  key?: PemSource;
  /** Name servers' certificates are verified against (and sent as SNI) instead of the dialed host. */
  serverName?: string;
  /**
   * Common names a server certificate must carry one of (client-go ClusterVerifyCN, TiKV's
   * cert-allowed-cn seen from the client); empty or omitted = any name the CA signed.
   */
  verifyCN?: readonly string[];
  /**
   * Re-read `ca`, `cert` and `key` (all file paths) every this many ms (client-java's TLS reload
   * interval): connections made afterwards use the new files; open connections are kept, so a
   * rotation causes no reconnects. Omitted = files are read once per channel.
   */
  reloadIntervalMs?: number;
}

/** Options for every channel the client opens. */
export interface ChannelConfig {
  /** TLS settings; omitted means plaintext (insecure) channels. */
  tls?: TlsOptions;
  /** Extra grpc-js channel options merged over the defaults. */
  grpcOptions?: ChannelOptions;
}

function loadPem(src: PemSource | undefined, what: string): Buffer | undefined {
  if (src === undefined) return undefined;
  if (typeof src === "string" && src.startsWith("-----BEGIN")) return Buffer.from(src);
  if (typeof src === "string") {
    try {
      return readFileSync(src);
    } catch (e) {
      throw new InvalidArgumentError(
        `cannot read ${what} file ${src}: ${(e as Error).message}`,
        `tls.${what}`,
      );
    }
  }
  if (!(src instanceof Uint8Array)) {
    throw new InvalidArgumentError("must be a Buffer, a PEM string or a file path", `tls.${what}`);
  }
  return Buffer.from(src.buffer, src.byteOffset, src.byteLength);
}

/** The PEM material of {@link TlsOptions} as Buffers (for node:https clients such as PD's HTTP API). */
export function tlsMaterial(tls: TlsOptions): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  return { ca: loadPem(tls.ca, "ca"), cert: loadPem(tls.cert, "cert"), key: loadPem(tls.key, "key") };
}

/** Checks the shape of {@link TlsOptions} (InvalidArgumentError naming the bad field). */
export function checkTlsOptions(tls: unknown): TlsOptions {
  if (tls === null || typeof tls !== "object") throw new InvalidArgumentError("must be an object", "tls");
  const t = tls as TlsOptions;
  if (t.serverName !== undefined && (typeof t.serverName !== "string" || t.serverName === "")) {
    throw new InvalidArgumentError("must be a non-empty string", "tls.serverName");
  }
  if (
    t.verifyCN !== undefined &&
    (!Array.isArray(t.verifyCN) || t.verifyCN.some((n) => typeof n !== "string" || n === ""))
  ) {
    throw new InvalidArgumentError("must be an array of non-empty strings", "tls.verifyCN");
  }
  if ((t.cert === undefined) !== (t.key === undefined)) {
    throw new InvalidArgumentError("cert and key must be given together", "tls");
  }
  if (t.reloadIntervalMs !== undefined) {
    if (!Number.isInteger(t.reloadIntervalMs) || t.reloadIntervalMs < 1) {
      throw new InvalidArgumentError("must be a positive integer", "tls.reloadIntervalMs");
    }
    for (const what of ["ca", "cert", "key"] as const) {
      const v = t[what];
      if (v !== undefined && (typeof v !== "string" || v.startsWith("-----BEGIN"))) {
        throw new InvalidArgumentError("must be a file path when reloadIntervalMs is set", `tls.${what}`);
      }
    }
    if (t.ca === undefined) throw new InvalidArgumentError("reloadIntervalMs needs a CA file", "tls.ca");
  }
  return t;
}

/**
 * Builds grpc-js credentials from {@link TlsOptions}: insecure when `tls` is undefined. Bad
 * files or PEM get InvalidArgumentError here, not a failed handshake later.
 */
export function channelCredentials(tls?: TlsOptions): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  checkTlsOptions(tls);
  const ca = loadPem(tls.ca, "ca");
  const cert = loadPem(tls.cert, "cert");
  const key = loadPem(tls.key, "key");
  // createSecureContext silently skips a CA that is not PEM: parse its first certificate
  if (ca) parseCertificate(ca, "ca");
  try {
    createSecureContext({ ca, cert, key });
  } catch (e) {
    throw new InvalidArgumentError(`unusable certificate material: ${(e as Error).message}`, "tls", {
      cause: e,
    });
  }
  if (cert) checkValidity(cert);
  const allowed = tls.verifyCN && tls.verifyCN.length > 0 ? new Set(tls.verifyCN) : undefined;
  const verify = {
    // grpc-js passes `serverName` (grpc.ssl_target_name_override) here when it is set
    checkServerIdentity: (host: string, peer: PeerCertificate) =>
      checkServerIdentity(host, peer) ?? (allowed ? checkCommonName(allowed, peer) : undefined),
  };
  if (tls.reloadIntervalMs !== undefined) {
    // grpc-js re-reads the files on its timer while a channel uses them, and builds each new
    // connection's secure context from the latest good read
    const files = new experimental.FileWatcherCertificateProvider({
      caCertificateFile: tls.ca as string,
      certificateFile: tls.cert as string | undefined,
      privateKeyFile: tls.key as string | undefined,
      refreshIntervalMs: tls.reloadIntervalMs,
    });
    return experimental.createCertificateProviderChannelCredentials(files, cert ? files : null, verify);
  }
  return credentials.createSsl(ca ?? null, key ?? null, cert ?? null, verify);
}

function parseCertificate(pem: Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new InvalidArgumentError(`not a PEM certificate: ${(e as Error).message}`, `tls.${what}`, {
      cause: e,
    });
  }
}

// A server refusing an expired client certificate under TLS 1.3 only closes the connection
// (grpc-js reports "Failed to connect"), so check our own certificate's dates before dialing.
function checkValidity(pem: Buffer): void {
  const c = parseCertificate(pem, "cert");
  const now = Date.now();
  if (now > Date.parse(c.validTo) || now < Date.parse(c.validFrom)) {
    throw new TlsError(
      "certificate-expired",
      `client certificate ${c.subject.replace(/\n/g, ", ")} is valid from ${c.validFrom} to ${c.validTo}`,
    );
  }
}

// client-go ClusterVerifyCN: the peer certificate's subject CN must be listed.
function checkCommonName(allowed: ReadonlySet<string>, peer: PeerCertificate): Error | undefined {
  const raw = peer.subject?.CN;
  const cn = Array.isArray(raw) ? raw[0] : raw;
  if (cn !== undefined && allowed.has(cn)) return undefined;
  return Object.assign(
    new Error(`peer certificate common name ${cn ?? "(none)"} is not one of ${[...allowed].join(", ")}`),
    { code: "ERR_TLS_CERT_CN_NOT_ALLOWED" },
  );
}

/** Default channel options: unlimited message sizes, keepalive like client-go (10s/3s). */
export const DEFAULT_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.max_receive_message_length": -1,
  "grpc.max_send_message_length": -1,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 3_000,
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 3_000,
};

/** Merges defaults with the caller's channel options. */
export function channelOptions(cfg?: ChannelConfig): ChannelOptions {
  const serverName = cfg?.tls?.serverName;
  const base = serverName
    ? { ...DEFAULT_CHANNEL_OPTIONS, "grpc.ssl_target_name_override": serverName }
    : DEFAULT_CHANNEL_OPTIONS;
  return cfg?.grpcOptions ? { ...base, ...cfg.grpcOptions } : base;
}

/**
 * Turns a PD/TiKV address ("http://h:p", "https://h:p", "h:p") into grpc's "h:p" target.
 * Rejects empty addresses and addresses without a port.
 */
export function grpcTarget(address: string): string {
  const trimmed = address
    .trim()
    .replace(/^(https?|grpcs?):\/\//i, "")
    .replace(/\/+$/, "");
  if (!trimmed || !/:\d+$/.test(trimmed)) {
    throw new InvalidArgumentError(`address "${address}" must be host:port`, "address");
  }
  return trimmed;
}
