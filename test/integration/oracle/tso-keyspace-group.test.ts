// TSO for a keyspace group (PD's API / microservice mode; pd client servicediscovery/
// tso_service_discovery.go, clients/tso, server pkg/mcs/tso/server/grpc_service.go): the client
// learns the mode from GetClusterInfo, finds its keyspace's group with FindGroupByKeyspaceID and
// streams tsopb.Tso to the group's primary; a stopped primary or a moved keyspace re-discovers.
// A cluster in PD mode keeps PD's own Tso. Embedded cluster only (the mode is set up here).
// Ported by meaning from PD tests/integrations/tso/client_test.go (TestGetTS, TestRandomShutdown,
// TestGetMinTS) and tests/integrations/mcs/tso/keyspace_group_manager_test.go
// (TestKeyspacesServedByNonDefaultKeyspaceGroups, TestKeyspaceGroupMergeIntoDefault).

import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { EmbeddedCluster, type EmbeddedClusterOptions } from "../../../src/cluster/embedded-cluster.js";
import { TSO_KEYSPACE_GROUP_ID_KEY } from "../../../src/cluster/pd/tso-service/keyspace-groups.js";
import type { TsoServers } from "../../../src/cluster/pd/tso-service/tso-servers.js";
import { TikvClient, TimeoutError } from "../../../src/index.js";
import { type FindGroupByKeyspaceIDResponse, TSOClient, type TsoResponse } from "../../../src/proto/tsopb.js";
import { isRealCluster } from "../../support/cluster.js";

const HOUR_MS = 3_600_000n;
let cluster: EmbeddedCluster | undefined;
const clients: TikvClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await cluster?.close();
  cluster = undefined;
});

// group 1 (keyspace 1) on both servers, primary server 1; everything else in group 0 on server 0
async function start(
  extra: Partial<EmbeddedClusterOptions> = {},
): Promise<{ c: EmbeddedCluster; tso: TsoServers }> {
  cluster = await EmbeddedCluster.start({
    stores: 1,
    apiVersion: "v2",
    resolvedTsIntervalMs: 0,
    tsoMicroservice: { servers: 2, keyspaceGroups: [{ id: 1, keyspaces: [1], members: [0, 1], primary: 1 }] },
    ...extra,
  });
  cluster.pd.createKeyspace({ name: "ks1", id: 1 });
  cluster.pd.createKeyspace({ name: "ks2", id: 2 });
  return { c: cluster, tso: cluster.pd.tsoServers as TsoServers };
}

async function connect(c: EmbeddedCluster, keyspace: string): Promise<TikvClient> {
  const client = await TikvClient.connect({ pdEndpoints: c.pdEndpoints, apiVersion: "v2", keyspace });
  clients.push(client);
  return client;
}

const increasing = (ts: bigint[]) => ts.every((t, i) => i === 0 || t > (ts[i - 1] as bigint));

