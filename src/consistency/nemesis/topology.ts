// Topology nemeses on the embedded cluster: split, merge, leader transfer, peer remove/re-add.

import type { EmbeddedCluster } from "../../cluster/embedded-cluster.js";
import type { RegionInfo } from "../../cluster/topology/types.js";
import type { Rng } from "../types.js";
import { instant, type Nemesis } from "./types.js";

function need(c: EmbeddedCluster | undefined): EmbeddedCluster {
  if (!c) throw new Error("needs the embedded cluster");
  return c;
}

const id = (b: bigint) => Number(b);

function runningVoters(c: EmbeddedCluster, r: RegionInfo): bigint[] {
  return r.peers
    .filter((p) => p.role === "voter" && c.topology.isStoreRunning(p.storeId))
    .map((p) => p.storeId);
}

function pickRegion(c: EmbeddedCluster, rng: Rng): RegionInfo {
  return rng.pick(c.topology.regions());
}

/** Splits the region holding a workload key at that key. */
export const splitNemesis: Nemesis = {
  name: "split",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const key = ctx.sampleKey();
    const created = c.topology.splitAt([key]);
    if (created.length === 0) throw new Error(`${key} is already a region boundary`);
    return instant({ key, regions: c.topology.regions().length });
  },
};

/** Merges a region into its right neighbour (when both have peers on the same stores). */
export const mergeNemesis: Nemesis = {
  name: "merge",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const regions = c.topology.regions();
    if (regions.length < 2) throw new Error("only one region");
    const i = ctx.rng.int(regions.length - 1);
    const src = regions[i] as RegionInfo;
    const tgt = regions[i + 1] as RegionInfo;
    c.topology.merge(src.id, tgt.id);
    return instant({ source: id(src.id), target: id(tgt.id), regions: regions.length - 1 });
  },
};

/** Moves a region's leadership to another running voter. */
export const leaderNemesis: Nemesis = {
  name: "leader-transfer",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const r = pickRegion(c, ctx.rng);
    const others = runningVoters(c, r).filter((s) => s !== r.leader?.storeId);
    if (others.length === 0) throw new Error(`region ${r.id} has no other running voter`);
    const to = ctx.rng.pick(others);
    c.topology.transferLeader(r.id, to);
    return instant({ region: id(r.id), toStore: id(to) });
  },
};

/** Removes a follower voter of a region; stop adds a voter back on that store. */
export const peerNemesis: Nemesis = {
  name: "peer-change",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const r = pickRegion(c, ctx.rng);
    const voters = r.peers.filter((p) => p.role === "voter");
    const followers = voters.filter((p) => p.id !== r.leaderPeerId);
    if (voters.length < 3 || followers.length === 0) throw new Error(`region ${r.id} has too few voters`);
    const victim = ctx.rng.pick(followers);
    c.topology.removePeer(r.id, victim.storeId);
    return {
      value: { region: id(r.id), removedFromStore: id(victim.storeId) },
      async stop() {
        // The region may have been split or merged meanwhile: re-add where it still lacks a peer.
        const now = c.topology.regionById(r.id);
        if (!now || now.peers.some((p) => p.storeId === victim.storeId)) return { readded: false };
        c.topology.addPeer(r.id, victim.storeId);
        return { readded: true };
      },
    };
  },
};
