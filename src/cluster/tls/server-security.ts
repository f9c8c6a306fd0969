// TLS for the embedded cluster's gRPC servers, as TiKV's and PD's [security] section: with a CA,
// cert and key the servers speak TLS only and require a client certificate signed by the CA
// (TiKV binds with RequestAndRequireClientCertificateAndVerify); `allowedCommonNames` is TiKV's
// cert-allowed-cn, checked on every call (TiKV's CnChecker aborts with UNAUTHENTICATED).

import { readFileSync } from "node:fs";
import {
  type ChannelCredentials,
  credentials as ChannelCreds,
  ServerCredentials as Creds,
  Metadata,
  ResponderBuilder,
  type ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptor,
  ServerListenerBuilder,
  status,
} from "@grpc/grpc-js";

/** A PEM blob inline (string starting with "-----BEGIN", Buffer, Uint8Array) or a file path. */
export type ServerPem = string | Buffer | Uint8Array;

/** TLS settings of every server of the embedded cluster (PD members and stores). */
export interface ClusterTlsOptions {
  /** CA that signs client certificates (TiKV security.ca-path). */
  ca: ServerPem;
  /** Server certificate (security.cert-path). */
  cert: ServerPem;
  /** Server private key (security.key-path). */
  key: ServerPem;
  /**
   * Require and verify a client certificate (mutual TLS; default true, as TiKV whenever a CA
   * is configured). False = server-authenticated TLS only.
   */
  requireClientCert?: boolean;
  /** Client certificate common names allowed to call (TiKV security.cert-allowed-cn); empty = any. */
  allowedCommonNames?: readonly string[];
}

/** Thrown when cluster TLS options are unusable. */
export class ClusterTlsError extends Error {
  readonly code = "ClusterTls";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClusterTlsError";
  }
}

function pem(src: ServerPem, what: string): Buffer {
  if (typeof src !== "string") return Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  if (src.startsWith("-----BEGIN")) return Buffer.from(src);
  try {
    return readFileSync(src);
  } catch (e) {
    throw new ClusterTlsError(`cannot read tls.${what} file ${src}: ${(e as Error).message}`, { cause: e });
  }
}

/** Credentials and call checks shared by every server of one cluster. */
export class ServerSecurity {
  /** Plaintext servers. */
  static readonly insecure = new ServerSecurity(undefined);

  private readonly loaded: { ca: Buffer; cert: Buffer; key: Buffer; requireClientCert: boolean } | undefined;
  /** Server interceptors to install (the common-name check), empty without one. */
  readonly interceptors: ServerInterceptor[];

  constructor(tls: ClusterTlsOptions | undefined) {
    if (!tls) {
      this.loaded = undefined;
      this.interceptors = [];
      return;
    }
    if (tls.requireClientCert !== undefined && typeof tls.requireClientCert !== "boolean") {
      throw new ClusterTlsError("tls.requireClientCert must be a boolean");
    }
    const allowed = tls.allowedCommonNames ?? [];
    if (!Array.isArray(allowed) || allowed.some((n) => typeof n !== "string" || n === "")) {
      throw new ClusterTlsError("tls.allowedCommonNames must be an array of non-empty strings");
    }
    const requireClientCert = tls.requireClientCert ?? true;
    if (allowed.length > 0 && !requireClientCert) {
      throw new ClusterTlsError("tls.allowedCommonNames needs requireClientCert");
    }
    this.loaded = {
      ca: pem(tls.ca, "ca"),
      cert: pem(tls.cert, "cert"),
      key: pem(tls.key, "key"),
      requireClientCert,
    };
    this.interceptors = allowed.length > 0 ? [commonNameChecker(new Set(allowed))] : [];
  }

  /** True when the servers speak TLS. */
  get enabled(): boolean {
    return this.loaded !== undefined;
  }

  /** URL scheme PD announces for its members. */
  get scheme(): "http" | "https" {
    return this.loaded ? "https" : "http";
  }

  /**
   * Credentials a store uses to call another store (its forwarding proxy): the server pair as
   * the client certificate, as TiKV's security manager does.
   */
  peerCredentials(): ChannelCredentials {
    const l = this.loaded;
    if (!l) return ChannelCreds.createInsecure();
    return ChannelCreds.createSsl(l.ca, l.key, l.cert);
  }

  /**
   * node:https server options with the same material (PD's HTTP API shares its TLS with gRPC);
   * undefined for plaintext.
   */
  httpsOptions():
    | { ca: Buffer; cert: Buffer; key: Buffer; requestCert: boolean; rejectUnauthorized: boolean }
    | undefined {
    const l = this.loaded;
    if (!l) return undefined;
    return {
      ca: l.ca,
      cert: l.cert,
      key: l.key,
      requestCert: l.requireClientCert,
      rejectUnauthorized: l.requireClientCert,
    };
  }

  /** Fresh credentials for one bindAsync (grpc-js credentials are per server). */
  credentials(): ServerCredentials {
    const l = this.loaded;
    if (!l) return Creds.createInsecure();
    return Creds.createSsl(l.ca, [{ cert_chain: l.cert, private_key: l.key }], l.requireClientCert);
  }
}

// TiKV's CnChecker: the peer certificate's subject CN must be one of the allowed names.
function commonNameChecker(allowed: ReadonlySet<string>): ServerInterceptor {
  const list = JSON.stringify([...allowed]);
  return (_method, call) => {
    const subjectCn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
    const cn = Array.isArray(subjectCn) ? subjectCn[0] : subjectCn;
    const reason =
      cn === undefined
        ? "x509_common_name doesn't exist"
        : allowed.has(cn)
          ? undefined
          : `x509_common_name from peer is ${cn}`;
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((md, next) => {
        if (reason === undefined) next(md);
        else
          call.sendStatus({
            code: status.UNAUTHENTICATED,
            details: `Common name check fail, reason: ${reason}, cert_allowed_cn: ${list}`,
            metadata: new Metadata(),
          });
      })
      .build();
    return new ServerInterceptingCall(
      call,
      new ResponderBuilder().withStart((next) => next(listener)).build(),
    );
  };
}
