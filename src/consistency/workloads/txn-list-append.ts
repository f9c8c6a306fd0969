// The list-append workload (Elle): transactions of 1-4 micro-ops, each an append of a unique
// element to the list under a key or a read of a whole list. A list is stored as its elements
// joined by commas (absent key = empty list); an append is a read-modify-write of that value.
// Keys are retired after `appendsPerKey` appends so lists stay short. Judged by the Elle
// checker under snapshot isolation with realtime edges (TiKV's snapshots come from one TSO).
import { listAppendChecker, type MicroOp, txnValue } from "../checkers/elle-list-append.js";
import type { OpOutcome, OpRequest, Workload } from "../types.js";
import { intSetting, prefixOf, runInTxn, type TxnWorkloadOptions, txnModeOf } from "./txn-mode.js";

/** Options of {@link listAppendWorkload}. */
export interface ListAppendWorkloadOptions extends TxnWorkloadOptions {
  /** Keys appended to at a time (default `settings.keys`, else 6). */
  keys?: number;
  /** Appends a key takes before it is retired (default `settings.appendsPerKey`, else 24). */
  appendsPerKey?: number;
  /** Most micro-ops per transaction (default `settings.maxOps`, else 4). */
  maxOps?: number;
}

const decode = (v: Buffer | undefined): number[] =>
  v === undefined || v.length === 0 ? [] : v.toString("utf8").split(",").map(Number);

/**
 * Builds the list-append workload.
 *
 * @example
 * ```ts
 * const w = listAppendWorkload({ clients: 5, ops: 500, mode: "asyncCommit" });
 * ```
 */
export function listAppendWorkload(opts: ListAppendWorkloadOptions): Workload {
  const mode = txnModeOf(opts);
  const prefix = prefixOf(opts, "la/");
  const keyCount = opts.keys ?? intSetting(opts, "keys", 6);
  const perKey = opts.appendsPerKey ?? intSetting(opts, "appendsPerKey", 24);
  const maxOps = opts.maxOps ?? intSetting(opts, "maxOps", 4);
  let nextKey = 0;
  let nextElement = 1;
  const active: Array<{ key: string; appends: number }> = [];
  const used: string[] = [];
  const freshKey = (): { key: string; appends: number } => {
    const key = `${prefix}${String(nextKey++).padStart(6, "0")}`;
    used.push(key);
    return { key, appends: 0 };
  };
  for (let i = 0; i < keyCount; i++) active.push(freshKey());

  return {
    name: `list-append/${mode}`,
    keyPrefix: prefix,
    keyMode: "txn",
    checkers: [listAppendChecker({ model: "snapshot-isolation", realtime: true })],
    async setup() {},
    next(rng): OpRequest {
      const n = 1 + rng.int(maxOps);
      const mops: MicroOp[] = [];
      for (let i = 0; i < n; i++) {
        const slot = rng.int(active.length);
        const k = active[slot] as { key: string; appends: number };
        if (rng.next() < 0.5) {
          mops.push(["r", k.key, null]);
          continue;
        }
        mops.push(["append", k.key, nextElement++]);
        if (++k.appends >= perKey) active[slot] = freshKey();
      }
      return { f: "txn", value: txnValue(mops) };
    },
    run(client, op): Promise<OpOutcome> {
      const mops = op.value as unknown as MicroOp[];
      return runInTxn(client, mode, async ({ txn, readForUpdate }) => {
        // pessimistic: every key the txn touches is locked and read at the latest version up
        // front (mixing start-ts reads with for-update reads would not be a snapshot)
        const locked = new Map<string, number[]>();
        if (mode === "pessimistic") {
          const keys = [...new Set(mops.map((m) => m[1]))];
          const values = await readForUpdate(keys);
          keys.forEach((k, i) => {
            locked.set(k, decode(values[i]));
          });
        }
        const current = async (key: string): Promise<number[]> =>
          locked.get(key) ?? decode(await txn.get(key));
        const out: MicroOp[] = [];
        for (const m of mops) {
          const list = await current(m[1]);
          if (m[0] === "r") {
            out.push(["r", m[1], list]);
            continue;
          }
          const next = [...list, m[2] as number];
          txn.set(m[1], next.join(","));
          if (locked.has(m[1])) locked.set(m[1], next);
          out.push(m);
        }
        return txnValue(out);
      });
    },
    finalOps(): OpRequest[] {
      const out: OpRequest[] = [];
      for (let i = 0; i < used.length; i += 8) {
        out.push({ f: "txn", value: txnValue(used.slice(i, i + 8).map((k): MicroOp => ["r", k, null])) });
      }
      return out;
    },
  };
}
