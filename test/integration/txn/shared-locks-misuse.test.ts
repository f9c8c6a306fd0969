// Shared pessimistic locks beyond client-go's tests: each misuse and the typed error it gets
// (client-go LockKeys / initKeysAndMutations / resolveLocks), share-mode reads, the mode a
// re-lock keeps, optimistic writers meeting shared locks, and the lock resolver meeting shared
// locks held by several dead transactions. On the embedded cluster (its engine models TiKV
// master's shared locks).

import { describe, expect, it } from "vitest";
import { SharedLockInPipelinedTxnError } from "../../../src/actors/txn/pipelined/pipelined-committer.js";
import { lockDetailsFromLockInfo } from "../../../src/errors/txn.js";
import {
  AggressiveLockingError,
  InvalidArgumentError,
  LockAcquireFailAndNoWaitSetError,
  SharedLockMisuseError,
  TxnAbortedError,
  WriteConflictError,
} from "../../../src/index.js";
import {
  FlagsOp,
  hasLocked,
  hasLockedInShareMode,
  hasPresumeKeyNotExists,
} from "../../../src/kv/memdb/key-flags.js";
import { type LockInfo, Op, type PessimisticLockRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, locksOn, recordRequests } from "./ported-2pc-support.js";
import { control, putKV } from "./ported-lock-helpers.js";
import { tsAt } from "./ported-pessimistic-support.js";
import { holdersOn, holderTs, withPrimary } from "./shared-locks-support.js";

/** A start ts old enough that locks taken now are already past their TTL. */
const OLD = () => tsAt(-25_000);

