// Model-based test of the committer statechart, replayed against the REAL committerMachine: its
// own guards and context actions (recordError, recordCommitTs, recordMinCommitTs) run as shipped;
// only the phase actions (startPrewrite, fetchCommitTs, commitPrimary, commitSecondaries,
// startCleanup, settle, finished) are stubs that record their calls, and the TTL manager is a
// callback child whose sendBack the test drives. Each model event becomes the machine event the
// actor layer would send (or none, for what a phase handles inside its own work: a region error
// retried, an older lock resolved). Checked after every step: the machine's state, which phase
// work was started and how often, the caller's answer (settle: exactly once, with the commit ts or
// the error), the session's renewal bookkeeping, and the TTL manager child. Then the coverage of
// the real machine's states and transitions, asserted complete.
import { afterAll, describe, expect, it } from "vitest";
import { type Actor, createActor, fromCallback } from "xstate";
import { TxnLockNotFoundError, WriteConflictError } from "../../src/errors/txn.js";
import type { CommitMode } from "../../src/machines/commit-mode.js";
import {
  type CommitOutcome,
  type CommitSession,
  type CommitterEvent,
  committerMachine,
  committerStateName,
  MAX_COMMIT_TS_RETRIES,
  newCommitSession,
} from "../../src/machines/committer.js";
import { WriteConflict_Reason } from "../../src/proto/kvrpcpb.js";
import {
  COMMITTER_EVENTS,
  type CommitterModelContext,
  type CommitterModelEventType,
  committerModel,
  creditTransientStates,
  FINAL_STATES,
  INTERNAL_EVENTS,
  REENTERING_EVENTS,
  SETTLED_STATES,
} from "./committer-model.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { type ModelPath, type ModelStep, modelPaths, replayPath } from "./paths.js";

const START_TS = 1_000n;

const real = new MachineCoverage("committer", committerMachine);

/** Which phase action each state's entry starts. */
const ENTRY_ACTION: Record<string, string> = {
  fetchingLatestTs: "fetchLatestTs",
  prewriting: "startPrewrite",
  gettingCommitTs: "fetchCommitTs",
  committingPrimary: "commitPrimary",
  committed: "commitSecondaries",
  cleaningUp: "startCleanup",
  rollingBackLocks: "startPessimisticRollback",
  done: "finished",
  rolledBack: "finished",
  undetermined: "finished",
  onePhaseCommitted: "finished",
};

/** The session each BEGIN_* event starts the commit with. */
const BEGIN: Record<string, { mode: CommitMode; latest: boolean; pessimistic?: boolean }> = {
  BEGIN_2PC: { mode: "2pc", latest: false },
  BEGIN_ASYNC_COMMIT: { mode: "asyncCommit", latest: true },
  BEGIN_ONE_PC: { mode: "onePC", latest: true },
  BEGIN_ONE_PC_CAUSAL: { mode: "onePC", latest: false },
  // the protocol of a pessimistic transaction is decided when it commits (COMMIT / COMMIT_ASYNC)
  BEGIN_PESSIMISTIC: { mode: "2pc", latest: false, pessimistic: true },
};

function harness(mode: CommitMode, latest: boolean, pessimistic = false) {
  const calls: string[] = [];
  const settled: CommitOutcome[] = [];
  const ttl = { started: 0, stopped: 0, sendBack: undefined as ((e: CommitterEvent) => void) | undefined };
  const rec = (name: string) => () => {
    calls.push(name);
  };
  const machine = committerMachine.provide({
    actions: {
      fetchLatestTs: rec("fetchLatestTs"),
      startPrewrite: rec("startPrewrite"),
      fetchCommitTs: rec("fetchCommitTs"),
      commitPrimary: rec("commitPrimary"),
      commitSecondaries: rec("commitSecondaries"),
      startCleanup: rec("startCleanup"),
      startPessimisticRollback: rec("startPessimisticRollback"),
      finished: rec("finished"),
      settle: (_, o: CommitOutcome) => {
        settled.push(o);
      },
    },
    actors: {
      ttlManager: fromCallback<CommitterEvent, CommitSession>(({ sendBack }) => {
        ttl.started++;
        ttl.sendBack = sendBack;
        return () => {
          ttl.stopped++;
        };
      }),
    },
  });
  const session = newCommitSession(START_TS, mode, latest, pessimistic);
  // the actor layer's pooled actors wait idle and BEGIN brings the commit's session; an observed
  // commit's own actor is made with its session and starts at once (`direct`)
  let actor: Actor<typeof machine> = createActor(machine, { input: undefined, inspect: real.inspect });
  const start = (direct = false) => {
    if (direct) actor = createActor(machine, { input: session, inspect: real.inspect });
    actor.start();
    if (!direct) actor.send({ type: "BEGIN", session });
  };
  return {
    get actor() {
      return actor;
    },
    session,
    calls,
    settled,
    ttl,
    start,
  };
}

