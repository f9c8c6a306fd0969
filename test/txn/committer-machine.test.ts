// The committer statechart on its own (no I/O): every path from prewrite to its end, with what
// the caller is told and which background work starts.

import { describe, expect, it } from "vitest";
import { createActor, fromCallback } from "xstate";
import {
  type CommitOutcome,
  committerMachine,
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
  const a = createActor(m, { input: newCommitSession(5n) });
  a.start();
  const phase = () => a.getSnapshot().value;
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
    const a = createActor(m, { input: newCommitSession(5n) });
    a.start();
    a.send({ type: "TTL_START" });
    expect(started).toBe(1);
    expect(Object.keys(a.getSnapshot().children)).toEqual(["ttlManager"]);
    a.send({ type: "TTL_STOPPED" });
    expect(stopped).toBe(1);
    expect(Object.keys(a.getSnapshot().children)).toEqual([]);
    // the state of the commit itself is untouched
    expect(a.getSnapshot().value).toBe("prewriting");
  });
});
