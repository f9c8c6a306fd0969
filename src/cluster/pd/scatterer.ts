// The mock PD's region scatterer (pd pkg/schedule/scatter/region_scatterer.go, simplified):
// a scattered region gets a "scatter-region" operator that moves one peer to the store with
// the fewest peers and/or its leader to the store with the fewest leaders, one raft step per
// `stepMs`, through the topology (so the mock stores and PD's region view agree and conf_ver
// bumps as TiKV's conf changes do). Counts include the planned outcome of running operators,
// as PD's scatterer counts stores it already picked.
import { OperatorStatus } from "../../proto/pdpb.js";
import type { ClusterTopology } from "../topology/cluster-topology.js";
import type { RegionInfo } from "../topology/types.js";

/** An operator PD reports through GetOperator. */
export interface PdOperator {
  desc: string;
  kind: string;
  /** pdpb.OperatorStatus. */
  status: number;
  /** Scatter group the operator was created for ("" = none). */
  group?: string;
}

/** PD's AdminScatterOperatorDesc. */
export const SCATTER_DESC = "scatter-region";
/** Default time each operator step takes (ms). */
export const DEFAULT_SCATTER_STEP_MS = 50;

/** One raft-level change, applied in order (non-joint path of PD's operator builder). */
type Step = { kind: "addLearner" | "promoteLearner" | "removePeer" | "transferLeader"; storeId: bigint };

interface Plan {
  steps: Step[];
  /** Stores of the region's peers once the plan has run, and its leader store. */
  finalStores: bigint[];
  finalLeader: bigint | undefined;
}

interface Running {
  op: PdOperator;
  plan: Plan;
  timer: NodeJS.Timeout | undefined;
}

/** Why a region could not be scattered (PD's failure reasons). */
export type ScatterOutcome = { ok: true } | { ok: false; reason: string };

function minBy(ids: readonly bigint[], count: (id: bigint) => number): bigint | undefined {
  let best: bigint | undefined;
  for (const id of ids) {
    if (best === undefined || count(id) < count(best) || (count(id) === count(best) && id < best)) best = id;
  }
  return best;
}

/** Creates and runs scatter operators; records every operator in `operators` by region id. */
export class RegionScatterer {
  private readonly running = new Map<bigint, Running>();
  private stopped = false;

  constructor(
    private readonly topology: ClusterTopology,
    private readonly operators: Map<bigint, PdOperator>,
    private readonly stepMs: number = DEFAULT_SCATTER_STEP_MS,
  ) {}

  /**
   * Scatters region `regionId` (which must exist): creates its operator, RUNNING while it has
   * steps left, SUCCESS at once when there is nothing to move.
   */
  scatter(regionId: bigint, group: string): ScatterOutcome {
    const region = this.topology.regionById(regionId);
    if (!region) return { ok: false, reason: `failed to find region ${regionId}` };
    const existing = this.running.get(regionId);
    if (existing) {
      // The same group's scatter is already under way: nothing new (PD skips it).
      if (existing.op.group === group) return { ok: true };
      return { ok: false, reason: `the operator of region ${regionId} already exist` };
    }
    if (region.leader === undefined) return { ok: false, reason: `region ${regionId} has no leader` };
    const plan = this.plan(region);
    // OpKind flags in PD's bit order: admin, region (peer changes), leader (transfer).
    const movesPeer = plan.steps.some((s) => s.kind !== "transferLeader");
    const movesLeader = plan.steps.some((s) => s.kind === "transferLeader");
    const kind = ["admin", ...(movesPeer ? ["region"] : []), ...(movesLeader ? ["leader"] : [])].join(",");
    const op: PdOperator = { desc: SCATTER_DESC, kind, status: OperatorStatus.RUNNING, group };
    this.operators.set(regionId, op);
    if (plan.steps.length === 0) {
      op.status = OperatorStatus.SUCCESS;
      return { ok: true };
    }
    const run: Running = { op, plan, timer: undefined };
    this.running.set(regionId, run);
    this.schedule(regionId, run, 0);
    return { ok: true };
  }

  /** Stops running operators (the PD shuts down); they stay RUNNING in the record. */
  stop(): void {
    this.stopped = true;
    for (const r of this.running.values()) clearTimeout(r.timer);
    this.running.clear();
  }

