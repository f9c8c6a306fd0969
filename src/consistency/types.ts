// The shared vocabulary of the consistency suite (issue #13): operations recorded in a history,
// workloads that generate and run them, nemeses that inject faults, and checkers that judge a
// history knowing nothing about the client. Histories are written as JSONL, one HistoryEvent per
// line, in the order they happened.

/** What happened to one operation: invoked, then ok (it took effect), fail (it did not) or info (unknown). */
export type EventType = "invoke" | "ok" | "fail" | "info";

/** JSON-safe values of operations (bigints as decimal strings, bytes as strings). */
export type OpValue = null | boolean | number | string | OpValue[] | { [k: string]: OpValue };

/** One line of a history. An operation is an invoke followed by exactly one ok / fail / info of the same process. */
export interface HistoryEvent {
  /** Position in the history (0, 1, 2, ...). */
  index: number;
  type: EventType;
  /** The logical client that ran the operation; a process runs one operation at a time. */
  process: number;
  /** Monotonic ms since the run began. */
  time: number;
  /** The operation's name, workload-defined (e.g. "read", "write", "cas", "txn", "transfer"). */
  f: string;
  /** On invoke: what was asked; on ok: what was observed (e.g. the values read); on fail/info: as invoked. */
  value: OpValue;
  /** fail / info: the error's class and message. */
  error?: string;
  /** The nemesis fault active when the operation completed, for reading verdicts. */
  nemesis?: string;
}

/** One anomaly a checker found, with the events that show it. */
export interface Anomaly {
  /** The class, e.g. "lost-write", "nonlinearizable", "G0", "G1c", "G-single", "negative-balance". */
  kind: string;
  /** Human explanation. */
  message: string;
  /** Indices of the history events that witness it. */
  events: number[];
}

/** A checker's judgement of a history. */
export interface Verdict {
  /** Checker name. */
  checker: string;
  valid: boolean;
  anomalies: Anomaly[];
  /** Counts and facts worth reporting (ops checked, keys, ...). */
  stats: Record<string, number | string>;
}

/** A checker: a pure function of the history. */
export type Checker = (history: readonly HistoryEvent[]) => Verdict | Promise<Verdict>;

/** A seeded random source: every choice of a run comes from it, so a seed reproduces the run's schedule. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
}

/** An operation to invoke: `f` and `value` as recorded on invoke. */
export interface OpRequest {
  f: string;
  value: OpValue;
}

/** What running an operation gave: ok with the observed value, fail (certainly no effect), or info (unknown). */
export type OpOutcome =
  | { type: "ok"; value: OpValue }
  | { type: "fail"; error: string }
  | { type: "info"; error: string };

/** The client a workload runs on (the public API only). */
export type WorkloadClient = import("../api/tikv-client.js").TikvClient;

/** A workload: generates operations, runs them on a client, and names the checkers of its histories. */
export interface Workload {
  name: string;
  /** Prepares the data (e.g. initial balances); not recorded. */
  setup(client: WorkloadClient, rng: Rng): Promise<void>;
  /** The next operation `process` should invoke. */
  next(rng: Rng, process: number): OpRequest;
  /** Runs `op`; never throws: errors are classified as fail (no effect) or info (unknown). */
  run(client: WorkloadClient, op: OpRequest, process: number): Promise<OpOutcome>;
  /** Operations to run once the faults are healed (e.g. a final read of every key), recorded too. */
  finalOps?(): OpRequest[];
  /** The checkers judging this workload's history. */
  checkers: Checker[];
  /**
   * Every key the workload touches starts with this prefix (user key, as on the wire); the
   * harness places the embedded cluster's regions and the split nemesis's keys under it.
   */
  keyPrefix?: string;
  /**
   * A key the workload uses or will use (user key), where the split nemesis may cut a region.
   * Without it, splits land at `keyPrefix` followed by random digits.
   */
  sampleKey?(rng: Rng): string;
  /**
   * "raw" for raw KV workloads, "txn" (default) for transactional ones: the embedded cluster's
   * region boundaries are then memcomparable-encoded, as a txn client expects.
   */
  keyMode?: "raw" | "txn";
}

/** What a workload is built from (CLI flags, test options). */
export interface WorkloadOptions {
  /** Concurrent logical clients of the run. */
  clients: number;
  /** Operations the run will invoke (a hint for sizing key sets; 0 when the run is timed). */
  ops: number;
  /** Workload-specific settings (e.g. a transaction mode), from `--opt name=value` flags. */
  settings?: Record<string, string>;
}

/** Builds a workload; the registry (workloads/index.ts) maps names to these. */
export type WorkloadFactory = (opts: WorkloadOptions) => Workload;
