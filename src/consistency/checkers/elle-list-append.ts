// Elle's checker for list-append histories (Kingsbury & Alvaro, "Elle: Inferring Isolation
// Anomalies from Experimental Observations", VLDB 2020). Each txn is a list of micro-ops
// ["append", key, element] and ["r", key, list | null]. Because every element is appended once,
// the longest read of a key gives that key's version order (every other read must be a prefix
// of it), and from it follow ww (next append), wr (read's last element) and rw (the append
// after what a read saw) dependencies between txns. Cycles of those edges are the anomalies:
// G0 (ww only), G1c (ww + wr), G-single (exactly one rw), G2-item (several rw); plus aborted
// reads (G1a), intermediate reads (G1b), lost / duplicated appends and incompatible orders.
//
// History format: f "txn"; invoke value = the micro-ops with reads null; ok value = the same
// micro-ops with the lists read. fail = certainly not committed; info = may or may not have.
import type { Anomaly, Checker, HistoryEvent, OpValue, Verdict } from "../types.js";
import { type Cycle, DepGraph, kindName, RT, RW, WR, WW } from "./graph.js";
import { endIndex, type PairedOp, pairOps, witness } from "./ops.js";

/** Consistency models the checker judges against. */
export type ListAppendModel = "snapshot-isolation" | "serializable";

/** Options of {@link checkListAppend}. */
export interface ListAppendOptions {
  /** Default "snapshot-isolation": forbids G0, G1a, G1b, G1c, G-single; G2-item is allowed. */
  model?: ListAppendModel;
  /**
   * Add realtime edges (a txn that ended before another began precedes it), which TiKV's
   * TSO-ordered snapshots honour: cycles through them are reported with a "-realtime" suffix.
   */
  realtime?: boolean;
  /** Bound on cycle-search work per component (edge visits); default 2,000,000. */
  maxSearchSteps?: number;
}

/** A list-append element (unique per key). */
export type Element = number | string;

/** A micro-op of a list-append txn. */
export type MicroOp =
  | readonly ["append", string, Element]
  | readonly ["r", string, readonly Element[] | null];

/** Builds the invoke value of a list-append txn. */
export function txnValue(mops: readonly MicroOp[]): OpValue {
  return mops.map((m) => [
    m[0],
    m[1],
    m[2] === null ? null : Array.isArray(m[2]) ? [...m[2]] : m[2],
  ]) as OpValue;
}

/** Anomaly kinds forbidden by each model. */
const FORBIDDEN: Record<ListAppendModel, ReadonlySet<string>> = {
  "snapshot-isolation": new Set(["G0", "G1a", "G1b", "G1c", "G-single"]),
  serializable: new Set(["G0", "G1a", "G1b", "G1c", "G-single", "G2-item"]),
};
/** Anomalies that are bugs whatever the model. */
const ALWAYS = new Set([
  "duplicate-append",
  "incompatible-order",
  "lost-append",
  "internal",
  "garbage-read",
  "malformed",
]);

interface Txn {
  id: number;
  op: PairedOp;
  mops: MicroOp[];
}

interface Writer {
  txn: Txn;
  /** The txn's last append to this key. */
  final: boolean;
}

interface Read {
  txn: Txn;
  key: string;
  list: string[];
  /** What the txn saw of others: the first read of the key, minus its own earlier appends. */
  external: string[] | undefined;
}

const ek = (e: Element): string => (typeof e === "number" ? `n${e}` : `s${e}`);

function isElement(v: unknown): v is Element {
  return typeof v === "number" || typeof v === "string";
}

/** Parses a txn's micro-ops; undefined when malformed. */
export function parseMicroOps(v: OpValue): MicroOp[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: MicroOp[] = [];
  for (const m of v) {
    if (!Array.isArray(m) || m.length !== 3) return undefined;
    const [f, k, x] = m;
    if (typeof k !== "string" && typeof k !== "number") return undefined;
    const key = String(k);
    if (f === "append" && isElement(x)) out.push(["append", key, x]);
    else if (f === "r" && x === null) out.push(["r", key, null]);
    else if (f === "r" && Array.isArray(x) && x.every(isElement)) out.push(["r", key, x as Element[]]);
    else return undefined;
  }
  return out;
}

const endsWith = (list: readonly string[], tail: readonly string[]): boolean =>
  tail.length <= list.length && tail.every((x, i) => list[list.length - tail.length + i] === x);