  private schedule(regionId: bigint, run: Running, index: number): void {
    if (this.stopped) return;
    run.timer = setTimeout(() => this.step(regionId, run, index), this.stepMs);
    // A scatter in flight must not keep the process alive.
    run.timer.unref();
  }

  private step(regionId: bigint, run: Running, index: number): void {
    const s = run.plan.steps[index];
    if (!s || this.stopped) return;
    try {
      this.apply(regionId, s);
    } catch {
      // The region changed under the operator (split, merge, peer moved by hand): PD cancels it.
      run.op.status = OperatorStatus.CANCEL;
      this.running.delete(regionId);
      return;
    }
    if (index + 1 < run.plan.steps.length) {
      this.schedule(regionId, run, index + 1);
      return;
    }
    run.op.status = OperatorStatus.SUCCESS;
    this.running.delete(regionId);
  }

  private apply(regionId: bigint, s: Step): void {
    switch (s.kind) {
      case "addLearner":
        this.topology.addLearner(regionId, s.storeId);
        return;
      case "promoteLearner":
        this.topology.promoteLearner(regionId, s.storeId);
        return;
      case "removePeer":
        this.topology.removePeer(regionId, s.storeId);
        return;
      case "transferLeader":
        this.topology.transferLeader(regionId, s.storeId);
        return;
    }
  }

  /**
   * Peer and leader counts per store, as they will be once every running operator finished
   * (regions with a running operator count at their planned placement).
   */
  private counts(): { peers: Map<bigint, number>; leaders: Map<bigint, number> } {
    const peers = new Map<bigint, number>();
    const leaders = new Map<bigint, number>();
    const bump = (m: Map<bigint, number>, id: bigint | undefined) => {
      if (id !== undefined) m.set(id, (m.get(id) ?? 0) + 1);
    };
    for (const r of this.topology.regions()) {
      const planned = this.running.get(r.id)?.plan;
      const stores = planned ? planned.finalStores : r.peers.map((p) => p.storeId);
      for (const s of stores) bump(peers, s);
      bump(leaders, planned ? planned.finalLeader : r.leader?.storeId);
    }
    return { peers, leaders };
  }

  /**
   * What to do with `region`: move one non-leader peer from the most loaded store to the least
   * loaded store without one, then move the leader to the voter store leading fewest regions,
   * each only when it strictly evens things out (a balanced region has nothing to do).
   */
  private plan(region: RegionInfo): Plan {
    const { peers, leaders } = this.counts();
    const peerCount = (id: bigint) => peers.get(id) ?? 0;
    const leaderCount = (id: bigint) => leaders.get(id) ?? 0;
    const steps: Step[] = [];
    const leaderStore = region.leader?.storeId;
    let stores = region.peers.map((p) => p.storeId);
    let voters = region.peers.filter((p) => p.role === "voter").map((p) => p.storeId);

    // Only stores that are up and running take new peers or leaders (PD's StoreStateFilter).
    const usable = new Set(
      this.topology
        .stores()
        .filter((s) => s.state === "up" && s.running)
        .map((s) => s.id),
    );
    const targets = [...usable].filter((id) => !stores.includes(id));
    const sources = region.peers.filter((p) => p.storeId !== leaderStore).map((p) => p.storeId);
    const target = minBy(targets, peerCount);
    const source = minBy(sources, (id) => -peerCount(id));
    if (target !== undefined && source !== undefined && peerCount(target) + 1 < peerCount(source)) {
      steps.push({ kind: "addLearner", storeId: target });
      const wasVoter = voters.includes(source);
      if (wasVoter) steps.push({ kind: "promoteLearner", storeId: target });
      steps.push({ kind: "removePeer", storeId: source });
      stores = [...stores.filter((s) => s !== source), target];
      if (wasVoter) voters = [...voters.filter((s) => s !== source), target];
    }

    let finalLeader = leaderStore;
    const leaderTarget = minBy(
      voters.filter((s) => usable.has(s)),
      leaderCount,
    );
    if (
      leaderStore !== undefined &&
      leaderTarget !== undefined &&
      leaderTarget !== leaderStore &&
      leaderCount(leaderTarget) + 1 < leaderCount(leaderStore)
    ) {
      steps.push({ kind: "transferLeader", storeId: leaderTarget });
      finalLeader = leaderTarget;
    }
    return { steps, finalStores: stores, finalLeader };
  }
}
