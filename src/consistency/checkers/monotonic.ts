// The monotonic-reads checker. Counters only grow: each "inc" txn reads a key and writes it
// plus one. Reads observe several counters from one snapshot, at a fresh timestamp ("latest")
// or at an older one ("stale", a snapshot/stale read at a chosen ts). Checked:
// - per process, a latest read never sees a counter lower than that process's previous latest
//   read did (monotonic reads);
// - across all reads, a read at a higher ts never sees a lower value than one at a lower ts,
//   and reads at the same ts agree (snapshots are consistent with their timestamps);
// - a latest read sees at least the increments acknowledged before it began (lost increment),
//   and no read sees more increments than were ever attempted (impossible value).
//
// History format: f "inc", value { key }; f "read", ok value
// { ts: string, stale: boolean, values: { [key]: number } }.
import type { Anomaly, Checker, HistoryEvent, Verdict } from "../types.js";
import { asRecord, endIndex, type PairedOp, pairOps, witness } from "./ops.js";

interface ReadObs {
  op: PairedOp;
  ts: bigint | undefined;
  stale: boolean;
  values: Map<string, number>;
}

/**
 * Checks a monotonic-reads history.
 *
 * @example
 * ```ts
 * const v = checkMonotonic(history);
 * ```
 */
export function checkMonotonic(history: readonly HistoryEvent[]): Verdict {
  const anomalies: Anomaly[] = [];
  const ops = pairOps(history);
  const reads: ReadObs[] = [];
  // per key: end indices of ok incs (sorted) and invoke indices of ok/info incs (sorted)
  const okEnds = new Map<string, number[]>();
  const attempts = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, x: number): void => {
    const l = m.get(k);
    if (l) l.push(x);
    else m.set(k, [x]);
  };
  for (const op of ops) {
    if (op.f === "inc") {
      const key = asRecord(op.value)?.key;
      if (typeof key !== "string") continue;
      if (op.type === "ok") push(okEnds, key, endIndex(op));
      if (op.type !== "fail") push(attempts, key, op.invoke.index);
      continue;
    }
    if (op.f !== "read" || op.type !== "ok") continue;
    const v = asRecord(op.value);
    const vals = asRecord(v?.values);
    if (!v || !vals) {
      anomalies.push({ kind: "malformed", message: "a read returned no values", events: witness(op) });
      continue;
    }
    const values = new Map<string, number>();
    for (const [k, x] of Object.entries(vals)) {
      if (typeof x === "number") values.set(k, x);
      else
        anomalies.push({
          kind: "malformed",
          message: `read ${k} = ${JSON.stringify(x)}`,
          events: witness(op),
        });
    }
    const ts = typeof v.ts === "string" && /^\d+$/.test(v.ts) ? BigInt(v.ts) : undefined;
    reads.push({ op, ts, stale: v.stale === true, values });
  }
  for (const l of okEnds.values()) l.sort((a, b) => a - b);
  for (const l of attempts.values()) l.sort((a, b) => a - b);

  // monotonic reads per process
  const lastByProcess = new Map<number, ReadObs>();
  for (const r of reads) {
    if (r.stale) continue;
    const prev = lastByProcess.get(r.op.process);
    if (prev) {
      for (const [k, x] of r.values) {
        const before = prev.values.get(k);
        if (before !== undefined && x < before) {
          anomalies.push({
            kind: "non-monotonic",
            message: `process ${r.op.process} read ${k} = ${x} after reading ${before}`,
            events: [...witness(prev.op), ...witness(r.op)],
          });
        }
      }
    }
    lastByProcess.set(r.op.process, r);
  }

  // reads ordered by ts agree with it
  const timed = reads
    .filter((r) => r.ts !== undefined)
    .sort((a, b) => (a.ts! < b.ts! ? -1 : a.ts! > b.ts! ? 1 : 0));
  const best = new Map<string, { x: number; r: ReadObs }>();
  for (const r of timed) {
    for (const [k, x] of r.values) {
      const b = best.get(k);
      if (b && (x < b.x || (b.r.ts === r.ts && x !== b.x))) {
        anomalies.push({
          kind: "ts-order",
          message: `read at ts ${r.ts} saw ${k} = ${x}, a read at ts ${b.r.ts} saw ${b.x}`,
          events: [...witness(b.r.op), ...witness(r.op)],
        });
      }
      if (!b || x > b.x) best.set(k, { x, r });
    }
  }

  // bounds from the increments
  for (const r of reads) {
    for (const [k, x] of r.values) {
      const tried = countBelow(attempts.get(k) ?? [], endIndex(r.op));
      if (x > tried) {
        anomalies.push({
          kind: "impossible-value",
          message: `read ${k} = ${x}, but only ${tried} increments were attempted`,
          events: witness(r.op),
        });
      }
      if (r.stale) continue;
      const acked = countBelow(okEnds.get(k) ?? [], r.op.invoke.index);
      if (x < acked) {
        anomalies.push({
          kind: "lost-increment",
          message: `read ${k} = ${x}, after ${acked} increments were acknowledged`,
          events: witness(r.op),
        });
      }
    }
  }
  return {
    checker: "monotonic",
    valid: anomalies.length === 0,
    anomalies,
    stats: {
      reads: reads.length,
      staleReads: reads.filter((r) => r.stale).length,
      incsOk: [...okEnds.values()].reduce((n, l) => n + l.length, 0),
    },
  };
}

/** A checker for the runner. */
export const monotonicChecker: Checker = (history) => checkMonotonic(history);

/** How many of the sorted xs are < limit. */
function countBelow(xs: readonly number[], limit: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
