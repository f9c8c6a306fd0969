// GetLockWaitInfo answers with the waiter manager's table: one entry per waiting request
// (tikv src/server/lock_manager/waiter_manager.rs to_wait_for_entries), including first-lock
// waiters that never enter deadlock detection.
import { WaitForEntry } from "../../proto/deadlock.js";
import type { LockInfo } from "../../proto/kvrpcpb.js";

/** The parts of a waiting request the entry is built from. */
interface WaiterView {
  waiter: { startTs: bigint; keyHash: bigint; key: Buffer; resourceGroupTag: Buffer };
  lockInfo: LockInfo;
}

/**
 * Reads the waiting requests of the engine's lock manager. The lock manager keeps them in a
 * private `waiters` map (engine-pessimistic exposes no accessor yet), so this looks it up
 * defensively and falls back to `fallback` (the deadlock detector's table) when absent.
 */
export function lockWaitEntries(lockManager: object, fallback: () => WaitForEntry[]): WaitForEntry[] {
  const waiters = (lockManager as { waiters?: unknown }).waiters;
  if (!(waiters instanceof Map)) return fallback();
  const out: WaitForEntry[] = [];
  for (const st of (waiters as Map<unknown, WaiterView>).values()) {
    out.push(
      WaitForEntry.fromPartial({
        txn: st.waiter.startTs,
        waitForTxn: st.lockInfo.lockVersion,
        keyHash: st.waiter.keyHash,
        key: st.waiter.key,
        resourceGroupTag: st.waiter.resourceGroupTag,
      }),
    );
  }
  return out;
}
