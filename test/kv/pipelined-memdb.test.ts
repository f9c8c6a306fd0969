// The pipelined buffer on its own (client-go internal/unionstore/pipelined_memdb_test.go, ported
// by meaning): when flushes trigger, skip and wait, what reads see during and after a flush, the
// key and size totals, generations, the batch-get cache; plus staging and failures, and a
// model test of random writes, reads and flushes against a Map.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyAlreadyExistsError } from "../../src/errors/index.js";
import type { MemDb } from "../../src/kv/memdb/memdb.js";
import {
  type BufferBatchGetter,
  FORCE_FLUSH_MEM_SIZE,
  MIN_FLUSH_KEYS,
  MIN_FLUSH_MEM_SIZE,
  PipelinedMemDb,
  StagingOpenDuringFlushError,
} from "../../src/kv/memdb/pipelined-memdb.js";

const b = (s: string) => Buffer.from(s);
const none: BufferBatchGetter = async () => new Map();

/** A flush function that finishes only when the test lets it. */
function gatedFlush() {
  const gates: Array<() => void> = [];
  const generations: number[] = [];
  const fn = (generation: number, _db: MemDb) => {
    generations.push(generation);
    return new Promise<void>((resolve) => gates.push(resolve));
  };
  return {
    fn,
    generations,
    /** Lets the oldest waiting flush finish. */
    async release() {
      for (let i = 0; i < 20 && gates.length === 0; i++) await Promise.resolve();
      gates.shift()?.();
      await new Promise((r) => setImmediate(r));
    },
    get waiting() {
      return gates.length;
    },
  };
}

const settleSoon = () => new Promise((r) => setImmediate(r));

describe("pipelined memdb: flush trigger (client-go TestPipelinedFlushTrigger)", () => {
  it("does not flush with enough keys but too little memory", async () => {
    const g = gatedFlush();
    const db = new PipelinedMemDb(none, g.fn);
    for (let i = 0; i < MIN_FLUSH_KEYS; i++) {
      db.set(b(String(i)), Buffer.alloc(100));
      expect(await db.flush(false)).toBe(false);
      expect(db.onFlushing).toBe(false);
    }
    expect(db.mutableLen).toBe(MIN_FLUSH_KEYS);
    expect(db.mutableMem).toBeLessThan(MIN_FLUSH_MEM_SIZE);
  });

  it("does not flush with enough memory but too few keys", async () => {
    const g = gatedFlush();
    const db = new PipelinedMemDb(none, g.fn);
    const value = Buffer.alloc(Math.ceil((MIN_FLUSH_MEM_SIZE / MIN_FLUSH_KEYS) * 1.2));
    for (let i = 0; i < MIN_FLUSH_KEYS - 1; i++) {
      db.set(b(String(i)), value);
      expect(await db.flush(false)).toBe(false);
    }
    expect(db.mutableLen).toBeLessThan(MIN_FLUSH_KEYS);
    expect(db.mutableMem).toBeGreaterThan(MIN_FLUSH_MEM_SIZE);
    expect(db.mutableMem).toBeLessThan(FORCE_FLUSH_MEM_SIZE);
    expect(db.onFlushing).toBe(false);
  });

  it("flushes once both the key count and the memory are reached, and counts the flushed keys", async () => {
    const g = gatedFlush();
    const db = new PipelinedMemDb(none, g.fn);
    const value = Buffer.alloc(Math.ceil((MIN_FLUSH_MEM_SIZE / MIN_FLUSH_KEYS) * 1.2));
    for (let i = 0; i < MIN_FLUSH_KEYS; i++) {
      db.set(b(String(i)), value);
      const flushed = await db.flush(false);
      expect(flushed).toBe(i === MIN_FLUSH_KEYS - 1);
      expect(db.onFlushing).toBe(i === MIN_FLUSH_KEYS - 1);
    }
    expect(db.mutableLen).toBe(0);
    // the flushing generation's keys and bytes count in the totals
    expect(db.len).toBe(MIN_FLUSH_KEYS);
    expect(db.size).toBe(db.flushingSize);
    await g.release();
    await db.flushWait();
    expect(db.onFlushing).toBe(false);
  });
});

