// Pessimistic transactions (client-go LockKeys / pessimistic.go): locks taken as keys are read
// for update, waiting for other holders, typed no-wait / wait-timeout / deadlock outcomes, the
// locks released by rollback, and commits that never meet a write conflict on locked keys.

import { describe, expect, it } from "vitest";
import {
  DeadlockError,
  InvalidArgumentError,
  LockAcquireFailAndNoWaitSetError,
  LockWaitTimeoutError,
  WriteConflictError,
} from "../../../src/index.js";
import { MAX_TS } from "../../../src/kv/timestamp.js";
import { Op, ScanLockRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v1"))("transactions: pessimistic", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  function locksOf(startTs: bigint, key: string) {
    return env.cluster.txnEngine
      .scanLock(ScanLockRequest.fromPartial({ maxVersion: MAX_TS, startKey: Buffer.from(key), limit: 5 }))
      .locks.filter((l) => l.lockVersion === startTs && l.key.toString() === key);
  }

  itFault("getForUpdate locks on TiKV at once and reads the latest value; commit writes it", async () => {
    const t = (await env.connect()).txn();
    const key = `h${uniquePrefix("gfu")}`;
    await t.runTransaction(async (w) => w.set(key, "1"));
    const txn = await t.begin({ pessimistic: true });
    // a write committed after the start ts is what the lock reads (for_update_ts is newer)
    await t.runTransaction(async (w) => w.set(key, "2"));
    expect((await txn.get(key))?.toString()).toBe("1"); // plain reads stay at the start ts
    expect((await txn.getForUpdate(key))?.toString()).toBe("2");
    expect(txn.forUpdateTs).toBeGreaterThan(txn.startTs);
    const locks = locksOf(txn.startTs, key);
    expect(locks.map((l) => l.lockType)).toEqual([Op.PessimisticLock]);
    txn.set(key, "3");
    await txn.commit();
    await t.whenIdle();
    expect((await (await t.snapshot()).get(key))?.toString()).toBe("3");
    expect(locksOf(txn.startTs, key)).toEqual([]);
  });

  itFault(
    "concurrent read-modify-write with getForUpdate: they queue on the lock, no conflict, no lost update",
    async () => {
      const t = (await env.connect()).txn();
      const key = `a${uniquePrefix("ctr")}`;
      await t.runTransaction(async (w) => w.set(key, "0"));
      let retries = 0;
      const N = 6;
      await Promise.all(
        Array.from({ length: N }, () =>
          t.runTransaction(
            async (txn) => {
              const v = Number((await txn.getForUpdate(key))?.toString());
              txn.set(key, String(v + 1));
            },
            { pessimistic: true, onRetry: () => retries++ },
          ),
        ),
      );
      await t.whenIdle();
      expect((await (await t.snapshot()).get(key))?.toString()).toBe(String(N));
      expect(retries).toBe(0);
    },
  );

  itFault("no-wait and wait timeouts give typed errors; rollback releases the locks", async () => {
    const t = (await env.connect()).txn();
    const key = `q${uniquePrefix("wait")}`;
    const holder = await t.begin({ pessimistic: true });
    await holder.lockKeys([key]);
    const other = await t.begin({ pessimistic: true });
    await expect(other.lockKeys([key], { noWait: true })).rejects.toThrow(LockAcquireFailAndNoWaitSetError);
    const started = Date.now();
    await expect(other.lockKeys([key], { waitTimeoutMs: 300 })).rejects.toThrow(LockWaitTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await holder.rollback();
    expect(locksOf(holder.startTs, key)).toEqual([]);
    // now free
    await other.lockKeys([key], { noWait: true });
    await other.rollback();
  });

  itFault("a deadlock is detected and reported to one of the two transactions", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("dl");
    const [k1, k2] = [`a${p}`, `q${p}`];
    const a = await t.begin({ pessimistic: true });
    const b = await t.begin({ pessimistic: true });
    await a.lockKeys([k1]);
    await b.lockKeys([k2]);
    const ra = a.lockKeys([k2], { waitTimeoutMs: 5000 }).then(
      () => "ok",
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 100));
    const rb = b.lockKeys([k1], { waitTimeoutMs: 5000 }).then(
      () => "ok",
      (e: unknown) => e,
    );
    // b closes the cycle: TiKV's detector reports the deadlock to it; its rollback lets a through
    const second = await rb;
    expect(second).toBeInstanceOf(DeadlockError);
    await b.rollback();
    expect(await ra).toBe("ok");
    for (const x of [a, b]) if (x.state === "active") await x.rollback();
  });

  itFault("a pessimistic transaction commits across regions with async commit too", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("pac");
    const keys = [`a${p}`, `h${p}`, `q${p}`];
    const txn = await t.begin({ pessimistic: true, asyncCommit: true });
    const vals = await txn.batchGetForUpdate(keys);
    expect(vals).toEqual([undefined, undefined, undefined]);
    for (const k of keys) txn.set(k, `v-${k}`);
    await txn.commit();
    expect(txn.commitInfo?.mode).toBe("asyncCommit");
    await t.whenIdle();
    expect((await (await t.snapshot()).batchGet(keys)).map((v) => v?.toString())).toEqual(
      keys.map((k) => `v-${k}`),
    );
  });

  itFault(
    "optimistic lockKeys only marks keys: a concurrent write to one makes the commit conflict",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("olk");
      const [guard, data] = [`a${p}guard`, `q${p}data`];
      const txn = await t.begin();
      await txn.lockKeys([guard]);
      expect(locksOf(txn.startTs, guard)).toEqual([]); // nothing on TiKV yet
      txn.set(data, "x");
      await t.runTransaction(async (w) => w.set(guard, "changed"));
      await expect(txn.commit()).rejects.toThrow(WriteConflictError);
    },
  );

  it("bad lock options get typed errors", async () => {
    const t = (await env.connect()).txn();
    const txn = await t.begin({ pessimistic: true });
    await expect(txn.lockKeys(["k"], { waitTimeoutMs: -1 })).rejects.toThrow(InvalidArgumentError);
    await expect(txn.lockKeys(["k"], { forUpdateTs: 0n })).rejects.toThrow(InvalidArgumentError);
    await expect(t.begin({ pessimistic: "yes" as never })).rejects.toThrow(InvalidArgumentError);
    await txn.rollback();
  });
});
