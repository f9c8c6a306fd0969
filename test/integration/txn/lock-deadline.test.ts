// A statement deadline on pessimistic locking (client-go LockCtx MaxExecutionDeadline,
// TestPessimisticLockMaxExecutionTime by meaning): the TiKV-side wait ends at the deadline and
// the call is interrupted (AbortedError, signal 2) rather than timing out after its full wait.

import { describe, expect, it } from "vitest";
import { AbortedError, InvalidArgumentError, LockWaitTimeoutError } from "../../../src/index.js";
import { attemptWaitTimeout, LOCK_ALWAYS_WAIT } from "../../../src/machines/pessimistic-policy.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe("attemptWaitTimeout with a deadline", () => {
  it("caps the wait by the time left to the deadline, forever included; none left means no wait", () => {
    expect(attemptWaitTimeout(10_000, 0, 100, 600)).toBe(500n);
    expect(attemptWaitTimeout(LOCK_ALWAYS_WAIT, 0, 100, 600)).toBe(500n);
    expect(attemptWaitTimeout(300, 0, 100, 10_000)).toBe(200n);
    expect(attemptWaitTimeout(10_000, 0, 700, 600)).toBe(-1n);
  });
});

describe.skipIf(skipOnRealCluster("v1"))("pessimistic locking: statement deadline", () => {
  const env = useCluster({ stores: 1 });

  itFault(
    "a lock wait ends at the deadline with AbortedError (signal 2), well before its wait timeout",
    async () => {
      const t = (await env.connect()).txn();
      const key = `${uniquePrefix("dl")}k`;
      const holder = await t.begin({ pessimistic: true });
      await holder.lockKeys([key]);
      const waiter = await t.begin({ pessimistic: true });
      const started = Date.now();
      const err = await waiter
        .lockKeys([key], { waitTimeoutMs: 20_000, maxExecutionDeadlineMs: started + 400 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbortedError);
      expect((err as AbortedError).signal).toBe(2);
      expect(err).not.toBeInstanceOf(LockWaitTimeoutError);
      expect(Date.now() - started).toBeLessThan(15_000);
      await waiter.rollback();
      await holder.rollback();
    },
  );

  it("a deadline already passed interrupts before any lock is taken; bad deadlines are refused", async () => {
    const t = (await env.connect()).txn();
    const key = `${uniquePrefix("dl-past")}k`;
    const txn = await t.begin({ pessimistic: true });
    await expect(txn.lockKeys([key], { maxExecutionDeadlineMs: Date.now() - 1 })).rejects.toBeInstanceOf(
      AbortedError,
    );
    for (const d of [0, -5, Number.NaN, "soon"]) {
      await expect(txn.lockKeys([key], { maxExecutionDeadlineMs: d as never })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
    // nothing was locked: another transaction locks the key at once
    const other = await t.begin({ pessimistic: true });
    await other.lockKeys([key], { noWait: true });
    await other.rollback();
    await txn.rollback();
  });
});
