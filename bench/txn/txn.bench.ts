/**
 * Transactions against raw put on the same cluster (its own process, memcomparable region keys),
 * in the same run: commit of 1 and 10 keys at concurrency 1 and 64, the same 10 keys with async
 * commit, 1PC, and pessimistic (lock then commit) against 2PC, a point get in a snapshot,
 * and the committer statechart's own overhead per transaction (no I/O: every phase answers at
 * once), as ratios. Plain script: `node --import tsx bench/txn/txn.bench.ts`; bench/run.ts calls
 * runTxnBench().
 */
import { createActor } from "xstate";
import { TikvClient } from "../../src/index.js";
import { committerMachine, newCommitSession } from "../../src/machines/committer.js";
import { type Measurement, measure, startClusterProcess } from "../raw/raw.bench.js";
import { committerOverheadUs } from "./committer.bench.js";

/** Knobs of {@link runTxnBench}. */
export interface TxnBenchOptions {
  /** Transactions per measurement at c=1 (default 300). */
  opsC1?: number;
  /** Transactions per measurement at c=64 (default 2000). */
  opsC64?: number;
  log?: boolean;
}

/** Result of {@link runTxnBench}. */
export interface TxnBenchResult {
  bench: "txn";
  measurements: Measurement[];
  /** Committer statechart overhead per transaction in µs (the machine alone, no actions). */
  committerOverheadUs: number;
  /**
   * The whole committer's CPU per 10-key optimistic commit in µs against a fake sender: the
   * client CPU of a commit minus RPC encode/decode and transport (target <= 30).
   */
  committerFullOverheadUs: number;
  ratios: Record<string, number>;
}

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

/**
 * CPU µs per transaction of the committer machine driven through a whole commit with no I/O
 * (each phase answers in the next microtask), after a warm-up.
 */
async function overheadUs(n: number): Promise<number> {
  let finish: () => void = () => {};
  const machine = committerMachine.provide({
    actions: {
      startPrewrite: ({ self }) => queueMicrotask(() => self.send({ type: "PREWRITE_OK" })),
      fetchCommitTs: ({ self }) => queueMicrotask(() => self.send({ type: "COMMIT_TS", ts: 10n })),
      commitPrimary: ({ self }) => queueMicrotask(() => self.send({ type: "PRIMARY_COMMITTED" })),
      commitSecondaries: ({ self }) => queueMicrotask(() => self.send({ type: "SECONDARIES_DONE" })),
      finished: () => finish(),
    },
  });
  const once = () =>
    new Promise<void>((resolve) => {
      const a = createActor(machine, { input: newCommitSession(1n) });
      finish = () => {
        queueMicrotask(() => a.stop());
        resolve();
      };
      a.start();
    });
  for (let i = 0; i < Math.min(n, 3000); i++) await once();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await once();
  const c = process.cpuUsage(cpu0);
  return Math.round(((c.user + c.system) / n) * 10) / 10;
}

