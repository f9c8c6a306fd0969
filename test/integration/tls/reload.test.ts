// tls.reloadIntervalMs: rotated certificate files are used by the next connection, while open
// connections keep working (a rotation alone makes no reconnect).
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import { type PemKeyPair, TestCa } from "../../../src/cluster/tls/test-certs.js";
import { findError, InvalidArgumentError, TikvClient, TlsError } from "../../../src/index.js";
import { isRealCluster } from "../../support/cluster.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(isRealCluster)("TLS certificate reload", () => {
  let ca: TestCa;
  let cluster: EmbeddedCluster;
  let dir: string;
  const files = () => ({
    ca: join(dir, "ca.pem"),
    cert: join(dir, "client.pem"),
    key: join(dir, "client-key.pem"),
  });
  // write both files under temporary names, then rename: a reader never sees half a file
  const install = (pair: PemKeyPair) => {
    writeFileSync(join(dir, "key.tmp"), pair.key);
    writeFileSync(join(dir, "cert.tmp"), pair.cert);
    renameSync(join(dir, "key.tmp"), files().key);
    renameSync(join(dir, "cert.tmp"), files().cert);
  };
  const restartStore = async () => {
    const id = cluster.stores[0]?.storeId as bigint;
    await cluster.stopStore(id);
    await cluster.startStore(id);
    // let the clients see their streams drop before the next call (else: undetermined writes)
    await sleep(300);
  };

  beforeAll(async () => {
    ca = await TestCa.create();
    cluster = await EmbeddedCluster.start({
      stores: 1,
      tls: { ca: ca.cert, ...(await ca.issue({ commonName: "tikv-server" })), allowedCommonNames: ["a"] },
    });
    dir = mkdtempSync(join(tmpdir(), "tikv-ts-tls-reload-"));
    writeFileSync(files().ca, ca.cert);
    install(await ca.issue({ commonName: "a" }));
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it("new connections use the rotated files; open ones are kept", async () => {
    const reloading = await TikvClient.connect({
      pdEndpoints: cluster.pdEndpoints,
      tls: { ...files(), reloadIntervalMs: 50 },
      timeoutMs: 5_000,
      maxBackoffMs: 4_000,
    });
    const once = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints, tls: files() });
    try {
      await reloading.raw().put("r1", "1");
      await once.raw().put("o1", "1");
      // rotate to a certificate whose CN the cluster does not admit
      install(await ca.issue({ commonName: "b" }));
      await sleep(300);
      // the open connection is unaffected: no reconnect happened
      await reloading.raw().put("r2", "2");
      // a new connection (the store restarted) handshakes with the rotated file: refused
      await restartStore();
      const err = await reloading
        .raw()
        .get("r2", { timeoutMs: 1_500 })
        .catch((e: unknown) => e);
      // the store refuses every call (UNAUTHENTICATED, CN "b"): said at once, typed
      expect(findError(err, TlsError)?.reason, String(err)).toBe("client-certificate-rejected");
      // the client without reload still presents the certificate it read at connect time
      expect((await once.raw().get("r2"))?.toString()).toBe("2");
    } finally {
      await reloading.close();
      await once.close();
    }
  }, 30_000);

  it("a client refused for its certificate recovers once the files are rotated back (new handshake)", async () => {
    install(await ca.issue({ commonName: "a" }));
    const client = await TikvClient.connect({
      pdEndpoints: cluster.pdEndpoints,
      tls: { ...files(), reloadIntervalMs: 50 },
      timeoutMs: 5_000,
      maxBackoffMs: 4_000,
    });
    try {
      await client.raw().put("back1", "1");
      install(await ca.issue({ commonName: "b" }));
      await sleep(300);
      await restartStore();
      const err = await client
        .raw()
        .get("back1", { timeoutMs: 1_500 })
        .catch((e: unknown) => e);
      expect(findError(err, TlsError)?.reason, String(err)).toBe("client-certificate-rejected");
      // TiKV refuses call by call on a connection it keeps open: only a new handshake presents
      // the restored certificate, so the client must dial again by itself
      install(await ca.issue({ commonName: "a" }));
      let value: unknown;
      for (let i = 0; i < 50 && !Buffer.isBuffer(value); i++) {
        await sleep(200);
        value = await client
          .raw()
          .get("back1", { timeoutMs: 1_000 })
          .catch((e: unknown) => e);
      }
      expect(String(value)).toBe("1");
    } finally {
      await client.close();
    }
  }, 30_000);

  it("reloadIntervalMs needs file paths and a positive integer", async () => {
    const pem = { ca: ca.cert, reloadIntervalMs: 100 };
    for (const [tls, argument] of [
      [pem, "tls.ca"],
      [{ ...files(), reloadIntervalMs: 0 }, "tls.reloadIntervalMs"],
      [{ cert: files().cert, key: files().key, reloadIntervalMs: 100 }, "tls.ca"],
    ] as const) {
      const err = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints, tls }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).argument).toBe(argument);
    }
  });
});
