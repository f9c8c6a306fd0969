// Lock resolution of a real pipelined transaction's locks (PipelinedTransaction, flushed through
// KvFlush), left behind when its range resolution fails: after the primary commit, or after a
// rollback that reached only the primary's region. Another client's resolver then meets one of
// the locks (client-go resolveLock of a large transaction: one region-wide ResolveLock, since a
// flushed lock's txn size is u64::MAX), and a reader reads every key. The lock-resolution model
// replays the same kinds of locks path by path (test/model/lock-resolution.cluster.test.ts).

import { describe, expect } from "vitest";
import { makeControl } from "../../../src/actors/runtime/control.js";
import { ClientMetrics } from "../../../src/actors/runtime/metrics.js";
import type { CallInfo, FaultError } from "../../../src/cluster/faults/types.js";
import { lockDetailsFromLockInfo } from "../../../src/errors/txn.js";
import { MvccGetByKeyRequest, Op, type ResolveLockRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix } from "../../support/cluster.js";
import { str } from "../../support/values.js";
import { locksOf, usePipelinedCluster } from "./pipelined-support.js";

const KEY_ERROR: FaultError = { keyError: { abort: "injected: resolve lost" } };
/** A flushed lock's txn size: unknown, so u64::MAX (TiKV flush.rs). */
const PIPELINED_TXN_SIZE = 0xffff_ffff_ffff_ffffn;