type Harness = ReturnType<typeof harness>;

// the next commit a reused actor gets: its kind, where it starts, what that start calls
const NEXT_KINDS = [
  { mode: "2pc", latest: false, pessimistic: false, state: "prewriting", calls: ["startPrewrite"] },
  { mode: "2pc", latest: false, pessimistic: true, state: "holdingLocks", calls: [] },
  {
    mode: "asyncCommit",
    latest: true,
    pessimistic: false,
    state: "fetchingLatestTs",
    calls: ["fetchLatestTs"],
  },
] as const;
let reuses = 0;
let replays = 0;

async function replay(path: ModelPath) {
  let h: Harness | undefined;
  const H = () => h as Harness;
  // what the test sent, to check against what the machine reports
  let lastTs = START_TS;
  let acceptedTs = 0n;
  let minSent = 0n;
  let latestFetched = false;
  let prewriteOkSent = false;
  let lastError: Error | undefined;
  let prev = "";
  const entries: Record<string, number> = {};
  const send = (e: CommitterEvent) => H().actor.send(e);
  const sendError = (
    type:
      | "LATEST_TS_FAILED"
      | "PREWRITE_FAILED"
      | "PREWRITE_UNDETERMINED"
      | "COMMIT_TS_FAILED"
      | "PRIMARY_FAILED"
      | "PRIMARY_UNDETERMINED",
    error: Error,
  ) => {
    lastError = error;
    send({ type, error });
  };
  const nextTs = () => {
    // a TSO answer above everything seen and above the required minimum
    lastTs = (lastTs > minSent ? lastTs : minSent) + 7n;
    return lastTs;
  };
  const conflict = (conflictStartTs: bigint) =>
    new WriteConflictError({
      startTs: START_TS,
      conflictStartTs,
      conflictCommitTs: conflictStartTs + 1n,
      key: Buffer.from("h"),
      primary: Buffer.from("a"),
      reason: WriteConflict_Reason.Optimistic,
    });
  const begin = (type: string) => () => {
    const b = BEGIN[type] as { mode: CommitMode; latest: boolean; pessimistic?: boolean };
    h = harness(b.mode, b.latest, b.pessimistic);
    // every other path starts as an observed commit does (an actor made with its session)
    h.start(replays++ % 2 === 1);
  };
  const events: Record<
    CommitterModelEventType,
    (ctx: CommitterModelContext, after: CommitterModelContext & { value: string }) => void
  > = {
    BEGIN_2PC: begin("BEGIN_2PC"),
    BEGIN_ASYNC_COMMIT: begin("BEGIN_ASYNC_COMMIT"),
    BEGIN_ONE_PC: begin("BEGIN_ONE_PC"),
    BEGIN_ONE_PC_CAUSAL: begin("BEGIN_ONE_PC_CAUSAL"),
    BEGIN_PESSIMISTIC: begin("BEGIN_PESSIMISTIC"),
    // the actor layer sets the protocol into the session, then sends COMMIT
    COMMIT: () => send({ type: "COMMIT" }),
    COMMIT_ASYNC: () => {
      H().session.mode = "asyncCommit";
      H().session.needsLatestTs = true;
      send({ type: "COMMIT" });
    },
    ROLLBACK: () => send({ type: "ROLLBACK" }),
    LATEST_TS: () => {
      latestFetched = true;
      const ts = nextTs();
      minSent = ts + 1n;
      send({ type: "LATEST_TS", ts });
    },
    LATEST_TS_FAILED: () => sendError("LATEST_TS_FAILED", new Error("tso unavailable")),
    // what the actor reports once every batch is prewritten: the protocol it ended in and, for
    // async commit / 1PC, the commit ts (mode does not change on this event: read it from the model)
    PREWRITE_OK: (ctx) => {
      prewriteOkSent = true;
      if (ctx.mode === "2pc") send({ type: "PREWRITE_OK", mode: "2pc", commitTs: 0n });
      else {
        acceptedTs = nextTs();
        send({ type: "PREWRITE_OK", mode: ctx.mode, commitTs: acceptedTs });
      }
    },
    // handled inside the prewrite work (batch resent, protocol switched): nothing reaches the machine
    PREWRITE_REGION_ERROR: () => {},
    PREWRITE_LOCKED_BY_OLDER_TXN: () => {},
    PREWRITE_FALLBACK: () => {},
    PREWRITE_LOCKED_BY_NEWER_TXN: () => sendError("PREWRITE_FAILED", conflict(START_TS + 5n)),
    PREWRITE_CONFLICT: () => sendError("PREWRITE_FAILED", conflict(START_TS - 5n)),
    // the actor's rule: a lost 2PC prewrite is resent (nothing reaches the machine), a lost
    // async-commit / 1PC one is undetermined
    PREWRITE_LOST: (ctx) => {
      if (ctx.mode !== "2pc") sendError("PREWRITE_UNDETERMINED", new Error("prewrite answer lost"));
    },
    COMMIT_TS: () => {
      acceptedTs = nextTs();
      send({ type: "COMMIT_TS", ts: acceptedTs });
    },
    // an answer not above the minimum: the commit goes ahead at the minimum
    COMMIT_TS_LOW: () => {
      acceptedTs = minSent;
      send({ type: "COMMIT_TS", ts: minSent - 1n });
    },
    COMMIT_TS_FAILED: () => sendError("COMMIT_TS_FAILED", new Error("tso unavailable")),
    PRIMARY_OK: () => send({ type: "PRIMARY_COMMITTED" }),
    PRIMARY_REGION_ERROR: () => {},
    PRIMARY_TS_EXPIRED: (_, after) => {
      const min = lastTs + 3n;
      send({ type: "COMMIT_TS_EXPIRED", minCommitTs: min });
      // the minimum is recorded with a renewal; past the bound the commit gives up without one
      if (after.value === "gettingCommitTs") minSent = min;
    },
    PRIMARY_KEY_ERROR: () => sendError("PRIMARY_FAILED", new TxnLockNotFoundError(Buffer.from("a"), "")),
    PRIMARY_UNDETERMINED: () => sendError("PRIMARY_UNDETERMINED", new Error("commit reply lost")),
    SECONDARIES_DONE: () => send({ type: "SECONDARIES_DONE" }),
    CLEANUP_DONE: () => send({ type: "CLEANUP_DONE" }),
    // the actor layer sends TTL_START once the primary's batch of a large transaction is prewritten
    TTL_START: () => send({ type: "TTL_START" }),
    // the heartbeat gave up: the child reports it
    TTL_STOPPED: () => {
      const back = H().ttl.sendBack;
      if (!back) throw new Error("no TTL manager running");
      back({ type: "TTL_STOPPED" });
    },
  };
  let ctxBefore = committerModel.config.context as CommitterModelContext;
  const executors = Object.fromEntries(
    Object.entries(events).map(([type, run]) => [
      type,
      (step: ModelStep) => {
        const before = h?.calls.length ?? 0;
        const v = h?.actor.getSnapshot().value;
        const value = v === undefined ? undefined : committerStateName(v);
        run(ctxBefore, {
          ...(step.state.context as CommitterModelContext),
          value: step.state.value as string,
        });
        if (INTERNAL_EVENTS.has(type) || (type === "PREWRITE_LOST" && ctxBefore.mode === "2pc")) {
          // retried inside the phase: no transition, no phase work started again
          expect(committerStateName(H().actor.getSnapshot().value)).toBe(value);
          expect(H().calls.length).toBe(before);
        }
      },
    ]),
  );
  await replayPath(path, {
    events: executors,
    state: (m) => {
      const ctx = m.context as CommitterModelContext;
      ctxBefore = ctx;
      const value = m.value as string;
      if (value === "idle") return;
      const step = path.steps.find((s) => s.state === m);
      const ev = step?.event.type ?? "";
      if (value !== prev || REENTERING_EVENTS.has(ev)) entries[value] = (entries[value] ?? 0) + 1;
      prev = value;
      const snap = H().actor.getSnapshot();
      expect(committerStateName(snap.value)).toBe(value);
      // phase work: started once per entry into its state, nothing else
      const expected: Record<string, number> = {};
      for (const [state, n] of Object.entries(entries)) {
        const a = ENTRY_ACTION[state];
        if (a) expected[a] = (expected[a] ?? 0) + n;
      }
      const got: Record<string, number> = {};
      for (const c of H().calls) got[c] = (got[c] ?? 0) + 1;
      expect(got).toEqual(expected);
      // cleanup never follows an undetermined outcome; secondaries only once committed
      if (value === "undetermined") expect(H().calls).not.toContain("startCleanup");
      // the session: protocol recorded from the prewrite, commit-ts bookkeeping
      const s = H().session;
      if (prewriteOkSent) expect(s.mode).toBe(ctx.mode);
      expect(s.minCommitTs).toBe(minSent);
      // (with a latest-ts fetch, see the skipped test below)
      if (!latestFetched) expect(s.commitTsRetries).toBe(ctx.renewals);
      // the caller's answer: none before the outcome is known, then exactly one
      if (!SETTLED_STATES.has(value) || ctx.userRollback) {
        expect(H().settled).toEqual([]);
      } else {
        expect(H().settled).toHaveLength(1);
        const o = H().settled[0] as CommitOutcome;
        if (value === "committed" || value === "done" || value === "onePhaseCommitted") {
          expect(o).toEqual({ kind: "committed", commitTs: acceptedTs });
          expect(s.commitTs).toBe(acceptedTs);
        } else if (value === "undetermined") {
          expect(o).toEqual({ kind: "undetermined", error: lastError });
        } else {
          expect(o.kind).toBe("failed");
          const err = (o as { error: Error }).error;
          if (ctx.failure === "tsExpired") {
            expect(err.message).toBe(`commit ts expired ${MAX_COMMIT_TS_RETRIES} times in a row`);
          } else {
            expect(err).toBe(lastError);
            const type = {
              writeConflict: WriteConflictError,
              lockNotFound: TxnLockNotFoundError,
              tso: Error,
            };
            expect(err).toBeInstanceOf(type[ctx.failure as keyof typeof type]);
          }
        }
      }
      // the TTL manager: started on request, stopped on its report or when the commit ends
      // an end state rests (the actor is pooled), with the commit's TTL manager stopped
      const final = FINAL_STATES.has(value);
      expect(snap.status).toBe("active");
      expect(H().ttl.started).toBe(ctx.ttl === "none" ? 0 : 1);
      expect(Object.keys(snap.children)).toEqual(ctx.ttl === "running" && !final ? ["ttlManager"] : []);
      expect(H().ttl.stopped).toBe(ctx.ttl === "stopped" || (ctx.ttl === "running" && final) ? 1 : 0);
    },
  });
  // reuse: from any end state the actor takes the next commit's BEGIN, on that commit's session,
  // routed by its kind (the paths take turns: 2PC, pessimistic, async commit with a latest ts)
  const last = h?.actor.getSnapshot();
  if (h !== undefined && last !== undefined && FINAL_STATES.has(committerStateName(last.value))) {
    const kind = NEXT_KINDS[reuses++ % NEXT_KINDS.length] as (typeof NEXT_KINDS)[number];
    const next = newCommitSession(START_TS + 100n, kind.mode, kind.latest, kind.pessimistic);
    const before = h.calls.length;
    h.actor.send({ type: "BEGIN", session: next });
    expect(committerStateName(h.actor.getSnapshot().value)).toBe(kind.state);
    expect(h.actor.getSnapshot().context.s).toBe(next);
    expect(h.calls.slice(before)).toEqual(kind.calls);
  }
  h?.actor.stop();
}

