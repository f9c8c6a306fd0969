// client.observe() and client.events against the embedded cluster: the events of an optimistic
// commit in order, a commit meeting a region error (the RPC with its outcome, the backoff, the
// retry), an async commit falling back to 2PC (mode and fallback on the commit event and in the
// commit callback), a failed commit's rollback event, the eventemitter3 events, and "nothing is
// built while nobody listens" (a spy on the recorder's constructor and on the hub's publish).
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ActorTransition, TxnEvent } from "../../src/actors/observe/events.js";
import { ObserveHub } from "../../src/actors/observe/hub.js";
import { TxnRecorder } from "../../src/actors/observe/txn-recorder.js";
import type { TikvClient } from "../../src/api/tikv-client.js";
import type { CommitReport } from "../../src/api/transaction.js";
import { RegionErrors } from "../../src/cluster/tikv/region-errors.js";
import { itFault, uniquePrefix, useCluster } from "../support/cluster.js";

const env = useCluster({ stores: 3, splitKeys: ["m"], regionKeyEncoding: "memcomparable" });

function collect(client: TikvClient): { events: TxnEvent[]; stop: () => void } {
  const events: TxnEvent[] = [];
  const sub = client.observe().txns.subscribe((e) => events.push(e));
  return { events, stop: () => sub.unsubscribe() };
}

const states = (evs: TxnEvent[]) => evs.flatMap((e) => (e.type === "state" ? [e.to] : []));

afterEach(() => {
  vi.restoreAllMocks();
});

