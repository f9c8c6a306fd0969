// Shared pessimistic locks through the gRPC surface of the embedded cluster: what a client
// sees on the wire (KvPessimisticLock with Op.SharedPessimisticLock, KvPrewrite with
// Op.SharedLock, LockInfo.shared_lock_infos, waits and wake-ups, commit / rollback).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import * as kv from "../../src/proto/kvrpcpb.js";
import type { TikvClient } from "../../src/proto/tikvpb.js";
import { b, call, newClient } from "./tikv/helpers.js";

let cluster: EmbeddedCluster;
let client: TikvClient;
let ctx: kv.Context;

beforeAll(async () => {
  // Hand-picked small timestamps: the resolved-ts worker would raise max_ts to the real TSO
  // and push 1PC min_commit_ts past max_commit_ts, so it is off here.
  cluster = await EmbeddedCluster.start({ stores: 1, resolvedTsIntervalMs: 0 });
  const region = cluster.topology.locateKey(b("s"));
  if (!region?.leader) throw new Error("no leader");
  client = newClient(cluster.store(region.leader.storeId).address);
  ctx = kv.Context.fromPartial({
    regionId: region.id,
    regionEpoch: region.region.regionEpoch,
    peer: region.leader,
  });
});
afterAll(async () => {
  client.close();
  await cluster.close();
});

function lock(key: string, startTs: bigint, op: kv.Op, waitTimeout: bigint, primary = `pk${startTs}`) {
  return call<kv.PessimisticLockRequest, kv.PessimisticLockResponse>(
    client,
    "kvPessimisticLock",
    kv.PessimisticLockRequest.fromPartial({
      context: ctx,
      mutations: [{ op, key: b(key) }],
      primaryLock: b(primary),
      startVersion: startTs,
      forUpdateTs: startTs,
      lockTtl: 20_000n,
      waitTimeout,
    }),
  );
}

function prewriteShared(key: string, startTs: bigint) {
  return call<kv.PrewriteRequest, kv.PrewriteResponse>(
    client,
    "kvPrewrite",
    kv.PrewriteRequest.fromPartial({
      context: ctx,
      mutations: [{ op: kv.Op.SharedLock, key: b(key) }],
      primaryLock: b(`pk${startTs}`),
      startVersion: startTs,
      forUpdateTs: startTs,
      pessimisticActions: [kv.PrewriteRequest_PessimisticAction.DO_PESSIMISTIC_CHECK],
      lockTtl: 20_000n,
      txnSize: 1n,
    }),
  );
}

function commitKey(key: string, startTs: bigint, commitTs: bigint) {
  return call<kv.CommitRequest, kv.CommitResponse>(
    client,
    "kvCommit",
    kv.CommitRequest.fromPartial({
      context: ctx,
      keys: [b(key)],
      startVersion: startTs,
      commitVersion: commitTs,
    }),
  );
}

function rollbackKey(key: string, startTs: bigint) {
  return call<kv.BatchRollbackRequest, kv.BatchRollbackResponse>(
    client,
    "kvBatchRollback",
    kv.BatchRollbackRequest.fromPartial({ context: ctx, keys: [b(key)], startVersion: startTs }),
  );
}

/** [lock_version, lock_type, primary] of each holder in a shared LockInfo. */
const holders = (info: kv.LockInfo | undefined) =>
  (info?.sharedLockInfos ?? []).map((l) => [l.lockVersion, l.lockType, l.primaryLock.toString()]);