const isPrefix = (p: readonly string[], of: readonly string[]): boolean =>
  p.length <= of.length && p.every((x, i) => of[i] === x);

/**
 * Checks a list-append history.
 *
 * @example
 * ```ts
 * const verdict = checkListAppend(history, { model: "snapshot-isolation", realtime: true });
 * if (!verdict.valid) console.log(verdict.anomalies);
 * ```
 */
export function checkListAppend(history: readonly HistoryEvent[], options: ListAppendOptions = {}): Verdict {
  const model = options.model ?? "snapshot-isolation";
  const anomalies: Anomaly[] = [];
  const allowed = new Map<string, number>();
  const report = (a: Anomaly): void => {
    if (ALWAYS.has(a.kind) || FORBIDDEN[model].has(a.kind.replace(/-realtime$/, ""))) anomalies.push(a);
    else allowed.set(a.kind, (allowed.get(a.kind) ?? 0) + 1);
  };

  const txns: Txn[] = [];
  for (const op of pairOps(history)) {
    if (op.f !== "txn") continue;
    const mops = parseMicroOps(op.value);
    if (!mops) {
      report({
        kind: "malformed",
        message: `txn of process ${op.process} is not a list of micro-ops`,
        events: witness(op),
      });
      continue;
    }
    txns.push({ id: txns.length, op, mops });
  }

  // who appended each element (fail txns too: reading one of theirs is G1a)
  const writers = new Map<string, Map<string, Writer>>();
  for (const t of txns) {
    const last = new Map<string, number>();
    t.mops.forEach((m, i) => {
      if (m[0] === "append") last.set(m[1], i);
    });
    t.mops.forEach((m, i) => {
      if (m[0] !== "append") return;
      let byKey = writers.get(m[1]);
      if (!byKey) {
        byKey = new Map();
        writers.set(m[1], byKey);
      }
      if (!byKey.has(ek(m[2]))) byKey.set(ek(m[2]), { txn: t, final: last.get(m[1]) === i });
    });
  }
  const writerOf = (key: string, e: string): Writer | undefined => writers.get(key)?.get(e);

  // reads of committed txns, with internal consistency and duplicates checked
  const reads: Read[] = [];
  for (const t of txns) {
    if (t.op.type !== "ok") continue;
    const state = new Map<string, string[]>();
    const own = new Map<string, string[]>();
    const seenKey = new Set<string>();
    for (const m of t.mops) {
      const key = m[1];
      if (m[0] === "append") {
        const e = ek(m[2]);
        own.set(key, [...(own.get(key) ?? []), e]);
        const s = state.get(key);
        if (s) state.set(key, [...s, e]);
        continue;
      }
      if (m[2] === null) {
        report({
          kind: "malformed",
          message: `committed txn read ${key} without a result`,
          events: witness(t.op),
        });
        continue;
      }
      const list = m[2].map(ek);
      if (new Set(list).size !== list.length) {
        report({
          kind: "duplicate-append",
          message: `read of ${key} holds an element twice: ${JSON.stringify(m[2])}`,
          events: witness(t.op),
        });
      }
      const expected = state.get(key);
      const mine = own.get(key) ?? [];
      if (expected ? expected.join() !== list.join() : !endsWith(list, mine)) {
        report({
          kind: "internal",
          message: `txn read ${key} = ${JSON.stringify(m[2])}, inconsistent with its own earlier reads/appends`,
          events: witness(t.op),
        });
      }
      const first = !seenKey.has(key);
      seenKey.add(key);
      const external = first && endsWith(list, mine) ? list.slice(0, list.length - mine.length) : undefined;
      reads.push({ txn: t, key, list, external });
      state.set(key, list);
    }
  }

  // version order per key: the longest read; every read must be a prefix of it
  const orders = new Map<string, string[]>();
  const longestRead = new Map<string, Read>();
  for (const r of reads) {
    const cur = longestRead.get(r.key);
    if (!cur || r.list.length > cur.list.length) longestRead.set(r.key, r);
  }
  const incompatible = new Set<string>();
  for (const r of reads) {
    const longest = longestRead.get(r.key) as Read;
    if (!isPrefix(r.list, longest.list) && !incompatible.has(r.key)) {
      incompatible.add(r.key);
      report({
        kind: "incompatible-order",
        message: `reads of ${r.key} disagree on its order: ${r.list.join(",")} is no prefix of ${longest.list.join(",")}`,
        events: [...witness(r.txn.op), ...witness(longest.txn.op)],
      });
    }
  }
  for (const [k, r] of longestRead) orders.set(k, r.list);

  // aborted, intermediate and garbage reads
  for (const r of reads) {
    for (const e of r.list) {
      const w = writerOf(r.key, e);
      if (!w) {
        report({
          kind: "garbage-read",
          message: `read of ${r.key} holds ${e.slice(1)}, never appended`,
          events: witness(r.txn.op),
        });
      } else if (w.txn.op.type === "fail") {
        report({
          kind: "G1a",
          message: `read of ${r.key} saw ${e.slice(1)}, appended by a failed txn`,
          events: [...witness(r.txn.op), ...witness(w.txn.op)],
        });
      }
    }
    const ext = r.external;
    const last = ext?.[ext.length - 1];
    const w = last === undefined ? undefined : writerOf(r.key, last);
    if (w && w.txn !== r.txn && w.txn.op.type !== "fail" && !w.final) {
      report({
        kind: "G1b",
        message: `read of ${r.key} ended at ${last?.slice(1)}, an intermediate append of another txn`,
        events: [...witness(r.txn.op), ...witness(w.txn.op)],
      });
    }
  }

  // lost appends: a committed append absent from a read that began after it was acknowledged
  const readsByKey = new Map<string, Read[]>();
  for (const r of reads) {
    const l = readsByKey.get(r.key);
    if (l) l.push(r);
    else readsByKey.set(r.key, [r]);
  }
  const shortestAfter = new Map<string, { index: number[]; min: Read[] }>();
  for (const [k, rs] of readsByKey) {
    rs.sort((a, b) => a.txn.op.invoke.index - b.txn.op.invoke.index);
    const min: Read[] = new Array(rs.length);
    for (let i = rs.length - 1; i >= 0; i--) {
      const r = rs[i] as Read;
      const next = min[i + 1];
      min[i] = next && next.list.length < r.list.length ? next : r;
    }
    shortestAfter.set(k, { index: rs.map((r) => r.txn.op.invoke.index), min });
  }
  for (const t of txns) {
    if (t.op.type !== "ok") continue;
    const end = endIndex(t.op);
    for (const m of t.mops) {
      if (m[0] !== "append") continue;
      const s = shortestAfter.get(m[1]);
      if (!s) continue;
      const i = lowerBound(s.index, end + 1);
      const r = s.min[i];
      if (!r) continue;
      const pos = (orders.get(m[1]) ?? []).indexOf(ek(m[2]));
      if (pos < 0 || r.list.length <= pos) {
        report({
          kind: "lost-append",
          message: `append of ${String(m[2])} to ${m[1]} was acknowledged, but a later read saw ${JSON.stringify(r.list.map((e) => e.slice(1)))}`,
          events: [...witness(t.op), ...witness(r.txn.op)],
        });
      }
    }
  }

  // the dependency graph over txns that committed or may have
  const g = new DepGraph();
  const nodes = txns.filter((t) => t.op.type !== "fail");
  for (const t of nodes) g.addNode(t.id);
  for (const [key, order] of orders) {
    for (let i = 0; i + 1 < order.length; i++) {
      const a = writerOf(key, order[i] as string);
      const b = writerOf(key, order[i + 1] as string);
      if (a && b && a.txn.op.type !== "fail" && b.txn.op.type !== "fail") g.add(a.txn.id, b.txn.id, WW, key);
    }
  }
  for (const r of reads) {
    const ext = r.external;
    if (!ext) continue;
    const order = orders.get(r.key) ?? [];
    if (!isPrefix(ext, order)) continue;
    const last = ext[ext.length - 1];
    const w = last === undefined ? undefined : writerOf(r.key, last);
    if (w && w.txn.op.type !== "fail") g.add(w.txn.id, r.txn.id, WR, r.key);
    const next = order[ext.length];
    const nw = next === undefined ? undefined : writerOf(r.key, next);
    if (nw && nw.txn.op.type !== "fail") g.add(r.txn.id, nw.txn.id, RW, r.key);
  }
  if (options.realtime) addRealtimeEdges(g, nodes);

  // cycles: per component, the most severe class found
  const steps = options.maxSearchSteps ?? 2_000_000;
  let truncated = 0;
  const all = WW | WR | RW | (options.realtime ? RT : 0);
  const comps = g.sccs(all);
  for (const comp of comps) {
    const within = new Set(comp);
    const budget = { steps };
    const found = classifyComponent(g, within, budget, options.realtime ?? false);
    if (budget.steps < 0) truncated++;
    if (!found) continue;
    report({
      kind: found.kind,
      message: `${found.kind} cycle: ${describe(g, found.cycle, txns)}`,
      events: found.cycle.nodes.flatMap((n) => witness((txns[n] as Txn).op)),
    });
  }

  const stats: Record<string, number | string> = {
    model,
    txns: txns.length,
    ok: txns.filter((t) => t.op.type === "ok").length,
    info: txns.filter((t) => t.op.type === "info").length,
    fail: txns.filter((t) => t.op.type === "fail").length,
    keys: orders.size,
    edges: g.edgeCount,
    components: comps.length,
  };
  if (truncated > 0) stats.searchTruncated = truncated;
  for (const [k, n] of allowed) stats[`allowed:${k}`] = n;
  return { checker: "elle-list-append", valid: anomalies.length === 0, anomalies, stats };
}

