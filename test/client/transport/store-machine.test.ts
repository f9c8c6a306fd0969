// The store statechart with injected fake connect/watch actors, driven by vitest fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createActor, fromCallback, fromPromise } from "xstate";
import {
  type StoreConnectInput,
  type StoreEvent,
  type StoreLink,
  storeMachine,
  storeReconnectDelay,
} from "../../../src/machines/store.js";
import { ShuttingDownError, wasNotSent } from "../../../src/rpc/errors.js";

class FakeLink implements StoreLink {
  sent: string[] = [];
  closed = false;
  send(cmd: string, req: unknown, _opts: unknown, reply: (err: Error | null, resp?: unknown) => void): void {
    this.sent.push(`${cmd}:${String(req)}`);
    reply(null, `ok:${String(req)}`);
  }
  close(): void {
    this.closed = true;
  }
}

function harness() {
  const connects: Array<{ resolve: (l: StoreLink) => void; reject: (e: Error) => void }> = [];
  let lose: ((e: Error) => void) | undefined;
  const machine = storeMachine.provide({
    actors: {
      connect: fromPromise<StoreLink, StoreConnectInput>(
        () => new Promise<StoreLink>((resolve, reject) => connects.push({ resolve, reject })),
      ),
      watch: fromCallback<StoreEvent, { link: StoreLink; storeId: number }>(({ sendBack }) => {
        lose = (error) => sendBack({ type: "STREAM_LOST", error });
        return () => {
          lose = undefined;
        };
      }),
    },
  });
  const actor = createActor(machine, {
    input: { storeId: 1, address: "127.0.0.1:1", backoff: { baseMs: 100, capMs: 2000, random: undefined } },
  });
  const replies: Array<[string | null, unknown]> = [];
  const send = (req: string) =>
    actor.send({
      type: "SEND",
      cmd: "Get",
      req,
      opts: undefined,
      reply: (e, r) => replies.push([e ? e.constructor.name : null, r]),
    });
  return { actor, connects, send, replies, lose: (e: Error) => lose?.(e) };
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe("store machine", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("holds requests during the first connect and flushes them when ready", async () => {
    const h = harness();
    h.actor.start();
    expect(h.actor.getSnapshot().value).toBe("connecting");
    h.send("a");
    h.send("b");
    expect(h.replies).toEqual([]);
    const link = new FakeLink();
    h.connects[0]?.resolve(link);
    await flush();
    expect(h.actor.getSnapshot().value).toBe("ready");
    expect(link.sent).toEqual(["Get:a", "Get:b"]);
    h.send("c");
    expect(h.replies.map((r) => r[1])).toEqual(["ok:a", "ok:b", "ok:c"]);
    expect(h.actor.getSnapshot().context.reachability).toBe("reachable");
  });

  it("a failed first connect fails held requests with GrpcError and backs off 100, 200, 400 ms", async () => {
    const h = harness();
    h.actor.start();
    h.send("a");
    h.connects[0]?.reject(new Error("dial failed"));
    await flush();
    expect(h.actor.getSnapshot().value).toBe("reconnecting");
    expect(h.replies).toEqual([["GrpcError", undefined]]);
    expect(h.actor.getSnapshot().context.reachability).toBe("unreachable");
    for (const [n, wait] of [
      [1, 100],
      [2, 200],
      [3, 400],
    ] as const) {
      await vi.advanceTimersByTimeAsync(wait - 1);
      expect(h.actor.getSnapshot().value).toBe("reconnecting");
      await vi.advanceTimersByTimeAsync(1);
      expect(h.actor.getSnapshot().value).toBe("connecting");
      expect(h.connects.length).toBe(n + 1);
      h.connects[n]?.reject(new Error("still down"));
      await flush();
    }
    h.connects.length = 0;
  });

  // client-go recreateStreamingClient: the lost stream is re-created at once, and only a failed
  // re-create backs off (a store still serving is not left unreachable for a whole backoff)
  it("stream loss -> connecting at once (requests fail fast) -> ready; a failed re-create backs off", async () => {
    const h = harness();
    h.actor.start();
    h.connects[0]?.resolve(new FakeLink());
    await flush();
    h.lose(new Error("stream reset"));
    expect(h.actor.getSnapshot().value).toBe("connecting");
    expect(h.actor.getSnapshot().context.reachability).toBe("unreachable");
    expect(h.connects.length).toBe(2); // no backoff before the re-create
    h.send("x"); // not the first connect: fail fast, like client-go's "no available connections"
    expect(h.replies[0]?.[0]).toBe("GrpcError");
    h.connects[1]?.reject(new Error("still down"));
    await flush();
    expect(h.actor.getSnapshot().value).toBe("reconnecting");
    h.send("y");
    expect(h.replies[1]?.[0]).toBe("GrpcError");
    await vi.advanceTimersByTimeAsync(99);
    expect(h.actor.getSnapshot().value).toBe("reconnecting");
    await vi.advanceTimersByTimeAsync(1);
    expect(h.actor.getSnapshot().value).toBe("connecting");
    const link2 = new FakeLink();
    h.connects[2]?.resolve(link2);
    await flush();
    expect(h.actor.getSnapshot().value).toBe("ready");
    h.send("z");
    expect(link2.sent).toEqual(["Get:z"]);
  });

  it("records the newest health feedback only", async () => {
    const h = harness();
    h.actor.start();
    h.actor.send({ type: "HEALTH_FEEDBACK", slowScore: 50, seq: 5n });
    h.actor.send({ type: "HEALTH_FEEDBACK", slowScore: 2, seq: 3n });
    expect(h.actor.getSnapshot().context.slowScore).toBe(50);
    h.actor.send({ type: "HEALTH_FEEDBACK", slowScore: 1, seq: 6n });
    expect(h.actor.getSnapshot().context.slowScore).toBe(1);
  });

  it("STOP closes the link and answers later requests with ShuttingDownError", async () => {
    const h = harness();
    h.actor.start();
    const link = new FakeLink();
    h.connects[0]?.resolve(link);
    await flush();
    h.actor.send({ type: "STOP" });
    expect(h.actor.getSnapshot().value).toBe("stopped");
    expect(link.closed).toBe(true);
    h.send("late");
    expect(h.replies).toEqual([["ShuttingDownError", undefined]]);
  });

  it("STOP while connecting fails held requests with ShuttingDownError", async () => {
    const h = harness();
    h.actor.start();
    const errs: Error[] = [];
    h.actor.send({ type: "SEND", cmd: "Get", req: "a", opts: undefined, reply: (e) => e && errs.push(e) });
    h.actor.send({ type: "STOP" });
    expect(errs[0]).toBeInstanceOf(ShuttingDownError);
  });

  it("every request the machine refuses itself is marked as never sent", async () => {
    const h = harness();
    h.actor.start();
    const errs: Error[] = [];
    const send = (req: string) =>
      h.actor.send({ type: "SEND", cmd: "Get", req, opts: undefined, reply: (e) => e && errs.push(e) });
    send("held"); // held during the first connect, failed when it fails
    h.connects[0]?.reject(new Error("dial failed"));
    await flush();
    send("reconnecting"); // refused while reconnecting
    await vi.advanceTimersByTimeAsync(100);
    send("connecting"); // never connected yet: held again, then failed by STOP
    h.actor.send({ type: "STOP" });
    send("stopped"); // refused after STOP
    expect(errs.map((e) => e.constructor.name)).toEqual([
      "GrpcError",
      "GrpcError",
      "ShuttingDownError",
      "ShuttingDownError",
    ]);
    expect(errs.every(wasNotSent)).toBe(true);
  });

  it("reconnect delay: exponential, capped, equal jitter stays within [v/2, v]", () => {
    expect(storeReconnectDelay({ baseMs: 100, capMs: 2000 }, 1)).toBe(100);
    expect(storeReconnectDelay({ baseMs: 100, capMs: 2000 }, 6)).toBe(2000);
    expect(storeReconnectDelay({ baseMs: 100, capMs: 2000, random: () => 0 }, 3)).toBe(200);
    expect(storeReconnectDelay({ baseMs: 100, capMs: 2000, random: () => 0.999 }, 3)).toBe(399);
  });
});
