// TLS flags of `tikv-ts cluster`: certificates from files, or generated into a directory so
// that clients (and other TiKV clients under test) can read them.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
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

/** Adds the TLS flags to a commander command (values land under their kebab-case names' camelCase). */
export function addTlsOptions(cmd: Command): Command {
  return cmd
    .option("--tls-ca <path>", "CA certificate: serve mutual TLS (needs --tls-cert, --tls-key)")
    .option("--tls-cert <path>", "server certificate of PD and every store")
    .option("--tls-key <path>", "server private key")
    .option(
      "--tls-allowed-cn <cn>",
      "client certificate common name allowed to call (repeatable; TiKV cert-allowed-cn; default: any)",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      "--tls-generate <dir>",
      "generate a CA, server and client certificates into <dir> (ca.pem, server.pem, server-key.pem, " +
        "client.pem, client-key.pem) and serve mutual TLS with them",
    );
}

/** The TLS flags as commander parses them (camelCase keys). */
export interface TlsCommanderValues {
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsAllowedCn?: string[];
  tlsGenerate?: string;
}

/** Commander's camelCase TLS values in the kebab-case form {@link clusterTlsFromFlags} takes. */
export function tlsFlagValues(v: TlsCommanderValues): TlsFlagValues {
  return {
    "tls-ca": v.tlsCa,
    "tls-cert": v.tlsCert,
    "tls-key": v.tlsKey,
    "tls-allowed-cn": v.tlsAllowedCn,
    "tls-generate": v.tlsGenerate,
  };
}

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