// small thresholds: the same rules at a size a unit test can fill quickly (client-go's failpoints)
const SMALL = { minFlushKeys: 10, minFlushMemSize: 2_000, forceFlushMemSize: 20_000 };
const fill = (db: PipelinedMemDb, from: number, n: number, valueBytes = 200) => {
  for (let i = from; i < from + n; i++)
    db.set(b(`k${String(i).padStart(6, "0")}`), Buffer.alloc(valueBytes, 1));
};

describe("pipelined memdb: skip and block (TestPipelinedFlushSkip / TestPipelinedFlushBlock)", () => {
  it("skips a due flush while one runs, and flushes once it finished", async () => {
    const g = gatedFlush();
    const db = new PipelinedMemDb(none, g.fn, SMALL);
    fill(db, 0, 10);
    expect(await db.flush()).toBe(true);
    expect(db.onFlushing).toBe(true);
    expect(db.mutableLen).toBe(0);
    fill(db, 10, 10);
    expect(db.mutableMem).toBeLessThan(SMALL.forceFlushMemSize);
    expect(await db.flush()).toBe(false); // an ongoing flush: skipped, no wait
    expect(db.mutableLen).toBe(10);
    await g.release();
    await db.flushWait();
    expect(await db.flush()).toBe(true);
    expect(db.mutableLen).toBe(0);
    expect(db.len).toBe(20);
    await g.release();
    await db.flushWait();
  });

  it("waits for the running flush once the buffer passed the force size", async () => {
    const g = gatedFlush();
    const db = new PipelinedMemDb(none, g.fn, SMALL);
    fill(db, 0, 10);
    expect(await db.flush()).toBe(true);
    fill(db, 10, 9, 2_500); // fewer keys than the minimum, but past the force size
    expect(db.mutableMem).toBeGreaterThan(SMALL.forceFlushMemSize);
    let returned = false;
    const second = db.flush().then((f) => {
      returned = true;
      return f;
    });
    await settleSoon();
    await settleSoon();
    expect(returned).toBe(false); // blocked behind the first flush
    expect(db.onFlushing).toBe(true);
    expect(g.generations).toEqual([1]);
    await g.release(); // the first flush ends: the second starts
    expect(await second).toBe(true);
    expect(db.onFlushing).toBe(true);
    expect(g.generations).toEqual([1, 2]);
    await g.release();
    await db.flushWait();
  });

  it("a forced flush waits for the running one (client-go integration TestPipelinedFlushBlock)", async () => {
    const g = gatedFlush();
    const db = new PipelinedMemDb(none, g.fn);
    db.set(b("key1"), b("value1"));
    expect(await db.flush(true)).toBe(true);
    db.set(b("key2"), b("value2"));
    let returned = false;
    const second = db.flush(true).then((f) => {
      returned = true;
      return f;
    });
    await settleSoon();
    expect(returned).toBe(false);
    await g.release();
    expect(await second).toBe(true);
    await g.release();
    await db.flushWait();
    expect(g.generations).toEqual([1, 2]);
  });
});

