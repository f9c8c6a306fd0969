// The live view's transactions pane and diagrams without a browser: the SSE stream carries each
// transaction's events as they happen, /txns keeps one lane per transaction (states with
// timings, RPCs, regions, outcome) and only the last N finished ones, /charts serves the
// statechart SVGs the page highlights, and a client without the live view observes nothing.
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import type { TxnLane } from "../../src/actors/inspect/txn-lanes.js";
import type { TxnEvent } from "../../src/actors/observe/events.js";
import { TikvClient } from "../../src/api/tikv-client.js";
import { InvalidArgumentError } from "../../src/errors/base.js";
import { uniquePrefix, useCluster } from "../support/cluster.js";

const env = useCluster({ stores: 3, splitKeys: ["m"], regionKeyEncoding: "memcomparable" });

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  expect(r.status).toBe(200);
  return (await r.json()) as T;
}

/** Collects SSE messages of `type` until `done` says enough. */
function stream(url: string, type: string, done: (got: unknown[]) => boolean) {
  const got: unknown[] = [];
  let opened: () => void = () => {};
  const open = new Promise<void>((r) => {
    opened = r;
  });
  const finished = new Promise<unknown[]>((resolve, reject) => {
    const req = request(url, (res) => {
      let buf = "";
      res.setEncoding("utf8");
      opened();
      res.on("data", (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
          const msg = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (/^event: (.*)$/m.exec(msg)?.[1] !== type) continue;
          got.push(JSON.parse(/^data: (.*)$/m.exec(msg)?.[1] ?? "null"));
          if (done(got)) {
            req.destroy();
            resolve(got);
            return;
          }
        }
      });
    });
    req.on("error", (e) =>
      e.message.includes("aborted") || e.message.includes("socket hang up") ? undefined : reject(e),
    );
    req.end();
  });
  return { open, finished };
}

describe("live view: transactions and diagrams", () => {
  it("streams each transaction's events over SSE and keeps a lane per transaction", async () => {
    const client = await env.connect({ inspect: { port: 0, keepFinishedTxns: 2 } });
    const url = client.inspection?.url as string;
    const p = uniquePrefix("lv");
    const sse = stream(`${url}events`, "txn", (got) => got.some((e) => (e as TxnEvent).type === "commit"));
    await sse.open;
    const txn = await client.txn().begin();
    txn.set(`a${p}`, "1");
    txn.set(`z${p}`, "2");
    const commitTs = await txn.commit();
    const events = (await sse.finished) as TxnEvent[];
    const mine = events.filter((e) => e.txn === txn.startTs.toString());
    expect(mine[0]?.type).toBe("begin");
    expect(mine.map((e) => e.type)).toContain("rpc");
    expect(mine.at(-1)).toMatchObject({ type: "commit", commitTs: commitTs.toString(), mode: "2pc" });

    await client.txn().whenIdle();
    const lanes = await getJson<TxnLane[]>(`${url}txns`);
    const lane = lanes.find((l) => l.txn === txn.startTs.toString());
    expect(lane).toMatchObject({ outcome: "committed", mode: "2pc", keys: 2, kind: "optimistic" });
    expect(lane?.states.map((s) => s.state)).toEqual([
      "prewriting",
      "gettingCommitTs",
      "committingPrimary",
      "committed",
      "resting.done",
    ]);
    expect(lane?.regions.length).toBe(2);
    expect(lane?.rpcs).toBeGreaterThanOrEqual(3);

    // only the last 2 finished transactions are kept
    for (let i = 0; i < 3; i++) {
      const t = await client.txn().begin();
      t.set(`${p}${i}`, "v");
      await t.commit();
    }
    const after = await getJson<TxnLane[]>(`${url}txns`);
    expect(after.filter((l) => l.outcome !== "active")).toHaveLength(2);
    expect(after.find((l) => l.txn === txn.startTs.toString())).toBeUndefined();
  });

  it("serves the statechart SVGs the page draws on, and the page's panes", async () => {
    const client = await env.connect({ inspect: { port: 0 } });
    const url = client.inspection?.url as string;
    const charts = await getJson<Array<{ machine: string; svg: string }>>(
      `${url}charts?machines=committer,nosuch`,
    );
    expect(charts.map((c) => c.machine)).toEqual(["committer"]);
    expect(charts[0]?.svg).toContain('data-state="committer.prewriting"');
    expect(charts[0]?.svg).toContain('data-from="committer_prewriting"');
    const page = await (await fetch(url)).text();
    for (const id of ['id="diagrams"', 'id="lanes"', 'id="txnFilter"', 'id="actors"'])
      expect(page).toContain(id);
  });

  it("is off unless asked: a client without the live view records no transaction", async () => {
    const client: TikvClient = await env.connect();
    expect(client.inspection).toBeUndefined();
    const txn = await client.txn().begin();
    expect(txn.recorder).toBeUndefined();
    await txn.rollback();
    // with the live view, every transaction is recorded (the pane needs them)
    const watched = await env.connect({ inspect: { port: 0 } });
    const t2 = await watched.txn().begin();
    expect(t2.recorder).toBeDefined();
    await t2.rollback();
  });

  it("refuses a bad keepFinishedTxns", async () => {
    await expect(
      TikvClient.connect({ pdEndpoints: env.pdEndpoints, inspect: { keepFinishedTxns: -1 } }),
    ).rejects.toThrow(InvalidArgumentError);
  });
});
