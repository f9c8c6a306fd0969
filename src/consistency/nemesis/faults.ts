// Store and RPC nemeses on the embedded cluster: store stop/restart and pause, dropped replies
// after apply, injected RPC errors and delays, PD leader change and unavailability.

import { status } from "@grpc/grpc-js";
import type { EmbeddedCluster } from "../../cluster/embedded-cluster.js";
import type { RpcName } from "../../cluster/faults/rpc-names.js";
import type { FaultError, FaultHandle } from "../../cluster/faults/types.js";
import { RegionErrors } from "../../cluster/tikv/region-errors.js";
import { between } from "../rng.js";
import { instant, type Nemesis } from "./types.js";

function need(c: EmbeddedCluster | undefined): EmbeddedCluster {
  if (!c) throw new Error("needs the embedded cluster");
  return c;
}

/** Writes whose replies the drop-reply nemesis loses after they were applied. */
const WRITE_RPCS: RpcName[] = [
  "RawPut",
  "RawBatchPut",
  "RawDelete",
  "RawBatchDelete",
  "RawCompareAndSwap",
  "KvPrewrite",
  "KvCommit",
  "KvPessimisticLock",
];

/** Data RPCs that injected errors and delays apply to. */
const DATA_RPCS: RpcName[] = [
  ...WRITE_RPCS,
  "RawGet",
  "RawBatchGet",
  "RawScan",
  "KvGet",
  "KvBatchGet",
  "KvScan",
  "KvCheckTxnStatus",
  "KvResolveLock",
  "KvBatchRollback",
  "KvCheckSecondaryLocks",
];

function cancelling(handles: FaultHandle[]): () => Promise<{ fired: number }> {
  return async () => {
    let fired = 0;
    for (const h of handles) {
      fired += h.fired;
      h.cancel();
    }
    return { fired };
  };
}

/** Stops a store (its leaders fail over to the others); stop starts it again. */
export const storeRestartNemesis: Nemesis = {
  name: "store-restart",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const running = c.stores.filter((s) => s.running);
    // Keep a majority: stop one store only while all are up.
    if (running.length < c.stores.length || running.length < 3) throw new Error("a store is already down");
    const s = ctx.rng.pick(running);
    await c.stopStore(s.storeId, { failover: true });
    return {
      value: { store: Number(s.storeId) },
      async stop() {
        await c.startStore(s.storeId);
        return { store: Number(s.storeId) };
      },
    };
  },
};

/** Holds every request to one store (a paused process, a slow disk). */
export const storePauseNemesis: Nemesis = {
  name: "store-pause",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const s = ctx.rng.pick(c.stores);
    const ms = between(ctx.rng, 100, 700);
    const h = c.faults.delay({ rpc: DATA_RPCS, storeId: s.storeId, ms });
    return { value: { store: Number(s.storeId), ms }, stop: cancelling([h]) };
  },
};

/**
 * Applies the next few writes, then never answers them: the client's deadline passes and it must
 * report the outcome undetermined.
 */
export const dropReplyNemesis: Nemesis = {
  name: "drop-reply",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const count = between(ctx.rng, 1, 4);
    const h = c.faults.dropReply({ rpc: WRITE_RPCS, count, outcome: "hang" });
    return { value: { count }, stop: cancelling([h]) };
  },
};

/**
 * Applies the next few writes, then fails their calls with UNAVAILABLE (the connection broke after
 * the server applied them): a client that retries such a write applies it twice.
 */
export const dropReplyErrorNemesis: Nemesis = {
  name: "drop-reply-error",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const count = between(ctx.rng, 1, 4);
    const h = c.faults.dropReply({
      rpc: WRITE_RPCS,
      count,
      outcome: { grpcStatus: status.UNAVAILABLE, message: "nemesis: connection lost after apply" },
    });
    return { value: { count }, stop: cancelling([h]) };
  },
};

/** Fails the next few data RPCs of a region (or every region) with a retryable error. */
export const rpcErrorNemesis: Nemesis = {
  name: "rpc-error",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const r = ctx.rng.pick(c.topology.regions());
    const kinds: [string, () => FaultError][] = [
      ["notLeader", () => ({ regionError: RegionErrors.notLeader(r.id) })],
      ["serverIsBusy", () => ({ regionError: RegionErrors.serverIsBusy() })],
      ["staleCommand", () => ({ regionError: RegionErrors.staleCommand() })],
      ["regionNotFound", () => ({ regionError: RegionErrors.regionNotFound(r.id) })],
      ["unavailable", () => ({ grpcStatus: status.UNAVAILABLE, message: "nemesis: unavailable" })],
    ];
    const [kind, make] = ctx.rng.pick(kinds);
    const count = between(ctx.rng, 1, 6);
    const h = c.faults.failNext({ rpc: DATA_RPCS, regionId: r.id, count, error: make() });
    return { value: { region: Number(r.id), kind, count }, stop: cancelling([h]) };
  },
};

/** Delays every data RPC a little (a slow network). */
export const rpcDelayNemesis: Nemesis = {
  name: "rpc-delay",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const ms = between(ctx.rng, 5, 120);
    const h = c.faults.delay({ rpc: DATA_RPCS, ms });
    return { value: { ms }, stop: cancelling([h]) };
  },
};

/** PD loses its leader (an election); stop elects a (possibly different) member. */
export const pdLeaderNemesis: Nemesis = {
  name: "pd-leader",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    const members = c.pd.endpoints.length;
    if (members < 2) throw new Error("PD has one member");
    const from = c.pd.leaderIndex;
    c.pd.clearLeader();
    const to = ctx.rng.int(members);
    return {
      value: { from: from ?? null },
      async stop() {
        c.pd.transferLeader(to);
        return { to };
      },
    };
  },
};

/** Every PD member answers UNAVAILABLE. */
export const pdUnavailableNemesis: Nemesis = {
  name: "pd-unavailable",
  embeddedOnly: true,
  async start(ctx) {
    const c = need(ctx.cluster);
    c.pd.setUnavailable(true);
    return {
      value: null,
      async stop() {
        c.pd.setUnavailable(false);
        return null;
      },
    };
  },
};

/** Restores what a fault may have left behind (the end of a run): stores up, PD available and led. */
export async function healCluster(c: EmbeddedCluster): Promise<void> {
  c.pd.setUnavailable(false);
  if (c.pd.leaderIndex === undefined) c.pd.transferLeader(0);
  for (const s of c.stores) if (!s.running) await c.startStore(s.storeId);
  c.electLeaders();
}

export { instant };
