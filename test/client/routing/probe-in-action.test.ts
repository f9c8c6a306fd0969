// Store liveness probes are started by the retry machine's send-failure decision, i.e. inside an
// XState action, and may create the store's actor. Creating an actor inside another actor's
// action made XState warn "Custom actions should not call `assign()` directly" (and `raise()`)
// in runs with store failures (issue #9). The probes start outside the action now.

import { createServer } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createActor, setup } from "xstate";
import type { StoreEntry } from "../../../src/actors/region-cache/store-cache.js";
import { probeFromPool } from "../../../src/actors/request/store-pool-sender.js";
import { storeProbe } from "../../../src/actors/runtime/routed-sender.js";
import { StorePool } from "../../../src/actors/store/store-pool.js";

async function deadAddress(): Promise<string> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(`127.0.0.1:${p}`));
    });
  });
}

function entry(address: string): StoreEntry {
  return {
    id: 7n,
    address,
    labels: [],
    resolve: "resolved",
    epoch: 0,
    liveness: "reachable",
    slowScore: 1,
    tikvSlowScore: 1,
    estimatedWaitMs: 0,
    estimatedWaitAt: 0,
  };
}

describe("store probes started from a machine action", () => {
  afterEach(() => vi.restoreAllMocks());

  for (const [name, make] of [
    ["storeProbe", storeProbe],
    ["probeFromPool", probeFromPool],
  ] as const) {
    it(`${name}: creates the store actor outside the action (no XState warning) and reports unreachable`, async () => {
      const warn = vi.spyOn(console, "warn");
      const pool = new StorePool({ backoff: { baseMs: 10_000, capMs: 10_000 } });
      const probe = make(pool, 100);
      let result: Promise<string> | undefined;
      // the shape of the real call: a custom action of a running machine calls the probe
      const machine = setup({
        actions: {
          sendFailed: () => {
            result = probe(entry(address));
          },
        },
      }).createMachine({ entry: "sendFailed" });
      const address = await deadAddress();
      createActor(machine).start();
      // nothing was created synchronously inside the action
      expect(pool.peek(7)).toBeUndefined();
      expect(await result).toBe("unreachable");
      expect(pool.peek(7)?.address).toBe(address);
      expect(warn.mock.calls.filter((c) => String(c[0]).includes("should not call"))).toEqual([]);
      pool.close();
    });
  }

  it("a probe after the pool closed resolves or rejects, it does not throw into the action", async () => {
    const pool = new StorePool();
    pool.close();
    const probe = storeProbe(pool, 50);
    let threw = false;
    let p: Promise<unknown> | undefined;
    const machine = setup({
      actions: {
        sendFailed: () => {
          try {
            p = probe(entry("127.0.0.1:1"));
          } catch {
            threw = true;
          }
        },
      },
    }).createMachine({ entry: "sendFailed" });
    createActor(machine).start();
    expect(threw).toBe(false);
    await expect(p).rejects.toThrow(/store pool closed/);
  });
});
