// Model-based test of the pipelined committer statechart, replayed against the REAL
// pipelinedFlushMachine: its own guards, delays and context actions (recordFlushStart,
// recordFlushTime, markTtlStarted / markTtlClosed, recordError, recordCommitTs,
// recordMinCommitTs) run as shipped; only the I/O actions (startFlush, replyFlush, fetchCommitTs,
// commitPrimary, broadcast, startResolve, settle, finished) are stubs that record their calls, as
// in test/txn/pipelined-flush-machine.test.ts, the TTL manager is a callback child whose
// sendBack the test drives, and time is a SimulatedClock. Each model event becomes what the actor
// layer would send (or, for THROTTLE_ELAPSED / GRACE_ELAPSED, the clock moving on by exactly the
// delay the machine must wait: 1 ms less changes nothing). Checked after every step: the
// machine's state, which phase work was started and how often, what every flush caller was told,
// what settle reported (at most once; with the commit ts or the error), the broadcasts in order,
// which range resolution started, the TTL manager child, the session's bookkeeping (generation,
// flush-time average, commit-ts renewals) and the timers left. Then the coverage of the real
// machine's states and transitions, asserted complete.
import { afterAll, describe, expect, it } from "vitest";
import { type Actor, createActor, fromCallback, SimulatedClock } from "xstate";
import { MAX_COMMIT_TS_RETRIES } from "../../src/machines/committer.js";
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
import { creditTransientStates, eventsOf } from "./committer-model.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { type ModelPath, type ModelStep, modelPaths, replayPath } from "./paths.js";
import {
  type BroadcastName,
  type FlushAnswer,
  PIPELINED_EVENTS,
  PIPELINED_FINAL_STATES,
  type PipelinedModelContext,
  type PipelinedModelEventType,
  pipelinedModel,
} from "./pipelined-model.js";

const START_TS = 1_000n;
/** The throttle ratio of BEGIN_THROTTLED: each flush after the first sleeps as long as flushes take. */
const RATIO = 0.5;
/** How long the flushes of a path take, in order (the average weighs them). */
const DURATIONS_MS = [40, 62];

const real = new MachineCoverage("pipelinedFlush", pipelinedFlushMachine);

/** Which phase action each state's entry starts. */
const ENTRY_ACTION: Record<string, string> = {
  flushing: "startFlush",
  gettingCommitTs: "fetchCommitTs",
  committingPrimary: "commitPrimary",
};
/** The states of the writing phase (the model keeps the flush callers' answers there). */
const WRITING_PHASE = new Set(["writing", "throttling", "flushing", "broken"]);
/** The states waiting on a timer. */
const TIMED_STATES = new Set(["throttling", "completingCommit", "completingRollback"]);

function harness(ratio: number) {
  const calls: string[] = [];
  const replies: FlushReply[] = [];
  const settled: PipelinedCommitOutcome[] = [];
  const broadcasts: BroadcastKind[] = [];
  const ttl = { started: 0, stopped: 0, sendBack: undefined as ((e: PipelinedEvent) => void) | undefined };
  const clock = new SimulatedClock();
  const rec = (name: string) => () => {
    calls.push(name);
  };
  const machine = pipelinedFlushMachine.provide({
    actions: {
      startFlush: rec("startFlush"),
      replyFlush: (_, r: FlushReply) => {
        replies.push(r);
      },
      fetchCommitTs: rec("fetchCommitTs"),
      commitPrimary: rec("commitPrimary"),
      broadcast: (_, b: BroadcastKind) => {
        broadcasts.push(b);
      },
      startResolve: (_, commit: boolean) => {
        calls.push(commit ? "resolveCommit" : "resolveRollback");
      },
      settle: (_, o: PipelinedCommitOutcome) => {
        settled.push(o);
      },
      finished: rec("finished"),
    },
    actors: {
      ttlManager: fromCallback<PipelinedEvent, PipelinedSession>(({ sendBack }) => {
        ttl.started++;
        ttl.sendBack = sendBack;
        return () => {
          ttl.stopped++;
        };
      }),
    },
  });
  const session = newPipelinedSession(START_TS, ratio);
  const actor: Actor<typeof machine> = createActor(machine, { input: session, inspect: real.inspect, clock });
  actor.start();
  const timers = () => (clock as unknown as { timeouts: Map<number, unknown> }).timeouts.size;
  return { actor, session, calls, replies, settled, broadcasts, ttl, clock, timers };
}

