// The raw register workload: concurrent get / batch-get / put / batch-put / delete / cas on a few
// keys per group of processes, every written value unique, so a checker can tell which write a
// read saw. Keys rotate: after `opsPerKeySet` operations a group moves to fresh keys, which keeps
// each key's history short enough for an exhaustive linearizability search. Judged by the
// linearizable checker and, where Go is present, by porcupine.

import type { RawClient } from "../../api/raw-client.js";
import { linearizableChecker } from "../checkers/linearizable.js";
import { porcupineChecker } from "../checkers/porcupine.js";
import { classify } from "../classify.js";
import type {
  OpOutcome,
  OpRequest,
  OpValue,
  Rng,
  Workload,
  WorkloadClient,
  WorkloadOptions,
} from "../types.js";

/** Sizing of {@link rawRegisterWorkload}. */
export interface RawRegisterConfig {
  /** Keys a group works on at a time (default 3). */
  keysPerGroup: number;
  /** Processes sharing a key set (default 3). */
  processesPerGroup: number;
  /** Operations of a group before it moves to fresh keys (default 120). */
  opsPerKeySet: number;
  /** Key prefix (default "reg/"). */
  prefix: string;
}

const WEIGHTS: [string, number][] = [
  ["get", 15],
  ["batch-get", 10],
  ["put", 22],
  ["batch-put", 15],
  ["delete", 8],
  ["cas", 30],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((s, [, w]) => s + w, 0);

function pickF(rng: Rng): string {
  let x = rng.int(TOTAL_WEIGHT);
  for (const [f, w] of WEIGHTS) {
    if (x < w) return f;
    x -= w;
  }
  return "get";
}

const READS = new Set(["get", "batch-get"]);
const str = (b: Buffer | undefined): string | null => (b === undefined ? null : b.toString("utf8"));

function intSetting(s: Record<string, string> | undefined, name: string): number | undefined {
  const v = s?.[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`--opt ${name} must be a positive integer, got ${v}`);
  return n;
}

/**
 * Builds the raw register workload.
 *
 * @example
 * ```ts
 * const w = rawRegisterWorkload({ clients: 6, ops: 1000 });
 * ```
 */
export function rawRegisterWorkload(opts: WorkloadOptions & Partial<RawRegisterConfig>): Workload {
  const cfg: RawRegisterConfig = {
    keysPerGroup: opts.keysPerGroup ?? intSetting(opts.settings, "keysPerGroup") ?? 3,
    processesPerGroup: opts.processesPerGroup ?? intSetting(opts.settings, "processesPerGroup") ?? 3,
    opsPerKeySet: opts.opsPerKeySet ?? intSetting(opts.settings, "opsPerKeySet") ?? 120,
    prefix: opts.prefix ?? "reg/",
  };
  const clients = Math.max(1, opts.clients);
  const groupOps = new Map<number, number>();
  const seq = new Map<number, number>();
  const lastValue = new Map<string, string | null>();
  const keys = new Set<string>();
  const rawOf = new WeakMap<WorkloadClient, RawClient>();

  const keySet = (group: number): string[] => {
    const n = groupOps.get(group) ?? 0;
    groupOps.set(group, n + 1);
    const gen = Math.floor(n / cfg.opsPerKeySet);
    const out: string[] = [];
    for (let i = 0; i < cfg.keysPerGroup; i++) {
      // zero-padded so that keys sort as numbers (splits land between groups and generations)
      const k = `${cfg.prefix}${String(group).padStart(3, "0")}/${String(gen).padStart(5, "0")}/${i}`;
      keys.add(k);
      out.push(k);
    }
    return out;
  };
  const fresh = (thread: number): string => {
    const n = (seq.get(thread) ?? 0) + 1;
    seq.set(thread, n);
    return `${thread}-${n}`;
  };
  // A random subset of at least two keys (one when there is only one), in random order.
  const some = (rng: Rng, ks: string[]): string[] => {
    const n = Math.min(ks.length, 2 + rng.int(Math.max(1, ks.length - 1)));
    const shuffled = [...ks];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j] as string, shuffled[i] as string];
    }
    return shuffled.slice(0, n);
  };

  return {
    name: "raw-register",
    keyPrefix: cfg.prefix,
    keyMode: "raw",
    checkers: [linearizableChecker, porcupineChecker],
    sampleKey(rng) {
      // Mostly a key in use (cuts between keys of one set), sometimes one of a future key set.
      const used = [...keys];
      if (used.length > 0 && rng.int(3) > 0) return rng.pick(used);
      const groups = Math.max(1, Math.ceil(clients / cfg.processesPerGroup));
      const gen = Math.floor((groupOps.get(0) ?? 0) / cfg.opsPerKeySet) + rng.int(3);
      return `${cfg.prefix}${String(rng.int(groups)).padStart(3, "0")}/${String(gen).padStart(5, "0")}/${rng.int(cfg.keysPerGroup)}`;
    },
    async setup() {},
    next(rng, process): OpRequest {
      const thread = ((process % clients) + clients) % clients;
      const ks = keySet(Math.floor(thread / cfg.processesPerGroup));
      const key = rng.pick(ks);
      const f = pickF(rng);
      switch (f) {
        case "get":
          return { f, value: { key } };
        case "batch-get":
          return { f, value: { keys: some(rng, ks) } };
        case "put": {
          const value = fresh(thread);
          lastValue.set(key, value);
          return { f, value: { key, value } };
        }
        case "batch-put": {
          const pairs: OpValue[] = some(rng, ks).map((k) => {
            const v = fresh(thread);
            lastValue.set(k, v);
            return [k, v];
          });
          return { f, value: { pairs } };
        }
        case "delete":
          lastValue.set(key, null);
          return { f, value: { key } };
        default: {
          // Mostly the last value this generator wrote (likely to swap), sometimes absent.
          const expected = rng.int(4) === 0 ? null : (lastValue.get(key) ?? null);
          const nv = fresh(thread);
          return { f: "cas", value: { key, expected, new: nv } };
        }
      }
    },
    async run(client, op): Promise<OpOutcome> {
      let raw = rawOf.get(client);
      if (!raw) {
        raw = client.raw({ atomic: true });
        rawOf.set(client, raw);
      }
      const v = op.value as Record<string, OpValue>;
      try {
        switch (op.f) {
          case "get": {
            const got = await raw.get(String(v.key));
            return { type: "ok", value: { key: v.key as string, value: str(got) } };
          }
          case "batch-get": {
            const ks = (v.keys as string[]).map(String);
            const got = await raw.batchGet(ks);
            return { type: "ok", value: { keys: ks, values: got.map(str) } };
          }
          case "put":
            await raw.put(String(v.key), String(v.value));
            return { type: "ok", value: op.value };
          case "batch-put": {
            const pairs = v.pairs as [string, string][];
            await raw.batchPut(
              pairs.map((p) => p[0]),
              pairs.map((p) => p[1]),
            );
            return { type: "ok", value: op.value };
          }
          case "delete":
            await raw.delete(String(v.key));
            return { type: "ok", value: op.value };
          case "cas": {
            const expected = v.expected === null ? undefined : String(v.expected);
            const r = await raw.compareAndSwap(String(v.key), expected, String(v.new));
            return {
              type: "ok",
              value: { ...v, previous: str(r.previousValue), swapped: r.swapped },
            };
          }
          default:
            return { type: "fail", error: `unknown operation ${op.f}` };
        }
      } catch (e) {
        return classify(e, READS.has(op.f) ? "read" : "write");
      }
    },
    finalOps(): OpRequest[] {
      const all = [...keys].sort();
      const out: OpRequest[] = [];
      for (let i = 0; i < all.length; i += 64)
        out.push({ f: "batch-get", value: { keys: all.slice(i, i + 64) } });
      return out;
    },
  };
}
