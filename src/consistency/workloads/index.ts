// The workload registry of `npm run consistency -- --workload <name>`: each name maps to a
// factory. Raw workloads are registered in the first block, transactional ones in the second.

import type { WorkloadFactory } from "../types.js";
import { rawRegisterWorkload } from "./raw-register.js";
import { bankWorkload } from "./txn-bank.js";
import { listAppendWorkload } from "./txn-list-append.js";
import { longForkWorkload } from "./txn-long-fork.js";
import { monotonicWorkload } from "./txn-monotonic.js";

/** Raw KV workloads (files raw-*.ts). */
const RAW_WORKLOADS: Record<string, WorkloadFactory> = {
  "raw-register": (opts) => rawRegisterWorkload(opts),
};

/**
 * Transactional workloads (files txn-*.ts). Each takes `--opt mode=optimistic|pessimistic|
 * asyncCommit|onePC|pipelined` (default optimistic), see workloads/txn-mode.ts.
 */
const TXN_WORKLOADS: Record<string, WorkloadFactory> = {
  bank: (opts) => bankWorkload(opts),
  "list-append": (opts) => listAppendWorkload(opts),
  "long-fork": (opts) => longForkWorkload(opts),
  monotonic: (opts) => monotonicWorkload(opts),
};

/** Every registered workload by name. */
export const WORKLOADS: Readonly<Record<string, WorkloadFactory>> = { ...RAW_WORKLOADS, ...TXN_WORKLOADS };

/** Names of the registered workloads. */
export function workloadNames(): string[] {
  return Object.keys(WORKLOADS).sort();
}
