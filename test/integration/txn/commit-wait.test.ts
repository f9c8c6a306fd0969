// Commit wait until a ts (client-go SetCommitWaitUntilTSO / GetTimestampForCommit): the commit
// ts is above the given ts, waited for within the timeout, or CommitTsLagError.

import { describe, expect, it } from "vitest";
import { timestampForCommit } from "../../../src/actors/txn/commit-ts.js";
import { CommitTsLagError, InvalidArgumentError } from "../../../src/index.js";
import { addMs, composeTs } from "../../../src/kv/timestamp.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe("timestampForCommit", () => {
  const clock = (startMs: number, stepMs: number) => {
    let now = startMs;
    let calls = 0;
    return {
      get: async () => {
        calls++;
        const ts = composeTs(now, 0);
        now += stepMs;
        return ts;
      },
      calls: () => calls,
    };
  };

  it("uses the first TSO when it is already above the wait ts, with one call", async () => {
    const c = clock(10_000, 0);
    expect(await timestampForCommit(c.get, { waitUntilTs: composeTs(9_000, 0), timeoutMs: 0 })).toBe(
      composeTs(10_000, 0),
    );
    expect(c.calls()).toBe(1);
  });

  it("asks again until the TSO passes the wait ts, reporting the lag", async () => {
    const c = clock(10_000, 1);
    let lag: { backoffs: number } | undefined;
    const ts = await timestampForCommit(
      c.get,
      { waitUntilTs: composeTs(10_003, 0), timeoutMs: 1000 },
      (d) => {
        lag = d;
      },
    );
    expect(ts).toBeGreaterThan(composeTs(10_003, 0));
    expect(c.calls()).toBe(5);
    expect(lag?.backoffs).toBe(4);
  });

  it("fails at once when no wait is allowed, or the lag exceeds the timeout", async () => {
    const c = clock(10_000, 0);
    await expect(
      timestampForCommit(c.get, { waitUntilTs: composeTs(10_001, 0), timeoutMs: 0 }),
    ).rejects.toBeInstanceOf(CommitTsLagError);
    await expect(
      timestampForCommit(c.get, { waitUntilTs: composeTs(15_000, 0), timeoutMs: 1000 }),
    ).rejects.toThrow(/over the 1000 ms allowed/);
    expect(c.calls()).toBe(2);
  });

  it("fails when the TSO never catches up within the timeout", async () => {
    const c = clock(10_000, 0); // PD stuck
    await expect(
      timestampForCommit(c.get, { waitUntilTs: composeTs(10_010, 0), timeoutMs: 50 }),
    ).rejects.toThrow(/still lags/);
  });
});

describe.skipIf(skipOnRealCluster("v1"))("transactions: commit wait until ts", () => {
  const env = useCluster({ stores: 1 });

  for (const protocol of [{}, { asyncCommit: true }, { onePC: true, causalConsistency: true }]) {
    it(`commits above a ts slightly ahead of PD (${JSON.stringify(protocol)})`, async () => {
      const t = (await env.connect()).txn();
      const ahead = addMs(await t.currentTimestamp(), 150);
      const txn = await t.begin({ ...protocol, commitWaitUntilTs: ahead, commitWaitTimeoutMs: 2000 });
      txn.set(`${uniquePrefix("cw")}k`, "v");
      expect(await txn.commit()).toBeGreaterThan(ahead);
    });
  }

  it("fails with CommitTsLagError when PD lags more than allowed, and writes nothing", async () => {
    const t = (await env.connect()).txn();
    const key = `${uniquePrefix("cw-lag")}k`;
    const far = addMs(await t.currentTimestamp(), 60_000);
    const txn = await t.begin({ commitWaitUntilTs: far, commitWaitTimeoutMs: 1000 });
    txn.set(key, "v");
    await expect(txn.commit()).rejects.toBeInstanceOf(CommitTsLagError);
    await t.whenIdle();
    expect(await (await t.snapshot()).get(key)).toBeUndefined();
  });

  it("bad values get InvalidArgumentError", async () => {
    const t = (await env.connect()).txn();
    for (const o of [
      { commitWaitUntilTs: 5 },
      { commitWaitUntilTs: 0n },
      { commitWaitTimeoutMs: -1 },
      { commitWaitTimeoutMs: 1.5 },
    ]) {
      await expect(t.begin(o as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });
});
