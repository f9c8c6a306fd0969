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

  // issue #9: these passed the old pattern and failed only after the connect timeout
  it.each([
    ["127.0.0.1:0", "port 0 is out of range 1-65535"],
    ["127.0.0.1:99999", "port 99999 is out of range 1-65535"],
    ["pd:65536", "port 65536 is out of range 1-65535"],
    [":2379", "the host is empty"],
    ["http://:2379", "the host is empty"],
    ["", "the host is empty"],
    ["garbage", "it has no port"],
    ["pd:", "it has no port"],
    ["pd:12ab", 'port "12ab" is not a number'],
    ["pd:+80", 'port "+80" is not a number'],
    ["1.2.3.999:2379", '"1.2.3.999" is not an IPv4 address'],
    ["pd host:2379", '"pd host" is not a valid host name'],
    ["-pd:2379", '"-pd" is not a valid host name'],
    ["::1:2379", "an IPv6 address must be in brackets"],
    ["[::1:2379", "no closing bracket"],
    ["[zz]:2379", '"zz" is not an IPv6 address'],
    ["[::1]", "it has no port"],
    ["ftp://pd:2379", 'scheme "ftp" is not supported'],
    ["http://pd:2379/pd/api", "it has a path"],
  ])("rejects the endpoint %j at once, naming it (%s)", (endpoint, why) => {
    try {
      resolveConnectOptions({ pdEndpoints: ["pd:2379", endpoint] });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe("pdEndpoints[1]");
      expect((e as Error).message).toContain(JSON.stringify(endpoint));
      expect((e as Error).message).toContain(why);
    }
  });

  it.each([
    "127.0.0.1:1",
    "pd:65535",
    "http://pd:2379",
    "https://pd.example.com:2379/",
    "grpc://pd-0.pd_peer.svc:2379",
    "[::1]:2379",
    "http://[fe80::1]:2379",
    " 10.0.0.1:2379 ",
  ])("accepts the endpoint %j", (endpoint) => {
    expect(resolveConnectOptions({ pdEndpoints: [endpoint] }).pdEndpoints).toEqual([endpoint.trim()]);
  });

  it.each([
    [{ pdEndpoints: ["h:1"], timeoutMs: 2 ** 31 }, "timeoutMs"],
    [{ pdEndpoints: ["h:1"], connectTimeoutMs: Number.POSITIVE_INFINITY }, "connectTimeoutMs"],
    [{ pdEndpoints: ["h:1"], signal: {} }, "signal"],
  ])("rejects %j (argument %s)", (opts, arg) => {
    expect(() => resolveConnectOptions(opts as never)).toThrow(
      expect.objectContaining({ name: "InvalidArgumentError", argument: arg }),
    );
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
