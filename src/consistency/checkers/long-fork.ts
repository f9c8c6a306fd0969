// The long-fork checker (Jepsen's long-fork workload). Each key is inserted once by its own
// txn; reads observe a group of keys from one snapshot. Under snapshot isolation the snapshots
// are prefixes of one commit order, so the sets of keys any two reads of a group saw are
// ordered by inclusion, whatever timestamps the reads used (fresh or stale). Two reads each
// seeing an insert the other missed saw the concurrent inserts in opposite orders: a long fork.
//
// History format: f "insert", value { key, value }; f "read", ok value
// { ts?: string, values: { [key]: value | null } } (null: not there).
import type { Anomaly, Checker, HistoryEvent, OpValue, Verdict } from "../types.js";
import { asRecord, type PairedOp, pairOps, witness } from "./ops.js";

interface Observed {
  op: PairedOp;
  present: Set<string>;
}

/**
 * Checks a long-fork history.
 *
 * @example
 * ```ts
 * const v = checkLongFork(history);
 * ```
 */
export function checkLongFork(history: readonly HistoryEvent[]): Verdict {
  const anomalies: Anomaly[] = [];
  const ops = pairOps(history);
  const inserted = new Map<string, OpValue>();
  for (const op of ops) {
    const v = asRecord(op.value);
    if (op.f === "insert" && typeof v?.key === "string") inserted.set(v.key, v.value ?? null);
  }
  const groups = new Map<string, Observed[]>();
  let reads = 0;
  for (const op of ops) {
    if (op.f !== "read" || op.type !== "ok") continue;
    const values = asRecord(asRecord(op.value)?.values);
    if (!values) {
      anomalies.push({ kind: "malformed", message: "a read returned no values", events: witness(op) });
      continue;
    }
    reads++;
    const present = new Set<string>();
    for (const [k, v] of Object.entries(values)) {
      if (v === null) continue;
      present.add(k);
      if (!inserted.has(k) || JSON.stringify(inserted.get(k)) !== JSON.stringify(v)) {
        anomalies.push({
          kind: "garbage-read",
          message: `read ${k} = ${JSON.stringify(v)}, never inserted`,
          events: witness(op),
        });
      }
    }
    const group = Object.keys(values).sort().join("\u0000");
    const l = groups.get(group);
    if (l) l.push({ op, present });
    else groups.set(group, [{ op, present }]);
  }
  for (const obs of groups.values()) {
    // inclusion is a total order iff each read is included in the next larger one
    obs.sort((a, b) => a.present.size - b.present.size);
    for (let i = 0; i + 1 < obs.length; i++) {
      const a = obs[i] as Observed;
      const b = obs[i + 1] as Observed;
      const onlyA = [...a.present].find((k) => !b.present.has(k));
      if (onlyA === undefined) continue;
      const onlyB = [...b.present].find((k) => !a.present.has(k));
      anomalies.push({
        kind: "long-fork",
        message: `one read saw ${onlyA} without ${onlyB}, another ${onlyB} without ${onlyA}`,
        events: [...witness(a.op), ...witness(b.op)],
      });
    }
  }
  return {
    checker: "long-fork",
    valid: anomalies.length === 0,
    anomalies,
    stats: { reads, inserts: inserted.size, groups: groups.size },
  };
}

/** A checker for the runner. */
export const longForkChecker: Checker = (history) => checkLongFork(history);