describe("committer machine (model-based, real machine)", () => {
  const { all, coverage } = modelPaths("committer model", committerModel, COMMITTER_EVENTS);

  it("the paths cover every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
    // the renewal bound is walked to its end
    expect(
      all.some((p) => (p.steps.at(-1)?.state.context as CommitterModelContext).failure === "tsExpired"),
    ).toBe(true);
  });

  for (const path of all) {
    it(path.description, async () => {
      await replay(path);
    });
  }

  afterAll(() => {
    creditTransientStates(real, committerMachine);
    console.log(
      `\ncommitter machine coverage\n${coverageTable([{ name: "committer", model: coverage, real }])}`,
    );
  });

  it("a min commit ts more than an hour ahead of the TSO is refused (client-go: MinCommitTS is too large)", () => {
    const h = harness("2pc", false);
    h.start(true);
    h.actor.send({ type: "PREWRITE_OK", mode: "2pc", commitTs: 0n });
    h.actor.send({ type: "COMMIT_TS", ts: 1n << 30n });
    const twoHours = BigInt(2 * 60 * 60 * 1000) << 18n;
    h.actor.send({ type: "COMMIT_TS_EXPIRED", minCommitTs: (1n << 30n) + twoHours });
    expect(committerStateName(h.actor.getSnapshot().value)).toBe("gettingCommitTs");
    h.actor.send({ type: "COMMIT_TS", ts: (1n << 30n) + 1n });
    expect(committerStateName(h.actor.getSnapshot().value)).toBe("cleaningUp");
    expect(h.session.error?.message).toMatch(/MinCommitTS is too large/);
    h.actor.stop();
  });

  it("covers every state and every transition of the real machine", () => {
    creditTransientStates(real, committerMachine);
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges().map((e) => `${e.source} --${e.event}--> ${e.targets}`)).toEqual([]);
  });
});