describe("client.observe()", () => {
  it("emits begin, commitStart, the committer's states, each RPC, then commit (optimistic 2PC)", async () => {
    const client = await env.connect();
    const { events, stop } = collect(client);
    const p = uniquePrefix("obs");
    const txn = await client.txn().begin();
    txn.set(`${p}a`, "1");
    txn.set(`${p}b`, "2");
    const commitTs = await txn.commit();
    await client.txn().whenIdle();
    stop();
    const mine = events.filter((e) => e.txn === txn.startTs.toString());
    expect(mine[0]).toMatchObject({ type: "begin", kind: "optimistic", asyncCommit: false, onePC: false });
    expect(mine[1]).toMatchObject({ type: "commitStart", keys: 2, primary: `${p}a` });
    // the committer's path, in order
    expect(states(mine)).toEqual([
      "prewriting",
      "gettingCommitTs",
      "committingPrimary",
      "committed",
      "resting.done",
    ]);
    const rpcs = mine.flatMap((e) => (e.type === "rpc" ? [`${e.command}:${e.outcome}`] : []));
    expect(rpcs[0]).toBe("Prewrite:ok");
    expect(rpcs).toContain("Commit:ok");
    expect(rpcs.indexOf("Commit:ok")).toBeGreaterThan(rpcs.lastIndexOf("Prewrite:ok"));
    const commit = mine.find((e) => e.type === "commit");
    expect(commit).toMatchObject({ commitTs: commitTs.toString(), mode: "2pc", asyncCommitFallback: false });
    // the commit event comes once the primary is committed: after the primary's Commit RPC
    expect(mine.indexOf(commit as TxnEvent)).toBeGreaterThan(
      mine.findIndex((e) => e.type === "rpc" && e.command === "Commit"),
    );
    for (const e of mine.filter((x) => x.type === "rpc")) {
      expect(e).toMatchObject({
        regionId: expect.stringMatching(/^\d+$/),
        storeId: expect.stringMatching(/^\d+$/),
      });
    }
  });

  it("transitions: the committer of an observed transaction, tagged with its start ts", async () => {
    const client = await env.connect();
    const seen: ActorTransition[] = [];
    const sub = client.observe().transitions.subscribe((t) => seen.push(t));
    const txn = await client.txn().begin();
    txn.set(`${uniquePrefix("obst")}k`, "v");
    await txn.commit();
    await client.txn().whenIdle();
    sub.unsubscribe();
    const mine = seen.filter((t) => t.txn === txn.startTs.toString());
    expect(mine.map((t) => [t.kind, t.from, t.to, t.event])).toEqual([
      ["committer", "", "prewriting", ""],
      ["committer", "prewriting", "gettingCommitTs", "PREWRITE_OK"],
      ["committer", "gettingCommitTs", "committingPrimary", "COMMIT_TS"],
      ["committer", "committingPrimary", "committed", "PRIMARY_COMMITTED"],
      ["committer", "committed", "resting.done", "SECONDARIES_DONE"],
    ]);
  });

  itFault("a prewrite meeting a region error: the failed attempt, its backoff, then the retry", async () => {
    const client = await env.connect();
    const { events, stop } = collect(client);
    const p = uniquePrefix("obsre");
    const key = Buffer.from(`${p}k`);
    env.cluster.faults.failNext({
      rpc: "KvPrewrite",
      count: 1,
      // no leader known: the client backs off (regionScheduling) and asks again
      error: { regionError: RegionErrors.notLeader(0) },
    });
    const regionErrors: unknown[] = [];
    client.events.on("region:error", (e) => regionErrors.push(e));
    const txn = await client.txn().begin();
    txn.set(key, "v");
    await txn.commit();
    stop();
    const mine = events.filter((e) => e.txn === txn.startTs.toString());
    const prewrites = mine.filter((e) => e.type === "rpc" && e.command === "Prewrite");
    // the injected NotLeader (a follower tried meanwhile may answer NotLeader too), then success
    const outcomes = prewrites.map((e) => (e.type === "rpc" ? `${e.outcome}:${e.detail ?? ""}` : ""));
    expect(outcomes[0]).toBe("regionError:notLeader");
    expect(outcomes.at(-1)).toBe("ok:");
    expect(outcomes.slice(0, -1).every((o) => o.startsWith("regionError:"))).toBe(true);
    const first = mine.indexOf(prewrites[0] as TxnEvent);
    const backoff = mine.findIndex((e) => e.type === "backoff");
    expect(backoff).toBeGreaterThan(first);
    expect(backoff).toBeLessThan(mine.indexOf(prewrites.at(-1) as TxnEvent));
    expect(mine[backoff]).toMatchObject({ type: "backoff", kind: "regionScheduling" });
    expect(regionErrors).toEqual(prewrites.slice(0, -1));
  });

  it("an async commit too large for async commit falls back to 2PC: mode and fallback on the event and the callback", async () => {
    const client = await env.connect();
    const { events, stop } = collect(client);
    const p = uniquePrefix("obsac");
    const reports: CommitReport[] = [];
    const txn = await client.txn().begin({ asyncCommit: true, onCommitted: (r) => reports.push(r) });
    // client-go: at most 256 keys in an async commit
    for (let i = 0; i < 300; i++) txn.set(`${p}${String(i).padStart(3, "0")}`, "v");
    await txn.commit();
    await client.txn().whenIdle();
    stop();
    const mine = events.filter((e) => e.txn === txn.startTs.toString());
    expect(mine[0]).toMatchObject({ type: "begin", asyncCommit: true });
    expect(mine.find((e) => e.type === "commit")).toMatchObject({
      mode: "2pc",
      asyncCommitFallback: true,
      onePCFallback: false,
    });
    expect(states(mine)).toContain("committingPrimary"); // 2PC path, not async commit's
    expect(reports[0]?.info).toEqual({ mode: "2pc", asyncCommitFallback: true, onePCFallback: false });
  });

  itFault(
    "a prewrite meeting a live lock: lockResolve (alive), a txnLock backoff, then the commit",
    async () => {
      const client = await env.connect();
      const { events, stop } = collect(client);
      const locks: unknown[] = [];
      client.events.on("txn:lock", (e) => locks.push(e));
      const k = `${uniquePrefix("obslk")}k`;
      const holder = await client.txn().begin();
      holder.set(k, "a");
      // the holder's primary commit is held back: its lock stays while the other prewrites
      const held = env.cluster.faults.delay({ rpc: "KvCommit", key: k, ms: 400, count: 1 });
      const holderDone = holder.commit();
      await new Promise((r) => setTimeout(r, 150));
      const other = await client.txn().begin();
      other.set(k, "b");
      // the holder's commit ts is below our start ts: once it committed, our retried prewrite succeeds
      await other.commit();
      await holderDone;
      held.cancel();
      stop();
      client.events.removeAllListeners();
      const mine = events.filter((e) => e.txn === other.startTs.toString());
      const lock = mine.find((e) => e.type === "lockResolve");
      expect(lock).toMatchObject({ owners: [holder.startTs.toString()], keys: [k], outcome: "alive" });
      expect(lock?.type === "lockResolve" && lock.msBeforeExpired).toBeGreaterThan(0);
      expect(mine.some((e) => e.type === "backoff" && e.kind === "txnLock")).toBe(true);
      expect(mine.find((e) => e.type === "commit")).toBeDefined();
      expect(mine.indexOf(lock as TxnEvent)).toBeLessThan(mine.findIndex((e) => e.type === "commit"));
      expect(locks).toContainEqual(lock);
    },
  );

  it("1PC over two regions falls back to 2PC: onePCFallback on the commit event", async () => {
    const client = await env.connect();
    const { events, stop } = collect(client);
    const p = uniquePrefix("obs1pc");
    const txn = await client.txn().begin({ onePC: true });
    txn.set(`a${p}`, "1");
    txn.set(`z${p}`, "2"); // split at "m": two regions, two prewrite batches
    await txn.commit();
    await client.txn().whenIdle();
    stop();
    const mine = events.filter((e) => e.txn === txn.startTs.toString());
    expect(mine.find((e) => e.type === "commit")).toMatchObject({ mode: "2pc", onePCFallback: true });
    expect(txn.commitInfo).toMatchObject({ mode: "2pc", onePCFallback: true });
  });

  it("an async commit that fits commits with mode asyncCommit straight from prewriting", async () => {
    const client = await env.connect();
    const { events, stop } = collect(client);
    const txn = await client.txn().begin({ asyncCommit: true });
    txn.set(`${uniquePrefix("obsac2")}k`, "v");
    await txn.commit();
    await client.txn().whenIdle();
    stop();
    const mine = events.filter((e) => e.txn === txn.startTs.toString());
    expect(states(mine)).toEqual(["fetchingLatestTs", "prewriting", "committed", "resting.done"]);
    expect(mine.find((e) => e.type === "commit")).toMatchObject({
      mode: "asyncCommit",
      asyncCommitFallback: false,
    });
  });

  itFault(
    "a failed commit emits rollback with the error; eventemitter3 txn:begin / txn:commit / txn:rollback fire",
    async () => {
      const client = await env.connect();
      const seen: string[] = [];
      const onCommit = (e: { txn: string }) => seen.push(`commit:${e.txn}`);
      client.events.on("txn:begin", (e) => seen.push(`begin:${e.txn}`));
      client.events.on("txn:commit", onCommit);
      client.events.on("txn:rollback", (e) =>
        seen.push(`rollback:${e.txn}:${e.reason}:${e.error?.name ?? ""}`),
      );
      // a throwing listener is ignored
      client.events.once("txn:begin", () => {
        throw new Error("listener bug");
      });
      const p = uniquePrefix("obsfail");
      const ok = await client.txn().begin();
      ok.set(`${p}ok`, "v");
      await ok.commit();
      env.cluster.faults.failNext({
        rpc: "KvPrewrite",
        count: 1,
        error: { keyError: { abort: "injected" } },
      });
      const bad = await client.txn().begin();
      bad.set(`${p}bad`, "v");
      await expect(bad.commit()).rejects.toThrow();
      const rolled = await client.txn().begin();
      await rolled.rollback();
      expect(seen).toEqual([
        `begin:${ok.startTs}`,
        `commit:${ok.startTs}`,
        `begin:${bad.startTs}`,
        expect.stringMatching(new RegExp(`^rollback:${bad.startTs}:commitFailed:\\w+Error$`)),
        `begin:${rolled.startTs}`,
        `rollback:${rolled.startTs}:user:`,
      ]);
      client.events.off("txn:commit", onCommit);
      client.events.removeAllListeners();
    },
  );
});