describe("pipelined memdb: reads, totals, generations", () => {
  it("reads a key from the flushing buffer, and no longer once a later flush replaced it (TestPipelinedFlushGet)", async () => {
    const g = gatedFlush();
    const db = new PipelinedMemDb(none, g.fn, SMALL);
    db.set(b("key"), b("value"));
    fill(db, 0, 10);
    expect((await db.get(b("key")))?.toString()).toBe("value");
    expect(await db.flush()).toBe(true);
    expect(db.onFlushing).toBe(true);
    // in the flushing buffer, not the mutable one, and still readable
    expect(db.mutableLen).toBe(0);
    expect((await db.get(b("key")))?.toString()).toBe("value");
    expect(db.getLocal(b("key"))?.toString()).toBe("value");
    await g.release();
    fill(db, 0, 10);
    expect(await db.flush()).toBe(true);
    // now only TiKV's buffer holds it (this getter knows nothing): the snapshot must be read
    expect(await db.get(b("key"))).toBeUndefined();
    await g.release();
    await db.flushWait();
  });

  it("keeps the key count and bytes across flushes (TestPipelinedFlushSize)", async () => {
    const db = new PipelinedMemDb(none, async () => {}, SMALL);
    let keys = 0;
    let size = 0;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 10; i++) {
        const k = b(`r${round}-${i}`);
        const v = Buffer.alloc(200);
        keys++;
        size += k.length + v.length;
        db.set(k, v);
        expect(db.len).toBe(keys);
        expect(db.size).toBe(size);
      }
      expect(await db.flush(round === 1)).toBe(true);
      expect(db.mutableLen).toBe(0);
      expect(db.len).toBe(keys);
      expect(db.size).toBe(size);
      if (round === 0) await db.flushWait();
    }
    await db.flushWait();
  });

  it("numbers generations from 1, one per flush (TestPipelinedFlushGeneration)", async () => {
    const seen: number[] = [];
    const db = new PipelinedMemDb(none, async (g) => {
      seen.push(g);
    });
    for (let i = 0; i < 100; i++) {
      db.set(Buffer.from([i]), Buffer.from([i]));
      await db.flush(true);
      await db.flushWait();
      expect(seen[i]).toBe(i + 1);
    }
    expect(db.generation).toBe(100);
  });

  it("follows adjusted thresholds (TestPipelinedAdjustFlushCondition)", async () => {
    const ok = async () => {};
    const base = new PipelinedMemDb(none, ok);
    base.set(b("key"), b("value"));
    expect(await base.flush()).toBe(false);
    const one = new PipelinedMemDb(none, ok, { minFlushKeys: 1, minFlushMemSize: 1 });
    one.set(b("key"), b("value"));
    expect(await one.flush()).toBe(true);
    await one.flushWait();
    const two = new PipelinedMemDb(none, ok, { minFlushKeys: 2, minFlushMemSize: 1 });
    two.set(b("key"), b("value"));
    expect(await two.flush()).toBe(false);
    const forced = new PipelinedMemDb(none, ok, {
      minFlushKeys: 2,
      minFlushMemSize: 1,
      forceFlushMemSize: 2,
    });
    forced.set(b("key"), b("value"));
    expect(await forced.flush()).toBe(true); // the force size overrides the key count
    await forced.flushWait();
  });
});

describe("pipelined memdb: batch-get cache (TestMemBufferBatchGetCache)", () => {
  it("caches batch reads, negative ones too, and drops the cache at every flush", async () => {
    const remote = new Map<string, Buffer>();
    let remoteCalls = 0;
    const getter: BufferBatchGetter = async (keys) => {
      remoteCalls++;
      const m = new Map<string, Buffer>();
      for (const k of keys) {
        const v = remote.get(k.toString("latin1"));
        if (v) m.set(k.toString("latin1"), v);
      }
      return m;
    };
    const db = new PipelinedMemDb(getter, async (_g, mem) => {
      for (const e of mem.iterate()) remote.set(e.key.toString("latin1"), e.value);
    });
    const mustFlush = async () => {
      expect(await db.flush(true)).toBe(true);
      await settleSoon();
    };
    db.set(b("k1"), b("v11"));
    await mustFlush();
    db.set(b("k2"), b("v21"));
    await mustFlush();
    // mutable: [], flushing: [k2], TiKV: [k1, k2]
    expect(db.getLocal(b("k1"))).toBeUndefined();
    expect(db.getLocal(b("k2"))?.toString()).toBe("v21");
    const m = await db.batchGet([b("k1"), b("k2")]);
    expect([...m].map(([k, v]) => `${k}=${v}`)).toEqual(["k2=v21", "k1=v11"]);
    expect(db.cached(b("k1")) && db.cached(b("k2"))).toBe(true);
    expect(db.cached(b("k3"))).toBe(false);
    expect((await db.batchGet([b("k3")])).size).toBe(0);
    expect(db.cached(b("k3"))).toBe(true); // "not there" is cached too
    const calls = remoteCalls;
    expect((await db.get(b("k1")))?.toString()).toBe("v11");
    expect(await db.get(b("k3"))).toBeUndefined();
    expect(remoteCalls).toBe(calls); // answered from the cache
    db.delete(b("k1"));
    db.set(b("k2"), b("v22"));
    db.delete(b("k3"));
    await mustFlush();
    expect(db.cached(b("k1"))).toBe(false); // the flush dropped the cache
    await db.flushWait();
    const m2 = await db.batchGet([b("k1"), b("k2"), b("k3"), b("k4")]);
    expect(m2.get("k1")?.length).toBe(0); // deletes are empty values
    expect(m2.get("k2")?.toString()).toBe("v22");
    expect(m2.get("k3")?.length).toBe(0);
    expect(m2.has("k4")).toBe(false);
    expect(db.cached(b("k4"))).toBe(true);
  });
});