describe.skipIf(skipOnRealCluster("v1"))(
  "pipelined transactions: their locks met by the lock resolver",
  () => {
    const env = usePipelinedCluster();

    /** A pipelined transaction that flushed `keys` (the first is its primary), not yet committed. */
    async function flushed(keys: string[]) {
      const t = (await env.connect()).txn();
      const txn = await t.begin({ pipelined: true });
      for (const k of keys) txn.set(k, `v-${k}`);
      expect(await txn.flush(true)).toBe(true);
      await txn.flushWait();
      expect(txn.committer.primary?.toString()).toBe(keys[0]);
      const locks = locksOf(env, txn.startTs);
      expect(locks.map((l) => l.key.toString()).sort()).toEqual([...keys].sort());
      expect(locks.every((l) => l.txnSize === PIPELINED_TXN_SIZE)).toBe(true);
      return { t, txn };
    }

    /** Fails the range resolution (ResolveLock of `startTs` with no keys) except in `keep`'s region. */
    function loseRangeResolves(startTs: bigint, keep?: string): () => void {
      const kept = keep === undefined ? undefined : env.cluster.topology.locateKey(Buffer.from(keep))?.id;
      return env.cluster.faults.onRequest((call: CallInfo) => {
        if (call.rpc !== "KvResolveLock") return undefined;
        const req = call.request as ResolveLockRequest | undefined;
        if (req?.startVersion !== startTs || req.keys.length > 0) return undefined;
        return call.regionId === kept ? undefined : KEY_ERROR;
      });
    }

    const lockedKeys = (startTs: bigint) =>
      locksOf(env, startTs)
        .map((l) => l.key.toString())
        .sort();

    function writeOf(key: string, startTs: bigint) {
      const info = env.cluster.txnEngine.mvccGetByKey(
        MvccGetByKeyRequest.fromPartial({ key: Buffer.from(key) }),
      ).info;
      return info?.writes.find((w) => w.startTs === startTs);
    }

    /** Another client's resolver resolves the lock on `key` as a writer; the RPCs it sent. */
    async function resolveAsWriter(startTs: bigint, key: string) {
      const info = locksOf(env, startTs).find((l) => l.key.toString() === key);
      if (!info) throw new Error(`no lock on ${key}`);
      const other = (await env.connect()).txn();
      const sent: string[] = [];
      const off = env.cluster.faults.onRequest((call: CallInfo) => {
        const req = call.request as { startVersion?: bigint; lockTs?: bigint } | undefined;
        if (req?.startVersion === startTs || req?.lockTs === startTs) {
          const keys = (call.keys ?? []).map((k) => Buffer.from(k).toString());
          sent.push(`${call.rpc}(${keys.join(",")})`);
        }
        return undefined;
      });
      const ctl = makeControl({ maxBackoffMs: 1_000, timeoutMs: 0, metrics: new ClientMetrics() });
      const r = await other.lockResolver.resolveLocks([lockDetailsFromLockInfo(info)], {
        callerStartTs: await other.currentTimestamp(),
        ctl,
      });
      off();
      return { other, r, sent };
    }

    itFault(
      "the primary committed, the range resolution lost: a met lock's region is committed, the rest read through the cached status",
      async () => {
        const p = uniquePrefix("plr-c");
        const [P, A, H1, H2, Q] = [`a${p}0`, `a${p}1`, `h${p}0`, `h${p}1`, `q${p}0`];
        const keys = [P, A, H1, H2, Q];
        const { t, txn } = await flushed(keys);
        const restore = loseRangeResolves(txn.startTs);
        let commitTs: bigint;
        try {
          commitTs = await txn.commit();
          await t.whenIdle();
        } finally {
          restore();
        }
        // only the primary commit applied: every secondary is still locked
        expect(writeOf(P, txn.startTs)?.commitTs).toBe(commitTs);
        expect(lockedKeys(txn.startTs)).toEqual([A, H1, H2, Q].sort());

        const { other, r, sent } = await resolveAsWriter(txn.startTs, H1);
        expect(r).toEqual({ msBeforeTxnExpired: 0, ignoreLocks: [], accessLocks: [] });
        // the primary's status, then one ResolveLock over H1's whole region (no keys: txn size u64::MAX)
        expect(sent).toEqual([`KvCheckTxnStatus(${P})`, "KvResolveLock()"]);
        for (const k of [H1, H2]) expect(writeOf(k, txn.startTs)).toMatchObject({ type: Op.Put, commitTs });
        expect(lockedKeys(txn.startTs)).toEqual([A, Q].sort());

        // a reader reads every committed value; the locks it meets are resolved from the cached status
        const checksBefore = other.lockResolver.stats().statusChecks;
        const got = await (await other.snapshot()).batchGet(keys);
        expect(str(got)).toEqual(keys.map((k) => `v-${k}`));
        expect(other.lockResolver.stats().statusChecks).toBe(checksBefore);
        await other.lockResolver.whenIdle();
        expect(lockedKeys(txn.startTs)).toEqual([]);
      },
    );

    itFault(
      "a rollback that reached only the primary's region: a met lock's region is rolled back (protected), a reader reads nothing",
      async () => {
        const p = uniquePrefix("plr-r");
        const [P, H1, H2, Q] = [`a${p}0`, `h${p}0`, `h${p}1`, `q${p}0`];
        const keys = [P, H1, H2, Q];
        const { t, txn } = await flushed(keys);
        const restore = loseRangeResolves(txn.startTs, P);
        try {
          await txn.rollback();
          await t.whenIdle();
        } finally {
          restore();
        }
        expect(writeOf(P, txn.startTs)?.type).toBe(Op.Rollback);
        expect(lockedKeys(txn.startTs)).toEqual([H1, H2, Q].sort());

        const { other, r, sent } = await resolveAsWriter(txn.startTs, H1);
        expect(r).toEqual({ msBeforeTxnExpired: 0, ignoreLocks: [], accessLocks: [] });
        expect(sent).toEqual([`KvCheckTxnStatus(${P})`, "KvResolveLock()"]);
        // a flushed lock's rollback is protected (TiKV rollback_lock: generation > 0)
        for (const k of [H1, H2]) {
          const w = writeOf(k, txn.startTs);
          expect(w?.type).toBe(Op.Rollback);
          expect(Buffer.from(w?.shortValue ?? []).toString()).toBe("p");
        }
        expect(lockedKeys(txn.startTs)).toEqual([Q]);

        const got = await (await other.snapshot()).batchGet(keys);
        expect(got).toEqual(keys.map(() => undefined));
        await other.lockResolver.whenIdle();
        expect(lockedKeys(txn.startTs)).toEqual([]);
      },
    );
  },
);
