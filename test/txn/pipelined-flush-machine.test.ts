// The pipelined committer statechart on its own (no I/O): flushes with and without throttling,
// the TTL manager closing, commit (primary, background resolve, grace broadcast), rollback and
// failures, with what the callers are told.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createActor, fromCallback } from "xstate";
import {
  BROADCAST_GRACE_MS,
  type BroadcastKind,
  type FlushReply,
  newPipelinedSession,
  nextFlushEwma,
  type PipelinedCommitOutcome,
  type PipelinedEvent,
  type PipelinedSession,
  pipelinedFlushMachine,
  throttleMs,
} from "../../src/machines/pipelined-flush.js";

function run(ratio = 0) {
  const calls: string[] = [];
  const replies: FlushReply[] = [];
  const settled: PipelinedCommitOutcome[] = [];
  const broadcasts: BroadcastKind[] = [];
  let ttlRunning = false;
  const m = pipelinedFlushMachine.provide({
    actions: {
      startFlush: () => calls.push("flush"),
      replyFlush: (_, r) => replies.push(r),
      fetchCommitTs: () => calls.push("tso"),
      commitPrimary: () => calls.push("commitPrimary"),
      broadcast: (_, bk) => broadcasts.push(bk),
      startResolve: (_, commit) => calls.push(commit ? "resolveCommit" : "resolveRollback"),
      settle: (_, o) => settled.push(o),
      finished: () => calls.push("finished"),
    },
    actors: {
      ttlManager: fromCallback<PipelinedEvent, PipelinedSession>(() => {
        ttlRunning = true;
        return () => {
          ttlRunning = false;
        };
      }),
    },
  });
  const session = newPipelinedSession(5n, ratio);
  const a = createActor(m, { input: session });
  a.start();
  return {
    a,
    calls,
    replies,
    settled,
    broadcasts,
    session,
    phase: () => a.getSnapshot().value,
    ttl: () => ttlRunning,
  };
}