describe("shared pessimistic locks over gRPC", () => {
  it("two holders share a key; an exclusive request fails, then waits, and is woken when both are gone", async () => {
    for (const ts of [100n, 110n]) {
      const r = await lock("s", ts, kv.Op.SharedPessimisticLock, 0n);
      expect(r.regionError).toBeUndefined();
      expect(r.errors).toEqual([]);
    }

    // First exclusive request: KeyIsLocked at once (it made the shared locks shrink-only).
    const first = await lock("s", 200n, kv.Op.PessimisticLock, 1000n);
    const locked = first.errors[0]?.locked;
    expect(locked).toMatchObject({ key: b("s"), lockType: kv.Op.SharedLock, lockVersion: 0n, lockTtl: 0n });
    expect(locked?.primaryLock).toEqual(Buffer.alloc(0));
    expect(holders(locked)).toEqual([
      [100n, kv.Op.PessimisticLock, "pk100"],
      [110n, kv.Op.PessimisticLock, "pk110"],
    ]);
    // No new holder may join now.
    const late = await lock("s", 120n, kv.Op.SharedPessimisticLock, 0n);
    expect(late.errors[0]?.locked?.lockType).toBe(kv.Op.SharedLock);

    // The retry waits for the holders.
    let answer: kv.PessimisticLockResponse | undefined;
    const waiting = lock("s", 200n, kv.Op.PessimisticLock, 5000n).then((r) => {
      answer = r;
      return r;
    });
    const waits = () =>
      call<kv.GetLockWaitInfoRequest, kv.GetLockWaitInfoResponse>(
        client,
        "getLockWaitInfo",
        kv.GetLockWaitInfoRequest.fromPartial({}),
      ).then((r) => r.entries.map((w) => [w.txn, w.waitForTxn]));
    await expect.poll(waits, { timeout: 5000, interval: 20 }).toEqual([[200n, 0n]]);

    // Holder 100 prewrites its shared lock and commits: the key stays locked by 110.
    expect((await prewriteShared("s", 100n)).errors).toEqual([]);
    expect((await commitKey("s", 100n, 130n)).error).toBeUndefined();
    const scan = await call<kv.ScanLockRequest, kv.ScanLockResponse>(
      client,
      "kvScanLock",
      kv.ScanLockRequest.fromPartial({ context: ctx, maxVersion: 1000n, startKey: b("s"), endKey: b("t") }),
    );
    expect(scan.locks.map((l) => [l.key.toString(), holders(l)])).toEqual([
      ["s", [[110n, kv.Op.PessimisticLock, "pk110"]]],
    ]);
    expect(answer).toBeUndefined();

    // A shared-locked key is no primary.
    const status = await call<kv.CheckTxnStatusRequest, kv.CheckTxnStatusResponse>(
      client,
      "kvCheckTxnStatus",
      kv.CheckTxnStatusRequest.fromPartial({
        context: ctx,
        primaryKey: b("s"),
        lockTs: 110n,
        callerStartTs: 300n,
      }),
    );
    expect(holders(status.error?.primaryMismatch?.lockInfo)).toEqual([
      [110n, kv.Op.PessimisticLock, "pk110"],
    ]);

    // The last holder rolls back: the waiter is answered WriteConflict (legacy wake-up).
    expect((await rollbackKey("s", 110n)).error).toBeUndefined();
    const woken = await waiting;
    expect(woken.errors[0]?.conflict).toMatchObject({
      startTs: 200n,
      conflictTs: 110n,
      conflictCommitTs: 0n,
    });

    // Retrying with a newer for_update_ts locks the key exclusively.
    const again = await call<kv.PessimisticLockRequest, kv.PessimisticLockResponse>(
      client,
      "kvPessimisticLock",
      kv.PessimisticLockRequest.fromPartial({
        context: ctx,
        mutations: [{ op: kv.Op.PessimisticLock, key: b("s") }],
        primaryLock: b("s"),
        startVersion: 200n,
        forUpdateTs: 300n,
        lockTtl: 20_000n,
      }),
    );
    expect(again.errors).toEqual([]);
    // Now a shared request meets the exclusive lock.
    const blocked = await lock("s", 310n, kv.Op.SharedPessimisticLock, 0n);
    expect(blocked.errors[0]?.locked).toMatchObject({
      lockVersion: 200n,
      lockType: kv.Op.PessimisticLock,
      primaryLock: b("s"),
    });
  });

  it("reads ignore shared locks, and shared-lock prewrites refuse 1PC", async () => {
    expect((await lock("r", 400n, kv.Op.SharedPessimisticLock, 0n)).errors).toEqual([]);
    const get = await call<kv.GetRequest, kv.GetResponse>(
      client,
      "kvGet",
      kv.GetRequest.fromPartial({ context: ctx, key: b("r"), version: 1000n }),
    );
    expect(get.error).toBeUndefined();
    expect(get.notFound).toBe(true);
    const onePc = await call<kv.PrewriteRequest, kv.PrewriteResponse>(
      client,
      "kvPrewrite",
      kv.PrewriteRequest.fromPartial({
        context: ctx,
        mutations: [{ op: kv.Op.SharedLock, key: b("r") }],
        primaryLock: b("pk400"),
        startVersion: 400n,
        forUpdateTs: 400n,
        pessimisticActions: [kv.PrewriteRequest_PessimisticAction.DO_PESSIMISTIC_CHECK],
        tryOnePc: true,
        maxCommitTs: 10_000n,
      }),
    );
    expect(onePc.errors[0]?.abort).toContain("shared lock prewrite is incompatible with one-phase commit");
    expect((await rollbackKey("r", 400n)).error).toBeUndefined();
  });
});
