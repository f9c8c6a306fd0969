// Mutual TLS end to end against the embedded cluster with generated certificates: PD and every
// store speak TLS only, so raw and transactional calls succeeding means the client dialed PD and
// each PD-supplied store address with the same TLS settings.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { TikvClient } from "../../../src/index.js";
import { isRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe.skipIf(isRealCluster)("mutual TLS", () => {
  const env = useCluster({
    stores: 3,
    splitKeys: ["m"],
    regionKeyEncoding: "memcomparable",
    tls: "generate",
  });
  const certs = () => {
    const c = env.cluster.certificates;
    if (!c) throw new Error("cluster has no generated certificates");
    return c;
  };
  const bufferTls = () => ({
    ca: Buffer.from(certs().ca),
    cert: Buffer.from(certs().client.cert),
    key: Buffer.from(certs().client.key),
  });

  it("PD announces https:// member URLs", () => {
    expect(
      env.cluster.pd.state.members.every((m) => m.clientUrls.every((u) => u.startsWith("https://"))),
    ).toBe(true);
  });

  it("raw put / get / scan across regions and stores over mutual TLS (certificates as buffers)", async () => {
    const client = await env.connect({ tls: bufferTls() });
    const raw = client.raw();
    const p = uniquePrefix("tls-raw");
    const keys = ["a", "k", "n", "z"].map((k) => `${k}${p}`);
    await raw.batchPut(
      keys,
      keys.map((k) => `v-${k}`),
    );
    for (const k of keys) expect((await raw.get(k))?.toString()).toBe(`v-${k}`);
    const scanned = (await raw.scan(`a${p}`, `zz${p}`, 100)).map((kv) => kv.key.toString());
    expect(scanned.filter((k) => k.endsWith(p))).toEqual(keys);
    await raw.batchDelete(keys);
    expect(await raw.get(keys[0] as string)).toBeUndefined();
  });

  it("a transaction commits and reads back over mutual TLS", async () => {
    const client = await env.connect({ tls: bufferTls() });
    const txnClient = client.txn();
    const p = uniquePrefix("tls-txn");
    const txn = await txnClient.begin();
    txn.set(`a${p}`, "1");
    txn.set(`z${p}`, "2");
    await txn.commit();
    const snap = await txnClient.begin();
    expect((await snap.get(`a${p}`))?.toString()).toBe("1");
    expect((await snap.get(`z${p}`))?.toString()).toBe("2");
    await snap.rollback();
  });

  it("takes certificates as file paths and inline PEM strings, with a server-name override and verifyCN", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tikv-ts-tls-"));
    const c = certs();
    writeFileSync(join(dir, "ca.pem"), c.ca);
    writeFileSync(join(dir, "client.pem"), c.client.cert);
    writeFileSync(join(dir, "client-key.pem"), c.client.key);
    const fromFiles = await env.connect({
      tls: {
        ca: join(dir, "ca.pem"),
        cert: join(dir, "client.pem"),
        key: join(dir, "client-key.pem"),
        serverName: "localhost",
        verifyCN: ["tikv-server"],
      },
    });
    const p = uniquePrefix("tls-files");
    await fromFiles.raw().put(`k${p}`, "v");
    const inline = await env.connect({ tls: { ca: c.ca, cert: c.client.cert, key: c.client.key } });
    expect((await inline.raw().get(`k${p}`))?.toString()).toBe("v");
  });

  it("PD endpoints given as https:// URLs work too", async () => {
    const client = await TikvClient.connect({
      pdEndpoints: env.pdEndpoints.map((e) => `https://${e}`),
      tls: bufferTls(),
    });
    try {
      await client.raw().put(`k${uniquePrefix("tls-https")}`, "v");
    } finally {
      await client.close();
    }
  });
});