describe.skipIf(isRealCluster)("TSO keyspace groups (PD microservice mode)", () => {
  it("a keyspace client takes batched, increasing timestamps from its group's primary and runs a transaction", async () => {
    const { c, tso } = await start();
    const pdBefore = c.pd.state.tso.current();
    expect(c.pd.state.keyspaces.get("ks1")?.config[TSO_KEYSPACE_GROUP_ID_KEY]).toBe("1");
    const client = await connect(c, "ks1");
    const first = await client.oracle.getTimestamp();
    expect(client.pd.tsoGroup?.group.groupId).toBe(1);
    const base = tso.calls(1, "Tso");
    // one turn's requests are one tsopb request with count = N
    const batch = await Promise.all(Array.from({ length: 16 }, () => client.oracle.getTimestamp()));
    expect(tso.calls(1, "Tso")).toBe(base + 1);
    expect(increasing([first, ...batch])).toBe(true);
    expect(first).toBeGreaterThan(pdBefore);
    // only group 1's primary served: neither the other server nor PD's own Tso
    expect(tso.calls(0, "Tso")).toBe(0);
    expect(c.pd.state.faults.calls("Tso")).toBe(0);

    const w = await client.txn().begin();
    w.set("k", "v");
    await w.commit();
    const snap = await client.txn().snapshot();
    expect(String(await snap.get("k"))).toBe("v");
    expect(snap.ts).toBeGreaterThan(batch[15] as bigint);
    expect(tso.calls(0, "Tso")).toBe(0);
  });

  it("re-discovers after the primary stops and after the keyspace moves to another group", async () => {
    const { c, tso } = await start();
    const client = await connect(c, "ks1");
    const a = await client.oracle.getTimestamp();
    const found = tso.calls(0, "FindGroupByKeyspaceID") + tso.calls(1, "FindGroupByKeyspaceID");
    await tso.stopServer(1);
    expect(tso.groups.get(1)?.primary).toBe(0);
    const b = await client.oracle.getTimestamp();
    expect(b).toBeGreaterThan(a);
    expect(tso.calls(0, "Tso")).toBeGreaterThan(0);
    expect(tso.calls(0, "FindGroupByKeyspaceID") + tso.calls(1, "FindGroupByKeyspaceID")).toBeGreaterThan(
      found,
    );
    expect(client.pd.tsoGroup?.group.groupId).toBe(1);

    // the keyspace moves to the default group: server 0 now answers from group 0
    await tso.startServer(1);
    tso.groups.setPrimary(1, 1);
    const before = await client.oracle.getTimestamp();
    tso.groups.assign(1, 0);
    const after = await client.oracle.getTimestamp();
    expect(after).toBeGreaterThan(before);
    expect(client.pd.tsoGroup?.group.groupId).toBe(0);
    expect(c.pd.state.keyspaces.get("ks1")?.config[TSO_KEYSPACE_GROUP_ID_KEY]).toBe("0");
  });

  it("a TSO server refuses a keyspace whose group it does not lead, and one assigned to no group", async () => {
    const { c, tso } = await start();
    const s0 = new TSOClient(tso.endpoints[0] as string, credentials.createInsecure());
    try {
      const header = (keyspaceId: number, keyspaceGroupId: number) => ({
        clusterId: c.clusterId,
        senderId: 0n,
        keyspace: { $case: "keyspaceId" as const, keyspaceId },
        keyspaceGroupId,
        calleeId: "",
      });
      const tsoOnce = (keyspaceId: number, groupId: number) =>
        new Promise<TsoResponse>((resolve, reject) => {
          const call = s0.tso();
          call.on("data", (r: TsoResponse) => {
            resolve(r);
            call.cancel();
          });
          call.on("error", reject);
          call.write({ header: header(keyspaceId, groupId), count: 1, dcLocation: "" });
        });
      const wrong = (await tsoOnce(1, 1).then(
        () => undefined,
        (e: ServiceError) => e,
      )) as ServiceError;
      expect(wrong.code).toBe(status.UNKNOWN);
      expect(wrong.details).toContain("requested keyspace group with id 1 is not served by this host/pod");
      // keyspace 2 is in group 0, led by server 0: served, and the header names the group
      const ok = await tsoOnce(2, 0);
      expect(ok.header?.keyspaceGroupId).toBe(0);
      expect(ok.count).toBe(1);

      // FindGroupByKeyspaceID names group 1's primary
      const g = await new Promise<FindGroupByKeyspaceIDResponse>((res, rej) =>
        s0.findGroupByKeyspaceId(
          { header: header(1, 0), keyspace: { $case: "keyspaceId", keyspaceId: 1 }, modRevision: 0n },
          (e, r) => (e ? rej(e) : res(r)),
        ),
      );
      expect(g.keyspaceGroup?.id).toBe(1);
      expect(g.keyspaceGroup?.members.find((m) => m.isPrimary)?.address).toBe(`http://${tso.endpoints[1]}`);

      // a keyspace whose config names a group that does not exist
      c.pd.createKeyspace({ name: "ks7", id: 7, config: { [TSO_KEYSPACE_GROUP_ID_KEY]: "7" } });
      const none = (await tsoOnce(7, 7).then(
        () => undefined,
        (e: ServiceError) => e,
      )) as ServiceError;
      expect(none.details).toContain("the keyspace 7 isn't assigned to any keyspace group");
    } finally {
      s0.close();
    }
  });

  it("the min ts over keyspace groups comes from the group that is furthest behind", async () => {
    const { c } = await start();
    const ks1 = await connect(c, "ks1");
    const ks2 = await connect(c, "ks2");
    const g1 = await ks1.oracle.getTimestamp();
    // push the default group (PD's own oracle) an hour ahead: the minimum must be group 1's
    c.pd.state.tso.advanceTo(c.pd.state.tso.peek() + (HOUR_MS << 18n));
    const g0 = await ks2.oracle.getTimestamp();
    expect(ks2.pd.tsoGroup?.group.groupId).toBe(0);
    const min = await ks1.oracle.getAllTsoKeyspaceGroupMinTs();
    expect(min).toBeGreaterThan(g1);
    expect(min).toBeLessThan(g0);
    expect(await ks1.oracle.getTimestamp()).toBeGreaterThan(min);
  });

  it("with no TSO server up, a keyspace pinned to a group refuses PD's Tso; one in the default group falls back", async () => {
    const { c, tso } = await start();
    await tso.stopServer(0);
    await tso.stopServer(1);
    const pinned = await connect(c, "ks1");
    await expect(pinned.oracle.getTimestamp({ timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
    expect(c.pd.state.faults.calls("Tso")).toBe(0);
    const plain = await connect(c, "ks2");
    expect(await plain.oracle.getTimestamp()).toBeGreaterThan(0n);
    expect(c.pd.state.faults.calls("Tso")).toBe(1);
    expect(plain.pd.tsoGroup).toBeUndefined();
  });

  it("a cluster in PD mode keeps serving timestamps from PD's own Tso", async () => {
    cluster = await EmbeddedCluster.start({ stores: 1, apiVersion: "v2", resolvedTsIntervalMs: 0 });
    cluster.pd.createKeyspace({ name: "ks1", id: 1 });
    expect(cluster.pd.tsoServers).toBeUndefined();
    const client = await connect(cluster, "ks1");
    const before = cluster.pd.state.faults.calls("Tso");
    const ts = await Promise.all([client.oracle.getTimestamp(), client.oracle.getTimestamp()]);
    expect(increasing(ts)).toBe(true);
    expect(cluster.pd.state.faults.calls("Tso")).toBe(before + 1);
    expect(client.pd.tsoGroup).toBeUndefined();
  });
});