describe("zero cost when nobody listens", () => {
  it("builds no recorder and publishes nothing for transactions begun while unobserved", async () => {
    const client = await env.connect();
    // every recorder made is told begin() at once: no call = no recorder
    const ctor = vi.spyOn(TxnRecorder.prototype, "begin");
    const publish = vi.spyOn(ObserveHub.prototype, "publishTxn");
    const transition = vi.spyOn(ObserveHub.prototype, "publishTransition");
    const p = uniquePrefix("obsoff");
    const txn = await client.txn().begin();
    txn.set(`${p}k`, "v");
    await txn.commit();
    await client.txn().whenIdle();
    expect(ctor).not.toHaveBeenCalled();
    expect(publish).not.toHaveBeenCalled();
    expect(transition).not.toHaveBeenCalled();
    expect(txn.trace()).toBeUndefined();
    // subscribing turns it on for the next transaction; unsubscribing turns it off again
    const sub = client.observe().txns.subscribe(() => {});
    const t2 = await client.txn().begin();
    t2.set(`${p}k2`, "v");
    await t2.commit();
    await client.txn().whenIdle();
    expect(publish).toHaveBeenCalled();
    sub.unsubscribe();
    publish.mockClear();
    const t3 = await client.txn().begin();
    t3.set(`${p}k3`, "v");
    await t3.commit();
    await client.txn().whenIdle();
    expect(publish).not.toHaveBeenCalled();
    // a listener on client.events counts as listening; removing it stops it
    const l = () => {};
    client.events.on("txn:commit", l);
    expect((await client.txn().begin()).recorder).toBeDefined();
    client.events.off("txn:commit", l);
    expect((await client.txn().begin()).recorder).toBeUndefined();
  });
});

