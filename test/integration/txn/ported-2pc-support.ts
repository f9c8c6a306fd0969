// Helpers of the ported client-go 2PC tests (ported-2pc*.test.ts): lock lookups on the embedded
// engine, a recorder of the requests the client sends, "wait until a request arrives" and polling.

import type { RpcName } from "../../../src/cluster/faults/rpc-names.js";
import type { CallInfo } from "../../../src/cluster/faults/types.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import { type LockInfo, ScanLockRequest } from "../../../src/proto/kvrpcpb.js";
import type { ClusterHandle } from "../../support/cluster.js";

import { b, str } from "../../support/values.js";

export { b, str };

/** Every lock the engine holds on one of `keys` (any transaction). */
export function locksOn(env: ClusterHandle, keys: readonly string[]): LockInfo[] {
  const wanted = new Set(keys);
  const all = env.cluster.txnEngine.scanLock(
    ScanLockRequest.fromPartial({ maxVersion: MAX_TS, limit: 100_000 }),
  );
  return all.locks.filter((l) => wanted.has(l.key.toString()));
}

/** True when `call` carries `key` among its keys. */
export function touches(call: CallInfo, key: string): boolean {
  const k = b(key);
  return (call.keys ?? []).some((x) => Buffer.compare(Buffer.from(x), k) === 0);
}

/** One request the servers received, decoded. */
export interface Seen<T> {
  call: CallInfo;
  req: T;
}

/** Records the requests of `rpc` the stores receive until `stop()` (the hook never throws). */
export function recordRequests<T>(env: ClusterHandle, rpc: RpcName): { seen: Seen<T>[]; stop: () => void } {
  const seen: Seen<T>[] = [];
  const stop = env.cluster.faults.onRequest((call) => {
    if (call.rpc === rpc && call.request !== undefined) seen.push({ call, req: call.request as T });
  });
  return { seen, stop };
}

/** Resolves when a request of `rpc` carrying `key` reaches a store (before it executes). */
export function arrival(
  env: ClusterHandle,
  rpc: RpcName,
  key: string,
): { arrived: Promise<CallInfo>; stop: () => void } {
  let resolve!: (c: CallInfo) => void;
  const arrived = new Promise<CallInfo>((r) => {
    resolve = r;
  });
  const stop = env.cluster.faults.onRequest((call) => {
    if (call.rpc === rpc && touches(call, key)) resolve(call);
  });
  return { arrived, stop };
}

export { eventually } from "../../support/wait.js";

/** Settles `p`, or reports "pending" after `ms` (for calls that must not hang). */
export function settleWithin<T>(
  p: Promise<T>,
  ms: number,
): Promise<{ kind: "resolved"; value: T } | { kind: "rejected"; error: unknown } | { kind: "pending" }> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve({ kind: "pending" }), ms);
    p.then(
      (value) => {
        clearTimeout(t);
        resolve({ kind: "resolved", value });
      },
      (error: unknown) => {
        clearTimeout(t);
        resolve({ kind: "rejected", error });
      },
    );
  });
}
