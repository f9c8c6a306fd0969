// Model-based test of the PD machine, replayed against the real actor: discovery rounds are
// parked promises, the TSO stream is a callback actor whose sendBack the test drives, and the
// backoff and member-check timers run on vitest fake timers. Oracles come from the model.
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { assign, createActor, fromCallback, fromPromise, setup } from "xstate";
import {
  type PdDiscoverInput,
  type PdEvent,
  type PdMembership,
  type PdTsoStreamInput,
  pdMachine,
} from "../../src/machines/pd.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { modelPaths, replayPath } from "./paths.js";

const BASE = 10;
const CAP = 40;
const MEMBER_CHECK_MS = 1_000;
const real = new MachineCoverage("pd", pdMachine);

interface Ctx {
  /** Failed rounds since the last TSO_OK (the machine's `attempts`). */
  attempts: number;
  /** Which member leads (0 = none known yet). */
  leader: number;
  /** Discovery rounds started (first + re-discoveries), bounded. */
  rounds: number;
  /** STOP events sent. */
  stops: number;
}

type Ev =
  | { type: "DISCOVER_OK" }
  | { type: "DISCOVER_FAIL" }
  | { type: "BACKOFF_ELAPSED" }
  | { type: "MEMBER_TIMER" }
  | { type: "CHECK_MEMBERS" }
  | { type: "CHECK_SAME" }
  | { type: "CHECK_MOVED" }
  | { type: "CHECK_FAIL" }
  | { type: "TSO_OK" }
  | { type: "TSO_LOST" }
  | { type: "LEADER_LOST" }
  | { type: "STOP" };

const MAX_ROUNDS = 3;
const EVENTS = [
  "DISCOVER_OK",
  "DISCOVER_FAIL",
  "BACKOFF_ELAPSED",
  "MEMBER_TIMER",
  "CHECK_MEMBERS",
  "CHECK_SAME",
  "CHECK_MOVED",
  "CHECK_FAIL",
  "TSO_OK",
  "TSO_LOST",
  "LEADER_LOST",
  "STOP",
] as const;

/** The abstract PD model. */
const model = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  guards: {
    canFail: ({ context }) => context.attempts < 2,
    canRediscover: ({ context }) => context.rounds < MAX_ROUNDS,
  },
}).createMachine({
  id: "pdModel",
  context: { attempts: 0, leader: 0, rounds: 1, stops: 0 },
  initial: "discovering",
  on: { STOP: { target: ".stopped", actions: assign({ stops: 1 }) } },
  states: {
    discovering: {
      on: {
        DISCOVER_OK: {
          target: "connected",
          actions: assign({ leader: ({ context }) => Math.max(1, context.leader) }),
        },
        DISCOVER_FAIL: {
          guard: "canFail",
          target: "backoff",
          actions: assign({ attempts: ({ context }) => context.attempts + 1 }),
        },
      },
    },
    backoff: {
      on: {
        BACKOFF_ELAPSED: {
          guard: "canRediscover",
          target: "discovering",
          actions: assign({ rounds: ({ context }) => context.rounds + 1 }),
        },
      },
    },
    connected: {
      initial: "idle",
      on: {
        TSO_OK: { guard: ({ context }) => context.attempts > 0, actions: assign({ attempts: 0 }) },
        TSO_LOST: [
          {
            guard: ({ context }) => context.attempts === 0 && context.rounds < MAX_ROUNDS,
            target: "discovering",
            actions: assign({ attempts: 1, rounds: ({ context }) => context.rounds + 1 }),
          },
          {
            guard: ({ context }) => context.attempts > 0 && context.attempts < 2,
            target: "backoff",
            actions: assign({ attempts: ({ context }) => context.attempts + 1 }),
          },
        ],
        LEADER_LOST: {
          guard: "canRediscover",
          target: "discovering",
          actions: assign({ rounds: ({ context }) => context.rounds + 1 }),
        },
      },
      states: {
        idle: { on: { MEMBER_TIMER: "checking", CHECK_MEMBERS: "checking" } },
        checking: {
          on: {
            CHECK_SAME: "idle",
            CHECK_FAIL: "idle",
            CHECK_MOVED: {
              guard: "canRediscover",
              target: "#pdModel.discovering",
              actions: assign({
                leader: ({ context }) => context.leader + 1,
                rounds: ({ context }) => context.rounds + 1,
              }),
            },
          },
        },
      },
    },
    stopped: { on: { STOP: { guard: ({ context }) => context.stops < 2, actions: assign({ stops: 2 }) } } },
  },
});

