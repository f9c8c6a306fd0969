// The register vocabulary of raw histories, shared by the raw-register workload (which records
// it) and the register checkers (which read it). Per key, a history becomes operations on a
// register holding a string or nil: put / batch-put / delete are writes (delete writes nil),
// get / batch-get are reads, cas is compare-and-swap with the observed previous value.

import { type Op, pairOps } from "../history.js";
import type { HistoryEvent, OpValue } from "../types.js";

/** Operation names of the register vocabulary, as recorded in `f`. */
export const REGISTER_FS = ["get", "batch-get", "put", "batch-put", "delete", "cas"] as const;
/** One of {@link REGISTER_FS}. */
export type RegisterF = (typeof REGISTER_FS)[number];

/** A register value: a string, or null for "absent". */
export type RegValue = string | null;

/** One key's share of one operation. */
export interface RegOp {
  /** Position among this key's operations (dense, from 0). */
  id: number;
  key: string;
  kind: "read" | "write" | "cas";
  /** read: the value observed; write: the value written (null = delete). */
  value: RegValue;
  /** cas: the value expected (null = "absent") and the value to write. */
  expected: RegValue;
  newValue: RegValue;
  /** cas, when ok: the value observed before, and whether it swapped. */
  previous: RegValue;
  swapped: boolean;
  /** The outcome: ok, fail (no effect) or info (may or may not have taken effect). */
  outcome: "ok" | "fail" | "info";
  /** Index of the invoke event. */
  call: number;
  /** Index of the completion; Infinity for info (it may take effect any time after the invoke). */
  ret: number;
  /** The operation in the history. */
  op: Op;
}

const str = (v: OpValue | undefined): RegValue => (typeof v === "string" ? v : null);

function obj(v: OpValue | undefined): Record<string, OpValue> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v : {};
}

/** Splits a history into per-key register operations (nemesis events and unknown `f`s ignored). */
export function registerOps(history: readonly HistoryEvent[]): Map<string, RegOp[]> {
  const byKey = new Map<string, RegOp[]>();
  const add = (key: string, op: Op, part: Omit<RegOp, "id" | "key" | "outcome" | "call" | "ret" | "op">) => {
    let list = byKey.get(key);
    if (!list) {
      list = [];
      byKey.set(key, list);
    }
    const outcome = op.type;
    list.push({
      id: list.length,
      key,
      outcome,
      call: op.invoke.index,
      ret: outcome === "info" || !op.complete ? Number.POSITIVE_INFINITY : op.complete.index,
      op,
      ...part,
    });
  };
  const base = { expected: null, newValue: null, previous: null, swapped: false };
  for (const op of pairOps(history)) {
    const inv = obj(op.invoke.value);
    const done = obj(op.complete?.value);
    switch (op.f as RegisterF) {
      case "get":
        if (op.type === "ok") add(String(inv.key), op, { ...base, kind: "read", value: str(done.value) });
        break;
      case "batch-get":
        if (op.type === "ok") {
          const keys = Array.isArray(inv.keys) ? inv.keys : [];
          const values = Array.isArray(done.values) ? done.values : [];
          keys.forEach((k, i) => {
            add(String(k), op, { ...base, kind: "read", value: str(values[i]) });
          });
        }
        break;
      case "put":
        add(String(inv.key), op, { ...base, kind: "write", value: str(inv.value) });
        break;
      case "delete":
        add(String(inv.key), op, { ...base, kind: "write", value: null });
        break;
      case "batch-put": {
        const pairs = Array.isArray(inv.pairs) ? inv.pairs : [];
        for (const p of pairs) {
          if (Array.isArray(p)) add(String(p[0]), op, { ...base, kind: "write", value: str(p[1]) });
        }
        break;
      }
      case "cas":
        add(String(inv.key), op, {
          kind: "cas",
          value: null,
          expected: str(inv.expected),
          newValue: str(inv.new),
          previous: op.type === "ok" ? str(done.previous) : null,
          swapped: op.type === "ok" ? done.swapped === true : false,
        });
        break;
    }
  }
  return byKey;
}
