// Local latches (connect option txnLocalLatches; client-go EnableTxnLocalLatches) on the embedded
// cluster: a commit that lost the race on a key of this client fails with
// WriteConflictInLatchError before any prewrite is sent; disjoint commits run side by side;
// runTransaction retries the conflict; pessimistic transactions do not use the latches.

import { describe, expect, it } from "vitest";
import type { TxnClient } from "../../../src/api/txn-client.js";
import type { CallInfo } from "../../../src/cluster/faults/types.js";
import { InvalidArgumentError, WriteConflictError, WriteConflictInLatchError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

interface Seen {
  rpc: string;
  startTs: bigint;
  at: number;
}

describe.skipIf(skipOnRealCluster("v1"))("transactions: local latches", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  async function latched(capacity = 1024): Promise<TxnClient> {
    return (await env.connect({ txnLocalLatches: { capacity } })).txn();
  }

  // the prewrites and commits the stores receive, with the start ts they carry
  function record(): { seen: Seen[]; off: () => void } {
    const seen: Seen[] = [];
    const off = env.cluster.faults.onRequest((call: CallInfo) => {
      if (call.rpc === "KvPrewrite" || call.rpc === "KvCommit") {
        const r = call.request as { startVersion?: bigint };
        seen.push({ rpc: call.rpc, startTs: r.startVersion ?? 0n, at: Date.now() });
      }
    });
    return { seen, off };
  }
  const sent = (seen: Seen[], rpc: string, startTs: bigint) =>
    seen.filter((s) => s.rpc === rpc && s.startTs === startTs).length;

  itFault(
    "a commit waiting on the latch of a key committed meanwhile fails before any prewrite",
    async () => {
      const t = await latched();
      const key = `h${uniquePrefix("race")}`;
      const first = await t.begin();
      const second = await t.begin();
      first.set(key, "1");
      second.set(key, "2");
      // the first holds the latch while its prewrite is slow; the second queues behind it
      const slow = env.cluster.faults.delay({ rpc: "KvPrewrite", key, ms: 300, count: 1 });
      const { seen, off } = record();
      try {
        const p1 = first.commit();
        const p2 = second.commit();
        const [r1, r2] = await Promise.allSettled([p1, p2]);
        expect(r1.status).toBe("fulfilled");
        expect(r2.status).toBe("rejected");
        const err = (r2 as PromiseRejectedResult).reason;
        expect(err).toBeInstanceOf(WriteConflictInLatchError);
        expect(err.isRetryable).toBe(true);
        expect(err.startTs).toBe(second.startTs);
        expect(second.state).toBe("failed");
      } finally {
        off();
        slow.cancel();
      }
      expect(slow.fired).toBe(1);
      expect(sent(seen, "KvPrewrite", first.startTs)).toBe(1);
      expect(sent(seen, "KvPrewrite", second.startTs)).toBe(0);
      expect(sent(seen, "KvCommit", second.startTs)).toBe(0);
      await t.whenIdle();
      expect((await (await t.snapshot()).get(key))?.toString()).toBe("1");
    },
  );

  itFault(
    "a commit started before this client's last commit on a key fails at once, with no RPC",
    async () => {
      const t = await latched();
      const key = `q${uniquePrefix("stale")}`;
      const older = await t.begin();
      older.set(key, "old");
      await t.runTransaction(async (w) => w.set(key, "new"));
      const { seen, off } = record();
      try {
        await expect(older.commit()).rejects.toBeInstanceOf(WriteConflictInLatchError);
      } finally {
        off();
      }
      expect(seen).toEqual([]);
      // a transaction that starts now is not stale
      const fresh = await t.begin();
      fresh.set(key, "fresh");
      await expect(fresh.commit()).resolves.toBeGreaterThan(fresh.startTs);
    },
  );

  itFault("commits on disjoint keys are not serialized: their prewrites are in flight together", async () => {
    const t = await latched(8); // few slots: the keys may share one, the latch is per key
    const p = uniquePrefix("disjoint");
    const a = await t.begin();
    const b = await t.begin();
    a.set(`a${p}`, "a");
    b.set(`b${p}`, "b");
    const slow = env.cluster.faults.delay({ rpc: "KvPrewrite", ms: 300, count: 2 });
    const { seen, off } = record();
    try {
      await Promise.all([a.commit(), b.commit()]);
    } finally {
      off();
      slow.cancel();
    }
    const prewrites = seen.filter((s) => s.rpc === "KvPrewrite");
    const firstCommit = seen.find((s) => s.rpc === "KvCommit") as Seen;
    expect(prewrites.map((s) => s.startTs).sort()).toEqual([a.startTs, b.startTs].sort());
    // both prewrites reached the stores before either transaction committed
    for (const pw of prewrites) expect(pw.at).toBeLessThanOrEqual(firstCommit.at);
    expect(seen.indexOf(firstCommit)).toBe(2);
  });

  itFault(
    "the same keys without a newer commit are serialized: a failed commit hands the latch on",
    async () => {
      const t = await latched();
      const key = `h${uniquePrefix("handoff")}`;
      const first = await t.begin();
      const second = await t.begin();
      first.set(key, "1");
      second.set(key, "2");
      // the first fails on TiKV (records no commit ts), after holding the latch for a while
      const slow = env.cluster.faults.delay({ rpc: "KvPrewrite", key, ms: 200, count: 1 });
      const fail = env.cluster.faults.failNext({
        rpc: "KvPrewrite",
        key,
        error: { keyError: { abort: "injected abort" } },
      });
      const { seen, off } = record();
      try {
        const [r1, r2] = await Promise.allSettled([first.commit(), second.commit()]);
        expect(r1.status).toBe("rejected");
        expect((r1 as PromiseRejectedResult).reason).not.toBeInstanceOf(WriteConflictInLatchError);
        expect(r2.status).toBe("fulfilled");
      } finally {
        off();
        slow.cancel();
        fail.cancel();
      }
      // the second's prewrite was sent only after the first's had been answered
      const pw = seen.filter((s) => s.rpc === "KvPrewrite");
      expect(pw[0]?.startTs).toBe(first.startTs);
      expect(pw.some((s) => s.startTs === second.startTs)).toBe(true);
      expect(
        (pw.find((s) => s.startTs === second.startTs) as Seen).at - (pw[0] as Seen).at,
      ).toBeGreaterThanOrEqual(150);
      await t.whenIdle();
      expect((await (await t.snapshot()).get(key))?.toString()).toBe("2");
    },
  );

  itFault("runTransaction retries a latch conflict in a new transaction and succeeds", async () => {
    const t = await latched();
    const key = `a${uniquePrefix("ctr")}`;
    await t.runTransaction(async (w) => w.set(key, "0"));
    const slow = env.cluster.faults.delay({ rpc: "KvPrewrite", key, ms: 200, count: 1 });
    const retried: Error[] = [];
    const bump = () =>
      t.runTransaction(
        async (txn) => {
          const v = Number((await txn.get(key))?.toString());
          txn.set(key, String(v + 1));
        },
        { onRetry: (e) => retried.push(e) },
      );
    try {
      await Promise.all([bump(), bump()]);
    } finally {
      slow.cancel();
    }
    expect(retried.length).toBe(1);
    expect(retried[0]).toBeInstanceOf(WriteConflictInLatchError);
    await t.whenIdle();
    expect((await (await t.snapshot()).get(key))?.toString()).toBe("2");
  });

  itFault("pessimistic transactions bypass the latches", async () => {
    const t = await latched();
    const key = `h${uniquePrefix("pess")}`;
    const pess = await t.begin({ pessimistic: true });
    // an optimistic commit through the latches after the pessimistic start ts
    await t.runTransaction(async (w) => w.set(key, "opt"));
    // through the latches this commit would be stale; it locks at a newer for_update_ts instead
    expect((await pess.getForUpdate(key))?.toString()).toBe("opt");
    pess.set(key, "pess");
    const { seen, off } = record();
    try {
      await pess.commit();
    } finally {
      off();
    }
    expect(sent(seen, "KvPrewrite", pess.startTs)).toBeGreaterThan(0);
    // a pessimistic transaction that locked nothing is not latched either: TiKV itself reports
    // the conflict (a prewrite was sent)
    const unlocked = await t.begin({ pessimistic: true });
    await t.runTransaction(async (w) => w.set(key, "opt2"));
    unlocked.set(key, "late");
    const rec = record();
    try {
      await expect(unlocked.commit()).rejects.toBeInstanceOf(WriteConflictError);
    } finally {
      rec.off();
    }
    expect(sent(rec.seen, "KvPrewrite", unlocked.startTs)).toBeGreaterThan(0);
  });

  it("without the option no latch is used: a stale optimistic commit reaches TiKV", async () => {
    const t = (await env.connect()).txn();
    const key = `q${uniquePrefix("off")}`;
    const older = await t.begin();
    older.set(key, "old");
    await t.runTransaction(async (w) => w.set(key, "new"));
    await expect(older.commit()).rejects.toBeInstanceOf(WriteConflictError);
  });

  it("a bad txnLocalLatches option is a typed InvalidArgumentError", async () => {
    for (const bad of [{ capacity: 0 }, { capacity: 1.5 }, { capacity: 2 ** 31 + 1 }, {}, null, 5]) {
      await expect(
        env.connect({ txnLocalLatches: bad as unknown as { capacity: number } }),
      ).rejects.toMatchObject({
        name: "InvalidArgumentError",
        argument: expect.stringMatching(/^txnLocalLatches/),
      });
    }
    await expect(env.connect({ txnLocalLatches: { capacity: -3 } })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});
