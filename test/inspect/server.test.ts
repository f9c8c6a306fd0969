// The live view's collector and server without a browser: actor views from inspection
// events, the SSE stream and JSON state over HTTP on 127.0.0.1, option validation, and
// "off means off" (no inspection callback on any actor of a client without `inspect`).
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assign, createActor, setup } from "xstate";
import { InspectServer, LiveInspector, stateText } from "../../src/actors/inspect/index.js";
import type { StorePool } from "../../src/actors/store/store-pool.js";
import { TikvClient } from "../../src/api/tikv-client.js";
import { EmbeddedCluster } from "../../src/cluster/embedded-cluster.js";
import { InvalidArgumentError } from "../../src/errors/index.js";

const toy = setup({ types: { context: {} as { storeId: number; n: number } } }).createMachine({
  id: "store",
  context: { storeId: 7, n: 0 },
  initial: "connecting",
  states: {
    connecting: { on: { UP: "ready" } },
    ready: {
      on: { LOST: { target: "reconnecting", actions: assign({ n: ({ context }) => context.n + 1 }) } },
    },
    reconnecting: { on: { UP: "ready", STOP: "stopped" } },
    stopped: { type: "final" },
  },
});

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }),
      );
    })
      .on("error", reject)
      .end();
  });
}

/** Reads SSE messages until `n` arrived. */
function readEvents(
  url: string,
  n: number,
  onOpen: () => void,
): Promise<Array<{ event: string; data: unknown }>> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      const out: Array<{ event: string; data: unknown }> = [];
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        let i = buf.indexOf("\n\n");
        while (i >= 0) {
          const msg = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(msg)?.[1] ?? "";
          const data = JSON.parse(/^data: (.*)$/m.exec(msg)?.[1] ?? "null");
          out.push({ event, data });
          if (out.length === 1) onOpen();
          if (out.length >= n) {
            req.destroy();
            resolve(out);
            return;
          }
          i = buf.indexOf("\n\n");
        }
      });
    });
    req.on("error", (e) => (e.message.includes("aborted") ? undefined : reject(e)));
    req.end();
  });
}

describe("LiveInspector", () => {
  it("keeps each actor's state, label and transition count from inspection events", () => {
    const li = new LiveInspector();
    const seen: string[] = [];
    li.subscribe((v) => seen.push(v.state));
    const a = createActor(toy, { inspect: li.inspect }).start();
    a.send({ type: "UP" });
    a.send({ type: "LOST" });
    const [v] = li.snapshot();
    expect(v).toMatchObject({
      machine: "store",
      actorId: "store 7",
      state: "reconnecting",
      lastEvent: "LOST",
    });
    expect(v?.transitions).toBe(2);
    expect(seen).toEqual(["connecting", "ready", "reconnecting"]);
    a.send({ type: "STOP" });
    expect(li.snapshot()[0]?.status).toBe("done");
  });

  it("a throwing listener never reaches the inspected actor", () => {
    const li = new LiveInspector();
    li.subscribe(() => {
      throw new Error("listener bug");
    });
    const a = createActor(toy, { inspect: li.inspect }).start();
    expect(() => a.send({ type: "UP" })).not.toThrow();
    expect(a.getSnapshot().value).toBe("ready");
  });

  it("prints nested and parallel state values as text", () => {
    expect(stateText("idle")).toBe("idle");
    expect(stateText({ connected: "idle" })).toBe("connected.idle");
    expect(stateText({ a: { b: "c" }, d: "e" })).toBe("a.b.c|d.e");
  });
});

describe("InspectServer", () => {
  it("serves the page, the current state as JSON and changes as Server-Sent Events on 127.0.0.1", async () => {
    const urls: string[] = [];
    const srv = await InspectServer.start({ port: 0, onListening: (u) => urls.push(u) });
    try {
      expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(urls).toEqual([srv.url]);
      const page = await get(srv.url);
      expect(page.status).toBe(200);
      expect(page.type).toContain("text/html");
      expect(page.body).toContain('new EventSource("events")');
      expect(page.body).not.toMatch(/https?:\/\//); // no hosted viewer, no external assets
      const a = createActor(toy, { inspect: srv.inspect }).start();
      const events = readEvents(`${srv.url}events`, 3, () => {
        a.send({ type: "UP" });
        a.send({ type: "LOST" });
      });
      const got = await events;
      expect(got[0]?.event).toBe("snapshot");
      const first = (got[0]?.data ?? []) as Array<{ state: string }>;
      expect(first[0]?.state).toBe("connecting");
      expect(got.slice(1).map((e) => [e.event, (e.data as { state: string }).state])).toEqual([
        ["view", "ready"],
        ["view", "reconnecting"],
      ]);
      const state = JSON.parse((await get(`${srv.url}state`)).body);
      expect(state[0]).toMatchObject({ machine: "store", state: "reconnecting" });
      expect((await get(`${srv.url}nope`)).status).toBe(404);
    } finally {
      await srv.close();
    }
  });

  it("rejects bad options with InvalidArgumentError", async () => {
    await expect(InspectServer.start({ port: 70000 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(InspectServer.start({ port: 1.5 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(InspectServer.start({ host: "" })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe("TikvClient inspect option", () => {
  let cluster: EmbeddedCluster;
  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({ stores: 1 });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  const inspectOf = (a: unknown) => (a as { options: { inspect?: unknown } }).options.inspect;
  const storesOf = (c: TikvClient) => (c as unknown as { stores: StorePool }).stores.all();

  it("is off by default: no actor gets an inspection callback", async () => {
    const client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints });
    try {
      await client.raw().put("k", "v");
      expect(client.inspection).toBeUndefined();
      expect(inspectOf(client.pd.actor)).toBeUndefined();
      const stores = storesOf(client);
      expect(stores.length).toBe(1);
      for (const s of stores) expect(inspectOf(s.actor)).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it("when asked for, serves the live view with the PD and store actors and closes with the client", async () => {
    const client = await TikvClient.connect({ pdEndpoints: cluster.pdEndpoints, inspect: { port: 0 } });
    const url = client.inspection?.url as string;
    try {
      await client.raw().put("k", "v");
      expect(typeof inspectOf(client.pd.actor)).toBe("function");
      for (const s of storesOf(client)) expect(typeof inspectOf(s.actor)).toBe("function");
      const views = JSON.parse((await get(`${url}state`)).body) as Array<{ machine: string; state: string }>;
      expect(views.find((v) => v.machine === "pd")?.state).toBe("connected.idle");
      expect(views.find((v) => v.machine === "store")?.state).toBe("ready");
    } finally {
      await client.close();
    }
    await expect(get(`${url}state`)).rejects.toThrow();
  });

  it("rejects a bad inspect option before connecting", async () => {
    await expect(
      TikvClient.connect({ pdEndpoints: cluster.pdEndpoints, inspect: { port: -1 } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