function harness() {
  const discovers: Array<{ resolve: (m: PdMembership) => void; reject: (e: Error) => void }> = [];
  let streams = 0;
  let sendBack: ((e: PdEvent) => void) | undefined;
  const machine = pdMachine.provide({
    actors: {
      discover: fromPromise<PdMembership, PdDiscoverInput>(
        () => new Promise((resolve, reject) => discovers.push({ resolve, reject })),
      ),
      tsoStream: fromCallback<PdEvent, PdTsoStreamInput>(({ sendBack: sb }) => {
        streams++;
        sendBack = sb;
        return () => {
          if (sendBack === sb) sendBack = undefined;
        };
      }),
    },
  });
  const actor = createActor(machine, {
    input: {
      endpoints: ["pd-0:2379"],
      backoff: { baseMs: BASE, capMs: CAP, random: undefined },
      memberCheckIntervalMs: MEMBER_CHECK_MS,
    },
    inspect: real.inspect,
  });
  const leaders: string[] = [];
  actor.on("leaderChanged", (e) => leaders.push(e.leader));
  return {
    actor,
    discovers,
    leaders,
    streams: () => streams,
    tso: (e: PdEvent) => {
      if (!sendBack) throw new Error("no TSO stream open");
      sendBack(e);
    },
  };
}

const flush = () => vi.advanceTimersByTimeAsync(0);
const leaderName = (n: number) => `pd-${n}:2379`;
const membership = (n: number): PdMembership => ({
  clusterId: 42n,
  leader: leaderName(n),
  endpoints: [leaderName(n), "pd-9:2379"],
});

describe("pd machine (model-based, real actor)", () => {
  afterEach(() => vi.useRealTimers());
  // simple paths explode on this model: shortest paths to each state, extended by each event
  const { all, coverage } = modelPaths("pd model", model, EVENTS);

  it("the paths cover every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
  });

  for (const path of all) {
    it(path.description, async () => {
      vi.useFakeTimers();
      const h = harness();
      h.actor.start();
      let ctx: Ctx = { attempts: 0, leader: 0, rounds: 1, stops: 0 };
      let wasConnected = false;
      let streams = 0;
      let discoverOks = 0;
      await replayPath(path, {
        events: {
          DISCOVER_OK: async () => {
            h.discovers.at(-1)?.resolve(membership(Math.max(1, ctx.leader)));
            discoverOks++;
            await flush();
          },
          DISCOVER_FAIL: async () => {
            h.discovers.at(-1)?.reject(new Error("no member answered"));
            await flush();
          },
          BACKOFF_ELAPSED: async () => {
            // oracle from the model: wait = min(cap, base * 2^(attempts-1))
            const wait = Math.min(CAP, BASE * 2 ** (ctx.attempts - 1));
            await vi.advanceTimersByTimeAsync(wait - 1);
            expect(h.actor.getSnapshot().value).toBe("backoff");
            await vi.advanceTimersByTimeAsync(1);
          },
          MEMBER_TIMER: async () => {
            await vi.advanceTimersByTimeAsync(MEMBER_CHECK_MS - 1);
            expect(h.actor.getSnapshot().value).toEqual({ connected: "idle" });
            await vi.advanceTimersByTimeAsync(1);
          },
          CHECK_MEMBERS: async () => {
            h.actor.send({ type: "CHECK_MEMBERS" });
            await flush();
          },
          CHECK_SAME: async () => {
            h.discovers.at(-1)?.resolve(membership(ctx.leader));
            await flush();
          },
          CHECK_MOVED: async () => {
            h.discovers.at(-1)?.resolve(membership(ctx.leader + 1));
            await flush();
          },
          CHECK_FAIL: async () => {
            h.discovers.at(-1)?.reject(new Error("member check failed"));
            await flush();
          },
          TSO_OK: async () => {
            h.tso({ type: "TSO_OK" });
            await flush();
          },
          TSO_LOST: async () => {
            h.tso({ type: "TSO_LOST", error: new Error("tso stream closed") });
            await flush();
          },
          LEADER_LOST: async () => {
            // a stale report about another leader is ignored; the current leader's is not
            h.actor.send({ type: "LEADER_LOST", error: new Error("not leader"), leader: "pd-77:2379" });
            expect(h.actor.getSnapshot().matches("connected")).toBe(true);
            h.actor.send({
              type: "LEADER_LOST",
              error: new Error("not leader"),
              leader: leaderName(ctx.leader),
            });
            await flush();
          },
          STOP: async () => {
            h.actor.send({ type: "STOP" });
            await flush();
          },
        },
        state: (m) => {
          ctx = m.context as Ctx;
          const connected = typeof m.value === "object";
          if (connected && !wasConnected) streams++;
          wasConnected = connected;
          const snap = h.actor.getSnapshot();
          expect(snap.value).toEqual(m.value);
          if (m.value === "stopped") return;
          expect(snap.context.attempts).toBe(ctx.attempts);
          // one TSO stream per entry into connected (a member check keeps it)
          expect(h.streams()).toBe(streams);
          // leaderChanged tells the public hook which member leads now
          expect(h.leaders.length > 0).toBe(discoverOks > 0);
          if (snap.matches("connected")) expect(h.leaders.at(-1)).toBe(leaderName(ctx.leader));
          if (snap.matches("connected")) expect(snap.context.leader).toBe(leaderName(ctx.leader));
          if (snap.matches("connected")) expect(snap.context.clusterId).toBe(42n);
        },
      });
      h.actor.stop();
    });
  }

  afterAll(() => {
    console.log(`\npd machine coverage\n${coverageTable([{ name: "pd", model: coverage, real }])}`);
  });

  it("covers every state and transition of the real machine", () => {
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges()).toEqual([]);
  });
});
