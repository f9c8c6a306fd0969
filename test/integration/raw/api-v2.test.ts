// API v2: keys carry the raw-mode keyspace prefix on the wire and region boundaries are
// memcomparable-encoded by PD; the client hides both (client-go internal/apicodec codec_v2,
// rawkv with WithAPIVersion(V2)). Ports the meaning of client-go integration_tests/raw
// api_test.go's API v2 cases (TestAPIV2-style prefix checks).

import { describe, expect, it } from "vitest";
import { isRealCluster, itFault, skipOnRealCluster, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v2"))("raw client on API v2", () => {
  // boundaries are wire keys: 'r' + keyspace 0 (3 bytes) + user key
  const ks0 = Buffer.from([0x72, 0, 0, 0]);
  const env = useCluster({
    stores: 3,
    apiVersion: "v2",
    splitKeys: [Buffer.concat([ks0, Buffer.from("m")]), Buffer.from([0x72, 0, 0, 1])],
  });

  // owns the whole keyspace: embedded only
  itFault("round-trips keys through the keyspace prefix across regions", async () => {
    const client = await env.connect();
    expect(client.codec.keyspacePrefix).toEqual(ks0);
    const raw = client.raw();
    await raw.deleteRange("", "");
    await raw.batchPut(["a", "n", "z"], ["1", "2", "3"]);
    expect((await raw.get("n"))?.toString()).toBe("2");
    const all = await raw.scan("", "", 10);
    expect(all.map((p) => p.key.toString())).toEqual(["a", "n", "z"]);
    const rev = await raw.reverseScan("zz", "", 10);
    expect(rev.map((p) => p.key.toString())).toEqual(["z", "n", "a"]);
    const seen: string[] = [];
    for await (const p of raw.iterate("", "", { pageSize: 1 })) seen.push(p.key.toString());
    expect(seen).toEqual(["a", "n", "z"]);
    const sum = await raw.checksum("", "");
    expect(sum.totalKvs).toBe(3n);
  });

  itFault("stores prefixed keys in TiKV and does not see other keyspaces", async () => {
    const client = await env.connect();
    const raw = client.raw();
    await raw.deleteRange("", "");
    await raw.put("k", "v");
    // another keyspace's key written directly into the engine stays invisible
    const other = Buffer.concat([Buffer.from([0x72, 0, 0, 1]), Buffer.from("k")]);
    env.cluster.rawEngine.rawPut({
      context: { apiVersion: 2 } as never,
      key: other,
      value: Buffer.from("other"),
      cf: "",
      ttl: 0n,
      forCas: false,
    });
    const scan = await raw.scan("", "", 10);
    expect(scan.map((p) => p.key.toString())).toEqual(["k"]);
    const wire = env.cluster.rawEngine.rawGet({
      context: { apiVersion: 2 } as never,
      key: Buffer.concat([ks0, Buffer.from("k")]),
      cf: "",
    });
    expect(wire.value.toString()).toBe("v");
  });

  it.skipIf(isRealCluster)("ttl works in API v2", async () => {
    const raw = (await env.connect()).raw();
    await raw.put("t", "v", { ttl: 30 });
    expect(await raw.getKeyTTL("t")).toBeGreaterThan(20);
  });
});

describe.skipIf(skipOnRealCluster("v2"))("raw client on API v2 with named keyspaces", () => {
  const env = useCluster({ stores: 1, apiVersion: "v2" });

  itFault("loads the keyspace from PD and isolates keyspaces from each other", async () => {
    const ks = env.cluster.pd.state.keyspaces;
    ks.add({ name: "tenant_a", id: 7 });
    ks.add({ name: "tenant_b", id: 8 });
    const a = await env.connect({ keyspace: "tenant_a" });
    const b = await env.connect({ keyspace: "tenant_b" });
    expect(a.codec.keyspaceId).toBe(7);
    expect(a.codec.keyspacePrefix).toEqual(Buffer.from([0x72, 0, 0, 7]));
    await a.raw().put("shared", "from-a");
    await b.raw().put("shared", "from-b");
    expect((await a.raw().get("shared"))?.toString()).toBe("from-a");
    expect((await b.raw().get("shared"))?.toString()).toBe("from-b");
    expect((await a.raw().scan("", "", 10)).map((p) => p.value.toString())).toEqual(["from-a"]);
    await a.raw().deleteRange("", "");
    expect((await b.raw().get("shared"))?.toString()).toBe("from-b");
  });

  itFault("rejects a missing or disabled keyspace with InvalidArgumentError", async () => {
    const { InvalidArgumentError } = await import("../../../src/index.js");
    const { KeyspaceState } = await import("../../../src/proto/keyspacepb.js");
    await expect(env.connect({ keyspace: "nope" })).rejects.toBeInstanceOf(InvalidArgumentError);
    env.cluster.pd.state.keyspaces.add({ name: "off", id: 9, state: KeyspaceState.DISABLED });
    await expect(env.connect({ keyspace: "off" })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
