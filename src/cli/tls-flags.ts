// TLS flags of `tikv-ts cluster`: certificates from files, or generated into a directory so
// that clients (and other TiKV clients under test) can read them.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ClusterTlsOptions } from "../cluster/tls/server-security.js";
import { generateClusterCertificates } from "../cluster/tls/test-certs.js";

/** The parsed TLS flags. */
export interface TlsFlagValues {
  "tls-ca"?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-allowed-cn"?: string[];
  "tls-generate"?: string;
}

/** Files written by --tls-generate (the client pair is for clients). */
export interface GeneratedTlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** parseArgs option specs of the TLS flags. */
export const TLS_FLAG_SPECS = {
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-allowed-cn": { type: "string", multiple: true },
  "tls-generate": { type: "string" },
} as const;

/** Usage lines of the TLS flags. */
export const TLS_FLAG_USAGE = `  --tls-ca PATH       CA certificate: serve mutual TLS (needs --tls-cert, --tls-key)
  --tls-cert PATH     server certificate of PD and every store
  --tls-key PATH      server private key
  --tls-allowed-cn CN client certificate common name allowed to call (repeatable;
                      TiKV cert-allowed-cn; default any)
  --tls-generate DIR  generate a CA, server and client certificates into DIR
                      (ca.pem, server.pem, server-key.pem, client.pem, client-key.pem)
                      and serve mutual TLS with them
`;

/**
 * The cluster TLS options the flags ask for (undefined = plaintext), and the files written for
 * --tls-generate. Throws an Error with a usage message for inconsistent flags.
 */
export async function clusterTlsFromFlags(
  v: TlsFlagValues,
): Promise<{ tls: ClusterTlsOptions | undefined; generated: GeneratedTlsFiles | undefined }> {
  const given = [v["tls-ca"], v["tls-cert"], v["tls-key"]].filter((x) => x !== undefined).length;
  const allowedCommonNames = v["tls-allowed-cn"];
  if (v["tls-generate"] !== undefined) {
    if (given > 0) throw new Error("--tls-generate cannot be combined with --tls-ca/--tls-cert/--tls-key");
    const dir = v["tls-generate"];
    mkdirSync(dir, { recursive: true });
    const certs = await generateClusterCertificates();
    const files: GeneratedTlsFiles = {
      ca: join(dir, "ca.pem"),
      serverCert: join(dir, "server.pem"),
      serverKey: join(dir, "server-key.pem"),
      clientCert: join(dir, "client.pem"),
      clientKey: join(dir, "client-key.pem"),
    };
    writeFileSync(files.ca, certs.ca);
    writeFileSync(files.serverCert, certs.server.cert);
    writeFileSync(files.serverKey, certs.server.key, { mode: 0o600 });
    writeFileSync(files.clientCert, certs.client.cert);
    writeFileSync(files.clientKey, certs.client.key, { mode: 0o600 });
    return {
      tls: { ca: certs.ca, cert: certs.server.cert, key: certs.server.key, allowedCommonNames },
      generated: files,
    };
  }
  if (given === 0) {
    if (allowedCommonNames)
      throw new Error("--tls-allowed-cn needs --tls-ca/--tls-cert/--tls-key or --tls-generate");
    return { tls: undefined, generated: undefined };
  }
  if (given !== 3) throw new Error("--tls-ca, --tls-cert and --tls-key must be given together");
  return {
    tls: {
      ca: v["tls-ca"] as string,
      cert: v["tls-cert"] as string,
      key: v["tls-key"] as string,
      allowedCommonNames,
    },
    generated: undefined,
  };
}
