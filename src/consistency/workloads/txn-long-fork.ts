// The long-fork workload (Jepsen): each transaction inserts one fresh key; reads take one
// snapshot (at a fresh ts, or an older one: a stale read) of a group of keys, mostly the group
// being inserted into. Snapshot isolation forbids two reads seeing two inserts in opposite orders.
import { longForkChecker } from "../checkers/long-fork.js";
import { asRecord } from "../checkers/ops.js";
import { classify } from "../classify.js";
import type { OpOutcome, OpRequest, Workload } from "../types.js";
import {
  intSetting,
  LOCK_WAIT_MS,
  pickProbeRead,
  prefixOf,
  probeSnapshot,
  runInTxn,
  type TxnWorkloadOptions,
  txnModeOf,
} from "./txn-mode.js";

/** Options of {@link longForkWorkload}. */
export interface LongForkWorkloadOptions extends TxnWorkloadOptions {
  /** Keys per read group (default `settings.groupSize`, else 5). */
  groupSize?: number;
}

/**
 * Builds the long-fork workload.
 *
 * @example
 * ```ts
 * const w = longForkWorkload({ clients: 6, ops: 600, mode: "onePC" });
 * ```
 */
export function longForkWorkload(opts: LongForkWorkloadOptions): Workload {
  const mode = txnModeOf(opts);
  const prefix = prefixOf(opts, "lf/");
  const groupSize = opts.groupSize ?? intSetting(opts, "groupSize", 5);
  let inserted = 0;
  const keyOf = (i: number): string => `${prefix}${String(i).padStart(7, "0")}`;
  const group = (g: number): string[] =>
    Array.from({ length: groupSize }, (_, i) => keyOf(g * groupSize + i));

  return {
    name: `long-fork/${mode}`,
    keyPrefix: prefix,
    keyMode: "txn",
    checkers: [longForkChecker],
    async setup() {},
    next(rng): OpRequest {
      if (rng.next() < 0.5) {
        const i = inserted++;
        return { f: "insert", value: { key: keyOf(i), value: i } };
      }
      const current = Math.floor(inserted / groupSize);
      const g = rng.next() < 0.8 || current === 0 ? current : rng.int(current);
      return { f: "read", value: { keys: group(g), ...pickProbeRead(rng, 0.25, 100) } };
    },
    async run(client, op): Promise<OpOutcome> {
      const v = asRecord(op.value) ?? {};
      if (op.f === "insert") {
        const key = String(v.key);
        return runInTxn(client, mode, async ({ txn }) => {
          if (mode === "pessimistic") await txn.lockKeys([key], { waitTimeoutMs: LOCK_WAIT_MS });
          txn.set(key, String(v.value));
          return op.value;
        });
      }
      const keys = (v.keys as string[]).map(String);
      try {
        const { ts, snap } = await probeSnapshot(client, v);
        const got = await snap.batchGet(keys);
        const values = Object.fromEntries(
          keys.map((k, i) => [k, got[i] === undefined ? null : Number(got[i]?.toString())]),
        );
        return { type: "ok", value: { ts: ts.toString(), values } };
      } catch (e) {
        return classify(e, "read");
      }
    },
  };
}