/** Runs the transaction benchmark. */
export async function runTxnBench(options: TxnBenchOptions = {}): Promise<TxnBenchResult> {
  const say = options.log === false ? () => {} : (s: string) => console.log(s);
  const opsC1 = options.opsC1 ?? 300;
  const opsC64 = options.opsC64 ?? 2000;
  const { child, pd } = await startClusterProcess(
    ["cluster", "--json", "--pd-port", "0", "--stores", "1", "--region-key-encoding", "memcomparable"],
    ["bin/tikv-ts.mjs"],
  );
  const client = await TikvClient.connect({ pdEndpoints: pd });
  const out: Measurement[] = [];
  try {
    const raw = client.raw();
    const txn = client.txn();
    let seq = 0;
    const run = async (name: string, c: number, n: number, op: (i: number) => Promise<unknown>) => {
      // warm up, then measure
      await measure(
        `${name}-warm`,
        c,
        Math.min(n, 100),
        (i, done) => void op(-1 - i).then(() => done(), done),
      );
      const m = await measure(name, c, n, (i, done) => void op(i).then(() => done(), done));
      out.push(m);
      say(
        `${name} c=${c}: ${m.opsPerSec} ops/s, p50 ${m.p50Us} µs, p99 ${m.p99Us} µs, ${m.cpuUsPerOp} µs CPU/op`,
      );
      return m;
    };
    const commitKeys =
      (k: number, opts: Parameters<typeof txn.begin>[0] = {}) =>
      async () => {
        const id = seq++;
        const t = await txn.begin(opts);
        const keys = Array.from({ length: k }, (_, j) => `b${id}-${j}`);
        if (opts.pessimistic) await t.lockKeys(keys);
        for (const key of keys) t.set(key, "v");
        await t.commit();
      };
    const modes = async (c: number, n: number) => ({
      async: await run("txn-async-commit-10keys", c, n, commitKeys(10, { asyncCommit: true })),
      onePC: await run("txn-1pc-10keys", c, n, commitKeys(10, { onePC: true })),
      pessimistic: await run(
        "txn-pessimistic-lock+commit-10keys",
        c,
        n,
        commitKeys(10, { pessimistic: true }),
      ),
    });
    const putC1 = await run("raw-put", 1, opsC1, (i) => raw.put(`r${i}`, "v"));
    const c1k1 = await run("txn-commit-1key", 1, opsC1, commitKeys(1));
    const c1k10 = await run("txn-commit-10keys", 1, opsC1, commitKeys(10));
    const putC64 = await run("raw-put", 64, opsC64, (i) => raw.put(`s${i}`, "v"));
    const c64k1 = await run("txn-commit-1key", 64, opsC64, commitKeys(1));
    const c64k10 = await run("txn-commit-10keys", 64, opsC64, commitKeys(10));
    const m1 = await modes(1, opsC1);
    const m64 = await modes(64, opsC64);
    const snap = await txn.snapshot();
    const getRaw = await run("raw-get", 64, opsC64, (i) => raw.get(`s${Math.abs(i) % opsC64}`));
    const getSnap = await run("snapshot-get", 64, opsC64, (i) => snap.get(`b${Math.abs(i) % 100}-0`));
    await txn.whenIdle();
    const overhead = await overheadUs(10_000);
    say(`committer statechart overhead: ${overhead} µs per transaction`);
    const full = await committerOverheadUs();
    say(`committer overhead (fake sender, 10 keys): ${full} µs per commit (target <= 30)`);
    return {
      bench: "txn",
      measurements: out,
      committerOverheadUs: overhead,
      committerFullOverheadUs: full,
      ratios: {
        commit1KeyVsPutP50C1: ratio(c1k1.p50Us, putC1.p50Us),
        commit10KeysVsPutP50C1: ratio(c1k10.p50Us, putC1.p50Us),
        commit1KeyVsPutCpuC64: ratio(c64k1.cpuUsPerOp, putC64.cpuUsPerOp),
        commit10KeysVsPutCpuC64: ratio(c64k10.cpuUsPerOp, putC64.cpuUsPerOp),
        snapshotGetVsRawGetCpuC64: ratio(getSnap.cpuUsPerOp, getRaw.cpuUsPerOp),
        asyncCommitVs2pcP50C1: ratio(m1.async.p50Us, c1k10.p50Us),
        onePCVs2pcP50C1: ratio(m1.onePC.p50Us, c1k10.p50Us),
        pessimisticVs2pcP50C1: ratio(m1.pessimistic.p50Us, c1k10.p50Us),
        asyncCommitVs2pcOpsC64: ratio(m64.async.opsPerSec, c64k10.opsPerSec),
        onePCVs2pcOpsC64: ratio(m64.onePC.opsPerSec, c64k10.opsPerSec),
        pessimisticVs2pcOpsC64: ratio(m64.pessimistic.opsPerSec, c64k10.opsPerSec),
        asyncCommitVs2pcCpuC64: ratio(m64.async.cpuUsPerOp, c64k10.cpuUsPerOp),
        onePCVs2pcCpuC64: ratio(m64.onePC.cpuUsPerOp, c64k10.cpuUsPerOp),
        pessimisticVs2pcCpuC64: ratio(m64.pessimistic.cpuUsPerOp, c64k10.cpuUsPerOp),
      },
    };
  } finally {
    await client.close();
    child.kill();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runTxnBench()));
}
