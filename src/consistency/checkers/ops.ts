// Operations of a history for the transactional checkers: the harness's invoke/completion
// pairing (src/consistency/history.ts) plus the value each checker reads.
import { type Op, pairOps as pairEvents } from "../history.js";
import type { HistoryEvent, OpValue } from "../types.js";

/** One operation, with the value that says what it did. */
export interface PairedOp extends Op {
  /** The completion's value when ok (what was observed), the invoke's otherwise. */
  value: OpValue;
}

/** Position of an operation's end in the history (+Infinity when it is info or never ended). */
export function endIndex(op: Op): number {
  return op.type === "info" || !op.complete ? Number.POSITIVE_INFINITY : op.complete.index;
}

/** The events that witness an operation (its invoke and completion). */
export function witness(op: Op): number[] {
  return op.complete ? [op.invoke.index, op.complete.index] : [op.invoke.index];
}

/** Client operations in invoke order (nemesis events left out), each with its value. */
export function pairOps(history: readonly HistoryEvent[]): PairedOp[] {
  return pairEvents(history).map((op) => ({
    ...op,
    value: op.type === "ok" && op.complete ? op.complete.value : op.invoke.value,
  }));
}

/** A plain object view of an OpValue (undefined if it is not one). */
export function asRecord(v: OpValue | undefined): { [k: string]: OpValue } | undefined {
  return v !== null && v !== undefined && typeof v === "object" && !Array.isArray(v) ? v : undefined;
}
