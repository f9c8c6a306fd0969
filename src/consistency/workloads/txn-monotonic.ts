// The monotonic-reads workload: counters that only grow (each "inc" transaction reads a counter
// and writes it plus one), and reads of every counter from one snapshot, at a fresh ts or at an
// older one (a stale read). Judged by the monotonic checker: per-process monotonic reads, reads
// consistent with their timestamps, and no lost or invented increments.
import { monotonicChecker } from "../checkers/monotonic.js";
import { asRecord } from "../checkers/ops.js";
import { classify } from "../classify.js";
import type { OpOutcome, OpRequest, Workload } from "../types.js";
import {
  intSetting,
  pickProbeRead,
  prefixOf,
  probeSnapshot,
  runInTxn,
  type TxnWorkloadOptions,
  txnModeOf,
} from "./txn-mode.js";

/** Options of {@link monotonicWorkload}. */
export interface MonotonicWorkloadOptions extends TxnWorkloadOptions {
  /** Number of counters (default `settings.counters`, else 4). */
  counters?: number;
}

const num = (v: Buffer | undefined): number => (v === undefined ? 0 : Number(v.toString("utf8")));

/**
 * Builds the monotonic-reads workload.
 *
 * @example
 * ```ts
 * const w = monotonicWorkload({ clients: 5, ops: 500, mode: "asyncCommit" });
 * ```
 */
export function monotonicWorkload(opts: MonotonicWorkloadOptions): Workload {
  const mode = txnModeOf(opts);
  const prefix = prefixOf(opts, "mono/");
  const n = opts.counters ?? intSetting(opts, "counters", 4);
  const keys = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, "0")}`);

  return {
    name: `monotonic/${mode}`,
    keyPrefix: prefix,
    keyMode: "txn",
    checkers: [monotonicChecker],
    async setup() {},
    next(rng): OpRequest {
      if (rng.next() < 0.5) return { f: "inc", value: { key: rng.pick(keys) } };
      return { f: "read", value: { ...pickProbeRead(rng, 0.3, 150) } };
    },
    async run(client, op): Promise<OpOutcome> {
      const v = asRecord(op.value) ?? {};
      if (op.f === "inc") {
        const key = String(v.key);
        return runInTxn(client, mode, async ({ txn, readForUpdate }) => {
          const [cur] = await readForUpdate([key]);
          txn.set(key, String(num(cur) + 1));
          return op.value;
        });
      }
      const ageMs = Number(v.ageMs ?? 0);
      try {
        const { ts, snap } = await probeSnapshot(client, v);
        const got = await snap.batchGet(keys);
        const values = Object.fromEntries(keys.map((k, i) => [k, num(got[i])]));
        return { type: "ok", value: { ts: ts.toString(), stale: ageMs > 0, values } };
      } catch (e) {
        return classify(e, "read");
      }
    },
    finalOps(): OpRequest[] {
      return [{ f: "read", value: { ageMs: 0 } }];
    },
  };
}
