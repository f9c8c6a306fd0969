// Model-based test of the PD machine, replayed against the real actor: discovery rounds are
// parked promises, the TSO stream is a callback actor whose sendBack the test drives, and the
// backoff and member-check timers run on vitest fake timers. Oracles come from the model.
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createActor, fromCallback, fromPromise } from "xstate";
import {
  type PdDiscoverInput,
  type PdEvent,
  type PdMembership,
  type PdTsoStreamInput,
  pdMachine,
} from "../../src/machines/pd.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { modelPaths, replayPath } from "./paths.js";
import { type Ctx, EVENTS, model } from "./pd-model.js";

const BASE = 10;
const CAP = 40;
const MEMBER_CHECK_MS = 1_000;
const real = new MachineCoverage("pd", pdMachine);

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