type Harness = ReturnType<typeof harness>;

const nameOf = (b: BroadcastKind): BroadcastName =>
  `${b.kind}${b.completed ? "+completed" : ""}` as BroadcastName;

async function replay(path: ModelPath) {
  let h: Harness | undefined;
  const H = () => h as Harness;
  // what the test sent, to check against what the machine reports
  let generation = 0;
  let lastKeyedGeneration = 0;
  let ewma = 0;
  let durations = 0;
  let lastTs = START_TS + 10n;
  let acceptedTs = 0n;
  let minSent = 0n;
  const flushError = new Error("injected: flush conflict");
  const errors: Partial<Record<"tso" | "primary" | "undetermined", Error>> = {};
  let expectedReplies: FlushAnswer[] = [];
  let prev = "";
  const entries: Record<string, number> = {};
  const send = (e: PipelinedEvent) => H().actor.send(e);
  const nextTs = () => {
    lastTs = (lastTs > minSent ? lastTs : minSent) + 7n;
    return lastTs;
  };
  // moves the clock by the delay the machine waits in `state`: one ms less changes nothing
  const elapse = (ms: number) => {
    const before = H().actor.getSnapshot().value;
    const sent = H().broadcasts.length;
    H().clock.increment(ms - 1);
    expect(H().actor.getSnapshot().value).toBe(before);
    expect(H().broadcasts).toHaveLength(sent);
    H().clock.increment(1);
  };
  const begin = (ratio: number) => () => {
    h = harness(ratio);
  };
  const events: Record<PipelinedModelEventType, (before: PipelinedModelContext) => void> = {
    BEGIN: begin(0),
    BEGIN_THROTTLED: begin(RATIO),
    FLUSH: (c) => {
      generation++;
      // the machine records a generation it sends (not one refused at once)
      if (c.ttl !== "closed" && H().actor.getSnapshot().value === "writing") lastKeyedGeneration = generation;
      send({ type: "FLUSH", generation, keys: 3 });
    },
    FLUSH_EMPTY: () => {
      generation++;
      send({ type: "FLUSH", generation, keys: 0 });
    },
    THROTTLE_ELAPSED: () => {
      const ms = throttleMs(RATIO, ewma);
      expect(ms).toBeGreaterThan(0);
      elapse(ms);
    },
    FLUSH_OK: () => {
      const ms = DURATIONS_MS[durations++ % DURATIONS_MS.length] as number;
      ewma = nextFlushEwma(ewma, ms);
      send({ type: "FLUSH_OK", durationMs: ms });
    },
    FLUSH_FAILED: () => send({ type: "FLUSH_FAILED", error: flushError }),
    // the actor layer sends it once the batch holding the primary is written
    TTL_START: () => send({ type: "TTL_START" }),
    // the heartbeat gave up: the child reports it
    TTL_STOPPED: () => {
      const back = H().ttl.sendBack;
      if (!back) throw new Error("no TTL manager running");
      back({ type: "TTL_STOPPED" });
    },
    COMMIT: () => send({ type: "COMMIT" }),
    ROLLBACK: () => send({ type: "ROLLBACK" }),
    COMMIT_TS: () => {
      acceptedTs = nextTs();
      send({ type: "COMMIT_TS", ts: acceptedTs });
    },
    // an answer not above the minimum TiKV asked for: the commit goes ahead at the minimum
    COMMIT_TS_LOW: () => {
      acceptedTs = minSent;
      send({ type: "COMMIT_TS", ts: minSent - 1n });
    },
    COMMIT_TS_FAILED: () => {
      errors.tso = new Error("injected: tso unavailable");
      send({ type: "COMMIT_TS_FAILED", error: errors.tso });
    },
    PRIMARY_OK: () => send({ type: "PRIMARY_COMMITTED" }),
    PRIMARY_TS_EXPIRED: (c) => {
      const min = lastTs + 3n;
      send({ type: "COMMIT_TS_EXPIRED", minCommitTs: min });
      // the minimum is recorded with a renewal; past the bound the commit gives up without one
      if (c.renewals < MAX_COMMIT_TS_RETRIES) minSent = min;
    },
    PRIMARY_FAILED: () => {
      errors.primary = new Error("injected: primary lock not found");
      send({ type: "PRIMARY_FAILED", error: errors.primary });
    },
    PRIMARY_UNDETERMINED: () => {
      errors.undetermined = new Error("injected: commit reply lost");
      send({ type: "PRIMARY_UNDETERMINED", error: errors.undetermined });
    },
    RESOLVE_DONE: () => send({ type: "RESOLVE_DONE" }),
    RESOLVE_FAILED: () => send({ type: "RESOLVE_FAILED", error: new Error("injected: resolve failed") }),
    GRACE_ELAPSED: () => elapse(BROADCAST_GRACE_MS),
  };
  let ctxBefore = pipelinedModel.config.context as PipelinedModelContext;
  const executors = Object.fromEntries(
    Object.entries(events).map(([type, run]) => [type, (_: ModelStep) => run(ctxBefore)]),
  );
  await replayPath(path, {
    events: executors,
    state: (m) => {
      const ctx = m.context as PipelinedModelContext;
      ctxBefore = ctx;
      const value = m.value as string;
      if (value === "idle") return;
      if (value !== prev) entries[value] = (entries[value] ?? 0) + 1;
      prev = value;
      const snap = H().actor.getSnapshot();
      expect(snap.value).toBe(value);
      const final = PIPELINED_FINAL_STATES.has(value);
      expect(snap.status).toBe(final ? "done" : "active");

      // phase work: started once per entry into its state; the range resolution the model says;
      // `finished` once, on reaching a final state
      const expected: Record<string, number> = {};
      for (const [state, n] of Object.entries(entries)) {
        const a = ENTRY_ACTION[state];
        if (a) expected[a] = (expected[a] ?? 0) + n;
      }
      if (ctx.resolve === "commit") expected.resolveCommit = 1;
      if (ctx.resolve === "rollback") expected.resolveRollback = 1;
      if (final) expected.finished = 1;
      const got: Record<string, number> = {};
      for (const c of H().calls) got[c] = (got[c] ?? 0) + 1;
      expect(got).toEqual(expected);

      // every flush caller is answered, as the model says (after commit / rollback, nobody more)
      if (WRITING_PHASE.has(value)) expectedReplies = ctx.replies;
      expect(H().replies).toHaveLength(expectedReplies.length);
      expectedReplies.forEach((answer, i) => {
        const r = H().replies[i] as FlushReply;
        if (answer === "ok") expect(r).toEqual({ ok: true });
        else if (answer === "flushFailed") expect(r).toEqual({ ok: false, error: flushError });
        else {
          expect(r.ok).toBe(false);
          // one error for the flush the closed TTL manager refused and every later one
          expect(!r.ok && r.error).toBe(H().session.error);
          expect(!r.ok && r.error.message).toBe("ttl manager is closed");
        }
      });

      // the commit's caller: nothing before the outcome is known (nothing on a rollback), then once
      const s = H().session;
      if (ctx.settled === "") expect(H().settled).toEqual([]);
      else {
        expect(H().settled).toHaveLength(1);
        const o = H().settled[0] as PipelinedCommitOutcome;
        if (ctx.settled === "committed") {
          // nothing reached TiKV: committed at 0
          const ts = ctx.gens === 0 ? 0n : acceptedTs;
          expect(o).toEqual({ kind: "committed", commitTs: ts });
          expect(s.commitTs).toBe(ts);
        } else if (ctx.settled === "undetermined") {
          expect(o).toEqual({ kind: "undetermined", error: errors.undetermined });
        } else {
          expect(o.kind).toBe("failed");
          const err = (o as { error: Error }).error;
          if (ctx.failure === "flushFailed") expect(err).toBe(flushError);
          else if (ctx.failure === "ttlClosed") expect(err.message).toBe("ttl manager is closed");
          else if (ctx.failure === "tsExpired")
            expect(err.message).toBe(`commit ts expired ${MAX_COMMIT_TS_RETRIES} times in a row`);
          else expect(err).toBe(errors[ctx.failure as "tso" | "primary"]);
        }
      }

      // the stores are told what the model says, in order
      expect(H().broadcasts.map(nameOf)).toEqual(ctx.broadcasts);

      // the TTL manager: started once by the primary's flush, stopped by its own report or by
      // the committer (a final snapshot keeps listing its children: they stop with the actor)
      expect(H().ttl.started).toBe(ctx.ttl === "none" ? 0 : 1);
      expect(H().ttl.stopped).toBe(ctx.ttl === "closed" || ctx.ttl === "stopped" ? 1 : 0);
      if (!final) expect(Object.keys(snap.children)).toEqual(ctx.ttl === "running" ? ["ttlManager"] : []);
      expect(s.ttlStarted).toBe(ctx.ttl !== "none");
      expect(s.ttlClosed).toBe(ctx.ttl === "closed");

      // the session's bookkeeping
      expect(s.generation).toBe(lastKeyedGeneration);
      expect(s.flushedAny).toBe(ctx.gens > 0);
      expect(s.flushEwmaMs).toBe(ewma);
      expect(s.commitTsRetries).toBe(ctx.renewals);
      expect(s.minCommitTs).toBe(minSent);
      // a timer only where the machine waits on one
      expect(H().timers()).toBe(TIMED_STATES.has(value) ? 1 : 0);
    },
  });
  h?.actor.stop();
}

