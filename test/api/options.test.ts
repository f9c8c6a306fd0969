import { describe, expect, it } from "vitest";
import { resolveConnectOptions, resolveRawOptions } from "../../src/api/options.js";
import { InvalidArgumentError, TikvClient } from "../../src/index.js";

describe("connect options", () => {
  it("fills in defaults", () => {
    const o = resolveConnectOptions({ pdEndpoints: [" 127.0.0.1:2379 "] });
    expect(o).toMatchObject({
      pdEndpoints: ["127.0.0.1:2379"],
      apiVersion: "v1",
      timeoutMs: 20_000,
      maxBackoffMs: 20_000,
      maxBatchSize: 128,
      keyspace: undefined,
    });
  });

  it.each([
    [{}, "pdEndpoints"],
    [{ pdEndpoints: [] }, "pdEndpoints"],
    [{ pdEndpoints: ["no-port"] }, "pdEndpoints[0]"],
    [{ pdEndpoints: ["h:1", 5] }, "pdEndpoints[1]"],
    [{ pdEndpoints: ["h:1"], apiVersion: "v3" }, "apiVersion"],
    [{ pdEndpoints: ["h:1"], keyspace: "ks" }, "keyspace"],
    [{ pdEndpoints: ["h:1"], apiVersion: "v2", keyspace: "" }, "keyspace"],
    [{ pdEndpoints: ["h:1"], timeoutMs: -1 }, "timeoutMs"],
    [{ pdEndpoints: ["h:1"], timeoutMs: 1.5 }, "timeoutMs"],
    [{ pdEndpoints: ["h:1"], maxBatchSize: 0 }, "maxBatchSize"],
    [{ pdEndpoints: ["h:1"], tls: "yes" }, "tls"],
    [{ pdEndpoints: ["h:1"], grpcOptions: 3 }, "grpcOptions"],
  ])("rejects %j (argument %s)", (opts, arg) => {
    try {
      resolveConnectOptions(opts as never);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe(arg);
    }
  });

  it("accepts http:// URLs, IPv6 literals and a keyspace with v2", () => {
    expect(() =>
      resolveConnectOptions({
        pdEndpoints: ["http://pd:2379", "[::1]:2379"],
        apiVersion: "v2",
        keyspace: "a",
      }),
    ).not.toThrow();
  });

  it("TikvClient.connect validates before connecting", async () => {
    await expect(TikvClient.connect({ pdEndpoints: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(TikvClient.connect(null as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe("raw client options", () => {
  it("defaults and validation", () => {
    expect(resolveRawOptions()).toEqual({ columnFamily: "", atomic: false });
    expect(resolveRawOptions({ columnFamily: "write", atomic: true })).toEqual({
      columnFamily: "write",
      atomic: true,
    });
    expect(() => resolveRawOptions({ columnFamily: 3 as never })).toThrow(InvalidArgumentError);
    expect(() => resolveRawOptions({ atomic: "y" as never })).toThrow(InvalidArgumentError);
  });
});