/** A checker for the runner. */
export function listAppendChecker(options: ListAppendOptions = {}): Checker {
  return (history) => checkListAppend(history, options);
}

/** First index of a sorted array whose value is >= x. */
function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Realtime edges T1 -> T2 when T1 ended (ok) before T2 was invoked, transitively reduced: each
 * invoke links from the "frontier" of latest completions, and a completion replaces the
 * completions it already followed (info txns never complete).
 */
function addRealtimeEdges(g: DepGraph, nodes: readonly Txn[]): void {
  type Ev = { at: number; t: Txn; end: boolean };
  const evs: Ev[] = [];
  for (const t of nodes) {
    evs.push({ at: t.op.invoke.index, t, end: false });
    const end = endIndex(t.op);
    if (Number.isFinite(end)) evs.push({ at: end, t, end: true });
  }
  evs.sort((a, b) => a.at - b.at);
  const frontier = new Set<number>();
  const before = new Map<number, number[]>();
  for (const e of evs) {
    if (!e.end) {
      before.set(e.t.id, [...frontier]);
      for (const f of frontier) g.add(f, e.t.id, RT, "realtime");
    } else {
      for (const p of before.get(e.t.id) ?? []) frontier.delete(p);
      frontier.add(e.t.id);
    }
  }
}

