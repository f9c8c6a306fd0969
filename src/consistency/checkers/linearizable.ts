// Linearizability of a register with compare-and-swap, key by key: Wing & Gong's search with
// Lowe's just-in-time linearization and memoisation of (linearized set, state), as Knossos'
// "wgl" and porcupine do. Failed operations are dropped; indeterminate (info) ones may take effect
// at any point after their invoke, or never (they are optional, with no return bound). Before the
// search, sound patterns name what a non-linearizable key shows when they can: a lost or stale
// write, a write applied twice, a read of a value never written, or of a write that failed.

import type { Anomaly, Checker, HistoryEvent, Verdict } from "../types.js";
import { type RegOp, type RegValue, registerOps } from "./register-ops.js";

/** Result of the search on one key. */
export type KeyResult = "ok" | "illegal" | "unknown";

/** Options of {@link checkRegisterHistory}. */
export interface LinearizableOptions {
  /** Search steps per key before giving up with "unknown" (default 5,000,000). */
  maxSteps?: number;
  /** Named anomalies reported per kind at most (the stats count them all; default 20). */
  maxReported?: number;
}

/** The full result: the verdict plus each key's search result (for cross-checks). */
export interface RegisterCheck {
  verdict: Verdict;
  perKey: Map<string, KeyResult>;
}

interface Node {
  op: RegOp;
  isCall: boolean;
  match: Node | undefined;
  prev: Node | undefined;
  next: Node | undefined;
}

/** Applies `op` to `state`: the new state, or undefined when `op` cannot happen in `state`. */
function step(state: RegValue, op: RegOp): RegValue | undefined {
  switch (op.kind) {
    case "read":
      return op.value === state ? state : undefined;
    case "write":
      return op.value;
    case "cas": {
      const match = state === op.expected;
      if (op.outcome === "info") return match ? op.newValue : state;
      if (op.previous !== state || op.swapped !== match) return undefined;
      return op.swapped ? op.newValue : state;
    }
  }
}

// Zobrist tokens: the hash of a linearized set is the XOR of its members' tokens.
function tokens(n: number): Uint32Array {
  const t = new Uint32Array(n * 2);
  let x = 0x9e3779b9;
  for (let i = 0; i < t.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    t[i] = x >>> 0;
  }
  return t;
}

/** Result of one key's search, with the deepest point reached when it failed. */
interface Search {
  result: KeyResult;
  steps: number;
  /** The operation that could not be linearized at the deepest point. */
  stuck?: RegOp;
}