describe("pipelined memdb: staging and failures", () => {
  it("refuses to flush with a stage open", async () => {
    const db = new PipelinedMemDb(none, async () => {});
    db.set(b("a"), b("1"));
    const h = db.staging();
    await expect(db.flush(true)).rejects.toBeInstanceOf(StagingOpenDuringFlushError);
    db.release(h);
    expect(await db.flush(true)).toBe(true);
    await db.flushWait();
  });

  it("a failed flush fails every later flush and flushWait; an insert conflict gets the value written", async () => {
    const db = new PipelinedMemDb(none, async () => {
      throw new KeyAlreadyExistsError(b("dup"));
    });
    db.set(b("dup"), b("mine"));
    expect(await db.flush(true)).toBe(true);
    const e = await db.flushWait().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyAlreadyExistsError);
    expect((e as KeyAlreadyExistsError).value?.toString()).toBe("mine");
    await expect(db.flush(true)).rejects.toBe(e);
    await expect(db.flushWait()).rejects.toBe(e);
  });
});

// ---- model test: random writes, reads and flushes against a Map ----

type Op =
  | { t: "set"; k: number; v: number }
  | { t: "del"; k: number }
  | { t: "get"; k: number }
  | { t: "batchGet"; ks: number[] }
  | { t: "flush"; force: boolean }
  | { t: "wait" }
  | { t: "tick" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant("set" as const), k: fc.nat(30), v: fc.nat(1000) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("del" as const), k: fc.nat(30) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("get" as const), k: fc.nat(30) }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("batchGet" as const), ks: fc.array(fc.nat(30), { maxLength: 6 }) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("flush" as const), force: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("wait" as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("tick" as const) }) },
);

describe("pipelined memdb: model", () => {
  it("reads what a Map of the latest writes says, whatever the flushes do", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 80 }), async (ops) => {
        // TiKV's buffer of the transaction: written when a flush finishes (after a few turns)
        const remote = new Map<string, Buffer>();
        const model = new Map<string, string | null>(); // null = deleted
        const db = new PipelinedMemDb(
          async (keys) => {
            const m = new Map<string, Buffer>();
            for (const k of keys) {
              const v = remote.get(k.toString("latin1"));
              if (v) m.set(k.toString("latin1"), v);
            }
            return m;
          },
          async (_g, mem) => {
            await settleSoon();
            for (const e of mem.iterate()) remote.set(e.key.toString("latin1"), Buffer.from(e.value));
          },
          { minFlushKeys: 3, minFlushMemSize: 1, forceFlushMemSize: 2_000 },
        );
        const key = (k: number) => `k${k}`;
        const expected = (k: number) => {
          const v = model.get(key(k));
          return v === undefined ? undefined : (v ?? "");
        };
        for (const op of ops) {
          switch (op.t) {
            case "set":
              db.set(b(key(op.k)), b(`v${op.v}`));
              model.set(key(op.k), `v${op.v}`);
              break;
            case "del":
              db.delete(b(key(op.k)));
              model.set(key(op.k), null);
              break;
            case "get":
              expect((await db.get(b(key(op.k))))?.toString()).toBe(expected(op.k));
              break;
            case "batchGet": {
              const got = await db.batchGet(op.ks.map((k) => b(key(k))));
              for (const k of op.ks) expect(got.get(key(k))?.toString()).toBe(expected(k));
              break;
            }
            case "flush":
              await db.flush(op.force);
              break;
            case "wait":
              await db.flushWait();
              break;
            case "tick":
              await settleSoon();
              break;
          }
          expect(db.len).toBeGreaterThanOrEqual(db.mutableLen);
        }
        await db.flush(true);
        await db.flushWait();
        // everything reached TiKV's buffer, as the model says
        for (const [k, v] of model) expect(remote.get(k)?.toString()).toBe(v ?? "");
        expect(remote.size).toBe(model.size);
      }),
      { numRuns: 150 },
    );
  });
});
