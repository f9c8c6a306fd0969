// The committer statechart on its own (no I/O): every path from prewrite to its end, with what
// the caller is told and which background work starts.

import { describe, expect, it } from "vitest";
import { createActor, fromCallback, type StateValue } from "xstate";
import {
  type CommitOutcome,
  committerMachine,
  committerStateName,
  MAX_COMMIT_TS_RETRIES,
  newCommitSession,
} from "../../src/machines/committer.js";

function run() {
  const calls: string[] = [];
  const settled: CommitOutcome[] = [];
  const m = committerMachine.provide({
    actions: {
      startPrewrite: () => calls.push("prewrite"),
      fetchCommitTs: () => calls.push("tso"),
      commitPrimary: () => calls.push("commitPrimary"),
      commitSecondaries: () => calls.push("secondaries"),
      startCleanup: () => calls.push("cleanup"),
      settle: (_, o) => settled.push(o),
    },
  });
  const a = createActor(m, { input: undefined });
  a.start();
  a.send({ type: "BEGIN", session: newCommitSession(5n) });
  const phase = () => committerStateName(a.getSnapshot().value);
  return { a, calls, settled, phase };
}

describe("committer statechart", () => {
  it("prewrite -> commit ts -> primary -> committed (caller answered) -> secondaries -> done", () => {
    const { a, calls, settled, phase } = run();
    a.send({ type: "PREWRITE_OK" });
    a.send({ type: "COMMIT_TS", ts: 9n });
    a.send({ type: "PRIMARY_COMMITTED" });
    expect(settled).toEqual([{ kind: "committed", commitTs: 9n }]);
    expect(phase()).toBe("committed");
    a.send({ type: "SECONDARIES_DONE" });
    expect(phase()).toBe("done");
    expect(calls).toEqual(["prewrite", "tso", "commitPrimary", "secondaries"]);
  });

  it("a failed prewrite answers the caller, then rolls back", () => {
    const { a, calls, settled, phase } = run();
    const error = new Error("conflict");
    a.send({ type: "PREWRITE_FAILED", error });
    expect(settled).toEqual([{ kind: "failed", error }]);
    expect(calls).toEqual(["prewrite", "cleanup"]);
    a.send({ type: "CLEANUP_DONE" });
    expect(phase()).toBe("rolledBack");
  });

  it("an undetermined primary commit never rolls back", () => {
    const { a, calls, settled, phase } = run();
    a.send({ type: "PREWRITE_OK" });
    a.send({ type: "COMMIT_TS", ts: 9n });
    const error = new Error("lost");
    a.send({ type: "PRIMARY_UNDETERMINED", error });
    expect(settled).toEqual([{ kind: "undetermined", error }]);
    expect(phase()).toBe("undetermined");
    expect(calls).not.toContain("cleanup");
  });

  it("commit ts expired: a new ts is fetched; an answer below the minimum commits at the minimum", () => {
    const { a, calls, phase } = run();
    a.send({ type: "PREWRITE_OK" });
    a.send({ type: "COMMIT_TS", ts: 9n });
    a.send({ type: "COMMIT_TS_EXPIRED", minCommitTs: 20n });
    expect(phase()).toBe("gettingCommitTs");
    a.send({ type: "COMMIT_TS", ts: 15n });
    expect(phase()).toBe("committingPrimary");
    expect(a.getSnapshot().context.s.commitTs).toBe(20n);
    expect(calls.filter((c) => c === "tso")).toHaveLength(2);
  });

  it(`gives up after ${MAX_COMMIT_TS_RETRIES} commit-ts renewals`, () => {
    const { a, settled, phase } = run();
    a.send({ type: "PREWRITE_OK" });
    for (let i = 0; i <= MAX_COMMIT_TS_RETRIES; i++) {
      a.send({ type: "COMMIT_TS", ts: BigInt(100 + i * 10) });
      a.send({ type: "COMMIT_TS_EXPIRED", minCommitTs: BigInt(105 + i * 10) });
    }
    expect(phase()).toBe("cleaningUp");
    expect(settled[0]?.kind).toBe("failed");
  });

  it("the TTL manager is a child started on request and stopped on its own report", () => {
    let started = 0;
    let stopped = 0;
    const m = committerMachine.provide({
      actors: {
        ttlManager: fromCallback(() => {
          started++;
          return () => {
            stopped++;
          };
        }),
      },
    });
    const a = createActor(m, { input: undefined });
    a.start();
    a.send({ type: "BEGIN", session: newCommitSession(5n) });
    a.send({ type: "TTL_START" });
    expect(started).toBe(1);
    expect(Object.keys(a.getSnapshot().children)).toEqual(["ttlManager"]);
    a.send({ type: "TTL_STOPPED" });
    expect(stopped).toBe(1);
    expect(Object.keys(a.getSnapshot().children)).toEqual([]);
    // the state of the commit itself is untouched
    expect(committerStateName(a.getSnapshot().value)).toBe("prewriting");
  });

  it("waits idle for BEGIN: events before it start nothing", () => {
    const calls: string[] = [];
    const m = committerMachine.provide({ actions: { startPrewrite: () => calls.push("prewrite") } });
    const a = createActor(m, { input: undefined }).start();
    a.send({ type: "PREWRITE_OK" });
    a.send({ type: "COMMIT" });
    expect(committerStateName(a.getSnapshot().value)).toBe("idle");
    expect(calls).toEqual([]);
  });

  it("one actor serves commit after commit: each end state takes the next BEGIN with its own session", () => {
    const { a, calls, settled, phase } = run();
    a.send({ type: "PREWRITE_FAILED", error: new Error("conflict") });
    a.send({ type: "CLEANUP_DONE" });
    expect(phase()).toBe("rolledBack");
    expect(a.getSnapshot().status).toBe("active");
    const second = newCommitSession(7n);
    a.send({ type: "BEGIN", session: second });
    expect(a.getSnapshot().context.s).toBe(second);
    a.send({ type: "PREWRITE_OK" });
    a.send({ type: "COMMIT_TS", ts: 11n });
    a.send({ type: "PRIMARY_COMMITTED" });
    a.send({ type: "SECONDARIES_DONE" });
    expect(phase()).toBe("done");
    expect(settled.at(-1)).toEqual({ kind: "committed", commitTs: 11n });
    // a third commit from done, and a late event of the second one changes nothing mid-commit
    a.send({ type: "BEGIN", session: newCommitSession(13n) });
    expect(phase()).toBe("prewriting");
    a.send({ type: "SECONDARIES_DONE" });
    expect(phase()).toBe("prewriting");
    expect(calls.filter((c) => c === "prewrite")).toHaveLength(3);
  });

  it("an end state stops the TTL manager of the commit that ended", () => {
    let stopped = 0;
    const m = committerMachine.provide({
      actions: { settle: () => {} },
      actors: { ttlManager: fromCallback(() => () => void stopped++) },
    });
    const a = createActor(m, { input: undefined }).start();
    a.send({ type: "BEGIN", session: newCommitSession(5n) });
    a.send({ type: "TTL_START" });
    a.send({ type: "PREWRITE_FAILED", error: new Error("conflict") });
    a.send({ type: "CLEANUP_DONE" });
    expect(committerStateName(a.getSnapshot().value)).toBe("rolledBack");
    expect(stopped).toBe(1);
    expect(Object.keys(a.getSnapshot().children)).toEqual([]);
  });

  it("made with a session (an observed commit's own actor), it starts that commit without waiting idle", () => {
    const calls: string[] = [];
    const m = committerMachine.provide({ actions: { startPrewrite: () => calls.push("prewrite") } });
    const seen: unknown[] = [];
    const a = createActor(m, {
      input: newCommitSession(5n),
      inspect: (ev) => {
        if (ev.type === "@xstate.snapshot")
          seen.push(committerStateName((ev.snapshot as unknown as { value: StateValue }).value));
      },
    }).start();
    expect(committerStateName(a.getSnapshot().value)).toBe("prewriting");
    expect(seen[0]).toBe("prewriting");
    expect(calls).toEqual(["prewrite"]);
  });
});
