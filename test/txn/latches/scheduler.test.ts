// The latch scheduler (src/actors/txn/latches/scheduler.ts): client-go internal/latch
// scheduler_test.go TestWithConcurrency ported by meaning, and the scheduler's own behaviour:
// FIFO hand-off through promises, the recycling timer (unref'd) and close.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LatchScheduler } from "../../../src/actors/txn/latches/scheduler.js";
import { ShuttingDownError } from "../../../src/errors/server.js";
import { composeTs } from "../../../src/kv/timestamp.js";

const b = (...ks: string[]) => ks.map((k) => Buffer.from(k));
const turn = () => new Promise<void>((r) => setImmediate(r));

// like scheduler_test.go's generate: 1-4 distinct keys out of a..h
function generate(): Buffer[] {
  const table = "abcdefgh";
  const out = new Set<string>();
  for (const chance of [100, 60, 40, 20]) {
    if (Math.random() * 100 < chance) out.add(table[Math.floor(Math.random() * table.length)] as string);
  }
  return b(...out);
}

describe("latch scheduler (client-go scheduler_test.go)", () => {
  it("TestWithConcurrency: 10 workers run 999 transactions over 8 keys; holders never overlap, all finish", async () => {
    const sched = new LatchScheduler(7);
    let ts = 1n;
    const inUse = new Set<string>();
    let overlaps = 0;
    let committed = 0;
    let stale = 0;
    const queue = Array.from({ length: 999 }, generate);
    const worker = async () => {
      for (let keys = queue.shift(); keys; keys = queue.shift()) {
        const lock = await sched.lock(ts++, keys);
        if (lock.isStale) {
          stale++; // the caller would restart the transaction with a new start ts
          sched.unlock(lock);
          continue;
        }
        const names = lock.keys.map(String);
        for (const k of names) {
          if (inUse.has(k)) overlaps++;
          inUse.add(k);
        }
        await turn(); // "do 2PC"
        for (const k of names) inUse.delete(k);
        committed++;
        sched.unlock(lock, ts++);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    expect(overlaps).toBe(0);
    expect(committed + stale).toBe(999);
    expect(committed).toBeGreaterThan(0);
    expect(sched.waiting).toBe(0);
    sched.close();
  });
});

describe("latch scheduler", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("resolves at once when free; a waiter resolves only when the holder unlocks, in arrival order", async () => {
    const sched = new LatchScheduler(16);
    const first = await sched.lock(10n, b("k", "x"));
    expect(first.isAcquired).toBe(true);
    const order: string[] = [];
    const p2 = sched.lock(11n, b("k")).then((l) => {
      order.push("2");
      return l;
    });
    const p3 = sched.lock(12n, b("x", "k")).then((l) => {
      order.push("3");
      return l;
    });
    await turn();
    expect(order).toEqual([]);
    expect(sched.waiting).toBe(2);
    sched.unlock(first, 0n); // failed commit: nothing recorded, nobody stale
    const l2 = await p2;
    await turn();
    expect(order).toEqual(["2"]); // 3 holds "k"'s neighbour "x" but still waits for "k"
    sched.unlock(l2, 0n);
    const l3 = await p3;
    expect(order).toEqual(["2", "3"]);
    expect(l3.isAcquired).toBe(true);
    sched.unlock(l3, 0n);
    sched.close();
  });

  it("a waiter that started before the holder's commit ts resolves stale; a later start gets in", async () => {
    const sched = new LatchScheduler(16);
    const holder = await sched.lock(10n, b("k"));
    const waiting = sched.lock(11n, b("k"));
    sched.unlock(holder, 20n);
    const lost = await waiting;
    expect(lost.isStale).toBe(true);
    sched.unlock(lost);
    expect((await sched.lock(15n, b("k"))).isStale).toBe(true);
    const ok = await sched.lock(21n, b("k"));
    expect(ok.isAcquired).toBe(true);
    sched.close();
  });

  it("recycles old free entries on its timer, measuring age from the newest ts seen", async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const sched = new LatchScheduler(8);
    const t0 = composeTs(Date.now(), 0);
    const l = await sched.lock(t0, b("a", "b"));
    sched.unlock(l, t0 + 1n);
    const held = await sched.lock(t0 + 2n, b("c"));
    expect(sched.table.entryCount).toBe(3);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sched.table.entryCount).toBe(3); // a minute old: kept
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sched.table.entryCount).toBe(1); // two minutes: a and b go, c is held
    sched.unlock(held, 0n);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sched.table.entryCount).toBe(0);
    // after close the timer is gone
    sched.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("close rejects waiting transactions with ShuttingDownError and refuses new ones", async () => {
    const sched = new LatchScheduler(4);
    const holder = await sched.lock(10n, b("k"));
    const waiting = sched.lock(11n, b("k"));
    sched.close();
    await expect(waiting).rejects.toBeInstanceOf(ShuttingDownError);
    await expect(sched.lock(12n, b("z"))).rejects.toBeInstanceOf(ShuttingDownError);
    expect(() => sched.unlock(holder, 30n)).not.toThrow();
    expect(sched.recycle()).toBe(0);
  });

  it("its recycling timer does not keep the process alive", () => {
    const mod = fileURLToPath(new URL("../../../src/actors/txn/latches/scheduler.ts", import.meta.url));
    const script = [
      `const { LatchScheduler } = await import(${JSON.stringify(mod)});`,
      "const s = new LatchScheduler(1024, { recycleIntervalMs: 50 });",
      "const l = await s.lock(5n, [Buffer.from('k')]);",
      "s.unlock(l, 6n);",
      "console.log('done');",
    ].join("\n");
    const started = Date.now();
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 10_000,
    });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("done");
    expect(r.status).toBe(0); // exited by itself (a timeout kill gives null)
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
