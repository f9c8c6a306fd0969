// Ported by meaning from client-go integration_tests/lock_test.go and 2pc_test.go: waiting for
// pessimistic locks — no-wait and timed waits, the primary locked before any secondary, deadlocks
// reported with their wait chain — and what a lockKeys call that failed half-way must leave
// behind. Mapping: test/ported/txn-lock.md, txn-2pc.md.

import { describe, expect } from "vitest";
import type { Transaction } from "../../../src/api/transaction.js";
import { DeadlockError, LockAcquireFailAndNoWaitSetError, LockWaitTimeoutError } from "../../../src/index.js";
import type { PessimisticLockRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { eventually, locksOn, recordRequests, settleWithin } from "./ported-2pc-support.js";
import { sleep } from "./ported-lock-helpers.js";
import { locksOf } from "./ported-pessimistic-support.js";

describe.skipIf(skipOnRealCluster("v1"))("client-go: waiting for pessimistic locks", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // lock_test TestLockWaitTimeLimit
  itFault("no-wait fails at once; a 200 ms wait fails after about 200 ms", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("wlim");
    const [k1, k2] = [`a${p}k1`, `q${p}k2`];
    const txn1 = await t.begin({ pessimistic: true });
    await txn1.lockKeys([k1, k2], { forUpdateTs: txn1.startTs });
    const txn2 = await t.begin({ pessimistic: true });
    let started = Date.now();
    await expect(txn2.lockKeys([k1], { noWait: true })).rejects.toBeInstanceOf(
      LockAcquireFailAndNoWaitSetError,
    );
    expect(Date.now() - started).toBeLessThan(500);
    started = Date.now();
    await expect(txn2.lockKeys([k2], { waitTimeoutMs: 200 })).rejects.toBeInstanceOf(LockWaitTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(Date.now() - started).toBeLessThan(800);
    await txn1.rollback();
    await txn2.rollback();
  });

  // 2pc_test TestPessimisticLockPrimary
  itFault(
    "the primary is locked before the secondaries: a blocked primary leaves the secondary free",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("plp");
      const [k1, k2] = [`a${p}`, `h${p}`]; // two regions; k1 sorts first, so it is txn2's primary
      const txn1 = await t.begin({ pessimistic: true });
      await txn1.lockKeys([k1], { forUpdateTs: txn1.startTs });
      const txn2 = await t.begin({ pessimistic: true });
      const seen = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
      const waiting = txn2.lockKeys([k1, k2], { waitTimeoutMs: 200 }).catch((e: unknown) => e);
      await sleep(50);
      const txn3 = await t.begin({ pessimistic: true });
      await txn3.lockKeys([k2], { noWait: true });
      expect(await waiting).toBeInstanceOf(LockWaitTimeoutError);
      seen.stop();
      // txn2 never asked for k2: its primary batch never succeeded
      const txn2Keys = seen.seen
        .filter((s) => s.req.startVersion === txn2.startTs)
        .flatMap((s) => s.req.mutations.map((m) => m.key.toString()));
      expect(new Set(txn2Keys)).toEqual(new Set([k1]));
      expect(locksOf(env, txn3.startTs, [k2]).size).toBe(1);
      for (const x of [txn1, txn2, txn3]) await x.rollback();
    },
  );

  // lock_test TestDeadlockReportWaitChain
  itFault(
    "a deadlock is reported with its wait chain: who waits for whom, on which key, with which tag",
    async () => {
      const client = await env.connect();
      const t = client.txn();
      const p = uniquePrefix("chain");
      const keyOf = (i: number) => `a${p}deadlock_wait_chain_${String(i).padStart(2, "0")}`;
      const tagOf = (i: number) => Buffer.from(`tag-${i}`);

      // n transactions, the i-th holding key i (its requests tagged tag-i)
      async function prepare(n: number): Promise<Transaction[]> {
        const out: Transaction[] = [];
        for (let i = 0; i < n; i++) {
          const txn = await t.begin({ pessimistic: true, resourceGroupTag: tagOf(i) });
          await txn.lockKeys([keyOf(i)], { waitTimeoutMs: 1000 });
          out.push(txn);
        }
        return out;
      }
      const waits = new Map<number, Promise<unknown>>();
      const waitFor = (txns: Transaction[], i: number, j: number) =>
        waits.set(
          i,
          (txns[i] as Transaction).lockKeys([keyOf(j)], { waitTimeoutMs: 5000 }).then(
            () => "locked",
            (e: unknown) => e,
          ),
        );
      const checkEntry = (
        txns: Transaction[],
        e: DeadlockError["waitChain"][number] | undefined,
        i: number,
        j: number,
      ) => {
        expect(e?.txn).toBe(txns[i]?.startTs);
        expect(e?.waitForTxn).toBe(txns[j]?.startTs);
        expect(e?.key.toString()).toBe(keyOf(j));
        expect(e?.resourceGroupTag.toString()).toBe(tagOf(i).toString());
      };
      // each waiter ends once its blocker rolled back (it then gets its lock)
      const rollbackAfterWait = async (txns: Transaction[], i: number) => {
        const w = waits.get(i);
        if (w) expect(await w).toBe("locked");
        await (txns[i] as Transaction).rollback();
      };

      // case 1: 1 -> 0 -> 1
      let txns = await prepare(2);
      waitFor(txns, 0, 1);
      await sleep(100);
      let err = await (txns[1] as Transaction)
        .lockKeys([keyOf(0)], { waitTimeoutMs: 1000 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeadlockError);
      let chain = (err as DeadlockError).waitChain;
      expect(chain).toHaveLength(2);
      checkEntry(txns, chain[0], 0, 1);
      checkEntry(txns, chain[1], 1, 0);
      await rollbackAfterWait(txns, 1);
      await rollbackAfterWait(txns, 0);

      // case 2: 3 -> 2 -> 0 -> 1 -> 3
      waits.clear();
      txns = await prepare(4);
      waitFor(txns, 0, 1);
      waitFor(txns, 2, 0);
      waitFor(txns, 1, 3);
      await sleep(100);
      err = await (txns[3] as Transaction)
        .lockKeys([keyOf(2)], { waitTimeoutMs: 1000 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeadlockError);
      chain = (err as DeadlockError).waitChain;
      expect(chain).toHaveLength(4);
      checkEntry(txns, chain[0], 2, 0);
      checkEntry(txns, chain[1], 0, 1);
      checkEntry(txns, chain[2], 1, 3);
      checkEntry(txns, chain[3], 3, 2);
      for (const i of [3, 1, 0, 2]) await rollbackAfterWait(txns, i);
    },
  );

  // lock_test TestStartHeartBeatAfterLockingPrimary (the failed call's half): a call that fails
  // after its primary batch succeeded releases its locks and gives the primary up, so the next
  // lock chooses a primary of its own and the commit is whole
  itFault(
    "a lockKeys that fails half-way releases what it locked and gives its primary up; later commits are whole",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("half");
      const [a, bKey, c, d] = [`a${p}a`, `h${p}b`, `q${p}c`, `q${p}d`];
      const holder = await t.begin({ pessimistic: true });
      await holder.lockKeys([bKey]);
      const txn = await t.begin({ pessimistic: true });
      await expect(txn.lockKeys([a, bKey], { waitTimeoutMs: 300 })).rejects.toBeInstanceOf(
        LockWaitTimeoutError,
      );
      expect(await eventually(() => locksOf(env, txn.startTs, [a, bKey]).size === 0, 2_000)).toBe(true);
      await txn.lockKeys([c, d]);
      const held = locksOf(env, txn.startTs, [c, d]);
      expect([...held.values()].map((l) => l.primaryLock.toString())).toEqual([c, c]);
      txn.set(c, "vc");
      txn.set(d, "vd");
      await txn.commit();
      await t.whenIdle();
      expect(locksOn(env, [a, c, d])).toEqual([]);
      const snap = await t.snapshot();
      const got = await settleWithin(snap.batchGet([a, c, d]), 2_000);
      expect(got.kind).toBe("resolved");
      if (got.kind === "resolved")
        expect(got.value.map((v) => v?.toString())).toEqual([undefined, "vc", "vd"]);
      await holder.rollback();
    },
  );
});
