// What a TLS misconfiguration gets: each refused handshake or certificate check fails connect()
// at once with a TlsError naming the reason (not a connect timeout), and bad TLS input gets
// InvalidArgumentError (client) or ClusterTlsError (embedded cluster).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { ClusterTlsError } from "../../../src/cluster/tls/server-security.js";
import { type PemKeyPair, TestCa } from "../../../src/cluster/tls/test-certs.js";
import {
  type GrpcError,
  InvalidArgumentError,
  TikvClient,
  TimeoutError,
  TlsError,
  type TlsFailureReason,
  type TlsOptions,
} from "../../../src/index.js";
import { isRealCluster } from "../../support/cluster.js";

const DAY = 86_400_000;
const expired = () => ({ notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) });

async function refused(pdEndpoints: string[], tls: TlsOptions | undefined, connectTimeoutMs = 10_000) {
  const started = Date.now();
  const err = await TikvClient.connect({ pdEndpoints, tls, connectTimeoutMs }).then(
    async (c) => {
      await c.close();
      throw new Error("connect succeeded");
    },
    (e: unknown) => e,
  );
  return { err, ms: Date.now() - started };
}

async function expectTlsError(pdEndpoints: string[], tls: TlsOptions, reason: TlsFailureReason) {
  const { err, ms } = await refused(pdEndpoints, tls);
  expect(err).toBeInstanceOf(TlsError);
  expect((err as TlsError).reason).toBe(reason);
  expect((err as TlsError).code).toBe("TLS");
  expect((err as TlsError).isRetryable).toBe(false);
  // refused at once, not after connectTimeoutMs (10 s)
  expect(ms).toBeLessThan(5_000);
  return err as TlsError;
}