describe.skipIf(skipOnRealCluster("v1"))("shared pessimistic locks: misuse, modes, resolution", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const client = async () => (await env.connect()).txn();

  itFault(
    "locking in share mode before an exclusive lock chose the primary is refused, sending nothing",
    async () => {
      const t = await client();
      const p = uniquePrefix("nopk");
      const [pk, key] = [`a${p}pk`, `h${p}shared`];
      const txn = await t.begin({ pessimistic: true });
      txn.buffer.updateFlags(b(key), [FlagsOp.setPresumeKeyNotExists]);
      const sent = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
      for (const call of [
        () => txn.lockKeys([key], { shared: true }),
        () => txn.getForUpdate(key, { shared: true }),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SharedLockMisuseError);
        expect(err).toMatchObject({ reason: "needsPrimary", code: "INVALID_TXN", key: b(key) });
      }
      expect(sent.seen).toEqual([]);
      // the refused calls changed nothing: not locked, still presumed absent
      expect(hasLocked(txn.buffer.getFlags(b(key)) ?? 0)).toBe(false);
      expect(hasPresumeKeyNotExists(txn.buffer.getFlags(b(key)) ?? 0)).toBe(true);
      // once an exclusive lock chose the primary, the shared lock is taken (as SharedPessimisticLock)
      await txn.lockKeys([pk]);
      await txn.lockKeys([key], { shared: true });
      sent.stop();
      expect(sent.seen.map(({ req }) => req.mutations.map((m) => m.op))).toEqual([
        [Op.PessimisticLock],
        [Op.SharedPessimisticLock],
      ]);
      expect(sent.seen[1]?.req.primaryLock.toString()).toBe(pk);
      expect(holderTs(env, key)).toEqual([txn.startTs]);
      await txn.rollback();
      expect(holdersOn(env, key)).toEqual([]);
    },
  );

  itFault(
    "a key held in share mode cannot be locked exclusively (no upgrade); re-locks keep the first mode",
    async () => {
      const t = await client();
      const p = uniquePrefix("upg");
      const [pk, key, other] = [`a${p}pk`, `h${p}shared`, `h${p}other`];
      const txn = await withPrimary(t, pk);
      await txn.lockKeys([key], { shared: true });
      const sent = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
      for (const call of [
        () => txn.lockKeys([other, key]),
        () => txn.getForUpdate(key),
        () => txn.batchGetForUpdate([key]),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SharedLockMisuseError);
        expect(err).toMatchObject({ reason: "upgrade", key: b(key) });
      }
      // nothing was sent, not even for the other key
      expect(sent.seen).toEqual([]);
      // a shared re-lock of a key held in either mode is a no-op
      await txn.lockKeys([key], { shared: true });
      await txn.lockKeys([pk], { shared: true });
      sent.stop();
      expect(sent.seen).toEqual([]);
      expect(hasLockedInShareMode(txn.buffer.getFlags(b(key)) ?? 0)).toBe(true);
      expect(hasLockedInShareMode(txn.buffer.getFlags(b(pk)) ?? 0)).toBe(false);
      // the commit writes the primary as a lock and the shared key as a shared lock
      await txn.commit();
      await t.whenIdle();
      expect(locksOn(env, [pk, key])).toEqual([]);
    },
  );

  itFault(
    "writing a key held only in share mode fails the commit with TiKV's error and rolls back",
    async () => {
      const t = await client();
      const p = uniquePrefix("wsh");
      const [pk, key] = [`a${p}pk`, `h${p}shared`];
      await putKV(t, key, "old");
      const txn = await withPrimary(t, pk);
      await txn.lockKeys([key], { shared: true });
      txn.set(key, "new");
      const err = await txn.commit().catch((e: unknown) => e);
      // TiKV refuses any prewrite but Op::SharedLock on the txn's own shared lock (client-go
      // checks nothing itself and reports the same abort)
      expect(err).toBeInstanceOf(TxnAbortedError);
      expect((err as TxnAbortedError).abortMessage).toContain(
        "use Op::SharedLock to prewrite on a shared lock",
      );
      expect(txn.state).toBe("failed");
      await t.whenIdle();
      expect(locksOn(env, [pk, key])).toEqual([]);
      expect((await (await t.snapshot()).get(key))?.toString()).toBe("old");
    },
  );

  itFault("shared locks are refused in aggressive locking and in pipelined transactions", async () => {
    const t = await client();
    const p = uniquePrefix("modes");
    const [pk, key] = [`a${p}pk`, `h${p}shared`];
    const txn = await withPrimary(t, pk);
    txn.startAggressiveLocking();
    const sent = recordRequests<PessimisticLockRequest>(env, "KvPessimisticLock");
    const err = await txn.lockKeys([key], { shared: true }).catch((e: unknown) => e);
    sent.stop();
    expect(err).toBeInstanceOf(AggressiveLockingError);
    expect(err).toMatchObject({ reason: "sharedLock" });
    expect(sent.seen).toEqual([]);
    txn.cancelAggressiveLocking();
    await txn.rollback();
    // a pipelined transaction only marks locked keys, never in share mode (client-go)
    const pipelined = await t.begin({ pipelined: true });
    await expect(pipelined.lockKeys([key], { shared: true })).rejects.toBeInstanceOf(
      SharedLockInPipelinedTxnError,
    );
    await expect(pipelined.getForUpdate(key, { shared: true })).rejects.toBeInstanceOf(
      SharedLockInPipelinedTxnError,
    );
    await pipelined.rollback();
    expect(holdersOn(env, key)).toEqual([]);
  });

  it("the shared option must be a boolean", async () => {
    const t = await client();
    const txn = await t.begin({ pessimistic: true });
    await expect(txn.lockKeys(["k"], { shared: "yes" as unknown as boolean })).rejects.toMatchObject({
      name: InvalidArgumentError.name,
      argument: "shared",
    });
    await txn.rollback();
  });

  itFault("an optimistic transaction's share-mode lock is a plain lock checked at commit", async () => {
    const t = await client();
    const p = uniquePrefix("opt");
    const key = `a${p}k`;
    const txn = await t.begin();
    await txn.lockKeys([key], { shared: true }); // no primary needed: nothing is sent now
    const flags = txn.buffer.getFlags(b(key)) ?? 0;
    expect(hasLocked(flags)).toBe(true);
    expect(hasLockedInShareMode(flags)).toBe(false);
    await txn.commit();
    expect(txn.commitInfo?.mode).toBe("2pc");
  });

  itFault(
    "getForUpdate in share mode reads the latest value; several readers hold the key at once",
    async () => {
      const t = await client();
      const p = uniquePrefix("gfu");
      const key = `h${p}row`;
      await putKV(t, key, "v1");
      const r1 = await withPrimary(t, `a${p}pk1`);
      const r2 = await withPrimary(t, `a${p}pk2`);
      expect((await r1.getForUpdate(key, { shared: true }))?.toString()).toBe("v1");
      expect((await r2.getForUpdate(key, { shared: true }))?.toString()).toBe("v1");
      expect(holderTs(env, key)).toEqual([r1.startTs, r2.startTs]);
      // a held shared lock is read again from this transaction's for_update_ts, not re-locked
      expect((await r1.getForUpdate(key, { shared: true }))?.toString()).toBe("v1");
      // snapshot reads are never blocked by shared locks
      const started = Date.now();
      expect((await (await t.snapshot()).get(key))?.toString()).toBe("v1");
      expect(Date.now() - started).toBeLessThan(500);
      await r1.commit();
      await r2.commit();
      await t.whenIdle();
      expect(holdersOn(env, key)).toEqual([]);
      expect((await (await t.snapshot()).get(key))?.toString()).toBe("v1");
    },
  );

  itFault(
    "an optimistic write meeting a shared lock of a newer transaction is a write conflict",
    async () => {
      const t = await client();
      const p = uniquePrefix("owc");
      const key = `h${p}shared`;
      const writer = await t.begin();
      const holder = await withPrimary(t, `a${p}pk`);
      await holder.lockKeys([key], { shared: true });
      writer.set(key, "x");
      const err = await writer.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WriteConflictError);
      expect(err).toMatchObject({ conflictStartTs: holder.startTs });
      expect(holderTs(env, key)).toEqual([holder.startTs]);
      await holder.rollback();
    },
  );

  itFault("an exclusive lock resolves shared locks held by several dead transactions at once", async () => {
    const t = await client();
    const p = uniquePrefix("dead");
    const key = `h${p}shared`;
    const dead = [];
    for (const i of [1, 2, 3]) {
      const txn = await withPrimary(t, `a${p}pk${i}`, { startTs: OLD() });
      await txn.lockKeys([key], { shared: true });
      dead.push(txn);
    }
    expect(holdersOn(env, key)).toHaveLength(3);
    const taker = await withPrimary(t, `a${p}taker`);
    const started = Date.now();
    await taker.lockKeys([key], { waitTimeoutMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(2_000);
    const now = holdersOn(env, key);
    expect(now.map((l) => [l.lockVersion, l.lockType])).toEqual([[taker.startTs, Op.PessimisticLock]]);
    // the dead holders' primaries were rolled back by the resolution
    expect(
      locksOn(
        env,
        [1, 2, 3].map((i) => `a${p}pk${i}`),
      ),
    ).toEqual([]);
    await taker.rollback();
    for (const txn of dead) await txn.rollback();
  });

  itFault("the dead holders are resolved even while a live one keeps the exclusive lock out", async () => {
    const t = await client();
    const p = uniquePrefix("mixed");
    const key = `h${p}shared`;
    const d1 = await withPrimary(t, `a${p}pk1`, { startTs: OLD() });
    const live = await withPrimary(t, `a${p}pk2`);
    const d2 = await withPrimary(t, `a${p}pk3`, { startTs: OLD() });
    for (const txn of [d1, live, d2]) await txn.lockKeys([key], { shared: true });
    const taker = await withPrimary(t, `a${p}taker`);
    await expect(taker.lockKeys([key], { noWait: true })).rejects.toBeInstanceOf(
      LockAcquireFailAndNoWaitSetError,
    );
    expect(holderTs(env, key)).toEqual([live.startTs]);
    // the live holder still commits its shared lock
    await live.commit();
    await t.whenIdle();
    expect(holdersOn(env, key)).toEqual([]);
    for (const txn of [taker, d1, d2]) await txn.rollback();
  });

  itFault("a shared lock without its holders cannot be resolved: the resolver refuses it", async () => {
    const t = await client();
    const p = uniquePrefix("bare");
    const key = `h${p}shared`;
    const holder = await withPrimary(t, `a${p}pk`);
    await holder.lockKeys([key], { shared: true });
    const wrapper = lockDetailsFromLockInfo(locksOn(env, [key])[0] as LockInfo);
    expect(wrapper.lockType).toBe(Op.SharedLock);
    const bare = { ...wrapper, sharedLocks: [] };
    await expect(
      t.lockResolver.resolveLocks([bare], { callerStartTs: 0n, ctl: control() }),
    ).rejects.toMatchObject({ name: InvalidArgumentError.name, argument: "locks" });
    // GC's batch resolve takes holders only, never a shared lock as such
    await expect(t.lockResolver.batchResolveLocks([wrapper], b(key), control())).rejects.toMatchObject({
      name: InvalidArgumentError.name,
    });
    expect(holderTs(env, key)).toEqual([holder.startTs]);
    await holder.rollback();
  });
});
