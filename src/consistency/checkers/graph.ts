// A dependency graph over transactions with typed edges (ww, wr, rw, realtime), its strongly
// connected components (Tarjan, iterative: histories have tens of thousands of txns) and
// shortest-cycle searches restricted to edge kinds, as Elle classifies cycles.

/** Edge kinds, as bits (an edge may carry several). */
export const WW = 1;
export const WR = 2;
export const RW = 4;
export const RT = 8;

const NAMES: ReadonlyArray<[number, string]> = [
  [WW, "ww"],
  [WR, "wr"],
  [RT, "rt"],
  [RW, "rw"],
];

/** A cycle: nodes[i] -> nodes[i+1] (and the last back to the first) over edges of kinds[i]. */
export interface Cycle {
  nodes: number[];
  kinds: number[];
}

/** The name of one edge-kind bit. */
export function kindName(bit: number): string {
  return NAMES.find(([b]) => b === bit)?.[1] ?? "?";
}

export class DepGraph {
  private readonly out = new Map<number, Map<number, number>>();
  /** Why an edge exists (e.g. the key), per (from, to, kind): for explaining cycles. */
  private readonly why = new Map<string, string>();
  edgeCount = 0;

  addNode(n: number): void {
    if (!this.out.has(n)) this.out.set(n, new Map());
  }

  /** Adds an edge a -> b of kind `bit` (self-edges are ignored: a txn does not depend on itself). */
  add(a: number, b: number, bit: number, reason: string): void {
    if (a === b) return;
    this.addNode(a);
    this.addNode(b);
    const m = this.out.get(a) as Map<number, number>;
    const prev = m.get(b) ?? 0;
    if ((prev & bit) === 0) {
      m.set(b, prev | bit);
      this.edgeCount++;
      this.why.set(`${a}>${b}>${bit}`, reason);
    }
  }

  reason(a: number, b: number, bit: number): string {
    return this.why.get(`${a}>${b}>${bit}`) ?? "";
  }

  /** Kinds of the edge a -> b (0 if none). */
  edge(a: number, b: number): number {
    return this.out.get(a)?.get(b) ?? 0;
  }

  /** Successors of n over edges of any kind in `mask`, within `within` when given. */
  *succ(n: number, mask: number, within?: ReadonlySet<number>): Generator<[number, number]> {
    const m = this.out.get(n);
    if (!m) return;
    for (const [b, bits] of m) {
      if ((bits & mask) !== 0 && (!within || within.has(b))) yield [b, bits & mask];
    }
  }

  nodes(): number[] {
    return [...this.out.keys()];
  }

  /** Strongly connected components of more than one node, over edges in `mask`, within `within`. */
  sccs(mask: number, within?: ReadonlySet<number>): number[][] {
    const nodes = within ? [...within] : this.nodes();
    const index = new Map<number, number>();
    const low = new Map<number, number>();
    const onStack = new Set<number>();
    const stack: number[] = [];
    const out: number[][] = [];
    let counter = 0;
    for (const root of nodes) {
      if (index.has(root)) continue;
      // explicit DFS stack of (node, successor iterator)
      const work: Array<[number, Iterator<[number, number]>]> = [[root, this.succ(root, mask, within)]];
      index.set(root, counter);
      low.set(root, counter++);
      stack.push(root);
      onStack.add(root);
      while (work.length > 0) {
        const top = work[work.length - 1] as [number, Iterator<[number, number]>];
        const [v, it] = top;
        const step = it.next();
        if (!step.done) {
          const w = step.value[0];
          if (!index.has(w)) {
            index.set(w, counter);
            low.set(w, counter++);
            stack.push(w);
            onStack.add(w);
            work.push([w, this.succ(w, mask, within)]);
          } else if (onStack.has(w)) {
            low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
          }
          continue;
        }
        work.pop();
        const parent = work[work.length - 1];
        if (parent) low.set(parent[0], Math.min(low.get(parent[0]) as number, low.get(v) as number));
        if (low.get(v) === index.get(v)) {
          const comp: number[] = [];
          let w: number;
          do {
            w = stack.pop() as number;
            onStack.delete(w);
            comp.push(w);
          } while (w !== v);
          if (comp.length > 1) out.push(comp);
        }
      }
    }
    return out;
  }

  /**
   * The shortest path from `from` to `to` over edges in `mask` within `within` (BFS), as a cycle
   * fragment; `budget.steps` bounds the work. Undefined when unreachable.
   */
  path(
    from: number,
    to: number,
    mask: number,
    within: ReadonlySet<number>,
    budget: { steps: number },
  ): Cycle | undefined {
    const parent = new Map<number, [number, number]>();
    const queue: number[] = [from];
    const seen = new Set<number>([from]);
    for (let i = 0; i < queue.length; i++) {
      const v = queue[i] as number;
      for (const [w, bits] of this.succ(v, mask, within)) {
        if (--budget.steps < 0) return undefined;
        if (seen.has(w)) continue;
        seen.add(w);
        parent.set(w, [v, bits]);
        if (w === to) {
          const nodes: number[] = [];
          const kinds: number[] = [];
          let x = to;
          while (x !== from) {
            const [p, b] = parent.get(x) as [number, number];
            nodes.unshift(p);
            kinds.unshift(preferred(b));
            x = p;
          }
          return { nodes, kinds };
        }
        queue.push(w);
      }
    }
    return undefined;
  }

  /** A short cycle over edges in `mask` within `within`, or undefined. */
  cycle(mask: number, within: ReadonlySet<number>, budget: { steps: number }): Cycle | undefined {
    for (const comp of this.sccs(mask, within)) {
      const set = new Set(comp);
      const start = comp[0] as number;
      // shortest cycle through `start`: a path from one of its successors back to it
      let best: Cycle | undefined;
      for (const [w, bits] of this.succ(start, mask, set)) {
        const p = w === start ? { nodes: [], kinds: [] } : this.path(w, start, mask, set, budget);
        if (p && (!best || p.nodes.length + 1 < best.nodes.length)) {
          best = { nodes: [start, ...p.nodes], kinds: [preferred(bits), ...p.kinds] };
        }
        if (budget.steps < 0) break;
      }
      if (best) return best;
    }
    return undefined;
  }

  /**
   * A short cycle with exactly one edge of kind `single` and the rest over `rest`, within
   * `within`: for each `single` edge a -> b, a path b ~> a over `rest`.
   */
  cycleWithOne(
    single: number,
    rest: number,
    within: ReadonlySet<number>,
    budget: { steps: number },
  ): Cycle | undefined {
    let best: Cycle | undefined;
    for (const a of within) {
      for (const [b] of this.succ(a, single, within)) {
        const p = this.path(b, a, rest, within, budget);
        if (p && (!best || p.nodes.length + 1 < best.nodes.length)) {
          best = { nodes: [a, ...p.nodes], kinds: [single, ...p.kinds] };
          if (best.nodes.length === 2) return best;
        }
        if (budget.steps < 0) return best;
      }
    }
    return best;
  }
}

/** The kind an edge is named by in a cycle when it carries several: dependencies before anti-dependencies. */
function preferred(bits: number): number {
  for (const [b] of NAMES) if ((bits & b) !== 0) return b;
  return bits;
}
