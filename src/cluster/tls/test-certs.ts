// Test certificates for the embedded cluster: a CA and the leaf certificates it signs, made
// with @peculiar/x509 over WebCrypto. The library is a development dependency loaded only when
// certificates are generated, so clusters started from given certificates never need it.

import { webcrypto } from "node:crypto";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** A PEM certificate and its PEM (PKCS#8) private key. */
export interface PemKeyPair {
  cert: string;
  key: string;
}

/** What {@link TestCa.issue} makes. */
export interface IssueOptions {
  /** Subject common name (TiKV's cert-allowed-cn checks it). */
  commonName: string;
  /** DNS names and IP addresses the certificate is valid for (default: localhost, 127.0.0.1, ::1). */
  altNames?: readonly string[];
  /** Start of validity (default: one hour ago). */
  notBefore?: Date;
  /** End of validity (default: one day from now). Give a past date for an expired certificate. */
  notAfter?: Date;
}

/** Certificates for a TLS cluster and one client, all signed by `ca`. */
export interface ClusterCertificates {
  /** CA certificate (PEM) both sides trust. */
  ca: string;
  /** Server certificate and key of PD and every store. */
  server: PemKeyPair;
  /** Client certificate and key for mutual TLS. */
  client: PemKeyPair;
}

type X509 = typeof import("@peculiar/x509");

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DEFAULT_ALT_NAMES = ["localhost", "127.0.0.1", "::1"];
const IP = /^(\d+\.\d+\.\d+\.\d+|[0-9a-f:]*:[0-9a-f:]*)$/i;

let loaded: Promise<X509> | undefined;
async function x509(): Promise<X509> {
  loaded ??= import("@peculiar/x509").then(
    (m) => {
      m.cryptoProvider.set(webcrypto as unknown as Parameters<typeof m.cryptoProvider.set>[0]);
      return m;
    },
    (e: unknown) => {
      loaded = undefined;
      throw new Error(
        "generating test certificates needs the @peculiar/x509 package (npm i -D @peculiar/x509)",
        {
          cause: e,
        },
      );
    },
  );
  return loaded;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN PRIVATE KEY-----\n${b64.replace(/\n$/, "")}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  // positive, 16 bytes: the high bit cleared so DER does not read it as negative
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] as number) & 0x7f;
  return Buffer.from(b).toString("hex");
}

/** A certificate authority that signs test certificates. */
export class TestCa {
  private constructor(
    private readonly lib: X509,
    private readonly caCert: InstanceType<X509["X509Certificate"]>,
    private readonly caKey: CryptoKey,
    /** The CA certificate (PEM). */
    readonly cert: string,
  ) {}

  /**
   * Makes a self-signed CA.
   *
   * @example
   * ```ts
   * const ca = await TestCa.create();
   * const server = await ca.issue({ commonName: "tikv-server" });
   * ```
   */
  static async create(commonName = "tikv-ts test CA"): Promise<TestCa> {
    const lib = await x509();
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await lib.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${commonName}`,
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + 10 * 86_400_000),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new lib.BasicConstraintsExtension(true, undefined, true),
        new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
        await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new TestCa(lib, cert, keys.privateKey, cert.toString("pem"));
  }

  /** Issues a leaf certificate usable by both servers and clients. */
  async issue(opts: IssueOptions): Promise<PemKeyPair> {
    const lib = this.lib;
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
    const now = Date.now();
    const names = (opts.altNames ?? DEFAULT_ALT_NAMES).map((n) =>
      IP.test(n) ? { type: "ip" as const, value: n } : { type: "dns" as const, value: n },
    );
    const cert = await lib.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${opts.commonName}`,
      issuer: this.caCert.subject,
      notBefore: opts.notBefore ?? new Date(now - 3_600_000),
      notAfter: opts.notAfter ?? new Date(now + 86_400_000),
      publicKey: keys.publicKey,
      signingKey: this.caKey,
      signingAlgorithm: ALG,
      extensions: [
        new lib.BasicConstraintsExtension(false, undefined, true),
        new lib.KeyUsagesExtension(
          lib.KeyUsageFlags.digitalSignature | lib.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new lib.ExtendedKeyUsageExtension([lib.ExtendedKeyUsage.serverAuth, lib.ExtendedKeyUsage.clientAuth]),
        new lib.SubjectAlternativeNameExtension(names),
        await lib.AuthorityKeyIdentifierExtension.create(this.caCert),
      ],
    });
    return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
  }
}

/**
 * A fresh CA with a server certificate (for localhost / 127.0.0.1 / ::1) and a client
 * certificate, for a mutual-TLS embedded cluster and its client.
 *
 * @example
 * ```ts
 * const certs = await generateClusterCertificates();
 * const cluster = await EmbeddedCluster.start({ tls: { ca: certs.ca, ...certs.server } });
 * const client = await TikvClient.connect({
 *   pdEndpoints: cluster.pdEndpoints,
 *   tls: { ca: Buffer.from(certs.ca), cert: Buffer.from(certs.client.cert), key: Buffer.from(certs.client.key) },
 * });
 * ```
 */
export async function generateClusterCertificates(
  opts: { serverCommonName?: string; clientCommonName?: string } = {},
): Promise<ClusterCertificates> {
  const ca = await TestCa.create();
  const server = await ca.issue({ commonName: opts.serverCommonName ?? "tikv-server" });
  const client = await ca.issue({ commonName: opts.clientCommonName ?? "tikv-client" });
  return { ca: ca.cert, server, client };
}