describe("pipelined committer machine (model-based, real machine)", () => {
  const { all, coverage } = modelPaths("pipelined model", pipelinedModel, PIPELINED_EVENTS);

  it("the paths cover every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
    const last = (p: ModelPath) => p.steps.at(-1)?.state as { value: string; context: PipelinedModelContext };
    // the renewal bound is walked to its end, and every outcome is reached
    expect(all.some((p) => last(p).context.failure === "tsExpired")).toBe(true);
    for (const settled of ["committed", "failed", "undetermined"])
      expect(all.some((p) => last(p).context.settled === settled)).toBe(true);
    expect(all.some((p) => eventsOf(p.steps).includes("THROTTLE_ELAPSED"))).toBe(true);
  });

  for (const path of all) {
    it(path.description, async () => {
      await replay(path);
    });
  }

  afterAll(() => {
    creditTransientStates(real, pipelinedFlushMachine);
    console.log(
      `\npipelined committer machine coverage\n${coverageTable([{ name: "pipelinedFlush", model: coverage, real }])}`,
    );
  });
});

describe("pipelined committer machine: commit ts bounds", () => {
  // client-go (commit.go) refuses a min_commit_ts more than an hour ahead of the TSO
  it("a min commit ts more than an hour ahead of the TSO fails the commit (client-go: MinCommitTS is too large)", () => {
    const h = harness(0);
    h.actor.send({ type: "FLUSH", generation: 1, keys: 1 });
    h.actor.send({ type: "TTL_START" });
    h.actor.send({ type: "FLUSH_OK", durationMs: 1 });
    h.actor.send({ type: "COMMIT" });
    h.actor.send({ type: "COMMIT_TS", ts: 1n << 30n });
    const twoHours = BigInt(2 * 60 * 60 * 1000) << 18n;
    h.actor.send({ type: "COMMIT_TS_EXPIRED", minCommitTs: (1n << 30n) + twoHours });
    expect(h.actor.getSnapshot().value).toBe("gettingCommitTs");
    h.actor.send({ type: "COMMIT_TS", ts: (1n << 30n) + 1n });
    expect(h.actor.getSnapshot().value).toBe("rollingBack");
    expect(h.settled).toHaveLength(1);
    const o = h.settled[0] as PipelinedCommitOutcome;
    expect(o.kind).toBe("failed");
    expect((o as { error: Error }).error.message).toMatch(/MinCommitTS is too large/);
    expect(h.calls).not.toContain("resolveCommit");
    h.actor.stop();
  });
});

// after every test above (the paths and the commit-ts bound), on the same coverage record
describe("pipelined committer machine: coverage", () => {
  it("covers every state and every transition of the real machine", () => {
    // cleaningUp is transient (always → rollingBack): no snapshot shows it, its edge is seen taken
    creditTransientStates(real, pipelinedFlushMachine);
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges().map((e) => `${e.source} --${e.event}--> ${e.targets}`)).toEqual([]);
  });
});
