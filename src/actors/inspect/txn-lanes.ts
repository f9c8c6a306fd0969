// The live view's transactions pane, server side: one lane per transaction, built from its
// events; open ones are kept while they run, finished ones only the last N.
import type { TxnEvent } from "../observe/events.js";
import { rollbackOutcome } from "../observe/trace.js";

/** One transaction as the pane shows it. */
export interface TxnLane {
  txn: string;
  kind: string;
  startedAt: number;
  endedAt?: number;
  /** "active", "committed", "rolledBack", "failed" or "undetermined". */
  outcome: string;
  mode?: string;
  keys: number;
  sampleKeys: string[];
  regions: string[];
  /** States passed, with when each was entered. */
  states: Array<{ state: string; at: number }>;
  rpcs: number;
  backoffs: number;
  locks: number;
  /** Its events, oldest first (at most {@link MAX_LANE_EVENTS}). */
  events: TxnEvent[];
}

/** Events kept per lane (a transaction retrying for long keeps its latest ones). */
const MAX_LANE_EVENTS = 300;
/** Open lanes kept at most (abandoned transactions never finish). */
const MAX_OPEN = 1_000;

/** The lanes of the pane. */
export class TxnLanes {
  private readonly lanes = new Map<string, TxnLane>();
  private readonly finished: string[] = [];

  constructor(private readonly keepFinished = 50) {}

  /** Folds `e` into its lane; returns the lane. */
  add(e: TxnEvent): TxnLane {
    let lane = this.lanes.get(e.txn);
    if (!lane) {
      lane = {
        txn: e.txn,
        kind: e.type === "begin" ? e.kind : "optimistic",
        startedAt: e.at,
        outcome: "active",
        keys: 0,
        sampleKeys: [],
        regions: [],
        states: [],
        rpcs: 0,
        backoffs: 0,
        locks: 0,
        events: [],
      };
      this.lanes.set(e.txn, lane);
      this.trimOpen();
    }
    lane.events.push(e);
    if (lane.events.length > MAX_LANE_EVENTS) lane.events.shift();
    switch (e.type) {
      case "commitStart":
        lane.keys = e.keys;
        lane.sampleKeys = e.sampleKeys;
        break;
      case "state":
        lane.states.push({ state: e.to, at: e.at });
        break;
      case "rpc":
        lane.rpcs++;
        if (!lane.regions.includes(e.regionId)) lane.regions.push(e.regionId);
        break;
      case "backoff":
        lane.backoffs++;
        break;
      case "lockResolve":
        lane.locks++;
        break;
      case "commit":
        if (e.mode !== undefined) lane.mode = e.mode;
        this.finish(lane, "committed", e.at);
        break;
      case "rollback":
        if (e.mode !== undefined) lane.mode = e.mode;
        this.finish(lane, rollbackOutcome(e.reason), e.at);
        break;
      default:
        break;
    }
    return lane;
  }

  /** Every lane, oldest first. */
  snapshot(): TxnLane[] {
    return [...this.lanes.values()];
  }

  private finish(lane: TxnLane, outcome: string, at: number): void {
    if (lane.outcome !== "active") return;
    lane.outcome = outcome;
    lane.endedAt = at;
    this.finished.push(lane.txn);
    while (this.finished.length > this.keepFinished) this.lanes.delete(this.finished.shift() as string);
  }

  private trimOpen(): void {
    if (this.lanes.size - this.finished.length <= MAX_OPEN) return;
    for (const [id, l] of this.lanes) {
      if (l.outcome === "active") {
        this.lanes.delete(id);
        return;
      }
    }
  }
}
