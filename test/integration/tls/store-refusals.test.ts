// TLS refusals by the stores only (PD accepts the client): each TiKV has its own security config,
// so a store may refuse a client certificate PD took (its cert-allowed-cn), or present one the
// client does not trust. The calls then fail at once with a TlsError naming the reason, not after
// retries with a TimeoutError, and a refused write was not applied (it never reached the store).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { type PemKeyPair, TestCa } from "../../../src/cluster/tls/test-certs.js";
import { findError, TikvClient, TlsError, type TlsOptions } from "../../../src/index.js";
import { isRealCluster } from "../../support/cluster.js";

describe.skipIf(isRealCluster)("TLS refusals by the stores", () => {
  let ca: TestCa;
  let tidb: PemKeyPair;
  let other: PemKeyPair;
  let cnCluster: EmbeddedCluster;
  let caCluster: EmbeddedCluster;
  const clients: TikvClient[] = [];
  const tlsOf = (pair: PemKeyPair): TlsOptions => ({ ca: ca.cert, cert: pair.cert, key: pair.key });
  const connect = async (c: EmbeddedCluster, pair: PemKeyPair) => {
    const client = await TikvClient.connect({
      pdEndpoints: c.pdEndpoints,
      tls: tlsOf(pair),
      timeoutMs: 10_000,
    });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    ca = await TestCa.create();
    const server = await ca.issue({ commonName: "tikv-server" });
    tidb = await ca.issue({ commonName: "tidb" });
    other = await ca.issue({ commonName: "other" });
    // PD lets both names in; the store only "tidb"
    cnCluster = await EmbeddedCluster.start({
      stores: 1,
      tls: { ca: ca.cert, ...server, allowedCommonNames: ["tidb", "other"] },
      storeTls: { allowedCommonNames: ["tidb"] },
    });
    // the store's certificate comes from a CA the clients do not know
    const foreign = await TestCa.create();
    const foreignServer = await foreign.issue({ commonName: "tikv-server" });
    caCluster = await EmbeddedCluster.start({
      stores: 1,
      tls: { ca: ca.cert, ...server },
      storeTls: { cert: foreignServer.cert, key: foreignServer.key },
    });
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await cnCluster?.close();
    await caCluster?.close();
  });

  it("a client name outside the store's cert-allowed-cn: reads and writes get TlsError, nothing is written", async () => {
    const refusedClient = await connect(cnCluster, other);
    const read = await refusedClient
      .raw()
      .get("k")
      .catch((e: unknown) => e);
    const tls = findError(read, TlsError);
    expect(tls, String(read)).toBeInstanceOf(TlsError);
    expect(tls?.reason).toBe("client-certificate-rejected");
    expect(tls?.details).toMatch(/Common name check fail/);
    const write = await refusedClient
      .raw()
      .put("refused-k", "v")
      .catch((e: unknown) => e);
    expect(findError(write, TlsError)?.reason).toBe("client-certificate-rejected");
    const txn = await refusedClient.txn().begin();
    txn.set("refused-t", "v");
    const commit = await txn.commit().catch((e: unknown) => e);
    expect(findError(commit, TlsError)?.reason).toBe("client-certificate-rejected");
    // the allowed name reads: neither write landed
    const allowed = await connect(cnCluster, tidb);
    expect(await allowed.raw().get("refused-k")).toBeUndefined();
    expect(await (await allowed.txn().snapshot()).get("refused-t")).toBeUndefined();
  });

  it("a store certificate from an unknown CA: TlsError untrusted-certificate", async () => {
    const client = await connect(caCluster, tidb);
    const e = await client
      .raw()
      .get("k")
      .catch((err: unknown) => err);
    expect(findError(e, TlsError)?.reason, String(e)).toBe("untrusted-certificate");
  });

  it("storeTls without tls is refused", async () => {
    await expect(EmbeddedCluster.start({ storeTls: { allowedCommonNames: ["x"] } })).rejects.toThrow(
      /storeTls needs tls/,
    );
  });
});