/** Searches for a linearization of one key's operations (fail outcomes must be removed). */
export function searchKey(ops: readonly RegOp[], maxSteps: number): Search {
  const live = ops.filter((o) => o.outcome !== "fail");
  const n = live.length;
  // Entries in history order: calls, and returns of required (non-info) operations.
  const entries: { at: number; node: Node }[] = [];
  const idOf = new Map<RegOp, number>();
  live.forEach((op, i) => {
    idOf.set(op, i);
    const call: Node = { op, isCall: true, match: undefined, prev: undefined, next: undefined };
    entries.push({ at: op.call, node: call });
    if (op.outcome !== "info") {
      const ret: Node = { op, isCall: false, match: undefined, prev: undefined, next: undefined };
      call.match = ret;
      entries.push({ at: op.ret, node: ret });
    }
  });
  entries.sort((a, b) => a.at - b.at);
  const head: Node = {
    op: undefined as unknown as RegOp,
    isCall: false,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let prev = head;
  for (const { node } of entries) {
    prev.next = node;
    node.prev = prev;
    prev = node;
  }
  let required = live.filter((o) => o.outcome !== "info").length;
  if (required === 0) return { result: "ok", steps: 0 };

  const tok = tokens(n);
  const words = Math.ceil(n / 32);
  const bits = new Uint32Array(words);
  let h1 = 0;
  let h2 = 0;
  const cache = new Map<string, { bits: Uint32Array; state: RegValue }[]>();
  const seen = (state: RegValue, a: number, b: number): boolean => {
    const key = `${a}:${b}:${state === null ? "\u0000" : state}`;
    const list = cache.get(key);
    if (!list) return false;
    return list.some((c) => c.state === state && c.bits.every((w, i) => w === bits[i]));
  };
  const remember = (state: RegValue) => {
    const key = `${h1}:${h2}:${state === null ? "\u0000" : state}`;
    const rec = { bits: bits.slice(), state };
    const list = cache.get(key);
    if (list) list.push(rec);
    else cache.set(key, [rec]);
  };
  const flip = (id: number) => {
    bits[id >>> 5] = (bits[id >>> 5] as number) ^ (1 << (id & 31));
    h1 = (h1 ^ (tok[2 * id] as number)) >>> 0;
    h2 = (h2 ^ (tok[2 * id + 1] as number)) >>> 0;
  };
  const lift = (call: Node) => {
    (call.prev as Node).next = call.next;
    if (call.next) call.next.prev = call.prev;
    const ret = call.match;
    if (ret) {
      (ret.prev as Node).next = ret.next;
      if (ret.next) ret.next.prev = ret.prev;
    }
  };
  const unlift = (call: Node) => {
    const ret = call.match;
    if (ret) {
      (ret.prev as Node).next = ret;
      if (ret.next) ret.next.prev = ret;
    }
    (call.prev as Node).next = call;
    if (call.next) call.next.prev = call;
  };

  const stack: { node: Node; state: RegValue }[] = [];
  let state: RegValue = null;
  let entry = head.next;
  let steps = 0;
  let deepest = -1;
  let stuck: RegOp | undefined;
  while (entry) {
    if (++steps > maxSteps) return { result: "unknown", steps };
    const cur: Node = entry;
    if (cur.isCall) {
      const next = step(state, cur.op);
      const id = idOf.get(cur.op) as number;
      let advanced = false;
      if (next !== undefined) {
        flip(id);
        if (!seen(next, h1, h2)) {
          remember(next);
          stack.push({ node: cur, state });
          state = next;
          if (cur.op.outcome !== "info") required--;
          lift(cur);
          if (required === 0) return { result: "ok", steps };
          entry = head.next;
          advanced = true;
        } else flip(id);
      }
      if (!advanced) entry = cur.next;
    } else {
      // A required operation returned before being linearized: backtrack.
      if (stack.length > deepest) {
        deepest = stack.length;
        stuck = entry.op;
      }
      const top = stack.pop();
      if (!top) return { result: "illegal", steps, ...(stuck ? { stuck } : {}) };
      state = top.state;
      flip(idOf.get(top.node.op) as number);
      if (top.node.op.outcome !== "info") required++;
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return { result: required === 0 ? "ok" : "illegal", steps, ...(stuck ? { stuck } : {}) };
}

function events(...ops: (RegOp | undefined)[]): number[] {
  const out: number[] = [];
  for (const o of ops) {
    if (!o) continue;
    out.push(o.call);
    if (Number.isFinite(o.ret)) out.push(o.ret);
  }
  return out;
}

const show = (v: RegValue) => (v === null ? "nil" : JSON.stringify(v));

/** Named anomalies of one key, found by sound patterns (each implies non-linearizability). */
function namedAnomalies(key: string, ops: readonly RegOp[]): Anomaly[] {
  const out: Anomaly[] = [];
  const writersOf = new Map<RegValue, RegOp[]>();
  for (const o of ops) {
    const v = o.kind === "write" ? o.value : o.kind === "cas" ? o.newValue : undefined;
    if (v === undefined) continue;
    const list = writersOf.get(v);
    if (list) list.push(o);
    else writersOf.set(v, [o]);
  }
  // The patterns rely on each non-nil value being written once.
  for (const [v, ws] of writersOf) if (v !== null && ws.length > 1) return out;
  // Observations: ok reads, and the previous value an ok cas saw.
  const obs: { op: RegOp; value: RegValue }[] = [];
  for (const o of ops) {
    if (o.outcome !== "ok") continue;
    if (o.kind === "read") obs.push({ op: o, value: o.value });
    else if (o.kind === "cas") obs.push({ op: o, value: o.previous });
  }
  const observed = new Set(obs.map((x) => x.value));
  for (const { op, value } of obs) {
    if (value === null) continue;
    const ws = writersOf.get(value) ?? [];
    if (ws.length === 0) {
      out.push({
        kind: "unwritten-value",
        message: `key ${key}: read ${show(value)}, a value no operation wrote`,
        events: events(op),
      });
    } else if (ws.every((w) => w.outcome === "fail")) {
      out.push({
        kind: "failed-write-visible",
        message: `key ${key}: read ${show(value)}, written only by an operation that failed`,
        events: events(op, ws[0]),
      });
    }
  }
  // A value seen, then another value seen strictly later, then the first again strictly later:
  // its single write would have to take effect twice (e.g. a write retried after it was applied).
  const byValue = new Map<RegValue, RegOp[]>();
  for (const { op, value } of obs) {
    if (value === null) continue;
    const list = byValue.get(value);
    if (list) list.push(op);
    else byValue.set(value, [op]);
  }
  for (const [v, seenAt] of byValue) {
    const first = seenAt.reduce((a, b) => (b.ret < a.ret ? b : a));
    const last = seenAt.reduce((a, b) => (b.call > a.call ? b : a));
    const between = obs.find((x) => x.value !== v && x.op.call > first.ret && x.op.ret < last.call);
    if (!between) continue;
    out.push({
      kind: "duplicate-write",
      message: `key ${key}: ${show(v)} was read, then ${show(between.value)}, then ${show(v)} again: its write took effect twice`,
      events: events(first, between.op, last),
    });
  }
  // An acknowledged write W, and an observation R that began after W ended yet saw a value whose
  // only possible writer ended before W began (or nil, with every delete ending before W).
  const effective = (o: RegOp) =>
    o.outcome === "ok" && (o.kind === "write" || (o.kind === "cas" && o.swapped));
  for (const w of ops) {
    if (!effective(w)) continue;
    const v = w.kind === "write" ? w.value : w.newValue;
    for (const { op: r, value: u } of obs) {
      if (r.call <= w.ret || u === v) continue;
      const older = (writersOf.get(u) ?? []).filter((x) => x.outcome !== "fail");
      const strictlyBefore = older.every((x) => x.ret < w.call);
      if (!strictlyBefore || (u !== null && older.length === 0)) continue;
      const lost = !observed.has(v);
      out.push({
        kind: lost ? "lost-write" : "stale-read",
        message: lost
          ? `key ${key}: acknowledged write of ${show(v)} was never read; a later read saw the older ${show(u)}`
          : `key ${key}: a read began after the write of ${show(v)} was acknowledged, yet saw the older ${show(u)}`,
        events: events(w, r),
      });
      break;
    }
  }
  return out;
}

const memo = new WeakMap<readonly HistoryEvent[], RegisterCheck>();

/**
 * Checks every key's register history; memoised per history array (the porcupine cross-check
 * reuses the result).
 */
export function checkRegisterHistory(
  history: readonly HistoryEvent[],
  opts: LinearizableOptions = {},
): RegisterCheck {
  const hit = memo.get(history);
  if (hit) return hit;
  const maxSteps = opts.maxSteps ?? 5_000_000;
  const maxReported = opts.maxReported ?? 20;
  const perKey = new Map<string, KeyResult>();
  const anomalies: Anomaly[] = [];
  const counts = new Map<string, number>();
  const report = (a: Anomaly) => {
    const c = (counts.get(a.kind) ?? 0) + 1;
    counts.set(a.kind, c);
    if (c <= maxReported) anomalies.push(a);
  };
  let ops = 0;
  let infos = 0;
  let steps = 0;
  const byKey = registerOps(history);
  for (const [key, list] of byKey) {
    ops += list.length;
    infos += list.filter((o) => o.outcome === "info").length;
    const s = searchKey(list, maxSteps);
    steps += s.steps;
    perKey.set(key, s.result);
    if (s.result === "ok") continue;
    if (s.result === "unknown") {
      report({
        kind: "undecided",
        message: `key ${key}: no verdict within ${maxSteps} search steps`,
        events: [],
      });
      continue;
    }
    const named = namedAnomalies(key, list);
    for (const a of named) report(a);
    if (named.length === 0) {
      report({
        kind: "nonlinearizable",
        message: `key ${key}: no linearization of its ${list.length} operations${
          s.stuck ? `; deepest search stuck on ${s.stuck.op.f} at event ${s.stuck.call}` : ""
        }`,
        events: events(s.stuck),
      });
    }
  }
  const stats: Record<string, number | string> = {
    keys: byKey.size,
    keyOps: ops,
    infoKeyOps: infos,
    searchSteps: steps,
    illegalKeys: [...perKey.values()].filter((r) => r === "illegal").length,
    unknownKeys: [...perKey.values()].filter((r) => r === "unknown").length,
  };
  for (const [k, c] of counts) stats[`anomalies.${k}`] = c;
  const result: RegisterCheck = {
    verdict: { checker: "linearizable", valid: anomalies.length === 0, anomalies, stats },
    perKey,
  };
  memo.set(history, result);
  return result;
}

/** The linearizable-register checker (see {@link checkRegisterHistory}). */
export const linearizableChecker: Checker = (history) => checkRegisterHistory(history).verdict;
