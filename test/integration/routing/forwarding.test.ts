// Forwarding through a follower (client-go EnableForwarding; internal/locate/region_request3_test.go
// TestForwarding): a client cut from the leader's store while the stores still reach each other
// keeps reading and writing through a follower, which proxies each request to the leader with
// the tikv-forwarded-host metadata (TiKV src/server/proxy.rs); without forwarding the same client
// fails as before; once the cut ends requests go straight to the leader again.

import { describe, expect } from "vitest";
import type { ServedRequest } from "../../../src/cluster/tikv/request-log.js";
import { TimeoutError } from "../../../src/errors/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { eventually } from "../../support/wait.js";

const WRITE_READ_RPCS = ["RawPut", "RawGet", "KvPrewrite", "KvCommit", "KvGet"];

describe.skipIf(skipOnRealCluster("v1"))("forwarding through a follower (enableForwarding)", () => {
  const env = useCluster({ stores: 3 });

  function leaderOf(key: string): bigint {
    const leader = env.cluster.topology.locateKey(key)?.leader?.storeId;
    if (leader === undefined) throw new Error(`no leader for ${key}`);
    return leader;
  }

  // every entry was served by the leader's store, as leader, forwarded by one follower
  function expectForwarded(entries: readonly ServedRequest[], leader: bigint, rpcs: string[]): bigint {
    const served = entries.filter((e) => rpcs.includes(e.rpc) && e.outcome === "ok");
    expect(served.map((e) => e.rpc).sort()).toEqual([...rpcs].sort());
    const proxies = new Set(served.map((e) => e.forwardedBy));
    expect(proxies.size).toBe(1);
    const proxy = [...proxies][0];
    expect(proxy).toBeTypeOf("bigint");
    expect(proxy).not.toBe(leader);
    for (const e of served) {
      expect(e.storeId).toBe(leader);
      expect(e.isLeader).toBe(true);
    }
    return proxy as bigint;
  }

  itFault(
    "raw reads and writes go through a follower while the leader's store is cut from the client",
    async () => {
      const c = await env.connect({ enableForwarding: true });
      expect(c.config.enableForwarding).toBe(true);
      const raw = c.raw();
      const p = uniquePrefix("fwd-raw");
      await raw.put(`${p}a`, "1");
      const leader = leaderOf(`${p}a`);
      env.cluster.blockClients(leader);
      try {
        const rec = env.cluster.recordRequests({ rpcs: WRITE_READ_RPCS });
        // (a read first: a raw write on the stream the cut breaks would be undetermined, rightly)
        expect((await raw.get(`${p}a`, { timeoutMs: 10_000 }))?.toString()).toBe("1");
        await raw.put(`${p}b`, "2", { timeoutMs: 10_000 });
        rec.stop();
        const proxy = expectForwarded(rec.entries, leader, ["RawPut", "RawGet"]);
        // the leader never answered the client itself
        expect(rec.entries.every((e) => e.forwardedBy !== undefined)).toBe(true);
        // the follower that worked is kept for the region: later requests use it again
        const rec2 = env.cluster.recordRequests({ rpcs: ["RawGet"] });
        for (let i = 0; i < 5; i++) expect((await raw.get(`${p}b`))?.toString()).toBe("2");
        rec2.stop();
        expect(rec2.entries).toHaveLength(5);
        expect(rec2.entries.every((e) => e.forwardedBy === proxy && e.storeId === leader)).toBe(true);
        // the cut is the client's only: leadership did not move
        expect(leaderOf(`${p}a`)).toBe(leader);
      } finally {
        env.cluster.unblockClients(leader);
      }
      // once the cut ends, requests go straight to the leader again
      const direct = await eventually(
        async () => {
          const rec = env.cluster.recordRequests({ rpcs: ["RawGet"] });
          await raw.get(`${p}a`);
          rec.stop();
          return rec.entries.length === 1 && rec.entries[0]?.forwardedBy === undefined;
        },
        15_000,
        100,
      );
      expect(direct).toBe(true);
      const rec = env.cluster.recordRequests({ rpcs: ["RawGet"] });
      await raw.get(`${p}a`);
      rec.stop();
      expect(rec.entries.map((e) => [e.storeId, e.forwardedBy])).toEqual([[leader, undefined]]);
    },
  );

  itFault("transactions commit and read through a follower while the leader's store is cut", async () => {
    const c = await env.connect({ enableForwarding: true });
    const txnClient = c.txn();
    const p = uniquePrefix("fwd-txn");
    const warm = await txnClient.begin();
    warm.set(`${p}a`, "0");
    await warm.commit();
    const leader = leaderOf(`${p}a`);
    env.cluster.blockClients(leader);
    try {
      const rec = env.cluster.recordRequests({ rpcs: WRITE_READ_RPCS });
      const txn = await txnClient.begin();
      txn.set(`${p}a`, "1");
      await txn.commit();
      const snap = await txnClient.begin();
      expect((await snap.get(`${p}a`))?.toString()).toBe("1");
      await snap.rollback();
      rec.stop();
      expectForwarded(
        rec.entries.filter((e) => e.rpc !== "KvGet" || e.outcome === "ok"),
        leader,
        ["KvPrewrite", "KvCommit", "KvGet"],
      );
    } finally {
      env.cluster.unblockClients(leader);
    }
  });

  itFault(
    "without enableForwarding the cut client fails (times out retrying) and no store forwards",
    async () => {
      const c = await env.connect();
      expect(c.config.enableForwarding).toBe(false);
      const raw = c.raw();
      const p = uniquePrefix("fwd-off");
      await raw.put(`${p}a`, "1");
      const leader = leaderOf(`${p}a`);
      env.cluster.blockClients(leader);
      try {
        const rec = env.cluster.recordRequests({ rpcs: ["RawGet"] });
        const err = await raw.get(`${p}a`, { timeoutMs: 1_500 }).catch((e: unknown) => e);
        rec.stop();
        expect(err).toBeInstanceOf(TimeoutError);
        // followers were tried (NotLeader naming the unreachable leader), nothing was forwarded
        expect(rec.entries.every((e) => e.forwardedBy === undefined && e.storeId !== leader)).toBe(true);
      } finally {
        env.cluster.unblockClients(leader);
      }
      expect((await raw.get(`${p}a`, { timeoutMs: 15_000 }))?.toString()).toBe("1");
    },
  );

  itFault("a proxy that fails is switched for another follower (client-go proxy rules)", async () => {
    const c = await env.connect({ enableForwarding: true });
    const raw = c.raw();
    const p = uniquePrefix("fwd-switch");
    await raw.put(`${p}a`, "1");
    const leader = leaderOf(`${p}a`);
    env.cluster.blockClients(leader);
    let first: bigint | undefined;
    try {
      const rec = env.cluster.recordRequests({ rpcs: ["RawGet"] });
      expect((await raw.get(`${p}a`, { timeoutMs: 10_000 }))?.toString()).toBe("1");
      rec.stop();
      first = expectForwarded(rec.entries, leader, ["RawGet"]);
      // the proxy's store goes away: the next attempt fails there and another follower forwards
      await env.cluster.stopStore(first);
      const rec2 = env.cluster.recordRequests({ rpcs: ["RawGet"] });
      expect((await raw.get(`${p}a`, { timeoutMs: 10_000 }))?.toString()).toBe("1");
      rec2.stop();
      const second = expectForwarded(rec2.entries, leader, ["RawGet"]);
      expect(second).not.toBe(first);
    } finally {
      env.cluster.unblockClients(leader);
      if (first !== undefined) await env.cluster.startStore(first);
    }
  });

  itFault(
    "the leader going down for good while forwarded: proxies fail, the region reloads, the new leader serves (TestForwarding)",
    async () => {
      const c = await env.connect({ enableForwarding: true });
      const raw = c.raw();
      const p = uniquePrefix("fwd-down");
      await raw.put(`${p}a`, "1");
      const leader = leaderOf(`${p}a`);
      env.cluster.blockClients(leader);
      try {
        expect((await raw.get(`${p}a`, { timeoutMs: 10_000 }))?.toString()).toBe("1");
        // now the leader's store stops and raft elects another leader
        await env.cluster.stopStore(leader, { failover: true });
        const newLeader = leaderOf(`${p}a`);
        expect(newLeader).not.toBe(leader);
        const rec = env.cluster.recordRequests({ rpcs: ["RawGet"] });
        expect((await raw.get(`${p}a`, { timeoutMs: 15_000 }))?.toString()).toBe("1");
        rec.stop();
        const ok = rec.entries.filter((e) => e.outcome === "ok");
        expect(ok.map((e) => [e.storeId, e.isLeader, e.forwardedBy])).toEqual([[newLeader, true, undefined]]);
      } finally {
        env.cluster.unblockClients(leader);
        await env.cluster.startStore(leader);
      }
    },
  );
});
