// The PD statechart with fake discover / TSO stream actors, on vitest fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createActor, fromCallback, fromPromise } from "xstate";
import {
  type PdDiscoverInput,
  type PdEvent,
  type PdMembership,
  type PdTsoStreamInput,
  pdBackoffDelay,
  pdMachine,
} from "../../../src/machines/pd.js";

function harness(memberCheckIntervalMs = 60_000) {
  const discovers: Array<{
    input: PdDiscoverInput;
    resolve: (m: PdMembership) => void;
    reject: (e: Error) => void;
  }> = [];
  const streams: Array<{ input: PdTsoStreamInput; send: (e: PdEvent) => void; closed: boolean }> = [];
  const machine = pdMachine.provide({
    actors: {
      discover: fromPromise<PdMembership, PdDiscoverInput>(
        ({ input }) => new Promise((resolve, reject) => discovers.push({ input, resolve, reject })),
      ),
      tsoStream: fromCallback<PdEvent, PdTsoStreamInput>(({ input, sendBack }) => {
        const s = { input, send: sendBack, closed: false };
        streams.push(s);
        return () => {
          s.closed = true;
        };
      }),
    },
  });
  const actor = createActor(machine, {
    input: {
      endpoints: ["a:1", "b:2"],
      backoff: { baseMs: 100, capMs: 1000, random: undefined },
      memberCheckIntervalMs,
    },
  });
  const value = () => actor.getSnapshot().value;
  return { actor, discovers, streams, value };
}

const membership = (leader: string): PdMembership => ({
  clusterId: 9n,
  leader,
  endpoints: ["a:1", "b:2", "c:3"],
});
const flush = () => vi.advanceTimersByTimeAsync(0);

describe("pd machine", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("discovering -> connected opens a TSO stream to the leader and learns the members", async () => {
    const h = harness();
    h.actor.start();
    expect(h.value()).toBe("discovering");
    expect(h.discovers[0]?.input).toEqual({ endpoints: ["a:1", "b:2"], clusterId: 0n });
    h.discovers[0]?.resolve(membership("a:1"));
    await flush();
    expect(h.value()).toEqual({ connected: "idle" });
    expect(h.streams[0]?.input).toEqual({ leader: "a:1", clusterId: 9n });
    expect(h.actor.getSnapshot().context.endpoints).toEqual(["a:1", "b:2", "c:3"]);
  });

  it("failed rounds back off 100, 200, 400 ms (capped), then succeed", async () => {
    const h = harness();
    h.actor.start();
    for (const [i, wait] of [
      [0, 100],
      [1, 200],
      [2, 400],
    ] as const) {
      h.discovers[i]?.reject(new Error("all down"));
      await flush();
      expect(h.value()).toBe("backoff");
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(h.value()).toBe("backoff");
      await vi.advanceTimersByTimeAsync(1);
      expect(h.value()).toBe("discovering");
    }
    h.discovers[3]?.resolve(membership("b:2"));
    await flush();
    expect(h.value()).toEqual({ connected: "idle" });
    expect(pdBackoffDelay({ baseMs: 100, capMs: 1000 }, 10)).toBe(1000);
  });

  it("TSO stream loss re-discovers at once the first time, then via backoff until a stream works", async () => {
    const h = harness();
    h.actor.start();
    h.discovers[0]?.resolve(membership("a:1"));
    await flush();
    h.streams[0]?.send({ type: "TSO_LOST", error: new Error("reset") });
    expect(h.value()).toBe("discovering");
    expect(h.streams[0]?.closed).toBe(true);
    h.discovers[1]?.resolve(membership("a:1"));
    await flush();
    h.streams[1]?.send({ type: "TSO_LOST", error: new Error("reset again") });
    expect(h.value()).toBe("backoff");
    await vi.advanceTimersByTimeAsync(200);
    h.discovers[2]?.resolve(membership("a:1"));
    await flush();
    h.streams[2]?.send({ type: "TSO_OK" });
    expect(h.actor.getSnapshot().context.attempts).toBe(0);
    h.streams[2]?.send({ type: "TSO_LOST", error: new Error("later") });
    expect(h.value()).toBe("discovering");
  });

  it("LEADER_LOST about the current leader re-discovers; about an old leader it is ignored", async () => {
    const h = harness();
    h.actor.start();
    h.discovers[0]?.resolve(membership("a:1"));
    await flush();
    h.actor.send({ type: "LEADER_LOST", error: new Error("not leader"), leader: "z:9" });
    expect(h.value()).toEqual({ connected: "idle" });
    h.actor.send({ type: "LEADER_LOST", error: new Error("not leader"), leader: "a:1" });
    expect(h.value()).toBe("discovering");
  });

  it("the periodic member check keeps the stream when the leader is unchanged and switches when it moved", async () => {
    const h = harness(1000);
    h.actor.start();
    h.discovers[0]?.resolve(membership("a:1"));
    await flush();
    await vi.advanceTimersByTimeAsync(1000);
    expect(h.value()).toEqual({ connected: "checking" });
    h.discovers[1]?.resolve(membership("a:1"));
    await flush();
    expect(h.value()).toEqual({ connected: "idle" });
    expect(h.streams.length).toBe(1);
    expect(h.streams[0]?.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    h.discovers[2]?.resolve(membership("b:2"));
    await flush();
    expect(h.value()).toBe("discovering");
    expect(h.streams[0]?.closed).toBe(true);
  });

  it("a failed member check is harmless; STOP stops everything", async () => {
    const h = harness(1000);
    h.actor.start();
    h.discovers[0]?.resolve(membership("a:1"));
    await flush();
    h.actor.send({ type: "CHECK_MEMBERS" });
    h.discovers[1]?.reject(new Error("timeout"));
    await flush();
    expect(h.value()).toEqual({ connected: "idle" });
    h.actor.send({ type: "STOP" });
    expect(h.value()).toBe("stopped");
    expect(h.streams[0]?.closed).toBe(true);
  });
});
