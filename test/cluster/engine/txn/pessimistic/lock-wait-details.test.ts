// The lock manager's public view of its waiters (GetLockWaitInfo; tikv
// src/server/lock_manager/waiter_manager.rs to_wait_for_entries) and the lock-wait time a
// PessimisticLock response reports (tikv waiter_manager.rs Waiter::cancel records
// pessimistic_lock_wait_nanos; tests/integrations/server/kv_service.rs
// test_pessimistic_lock_execution_tracking).
import { afterEach, describe, expect, it } from "vitest";
import { keyHash } from "../../../../../src/cluster/engine/txn/pessimistic/key-hash.js";
import { b, Fixture } from "./fixture.js";

/** Lets the engine's promise jobs run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe("lock wait details", () => {
  let clock = 1_000;
  let f: Fixture;
  afterEach(() => f.engine.close());

  it("waitingEntries lists each waiting request, first locks included, and forgets it when done", async () => {
    f = new Fixture(() => clock);
    const lm = f.engine.lockManager;
    expect(lm.waitingEntries()).toEqual([]);
    f.prewrite("k1", "Put", 10, "v");
    f.prewrite("k2", "Put", 11, "v");
    const first = f.lock(["k1"], 20, 20, { isFirstLock: true, waitTimeout: 0n });
    const second = f.lock(["k2"], 30, 30, { waitTimeout: 0n });
    await settle();
    const entries = lm.waitingEntries().sort((x, y) => Number(x.txn - y.txn));
    expect(entries).toEqual([
      {
        txn: 20n,
        waitForTxn: 10n,
        keyHash: keyHash(b("k1")),
        key: b("k1"),
        resourceGroupTag: b(""),
        waitTime: 0n,
      },
      {
        txn: 30n,
        waitForTxn: 11n,
        keyHash: keyHash(b("k2")),
        key: b("k2"),
        resourceGroupTag: b(""),
        waitTime: 0n,
      },
    ]);
    // A snapshot: changing it does not touch the manager.
    entries.pop();
    expect(lm.waitingEntries()).toHaveLength(2);
    f.commit("k1", 10, 15);
    f.commit("k2", 11, 16);
    await first;
    await second;
    expect(lm.waitingEntries()).toEqual([]);
  });

  it("a request that waited reports the wait in exec_details_v2.write_detail", async () => {
    clock = 5_000;
    f = new Fixture(() => clock);
    f.prewrite("k", "Put", 10, "v");
    const pending = f.lock(["k"], 20, 20, { force: true, waitTimeout: 0n });
    await settle();
    clock += 300;
    f.commit("k", 10, 15);
    const resp = await pending;
    expect(resp.errors).toEqual([]);
    expect(resp.execDetailsV2?.writeDetail?.pessimisticLockWaitNanos).toBe(300_000_000n);
  });

  it("a woken legacy request reports its wait too; one that never waited reports none", async () => {
    clock = 9_000;
    f = new Fixture(() => clock);
    const free = await f.lock(["free"], 5, 5);
    expect(free.execDetailsV2?.writeDetail?.pessimisticLockWaitNanos ?? 0n).toBe(0n);
    f.prewrite("k", "Put", 10, "v");
    const pending = f.lock(["k"], 20, 20, { waitTimeout: 0n });
    await settle();
    clock += 42;
    f.commit("k", 10, 15);
    const resp = await pending;
    expect(resp.errors[0]?.conflict).toBeDefined();
    expect(resp.execDetailsV2?.writeDetail?.pessimisticLockWaitNanos).toBe(42_000_000n);
  });
});
