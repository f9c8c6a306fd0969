// Committer actors are pooled: one actor serves commit after commit. What must hold: each commit
// gets its own outcome and its own writes whatever ran on the actor before, a committer that ended
// can no longer reach the actor it gave back, and the pool stays bounded.

import { describe, expect, it } from "vitest";
import { createMachine } from "xstate";
import { actorPool } from "../../../src/actors/txn/committer.js";
import { ActorPool } from "../../../src/actors/txn/committer-pool.js";
import { WriteConflictError } from "../../../src/index.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe("the actor pool", () => {
  const machine = createMachine({
    initial: "idle",
    states: {
      idle: { on: { GO: "busy" } },
      busy: { on: { END: "idle", BOOM: "gone" } },
      gone: { type: "final" },
    },
  });

  it("lends back the actor it was given; an observed, stopped or finished actor is not kept", () => {
    const pool = new ActorPool(machine, 2);
    const a = pool.take();
    expect(a.getSnapshot().status).toBe("active");
    pool.give(a, false);
    expect(pool.size).toBe(1);
    expect(pool.take()).toBe(a);
    expect(pool.size).toBe(0);
    // observed: stopped, not pooled
    pool.give(a, true);
    expect(pool.size).toBe(0);
    expect(a.getSnapshot().status).toBe("stopped");
    // a machine that reached a final state cannot serve again
    const b = pool.take();
    b.send({ type: "GO" });
    b.send({ type: "BOOM" });
    pool.give(b, false);
    expect(pool.size).toBe(0);
  });

  it("keeps at most its cap idle; the rest are stopped", () => {
    const pool = new ActorPool(machine, 2);
    const actors = [pool.take(), pool.take(), pool.take()];
    for (const a of actors) pool.give(a, false);
    expect(pool.size).toBe(2);
    expect(actors[2]?.getSnapshot().status).toBe("stopped");
  });
});

describe.skipIf(skipOnRealCluster("v1"))("transactions: committers on pooled actors", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  it("commit after commit of every kind on reused actors: each gets its own outcome and writes", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("reuse");
    const got = async (k: string) => (await (await t.snapshot()).get(k))?.toString();
    for (let round = 0; round < 3; round++) {
      const k = (s: string) => `${s}${p}${round}`;
      // optimistic 2PC across regions
      const a = await t.begin();
      a.set(k("a"), "2pc");
      a.set(k("h"), "2pc");
      a.set(k("q"), "2pc");
      await a.commit();
      // a conflict: the loser fails, rolls back, and writes nothing
      const loser = await t.begin();
      const winner = await t.begin();
      loser.set(k("c"), "loser");
      winner.set(k("c"), "winner");
      await winner.commit();
      await expect(loser.commit()).rejects.toThrow(WriteConflictError);
      // 1PC and async commit
      const one = await t.begin({ onePC: true });
      one.set(k("o"), "1pc");
      await one.commit();
      const ac = await t.begin({ asyncCommit: true });
      ac.set(k("b"), "async");
      ac.set(k("r"), "async");
      await ac.commit();
      // pessimistic: one commits, one rolls back
      const pc = await t.begin({ pessimistic: true });
      await pc.lockKeys([k("m")]);
      pc.set(k("m"), "pessimistic");
      await pc.commit();
      const pr = await t.begin({ pessimistic: true });
      await pr.lockKeys([k("n")]);
      pr.set(k("n"), "rolled back");
      await pr.rollback();
      await t.whenIdle();
      expect(await got(k("a"))).toBe("2pc");
      expect(await got(k("q"))).toBe("2pc");
      expect(await got(k("c"))).toBe("winner");
      expect(await got(k("o"))).toBe("1pc");
      expect(await got(k("r"))).toBe("async");
      expect(await got(k("m"))).toBe("pessimistic");
      expect(await got(k("n"))).toBeUndefined();
    }
    // commits one after another reuse a handful of actors, not one each
    expect(actorPool.size).toBeGreaterThan(0);
    expect(actorPool.size).toBeLessThanOrEqual(4);
  });

  it("64 concurrent commits, some conflicting, on reused actors: exactly the acknowledged writes stand", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("reusec");
    for (let wave = 0; wave < 3; wave++) {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 64 }, async (_, i) => {
          const txn = await t.begin(i % 3 === 0 ? { asyncCommit: true } : i % 3 === 1 ? { onePC: true } : {});
          txn.set(`h${p}${wave}-own-${i}`, `${i}`);
          // every fourth one also writes a shared key: conflicts
          if (i % 4 === 0) txn.set(`a${p}${wave}-shared`, `${i}`);
          await txn.commit();
          return i;
        }),
      );
      await t.whenIdle();
      const snap = await t.snapshot();
      for (const [i, o] of outcomes.entries()) {
        const own = (await snap.get(`h${p}${wave}-own-${i}`))?.toString();
        if (o.status === "fulfilled") expect(own).toBe(`${i}`);
        else {
          expect(o.reason).toBeInstanceOf(WriteConflictError);
          expect(own).toBeUndefined();
        }
      }
      const shared = (await snap.get(`a${p}${wave}-shared`))?.toString();
      const winners = outcomes.flatMap((o, i) => (o.status === "fulfilled" && i % 4 === 0 ? [`${i}`] : []));
      expect(winners).toContain(shared);
      expect(outcomes.filter((o) => o.status === "fulfilled").length).toBeGreaterThanOrEqual(48);
    }
    expect(actorPool.size).toBeLessThanOrEqual(1024);
  });

  it("a committer that ended cannot reach the actor it gave back (now another commit's)", async () => {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("reusel");
    const first = await t.begin({ pessimistic: true });
    await first.lockKeys([`a${p}`]);
    first.set(`a${p}`, "first");
    await first.commit();
    await t.whenIdle();
    // the next pessimistic transaction takes the actor the first one gave back
    const second = await t.begin({ pessimistic: true });
    await second.lockKeys([`h${p}`]);
    // the first transaction's late calls: refused at the facade, and its committer is deaf
    await expect(first.rollback()).rejects.toThrow();
    const committers = (
      t as unknown as {
        pessimisticCommitters: WeakMap<
          object,
          { rollback: (k: Buffer[], ts: bigint) => Promise<void>; state: unknown }
        >;
      }
    ).pessimisticCommitters;
    const c1 = committers.get(first);
    expect(c1).toBeDefined();
    // a late ROLLBACK from the first committer: it must not roll back the second transaction
    await c1?.rollback([Buffer.from(`a${p}`)], first.startTs);
    expect(c1?.state).toBe("done");
    expect(committers.get(second)?.state).toBe("holdingLocks");
    second.set(`h${p}`, "second");
    await second.commit();
    await t.whenIdle();
    const snap = await t.snapshot();
    expect((await snap.get(`a${p}`))?.toString()).toBe("first");
    expect((await snap.get(`h${p}`))?.toString()).toBe("second");
  });
});