describe("observeActors", () => {
  async function retryTransitions(observeActors: boolean): Promise<ActorTransition[]> {
    const client = await env.connect({ observeActors });
    const key = `${uniquePrefix("oa")}k`;
    await client.raw().put(key, "v");
    const seen: ActorTransition[] = [];
    const sub = client.observe().transitions.subscribe((t) => seen.push(t));
    // a region error sends the read through the retry statechart
    const region = env.cluster.topology.locateKey(Buffer.from(key));
    const fault = env.cluster.faults.failNext({
      rpc: "RawGet",
      regionId: region?.id,
      error: { regionError: RegionErrors.serverIsBusy("busy") },
    });
    try {
      expect((await client.raw().get(key))?.toString()).toBe("v");
    } finally {
      fault.cancel();
      sub.unsubscribe();
    }
    return seen.filter((t) => t.kind === "retry");
  }

  itFault("off (default): the retry actor's transitions are not observed", async () => {
    expect(await retryTransitions(false)).toEqual([]);
  });

  itFault("on: observe().transitions carries the retry actor's states without the live view", async () => {
    const retry = await retryTransitions(true);
    expect(retry.length).toBeGreaterThan(0);
    expect(retry.map((t) => t.to)).toContain("backingOff");
  });

  it("bad input: a non-boolean is refused", async () => {
    await expect(env.connect({ observeActors: "yes" as never })).rejects.toThrow(/observeActors/);
  });
});

describe("observed pipelined transactions", () => {
  it("report begin (pipelined), their flush and commit RPCs, then commit", async () => {
    const client = await env.connect();
    const { events, stop } = collect(client);
    const p = uniquePrefix("opl");
    const txn = await client.txn().begin({ pipelined: true });
    txn.set(`${p}a`, "1");
    txn.set(`${p}z`, "2");
    const commitTs = await txn.commit();
    await client.txn().whenIdle();
    stop();
    const mine = events.filter((e) => e.txn === txn.startTs.toString());
    expect(mine[0]).toMatchObject({ type: "begin", kind: "pipelined" });
    const rpcs = mine.flatMap((e) => (e.type === "rpc" ? [e.command] : []));
    expect(rpcs).toContain("Flush");
    expect(rpcs).toContain("Commit");
    expect(mine.find((e) => e.type === "commit")).toMatchObject({ commitTs: commitTs.toString() });
  });

  it("a traced pipelined transaction keeps its trace", async () => {
    const client = await env.connect();
    const txn = await client.txn().begin({ pipelined: true, trace: true });
    txn.set(`${uniquePrefix("opt")}a`, "1");
    await txn.commit();
    expect(txn.trace()?.kind).toBe("pipelined");
  });
});
