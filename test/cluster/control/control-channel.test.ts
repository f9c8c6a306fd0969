import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ControlClient,
  ControlServer,
  decodeControlJson,
  encodeControlJson,
  RemoteControlError,
} from "../../../src/cluster/control/index.js";

class FakeTopology {
  calls: unknown[][] = [];
  _secret() {
    return "internal";
  }
  split(key: Buffer, at: bigint) {
    this.calls.push([key, at]);
    return { left: Buffer.concat([key, Buffer.from([0])]), version: at + 1n };
  }
  async slow(ms: number) {
    await new Promise((r) => setTimeout(r, ms));
    return ms;
  }
  fail() {
    const e = new Error("split key outside region") as Error & { code: string };
    e.name = "TopologyError";
    e.code = "INVALID_ARGUMENT";
    throw e;
  }
}

describe("control json", () => {
  it("round-trips bytes, bigints beyond 2^53 and nested values", () => {
    const v = { k: Buffer.from([0, 255, 1]), ts: 449_000_000_000_000_000n, list: [new Uint8Array([7]), 3n] };
    const back = decodeControlJson(encodeControlJson(v)) as typeof v;
    expect(back.k).toEqual(Buffer.from([0, 255, 1]));
    expect(back.ts).toBe(449_000_000_000_000_000n);
    expect(back.list).toEqual([Buffer.from([7]), 3n]);
  });

  it("encodes a bare Buffer at the top level", () => {
    expect(decodeControlJson(encodeControlJson(Buffer.from("ab")))).toEqual(Buffer.from("ab"));
  });

  it("carries an error's name, message and code", () => {
    const e = Object.assign(new Error("boom"), { code: "X" });
    const back = decodeControlJson(encodeControlJson({ error: e })) as { error: RemoteControlError };
    expect(back.error).toBeInstanceOf(RemoteControlError);
    expect(back.error.message).toBe("boom");
    expect(back.error.code).toBe("X");
  });
});

describe("control channel over loopback", () => {
  const topo = new FakeTopology();
  let server: ControlServer;
  let client: ControlClient;
  beforeAll(async () => {
    server = await ControlServer.start({ topology: topo });
    client = new ControlClient(server.url);
  });
  afterAll(() => server.close());

  it("calls a method in the other side with typed arguments and result", async () => {
    const remote = client.target<FakeTopology>("topology");
    const r = await remote.split(Buffer.from("k"), 41n);
    expect(r.left).toEqual(Buffer.from("k\0"));
    expect(r.version).toBe(42n);
    expect(topo.calls.at(-1)).toEqual([Buffer.from("k"), 41n]);
  });

  it("awaits async methods", async () => {
    expect(await client.target<FakeTopology>("topology").slow(5)).toBe(5);
  });

  it("rethrows the remote error with its code", async () => {
    await expect(client.target<FakeTopology>("topology").fail()).rejects.toMatchObject({
      name: "RemoteControlError",
      remoteName: "TopologyError",
      code: "INVALID_ARGUMENT",
      message: "split key outside region",
    });
  });

  it("refuses private methods, unknown targets and unknown methods", async () => {
    await expect(client.call("topology", "_secret", [])).rejects.toThrow(/not callable/);
    await expect(client.call("nope", "split", [])).rejects.toThrow(/not callable/);
    await expect(client.call("topology", "constructor", [])).rejects.toThrow(/not callable/);
  });

  it("rejects a body that is not an argument array", async () => {
    const res = await fetch(`${server.url}/call/topology/split`, { method: "POST", body: '{"a":1}' });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/JSON array/);
  });
});
