// The pluggable logger: silent by default, client-go's slow-request log (slowLogSendReqTime) when
// a logger is given, a throwing logger never breaks a call, and what bad options get.

import { afterEach, describe, expect, it, vi } from "vitest";
import { resolveConnectOptions } from "../../src/api/options.js";
import { InvalidArgumentError, type Logger } from "../../src/index.js";
import { itFault, uniquePrefix, useCluster } from "../support/cluster.js";

interface Entry {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

function memoryLogger(): { logger: Logger; entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg?: string) => {
    entries.push({ level, obj, msg });
  };
  return {
    entries,
    logger: {
      trace: at("trace"),
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
    },
  };
}

describe("logging", () => {
  const env = useCluster({ stores: 1 });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  itFault("a given logger receives the slow-request entry of a delayed RPC", async () => {
    const { logger, entries } = memoryLogger();
    const client = await env.connect({ logger, slowRequestThresholdMs: 50 });
    const raw = client.raw();
    const k = `${uniquePrefix("log-slow")}k`;
    await raw.put(k, "v");
    expect(entries).toEqual([]); // fast requests are not logged
    const fault = env.cluster.faults.delay({ rpc: "RawGet", key: k, ms: 150, count: 1 });
    try {
      expect(await raw.get(k)).toEqual(Buffer.from("v"));
    } finally {
      fault.cancel();
    }
    expect(entries).toHaveLength(1);
    const e = entries[0] as Entry;
    expect(e.level).toBe("warn");
    expect(e.msg).toBe("slow request");
    expect(e.obj).toMatchObject({ command: "RawGet", attempt: 0, thresholdMs: 50 });
    expect(e.obj.durationMs as number).toBeGreaterThanOrEqual(140);
    expect(e.obj.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof e.obj.regionId).toBe("string");
    expect(e.obj.error).toBeUndefined();
  });

  itFault("the default threshold is 100 ms", async () => {
    const { logger, entries } = memoryLogger();
    const client = await env.connect({ logger });
    const raw = client.raw();
    const k = `${uniquePrefix("log-default")}k`;
    await raw.put(k, "v");
    const fast = env.cluster.faults.delay({ rpc: "RawGet", key: k, ms: 30, count: 1 });
    await raw.get(k);
    fast.cancel();
    expect(entries).toHaveLength(0);
    env.cluster.faults.delay({ rpc: "RawGet", key: k, ms: 150, count: 1 });
    await raw.get(k);
    expect(entries.map((e) => e.msg)).toEqual(["slow request"]);
  });

  itFault("nothing is logged without a logger, and no interceptor runs", async () => {
    const spies = [
      vi.spyOn(console, "log"),
      vi.spyOn(console, "info"),
      vi.spyOn(console, "warn"),
      vi.spyOn(console, "error"),
      vi.spyOn(console, "debug"),
      vi.spyOn(process.stdout, "write"),
      vi.spyOn(process.stderr, "write"),
    ];
    const client = await env.connect();
    const raw = client.raw();
    const k = `${uniquePrefix("log-silent")}k`;
    env.cluster.faults.delay({ rpc: "RawPut", key: k, ms: 150, count: 1 });
    await raw.put(k, "v");
    const calls = spies.map((s) => s.mock.calls.length);
    vi.restoreAllMocks();
    expect(calls).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(resolveConnectOptions({ pdEndpoints: env.pdEndpoints }).interceptor).toBeUndefined();
    expect(resolveConnectOptions({ pdEndpoints: env.pdEndpoints }).logger).toBeUndefined();
  });

  itFault("a logger that throws does not break the call", async () => {
    const throwing = () => {
      throw new Error("logger down");
    };
    const logger: Logger = {
      trace: throwing,
      debug: throwing,
      info: throwing,
      warn: throwing,
      error: throwing,
    };
    const client = await env.connect({ logger, slowRequestThresholdMs: 0 });
    const k = `${uniquePrefix("log-throw")}k`;
    await client.raw().put(k, "v");
    expect(await client.raw().get(k)).toEqual(Buffer.from("v"));
  });

  itFault("a failed slow attempt is logged with its error", async () => {
    const { logger, entries } = memoryLogger();
    const client = await env.connect({ logger, slowRequestThresholdMs: 50 });
    const raw = client.raw();
    const k = `${uniquePrefix("log-fail")}k`;
    env.cluster.faults.delay({ rpc: "RawGet", key: k, ms: 150, count: 1 });
    env.cluster.faults.failNext({ rpc: "RawGet", key: k, error: { grpcStatus: 14, message: "injected" } });
    await raw.get(k);
    // the injected failure is answered after the delay: the failed attempt is the slow one
    expect(entries).toHaveLength(1);
    expect(entries[0]?.obj).toMatchObject({ command: "RawGet", attempt: 0 });
    expect(entries[0]?.obj.error).toMatch(/injected/);
    expect(entries.every((e) => e.msg === "slow request")).toBe(true);
  });

  itFault(
    "a transaction committed past slowTxnThresholdMs is logged once as a slow transaction",
    async () => {
      const { logger, entries } = memoryLogger();
      const client = await env.connect({ logger, slowTxnThresholdMs: 100, slowRequestThresholdMs: 10_000 });
      const t = client.txn();
      const p = uniquePrefix("log-txn");
      const fast = await t.begin();
      fast.set(`${p}fast`, "v");
      await fast.commit();
      expect(entries).toEqual([]);
      const txn = await t.begin();
      txn.set(`${p}a`, "1");
      txn.set(`${p}b`, "2");
      env.cluster.faults.delay({ rpc: "KvPrewrite", ms: 150, count: 1 });
      const commitTs = await txn.commit();
      expect(entries).toHaveLength(1);
      const e = entries[0] as Entry;
      expect(e).toMatchObject({ level: "warn", msg: "slow transaction" });
      expect(e.obj).toMatchObject({
        startTs: txn.startTs.toString(),
        commitTs: String(commitTs),
        keys: 2,
        mode: "2pc",
        thresholdMs: 100,
      });
      expect(e.obj.durationMs as number).toBeGreaterThanOrEqual(140);
    },
  );

  it("bad logging options get InvalidArgumentError", () => {
    const pdEndpoints = ["127.0.0.1:2379"];
    expect(() => resolveConnectOptions({ pdEndpoints, logger: {} as never })).toThrow(/argument logger/);
    expect(() =>
      resolveConnectOptions({ pdEndpoints, logger: { ...memoryLogger().logger, warn: 1 } as never }),
    ).toThrow(/warn/);
    expect(() => resolveConnectOptions({ pdEndpoints, slowRequestThresholdMs: -1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => resolveConnectOptions({ pdEndpoints, slowRequestThresholdMs: Number.NaN })).toThrow(
      /argument slowRequestThresholdMs/,
    );
    expect(() => resolveConnectOptions({ pdEndpoints, slowTxnThresholdMs: "1" as never })).toThrow(
      /argument slowTxnThresholdMs/,
    );
  });
});