describe("committer machine: commit-ts renewals after a latest-ts fetch", () => {
  it(`an async commit fallen back to 2PC still renews its commit ts ${MAX_COMMIT_TS_RETRIES} times`, () => {
    const h = harness("asyncCommit", true);
    h.start();
    h.actor.send({ type: "LATEST_TS", ts: 2_000n });
    h.actor.send({ type: "PREWRITE_OK", mode: "2pc", commitTs: 0n });
    let ts = 3_000n;
    for (let i = 0; i < MAX_COMMIT_TS_RETRIES; i++) {
      ts += 10n;
      h.actor.send({ type: "COMMIT_TS", ts });
      expect(committerStateName(h.actor.getSnapshot().value)).toBe("committingPrimary");
      h.actor.send({ type: "COMMIT_TS_EXPIRED", minCommitTs: ts + 1n });
      expect(committerStateName(h.actor.getSnapshot().value)).toBe("gettingCommitTs");
    }
    ts += 10n;
    h.actor.send({ type: "COMMIT_TS", ts });
    h.actor.send({ type: "COMMIT_TS_EXPIRED", minCommitTs: ts + 1n });
    expect(committerStateName(h.actor.getSnapshot().value)).toBe("cleaningUp");
    h.actor.stop();
  });

  it("the latest-ts fetch sets the minimum of the commit ts", () => {
    const h = harness("onePC", true);
    h.start();
    expect(committerStateName(h.actor.getSnapshot().value)).toBe("fetchingLatestTs");
    h.actor.send({ type: "LATEST_TS", ts: 2_000n });
    expect(h.session.minCommitTs).toBe(2_001n);
    expect(committerStateName(h.actor.getSnapshot().value)).toBe("prewriting");
    // 1PC fell back to 2PC: a TSO answer below the minimum commits at the minimum
    h.actor.send({ type: "PREWRITE_OK", mode: "2pc", commitTs: 0n });
    h.actor.send({ type: "COMMIT_TS", ts: 1_999n });
    expect(committerStateName(h.actor.getSnapshot().value)).toBe("committingPrimary");
    expect(h.session.commitTs).toBe(2_001n);
    h.actor.stop();
  });
});
