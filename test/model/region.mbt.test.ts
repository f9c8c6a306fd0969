// Model-based test of the region machine (a region in trouble), replayed against the real
// actor: its `load` actor (the PD lookup) is a parked promise the model's events settle; the
// idle stop runs on vitest fake timers. Oracles (who got an answer, which one) come from the model.
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createActor, fromPromise } from "xstate";
import type { CachedRegion } from "../../src/actors/region-cache/cached-region.js";
import { RegionCache } from "../../src/actors/region-cache/index.js";
import { regionMachine } from "../../src/machines/region.js";
import { FakePd } from "../client/routing/fakes.js";
import { coverageTable, MachineCoverage } from "./coverage.js";
import { modelPaths, replayPath } from "./paths.js";
import { type RegionModelContext as Ctx, regionModel as model } from "./region-model.js";

const IDLE_MS = 1_000;
const real = new MachineCoverage("region", regionMachine);

const KEY = Buffer.from("a");

async function harness() {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n]) pd.addStore(id);
  pd.addRegion(1n, "", "m", [1n, 2n, 3n]);
  pd.addRegion(2n, "m", "", [1n, 2n, 3n]);
  const cache = new RegionCache(pd, { random: () => 0 });
  const loads: Array<{ key: Buffer; resolve: (r: CachedRegion) => void; reject: (e: Error) => void }> = [];
  const machine = regionMachine.provide({
    actors: {
      load: fromPromise<CachedRegion, { key: Buffer }>(
        ({ input }) => new Promise((resolve, reject) => loads.push({ key: input.key, resolve, reject })),
      ),
    },
  });
  const answers: Array<{ key: string; err?: string; region?: bigint | "moved" }> = [];
  const pending = new Set<number>();
  const actor = createActor(machine, {
    input: { regionId: 1n, key: KEY, idleMs: IDLE_MS },
    inspect: real.inspect,
  });
  const wait = (key: string) => {
    const i = answers.length;
    answers.push({ key });
    pending.add(i);
    actor.send({
      type: "WAIT",
      key: Buffer.from(key),
      reply: (err, region) => {
        pending.delete(i);
        const a = answers[i] as (typeof answers)[number];
        if (err) a.err = err.message;
        else a.region = region ? region.id : "moved";
      },
    });
  };
  const loadedLeft = () => (loads.at(-1)?.key.toString() ?? "a") < "m";
  return { pd, cache, loads, actor, answers, pending, wait, loadedLeft };
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe("region machine (model-based, real actor)", () => {
  afterEach(() => vi.useRealTimers());
  const { all, coverage } = modelPaths("region model", model);

  it("the paths cover every state and transition of the model", () => {
    expect(coverage.missingStates()).toEqual([]);
    expect(coverage.missingEdges()).toEqual([]);
  });

  for (const path of all) {
    it(path.description, async () => {
      vi.useFakeTimers();
      const h = await harness();
      h.actor.start();
      h.wait("a"); // the request that found the region in trouble
      let pendingAtStop: number[] = [];
      await replayPath(path, {
        events: {
          WAIT: async () => {
            h.wait("b");
            await flush();
          },
          WAIT_INSIDE: async () => {
            h.wait(h.loadedLeft() ? "c" : "y"); // a key of the loaded region
            await flush();
          },
          WAIT_OUTSIDE: async () => {
            h.wait(h.loadedLeft() ? "x" : "d"); // a key of the other region: this actor reloads for it
            await flush();
          },
          LOAD_OK: async () => {
            const l = h.loads.at(-1);
            l?.resolve(await h.cache.locateKey(l.key));
            await flush();
          },
          LOAD_FAIL: async () => {
            h.loads.at(-1)?.reject(new Error("pd unavailable"));
            await flush();
          },
          IDLE: async () => {
            await vi.advanceTimersByTimeAsync(IDLE_MS - 1);
            expect(h.actor.getSnapshot().status).toBe("active");
            await vi.advanceTimersByTimeAsync(1);
          },
          STOP: async () => {
            pendingAtStop = [...h.pending];
            h.actor.send({ type: "STOP" });
            await flush();
          },
        },
        state: (m) => {
          const ctx = m.context as Ctx;
          const snap = h.actor.getSnapshot();
          expect(snap.value).toBe(m.value);
          // one PD lookup per reload, however many requests wait
          expect(h.loads.length).toBe(ctx.reloads);
          expect(h.pending.size).toBe(ctx.queued);
          const last = h.answers.at(-1);
          if (m.value === "fresh" && last && !h.pending.has(h.answers.length - 1)) {
            // answered with the loaded region when it holds the key, else "moved" (relocate)
            const left = h.loadedLeft();
            expect(last.err).toBeUndefined();
            expect(last.region).toBe(last.key < "m" === left ? (left ? 1n : 2n) : "moved");
          }
          if (m.value === "idleAfterFailure") expect(last?.err).toBe("pd unavailable");
          // requests still waiting when the actor stops are failed, none is dropped
          for (const w of pendingAtStop) expect(h.answers[w]?.err).toBe("region actor stopped");
          if (m.value === "stopped") expect(snap.status).toBe("done");
        },
      });
      h.actor.stop();
    });
  }

  afterAll(() => {
    console.log(`\nregion machine coverage\n${coverageTable([{ name: "region", model: coverage, real }])}`);
  });

  it("covers every state and transition of the real machine", () => {
    expect(real.missingStates()).toEqual([]);
    expect(real.missingEdges()).toEqual([]);
  });
});