/** The most severe cycle class in one strongly connected component. */
function classifyComponent(
  g: DepGraph,
  within: ReadonlySet<number>,
  budget: { steps: number },
  realtime: boolean,
): { kind: string; cycle: Cycle } | undefined {
  const searches: Array<[string, () => Cycle | undefined]> = [
    ["G0", () => g.cycle(WW, within, budget)],
    ["G1c", () => g.cycle(WW | WR, within, budget)],
  ];
  if (realtime) {
    searches.push(["G0-realtime", () => g.cycle(WW | RT, within, budget)]);
    searches.push(["G1c-realtime", () => g.cycle(WW | WR | RT, within, budget)]);
  }
  searches.push(["G-single", () => g.cycleWithOne(RW, WW | WR, within, budget)]);
  if (realtime) searches.push(["G-single-realtime", () => g.cycleWithOne(RW, WW | WR | RT, within, budget)]);
  searches.push(["G2-item", () => g.cycle(WW | WR | RW, within, budget)]);
  if (realtime) searches.push(["G2-item-realtime", () => g.cycle(WW | WR | RW | RT, within, budget)]);
  for (const [kind, search] of searches) {
    const c = search();
    if (c) return { kind, cycle: c };
  }
  return undefined;
}

function describe(g: DepGraph, c: Cycle, txns: readonly Txn[]): string {
  const name = (n: number): string => {
    const t = txns[n] as Txn;
    return `T${n}(p${t.op.process}@${t.op.invoke.index}${t.op.type === "info" ? ",info" : ""})`;
  };
  const parts: string[] = [];
  c.nodes.forEach((n, i) => {
    const to = c.nodes[(i + 1) % c.nodes.length] as number;
    const k = c.kinds[i] as number;
    const why = g.reason(n, to, k);
    parts.push(`${name(n)} -${kindName(k)}${why && k !== RT ? `(${why})` : ""}->`);
  });
  return `${parts.join(" ")} ${name(c.nodes[0] as number)}`;
}
