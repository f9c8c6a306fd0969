// Commit options and hooks (client-go KVTxn SetDiskFullOpt / SetTxnSource /
// SetPrewriteEncounterLockPolicy / SetKVFilter / SetCommitCallback): what each sends or changes,
// and what bad values get.

import { describe, expect, it } from "vitest";
import { type CommitReport, InvalidArgumentError, WriteConflictError } from "../../../src/index.js";
import { type CommitRequest, DiskFullOpt, type PrewriteRequest } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { recordRequests } from "./ported-2pc-support.js";

describe.skipIf(skipOnRealCluster("v1"))("transactions: commit options and hooks", () => {
  const env = useCluster({ stores: 1 });

  itFault(
    "diskFullOpt and txnSource ride on every prewrite and commit; reads do not carry them",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("co-ctx");
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      const commits = recordRequests<CommitRequest>(env, "KvCommit");
      const txn = await t.begin({ diskFullOpt: "allowedOnAlmostFull", txnSource: 7n });
      txn.set(`${p}a`, "1");
      txn.set(`${p}b`, "2");
      await txn.commit();
      await t.whenIdle();
      prewrites.stop();
      commits.stop();
      expect(prewrites.seen.length).toBeGreaterThan(0);
      expect(commits.seen.length).toBeGreaterThan(0);
      for (const s of [...prewrites.seen, ...commits.seen]) {
        expect(s.req.context?.diskFullOpt).toBe(DiskFullOpt.AllowedOnAlmostFull);
        expect(s.req.context?.txnSource).toBe(7n);
      }
    },
  );

  itFault(
    "noResolve: a prewrite meeting another transaction's lock fails with a retryable write conflict",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("co-nr");
      const holder = await t.begin({ pessimistic: true });
      await holder.lockKeys([`${p}k`]);
      const older = await t.begin({ prewriteEncounterLockPolicy: "noResolve" });
      older.set(`${p}k`, "v");
      const err = await older.commit().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WriteConflictError);
      expect((err as WriteConflictError).isRetryable).toBe(true);
      await holder.rollback();
    },
  );

  itFault(
    "kvFilter drops the pairs it rejects; a locked key it rejects is still committed as a lock",
    async () => {
      const t = (await env.connect()).txn();
      const p = uniquePrefix("co-kf");
      const prewrites = recordRequests<PrewriteRequest>(env, "KvPrewrite");
      const txn = await t.begin({
        pessimistic: true,
        kvFilter: (key) => key.toString().endsWith("skip"),
      });
      await txn.lockKeys([`${p}locked-skip`]);
      txn.set(`${p}keep`, "1");
      txn.set(`${p}drop-skip`, "2");
      txn.set(`${p}locked-skip`, "3");
      await txn.commit();
      await t.whenIdle();
      prewrites.stop();
      const sent = prewrites.seen.flatMap((s) => s.req.mutations).map((m) => [m.key.toString(), m.op]);
      expect(sent.map(([k]) => k)).toEqual([`${p}keep`, `${p}locked-skip`]);
      const snap = await t.snapshot();
      expect((await snap.get(`${p}keep`))?.toString()).toBe("1");
      expect(await snap.get(`${p}drop-skip`)).toBeUndefined();
      expect(await snap.get(`${p}locked-skip`)).toBeUndefined();
    },
  );

  it("onCommitted is told of every settled commit, success or failure; its own errors are ignored", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("co-cb");
    const reports: Array<[CommitReport, Error | undefined]> = [];
    const onCommitted = (r: CommitReport, e: Error | undefined) => {
      reports.push([r, e]);
      throw new Error("callback failure is not the commit's");
    };
    const a = await t.begin({ onCommitted, asyncCommit: true });
    const b = await t.begin({ onCommitted });
    a.set(`${p}k`, "a");
    b.set(`${p}k`, "b");
    const ts = await a.commit();
    await expect(b.commit()).rejects.toBeInstanceOf(WriteConflictError);
    expect(reports).toHaveLength(2);
    const [ok, okErr] = reports[0] as [CommitReport, Error | undefined];
    expect(okErr).toBeUndefined();
    expect(ok.startTs).toBe(a.startTs);
    expect(ok.commitTs).toBe(ts);
    expect(ok.info?.mode).toBe("asyncCommit");
    const [failed, failErr] = reports[1] as [CommitReport, Error | undefined];
    expect(failErr).toBeInstanceOf(WriteConflictError);
    expect(failed.commitTs).toBe(0n);
  });

  it("bad values get InvalidArgumentError before any timestamp is fetched", async () => {
    const t = (await env.connect()).txn();
    const bad: Array<Record<string, unknown>> = [
      { diskFullOpt: "sometimes" },
      { txnSource: 1 },
      { txnSource: -1n },
      { txnSource: 1n << 64n },
      { prewriteEncounterLockPolicy: "maybe" },
      { kvFilter: "x" },
      { onCommitted: {} },
    ];
    for (const o of bad) {
      const err = await t.begin(o as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(Object.keys(o))).toBeInstanceOf(InvalidArgumentError);
    }
  });
});