describe.skipIf(isRealCluster)("TLS refusals", () => {
  let ca: TestCa;
  let client: PemKeyPair;
  let tlsCluster: EmbeddedCluster;
  let plainCluster: EmbeddedCluster;
  const good = (): TlsOptions => ({ ca: ca.cert, cert: client.cert, key: client.key });

  beforeAll(async () => {
    ca = await TestCa.create();
    const server = await ca.issue({ commonName: "tikv-server" });
    client = await ca.issue({ commonName: "tikv-client" });
    tlsCluster = await EmbeddedCluster.start({
      stores: 1,
      tls: { ca: ca.cert, ...server, allowedCommonNames: ["tikv-client"] },
    });
    plainCluster = await EmbeddedCluster.start({ stores: 1 });
  });
  afterAll(async () => {
    await tlsCluster?.close();
    await plainCluster?.close();
  });

  it("accepts the right CA, certificate and common name", async () => {
    const c = await TikvClient.connect({ pdEndpoints: tlsCluster.pdEndpoints, tls: good() });
    try {
      await c.raw().put("ok", "1");
    } finally {
      await c.close();
    }
  });

  it("a server certificate from another CA: TlsError untrusted-certificate", async () => {
    const other = await TestCa.create("other CA");
    await expectTlsError(tlsCluster.pdEndpoints, { ...good(), ca: other.cert }, "untrusted-certificate");
  });

  it("an expired server certificate: TlsError certificate-expired", async () => {
    const cluster = await EmbeddedCluster.start({
      stores: 1,
      tls: { ca: ca.cert, ...(await ca.issue({ commonName: "tikv-server", ...expired() })) },
    });
    try {
      await expectTlsError(cluster.pdEndpoints, good(), "certificate-expired");
    } finally {
      await cluster.close();
    }
  });

  it("an expired client certificate: TlsError certificate-expired, before dialing", async () => {
    const old = await ca.issue({ commonName: "tikv-client", ...expired() });
    const err = await expectTlsError(tlsCluster.pdEndpoints, { ca: ca.cert, ...old }, "certificate-expired");
    expect(err.message).toMatch(/client certificate CN=tikv-client is valid from/);
  });

  it("a client common name outside the cluster's cert-allowed-cn: TlsError client-certificate-rejected", async () => {
    const intruder = await ca.issue({ commonName: "intruder" });
    const err = await expectTlsError(
      tlsCluster.pdEndpoints,
      { ca: ca.cert, ...intruder },
      "client-certificate-rejected",
    );
    // TiKV's CnChecker text, with UNAUTHENTICATED as the transport status
    expect(err.details).toMatch(/Common name check fail, reason: x509_common_name from peer is intruder/);
    expect((err.cause as GrpcError).grpcCode).toBe(16);
  });

  it("no client certificate against mutual TLS: TlsError client-certificate-rejected", async () => {
    await expectTlsError(tlsCluster.pdEndpoints, { ca: ca.cert }, "client-certificate-rejected");
  });

  it("a server common name outside tls.verifyCN: TlsError common-name-not-allowed", async () => {
    await expectTlsError(
      tlsCluster.pdEndpoints,
      { ...good(), verifyCN: ["pd-only"] },
      "common-name-not-allowed",
    );
  });

  it("a server name the certificate does not carry: TlsError server-name-mismatch", async () => {
    await expectTlsError(
      tlsCluster.pdEndpoints,
      { ...good(), serverName: "other.example" },
      "server-name-mismatch",
    );
  });

  it("a TLS client against a plaintext cluster: TlsError plaintext-endpoint", async () => {
    await expectTlsError(plainCluster.pdEndpoints, good(), "plaintext-endpoint");
  });

  it("a plaintext client against a TLS cluster: refused, as TimeoutError (the server just closes)", async () => {
    // A plaintext client cannot tell a TLS server that drops its connection from one that is
    // down, so it fails like an unreachable PD: TimeoutError with the UNAVAILABLE cause.
    const { err } = await refused(tlsCluster.pdEndpoints, undefined, 1_500);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(String((err as TimeoutError).cause)).toMatch(/grpc error 14/);
  });

  it.each<[string, unknown, string]>([
    ["cert without key", { ca: "-----BEGIN CERTIFICATE-----\n", cert: Buffer.from("x") }, "tls"],
    ["a missing CA file", { ca: join(tmpdir(), "no-such-dir-tikv-ts", "ca.pem") }, "tls.ca"],
    ["garbage CA PEM", { ca: Buffer.from("not a certificate") }, "tls.ca"],
    ["a key that does not match the certificate", "mismatched-key", "tls"],
    ["a number as CA", { ca: 42 }, "tls.ca"],
    ["an empty serverName", { serverName: "" }, "tls.serverName"],
    ["verifyCN not an array", { verifyCN: "tikv-server" }, "tls.verifyCN"],
    ["tls not an object", "yes", "tls"],
  ])("bad client TLS input (%s): InvalidArgumentError", async (_what, tls, argument) => {
    const input =
      tls === "mismatched-key"
        ? { ...good(), key: (await ca.issue({ commonName: "tikv-client" })).key }
        : (tls as TlsOptions);
    const { err } = await refused(tlsCluster.pdEndpoints, input);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).argument).toBe(argument);
  });

  it("bad cluster TLS input: ClusterTlsError", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tikv-ts-tls-"));
    const server = await ca.issue({ commonName: "tikv-server" });
    await expect(
      EmbeddedCluster.start({ stores: 1, tls: { ca: join(dir, "missing.pem"), ...server } }),
    ).rejects.toBeInstanceOf(ClusterTlsError);
    await expect(
      EmbeddedCluster.start({
        stores: 1,
        tls: { ca: ca.cert, ...server, requireClientCert: false, allowedCommonNames: ["x"] },
      }),
    ).rejects.toThrow(/allowedCommonNames needs requireClientCert/);
  });

  it("server-authenticated TLS without client certificates (requireClientCert: false)", async () => {
    const cluster = await EmbeddedCluster.start({
      stores: 1,
      tls: { ca: ca.cert, ...(await ca.issue({ commonName: "tikv-server" })), requireClientCert: false },
    });
    try {
      const c = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints, tls: { ca: ca.cert } });
      await c.raw().put("one-way", "1");
      await c.close();
    } finally {
      await cluster.close();
    }
  });
});
