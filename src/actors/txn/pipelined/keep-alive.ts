// The TTL manager of a pipelined transaction (client-go 2pc.go keepAlive with isPipelinedTxn):
// every half managed TTL it takes a TSO, gives up past the max TTL (at least 24 h), raises the
// primary lock's min_commit_ts to that TSO with TxnHeartBeat, and broadcasts the new min commit
// ts to every store. It stops on a key error (the primary lock is gone) or after more than 10
// failures in a row: a pipelined transaction without heartbeats must not flush more locks.

import { physicalOf } from "../../../kv/timestamp.js";
import { TxnHeartBeatRequest, type TxnStatus } from "../../../proto/kvrpcpb.js";
import type { RawRequestSender, RequestControl } from "../../runtime/raw-sender.js";
import { sendToKey } from "../../runtime/region-batches.js";

/** client-go maxConsecutiveFailure. */
export const MAX_CONSECUTIVE_HEARTBEAT_FAILURES = 10;

/** What the TTL manager needs. */
export interface KeepAliveDeps {
  sender: RawRequestSender;
  getTimestamp: () => Promise<bigint>;
  control: () => RequestControl;
  broadcast: (status: TxnStatus) => void;
  /** The lock TTL the heartbeat keeps adding (ms); beats every half of it. */
  managedLockTtlMs: number;
  /** Gives up after this uptime (ms). */
  maxTtlMs: number;
}

/** The transaction being kept alive. */
export interface KeepAliveTarget {
  startTs: bigint;
  primary: Buffer;
  /** The min commit ts pushed so far (raised by each beat). */
  minCommitTs: bigint;
}

/** Why the TTL manager gave up. */
export type KeepAliveStop = "maxTtl" | "tso" | "keyError" | "failures";

/** Starts heartbeats; `onStop` is called once when they give up. Returns a function that ends them. */
export function keepAlivePipelined(
  deps: KeepAliveDeps,
  t: KeepAliveTarget,
  onStop: (why: KeepAliveStop) => void,
): () => void {
  let failures = 0;
  let stopped = false;
  let busy = false;
  const stop = (why: KeepAliveStop) => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    onStop(why);
  };
  const beat = async () => {
    let now: bigint;
    try {
      now = await deps.getTimestamp();
    } catch {
      return stop("tso");
    }
    if (stopped) return;
    const uptime = physicalOf(now) - physicalOf(t.startTs);
    if (uptime > deps.maxTtlMs) return stop("maxTtl");
    if (now > t.minCommitTs) t.minCommitTs = now;
    try {
      const resp = await sendToKey(
        deps.sender,
        t.primary,
        "TxnHeartBeat",
        TxnHeartBeatRequest.fromPartial({
          primaryLock: t.primary,
          startVersion: t.startTs,
          adviseLockTtl: BigInt(Math.max(0, uptime) + deps.managedLockTtlMs),
          minCommitTs: t.minCommitTs,
        }),
        deps.control(),
      );
      if (stopped) return;
      if (resp.error) return stop("keyError");
      failures = 0;
      // only a heartbeat that reached the primary is broadcast: the primary stays the truth
      deps.broadcast({
        startTs: t.startTs,
        minCommitTs: t.minCommitTs,
        commitTs: 0n,
        rolledBack: false,
        isCompleted: false,
      });
    } catch {
      if (++failures > MAX_CONSECUTIVE_HEARTBEAT_FAILURES) stop("failures");
    }
  };
  const timer = setInterval(
    () => {
      if (busy || stopped) return;
      busy = true;
      void beat().finally(() => {
        busy = false;
      });
    },
    Math.max(1, Math.floor(deps.managedLockTtlMs / 2)),
  );
  timer.unref?.();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