describe("pipelined flush statechart", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("flush -> writing, TTL once from the primary, commit -> primary -> committed -> resolve -> grace -> done", () => {
    const r = run();
    r.a.send({ type: "FLUSH", generation: 1, keys: 10 });
    expect(r.phase()).toBe("flushing");
    r.a.send({ type: "TTL_START" });
    expect(r.ttl()).toBe(true);
    r.a.send({ type: "FLUSH_OK", durationMs: 40 });
    expect(r.replies).toEqual([{ ok: true }]);
    expect(r.session.flushEwmaMs).toBe(40);
    r.a.send({ type: "COMMIT" });
    r.a.send({ type: "COMMIT_TS", ts: 9n });
    expect(r.phase()).toBe("committingPrimary");
    r.a.send({ type: "PRIMARY_COMMITTED" });
    expect(r.settled).toEqual([{ kind: "committed", commitTs: 9n }]);
    expect(r.ttl()).toBe(false); // closed once committed
    expect(r.broadcasts).toEqual([{ kind: "committed", completed: false }]);
    r.a.send({ type: "RESOLVE_DONE" });
    expect(r.phase()).toBe("completingCommit");
    vi.advanceTimersByTime(BROADCAST_GRACE_MS - 1);
    expect(r.broadcasts).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(r.broadcasts[1]).toEqual({ kind: "committed", completed: true });
    expect(r.phase()).toBe("done");
    expect(r.calls).toEqual(["flush", "tso", "commitPrimary", "resolveCommit", "finished"]);
  });

  it("an empty generation is answered at once, without any flush", () => {
    const r = run();
    r.a.send({ type: "FLUSH", generation: 1, keys: 0 });
    expect(r.phase()).toBe("writing");
    expect(r.replies).toEqual([{ ok: true }]);
    expect(r.calls).toEqual([]);
    // nothing reached TiKV: commit ends at once with commit ts 0
    r.a.send({ type: "COMMIT" });
    expect(r.settled).toEqual([{ kind: "committed", commitTs: 0n }]);
    expect(r.phase()).toBe("done");
  });

  it("throttles a flush by ratio / (1 - ratio) of the average flush time", () => {
    const r = run(0.5);
    r.a.send({ type: "FLUSH", generation: 1, keys: 1 });
    expect(r.phase()).toBe("flushing"); // no average yet: no sleep
    r.a.send({ type: "FLUSH_OK", durationMs: 100 });
    r.a.send({ type: "FLUSH", generation: 2, keys: 1 });
    expect(r.phase()).toBe("throttling");
    vi.advanceTimersByTime(99);
    expect(r.phase()).toBe("throttling");
    vi.advanceTimersByTime(1);
    expect(r.phase()).toBe("flushing");
    expect(r.calls).toEqual(["flush", "flush"]);
  });

  it("once the TTL manager gave up, a flush fails with 'ttl manager is closed' and commit rolls back", () => {
    const r = run();
    r.a.send({ type: "FLUSH", generation: 1, keys: 3 });
    r.a.send({ type: "TTL_START" });
    r.a.send({ type: "FLUSH_OK", durationMs: 1 });
    r.a.send({ type: "TTL_STOPPED" });
    expect(r.ttl()).toBe(false);
    r.a.send({ type: "FLUSH", generation: 2, keys: 3 });
    expect(r.phase()).toBe("broken");
    const reply = r.replies[1];
    expect(reply?.ok).toBe(false);
    expect(reply && !reply.ok && reply.error.message).toBe("ttl manager is closed");
    // a second TTL_START cannot restart it
    r.a.send({ type: "TTL_START" });
    expect(r.ttl()).toBe(false);
    r.a.send({ type: "COMMIT" });
    expect(r.settled[0]?.kind).toBe("failed");
    expect(r.phase()).toBe("rollingBack");
    expect(r.broadcasts).toEqual([{ kind: "rolledBack", completed: false }]);
    r.a.send({ type: "RESOLVE_DONE" });
    vi.advanceTimersByTime(BROADCAST_GRACE_MS);
    expect(r.phase()).toBe("rolledBack");
    expect(r.broadcasts[1]).toEqual({ kind: "rolledBack", completed: true });
  });

  it("a failed flush breaks the transaction: its caller and later flushes get the error; rollback resolves with 0", () => {
    const r = run();
    r.a.send({ type: "FLUSH", generation: 1, keys: 3 });
    const error = new Error("conflict");
    r.a.send({ type: "FLUSH_FAILED", error });
    expect(r.replies).toEqual([{ ok: false, error }]);
    r.a.send({ type: "FLUSH", generation: 2, keys: 3 });
    expect(r.replies[1]).toEqual({ ok: false, error });
    r.a.send({ type: "ROLLBACK" });
    expect(r.calls).toContain("resolveRollback");
    r.a.send({ type: "RESOLVE_FAILED", error: new Error("x") });
    expect(r.phase()).toBe("rolledBack");
  });

  it("rollback with nothing flushed broadcasts a completed rollback and ends", () => {
    const r = run();
    r.a.send({ type: "ROLLBACK" });
    expect(r.phase()).toBe("rolledBack");
    expect(r.broadcasts).toEqual([{ kind: "rolledBack", completed: true }]);
    expect(r.calls).toEqual(["finished"]);
  });

  it("commit ts expired renews the ts (above the min TiKV asks); a failed primary cleans up; a lost answer is undetermined", () => {
    const r = run();
    r.a.send({ type: "FLUSH", generation: 1, keys: 1 });
    r.a.send({ type: "FLUSH_OK", durationMs: 1 });
    r.a.send({ type: "COMMIT" });
    r.a.send({ type: "COMMIT_TS", ts: 9n });
    r.a.send({ type: "COMMIT_TS_EXPIRED", minCommitTs: 20n });
    expect(r.phase()).toBe("gettingCommitTs");
    r.a.send({ type: "COMMIT_TS", ts: 10n });
    expect(r.session.commitTs).toBe(20n);
    const lost = new Error("lost");
    r.a.send({ type: "PRIMARY_UNDETERMINED", error: lost });
    expect(r.settled).toEqual([{ kind: "undetermined", error: lost }]);
    expect(r.phase()).toBe("undetermined");
    expect(r.calls).not.toContain("resolveRollback");

    const f = run();
    f.a.send({ type: "FLUSH", generation: 1, keys: 1 });
    f.a.send({ type: "FLUSH_OK", durationMs: 1 });
    f.a.send({ type: "COMMIT" });
    f.a.send({ type: "COMMIT_TS", ts: 9n });
    const gone = new Error("lock not found");
    f.a.send({ type: "PRIMARY_FAILED", error: gone });
    expect(f.settled).toEqual([{ kind: "failed", error: gone }]);
    expect(f.phase()).toBe("rollingBack");
  });
});

describe("pipelined throttle arithmetic", () => {
  it("averages flush times as client-go's EWMA (age 10) and sleeps ratio/(1-ratio) of it", () => {
    expect(nextFlushEwma(0, 100)).toBe(100);
    expect(nextFlushEwma(100, 210)).toBeCloseTo(100 + (2 / 11) * 110);
    expect(throttleMs(0, 100)).toBe(0);
    expect(throttleMs(0.5, 100)).toBe(100);
    expect(throttleMs(0.75, 100)).toBe(300);
    expect(throttleMs(1, 100)).toBe(0);
  });
});
