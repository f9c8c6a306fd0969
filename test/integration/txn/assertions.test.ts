// Assertions (client-go assertion_test.go, ported by meaning): a transaction's writes carry
// "exists" / "not exists" assertions that TiKV checks at prewrite per the assertion level; the
// client also checks them against its own pessimistic lock results. Bad options are refused.

import { describe, expect, it } from "vitest";
import {
  AssertionFailedError,
  type AssertionLevelName,
  InvalidArgumentError,
  type Transaction,
  type TxnClient,
  type WriteOptions,
} from "../../../src/index.js";
import { Assertion } from "../../../src/proto/kvrpcpb.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { engineRollback } from "./snapshot-support.js";

type Assert = NonNullable<WriteOptions["assert"]>;

describe.skipIf(skipOnRealCluster("v1"))("transactions: assertions", () => {
  const env = useCluster({ stores: 1 });

  // client-go testAssertionImpl: k1, k3, k7 exist; each transaction sets its keys and asserts
  // on the last one; resolves with the error (if any) and the start ts
  async function scenario(t: TxnClient, level: AssertionLevelName, pessimistic: boolean, lockKeys: boolean) {
    const p = uniquePrefix(`as-${level}-${pessimistic}-${lockKeys}`);
    const k = (i: number) => `${p}_k_${i}`;
    const prep = await t.begin();
    for (const i of [1, 3, 7]) prep.set(k(i), `v${i}`);
    const prepCommit = await prep.commit();
    const prepStart = prep.startTs;
    await t.whenIdle();
    const doTxn = async (last: Assert, ...keys: string[]) => {
      const txn: Transaction = await t.begin({ assertionLevel: level, pessimistic });
      if (lockKeys) await txn.lockKeys(keys, { checkExistence: true, waitTimeoutMs: 1000 });
      else if (pessimistic) await txn.lockKeys([`${p}_primary`]);
      keys.forEach((key, i) => {
        txn.set(key, `v${key}`, i === keys.length - 1 ? { assert: last } : undefined);
      });
      try {
        await txn.commit();
        return { startTs: txn.startTs, error: undefined };
      } catch (error) {
        return { startTs: txn.startTs, error };
      }
    };
    return { k, doTxn, prepStart, prepCommit };
  }

  function expectAssertionFailed(
    r: { startTs: bigint; error: unknown },
    key: string,
    assertion: Assertion,
    existingStartTs: bigint,
    existingCommitTs: bigint,
  ) {
    expect(r.error).toBeInstanceOf(AssertionFailedError);
    const e = r.error as AssertionFailedError;
    expect(e.startTs).toBe(r.startTs);
    expect(e.key.toString()).toBe(key);
    expect(e.assertion).toBe(assertion);
    expect(e.existingStartTs).toBe(existingStartTs);
    expect(e.existingCommitTs).toBe(existingCommitTs);
  }

  // TestPrewriteAssertion: strict level, optimistic / pessimistic / pessimistic with locked keys
  for (const [pessimistic, lockKeys] of [
    [false, false],
    [true, false],
    [true, true],
  ] as const) {
    it(`strict: TiKV reports the failed assertion with the existing record (pessimistic ${pessimistic}, locked ${lockKeys})`, async () => {
      const t = (await env.connect()).txn();
      const { k, doTxn, prepStart, prepCommit } = await scenario(t, "strict", pessimistic, lockKeys);
      expect((await doTxn("exist", k(1))).error).toBeUndefined();
      expect((await doTxn("notExist", k(2))).error).toBeUndefined();
      // at strict level TiKV checks every assertion: its failure (with the version it found) is the
      // prewrite's, which wins over the client's own check of the lock results
      const fromLock = false;
      expectAssertionFailed(
        await doTxn("notExist", k(3)),
        k(3),
        Assertion.NotExist,
        fromLock ? 0n : prepStart,
        fromLock ? 0n : prepCommit,
      );
      expectAssertionFailed(await doTxn("exist", k(4)), k(4), Assertion.Exist, 0n, 0n);
      expectAssertionFailed(
        await doTxn("notExist", k(5), k(6), k(7)),
        k(7),
        Assertion.NotExist,
        fromLock ? 0n : prepStart,
        fromLock ? 0n : prepCommit,
      );
      expectAssertionFailed(await doTxn("exist", k(8), k(9), k(10)), k(10), Assertion.Exist, 0n, 0n);
      // a failed assertion committed nothing
      const snap = await t.snapshot();
      expect(await snap.get(k(4))).toBeUndefined();
      expect((await snap.get(k(3)))?.toString()).toBe("v3");
    });
  }

  // TestFastAssertion: the fast level checks the lock results of a pessimistic transaction
  it("fast: the client checks assertions against its pessimistic lock results (existing ts unknown)", async () => {
    const t = (await env.connect()).txn();
    const { k, doTxn } = await scenario(t, "fast", true, true);
    expect((await doTxn("exist", k(1))).error).toBeUndefined();
    expect((await doTxn("notExist", k(2))).error).toBeUndefined();
    expectAssertionFailed(await doTxn("notExist", k(3)), k(3), Assertion.NotExist, 0n, 0n);
    expectAssertionFailed(await doTxn("exist", k(4)), k(4), Assertion.Exist, 0n, 0n);
    expectAssertionFailed(await doTxn("notExist", k(5), k(6), k(7)), k(7), Assertion.NotExist, 0n, 0n);
    expectAssertionFailed(await doTxn("exist", k(8), k(9), k(10)), k(10), Assertion.Exist, 0n, 0n);
    // nothing was left behind: the keys can be written by anyone
    const after = await t.begin();
    after.set(k(4), "x");
    await after.commit();
  });

  it("off (default): no assertion is sent and none fails", async () => {
    const t = (await env.connect()).txn();
    const { k, doTxn } = await scenario(t, "off", false, false);
    expect((await doTxn("notExist", k(3))).error).toBeUndefined();
    expect((await doTxn("exist", k(4))).error).toBeUndefined();
    expect((await doTxn("notExist", k(5), k(6), k(7))).error).toBeUndefined();
  });

  it("a lock that did not learn the key's existence gives the client nothing to check", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("as-unknown");
    const txn = await t.begin({ assertionLevel: "fast", pessimistic: true });
    await txn.lockKeys([`${p}k`]); // no checkExistence
    txn.set(`${p}k`, "v", { assert: "exist" }); // absent, but nobody learned it
    await expect(txn.commit()).resolves.toBeGreaterThan(0n);
  });

  // TestAssertionErrorLessPriorToOtherError (meaning): a lost pessimistic lock explains an
  // assertion the lock results contradict; the prewrite error is the one reported
  itFault("a prewrite failure wins over an assertion found from the lock results", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("as-prio");
    const lockKey = `${p}lock`;
    const t1 = await t.begin({ assertionLevel: "strict", pessimistic: true });
    await t1.lockKeys([lockKey], { checkExistence: true });
    t1.set(lockKey, "rv1", { assert: "exist" }); // contradicts the lock result: absent
    // t1's lock is lost (rolled back, as a resolver does with a lock whose owner seems dead)
    engineRollback(env.cluster, t1.startTs, [lockKey]);
    const err = await t1.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(AssertionFailedError);
  });

  it("insert (presumeNotExists) of an existing key fails with KeyAlreadyExistsError; of an absent key commits", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("as-ins");
    const a = await t.begin();
    a.set(`${p}k`, "v1");
    await a.commit();
    const b = await t.begin();
    b.set(`${p}k`, "v2", { presumeNotExists: true });
    await expect(b.commit()).rejects.toMatchObject({ name: "KeyAlreadyExistsError" });
    const c = await t.begin();
    c.set(`${p}new`, "v", { presumeNotExists: true });
    await expect(c.commit()).resolves.toBeGreaterThan(0n);
  });

  it("bad input gets InvalidArgumentError and changes nothing", async () => {
    const t = (await env.connect()).txn();
    await expect(t.begin({ assertionLevel: "loose" as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    const txn = await t.begin();
    expect(() => txn.set("k", "v", { assert: "maybe" as never })).toThrow(InvalidArgumentError);
    expect(() => txn.set("k", "v", { presumeNotExists: "yes" as never })).toThrow(InvalidArgumentError);
    expect(() => txn.delete("k", 5 as never)).toThrow(InvalidArgumentError);
    expect(txn.len).toBe(0);
    await expect(txn.lockKeys(["k"], { checkExistence: 1 as never })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
  });
});
