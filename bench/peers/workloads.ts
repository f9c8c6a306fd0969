// The tikv-ts side of bench/peers: the same workloads, names and data set as go/main.go.
import type { TikvClient } from "../../src/index.js";

/** Raw keys (`peer-raw-NNNNNN`, 64-byte values) and txn keys (`peer-txn-NNNNNN`) in the data set. */
export const RAW_KEYS = 1024;
/** Keys per batchGet / batchPut / snapshot batchGet. */
export const BATCH = 100;
const TXN_KEYS = 1024;

/** Every workload both clients run (go/main.go switches on the same names). */
export type WorkloadName =
  | "raw-get"
  | "raw-put"
  | "raw-batch-get"
  | "raw-batch-put"
  | "raw-scan"
  | "txn-commit"
  | "txn-async-commit"
  | "txn-1pc"
  | "txn-pessimistic"
  | "snapshot-batch-get";

/** One operation; `i` is its sequence number in the run. */
export type Operation = (i: number) => Promise<unknown>;

const pad = (i: number) => String(i).padStart(6, "0");

/** Builds the workloads over one connected client. */
export function tikvTsWorkloads(client: TikvClient) {
  const raw = client.raw();
  const txn = client.txn();
  const value = Buffer.alloc(64, 0x61);
  const keys = Array.from({ length: RAW_KEYS }, (_, i) => Buffer.from(`peer-raw-${pad(i)}`));
  const txnKeys = Array.from({ length: TXN_KEYS }, (_, i) => Buffer.from(`peer-txn-${pad(i)}`));
  const batches: Buffer[][] = [];
  const txnBatches: Buffer[][] = [];
  for (let b = 0; b * BATCH < RAW_KEYS; b++) {
    batches.push(Array.from({ length: BATCH }, (_, j) => keys[(b * BATCH + j) % RAW_KEYS] as Buffer));
    txnBatches.push(Array.from({ length: BATCH }, (_, j) => txnKeys[(b * BATCH + j) % TXN_KEYS] as Buffer));
  }
  const values = batches[0]!.map(() => value);

  const commit =
    (prefix: string, opts: { asyncCommit?: boolean; onePC?: boolean; pessimistic?: boolean }): Operation =>
    async (i) => {
      const t = await txn.begin(opts);
      const ks = Array.from({ length: 10 }, (_, j) => `${prefix}t${i}-${j}`);
      if (opts.pessimistic) await t.lockKeys(ks);
      for (const k of ks) t.set(k, "v");
      await t.commit();
    };

  return {
    /** Writes the data set (both clients read it). */
    async load(): Promise<void> {
      await raw.batchPut(
        keys,
        keys.map(() => value),
      );
      const t = await txn.begin();
      for (const k of txnKeys) t.set(k, value);
      await t.commit();
    },
    /** The operation of a workload; `prefix` keeps transactional keys of different runs apart. */
    async op(name: WorkloadName, prefix: string): Promise<Operation> {
      switch (name) {
        case "raw-get":
          return (i) => raw.get(keys[i % RAW_KEYS] as Buffer);
        case "raw-put":
          return (i) => raw.put(keys[i % RAW_KEYS] as Buffer, value);
        case "raw-batch-get":
          return (i) => raw.batchGet(batches[i % batches.length] as Buffer[]);
        case "raw-batch-put":
          return (i) => raw.batchPut(batches[i % batches.length] as Buffer[], values);
        case "raw-scan":
          return async () => {
            const got = await raw.scan(keys[0] as Buffer, "", 1000);
            if (got.length !== 1000) throw new Error(`scan returned ${got.length} keys`);
          };
        case "txn-commit":
          return commit(prefix, {});
        case "txn-async-commit":
          return commit(prefix, { asyncCommit: true });
        case "txn-1pc":
          return commit(prefix, { onePC: true });
        case "txn-pessimistic":
          return commit(prefix, { pessimistic: true });
        case "snapshot-batch-get": {
          // a new snapshot per batch at one ts: client-go caches a snapshot's batchGet results
          const ts = (await txn.snapshot()).ts;
          return async (i) => {
            const snap = await txn.snapshot(ts);
            const got = await snap.batchGet(txnBatches[i % txnBatches.length] as Buffer[]);
            if (got.some((v) => v === undefined)) throw new Error("snapshot batchGet missed a key");
          };
        }
      }
    },
  };
}
