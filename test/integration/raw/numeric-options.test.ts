// Numeric options of RawClient calls (issue #9: `iterate({ pageSize: 0 })` threw a plain
// TypeError). Each bad value gets a typed error naming the argument, before any RPC is sent.

import { describe, expect } from "vitest";
import { MAX_TIMEOUT_MS } from "../../../src/api/options.js";
import type { RawClient } from "../../../src/api/raw-client.js";
import { InvalidArgumentError, MaxScanLimitExceededError } from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

async function drain(it: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe.skipIf(skipOnRealCluster("v1"))("numeric options of raw calls", () => {
  const env = useCluster({ stores: 1 });

  // [what, call, argument named in the error]
  const bad: Array<[string, (raw: RawClient) => Promise<unknown>, string]> = [
    [
      "iterate pageSize 0 (a page that never advances)",
      (r) => drain(r.iterate("a", "b", { pageSize: 0 })),
      "pageSize",
    ],
    ["iterate pageSize -1", (r) => drain(r.iterate("a", "b", { pageSize: -1 })), "pageSize"],
    ["iterate pageSize 1.5", (r) => drain(r.iterate("a", "b", { pageSize: 1.5 })), "pageSize"],
    ["iterate pageSize NaN", (r) => drain(r.iterate("a", "b", { pageSize: Number.NaN })), "pageSize"],
    [
      "iterate pageSize as a string",
      (r) => drain(r.iterate("a", "b", { pageSize: "10" as never })),
      "pageSize",
    ],
    ["iterate options null", (r) => drain(r.iterate("a", "b", null as never)), "options"],
    ["iterate timeoutMs -1", (r) => drain(r.iterate("a", "b", { timeoutMs: -1 })), "timeoutMs"],
    ["scan limit -1", (r) => r.scan("a", "b", -1), "limit"],
    ["scan limit Infinity", (r) => r.scan("a", "b", Number.POSITIVE_INFINITY), "limit"],
    ["batchScan eachLimit 2.5", (r) => r.batchScan([["a", "b"]], 2.5), "eachLimit"],
    ["put ttl 1e300 (not a safe integer)", (r) => r.put("k", "v", { ttl: 1e300 }), "ttl"],
    ["put ttl 2^53", (r) => r.put("k", "v", { ttl: 2 ** 53 }), "ttl"],
    ["put ttl NaN", (r) => r.put("k", "v", { ttl: Number.NaN }), "ttl"],
    ["batchPut ttl[1] -3", (r) => r.batchPut(["a", "b"], ["1", "2"], { ttl: [1, -3] }), "ttl[1]"],
    ["get timeoutMs Infinity", (r) => r.get("k", { timeoutMs: Number.POSITIVE_INFINITY }), "timeoutMs"],
    ["get timeoutMs NaN", (r) => r.get("k", { timeoutMs: Number.NaN }), "timeoutMs"],
    [
      "put timeoutMs beyond what a timer can wait (would fire after 1 ms)",
      (r) => r.put("k", "v", { timeoutMs: MAX_TIMEOUT_MS + 1 }),
      "timeoutMs",
    ],
    ["delete timeoutMs as a string", (r) => r.delete("k", { timeoutMs: "5" as never }), "timeoutMs"],
  ];

  for (const [what, call, argument] of bad) {
    itFault(`${what}: InvalidArgumentError(${argument}), no RPC`, async () => {
      const raw = (await env.connect()).raw();
      env.cluster.faults.resetCounters();
      const err = await call(raw).catch((e) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).argument).toBe(argument);
      expect(env.cluster.faults.calls()).toBe(0);
    });
  }

  itFault("iterate pageSize above 10240: MaxScanLimitExceededError, no RPC", async () => {
    const raw = (await env.connect()).raw();
    env.cluster.faults.resetCounters();
    await expect(drain(raw.iterate("a", "b", { pageSize: 10_241 }))).rejects.toBeInstanceOf(
      MaxScanLimitExceededError,
    );
    expect(env.cluster.faults.calls()).toBe(0);
  });

  itFault(
    "the boundaries are accepted: pageSize 1 and 10240, ttl 0, timeoutMs 0 and the maximum",
    async () => {
      const raw = (await env.connect({ apiVersion: "v1" })).raw();
      const p = uniquePrefix("bounds");
      await raw.batchPut([`${p}1`, `${p}2`, `${p}3`], ["1", "2", "3"], { timeoutMs: MAX_TIMEOUT_MS });
      const one = (await drain(raw.iterate(p, `${p}~`, { pageSize: 1 }))) as Array<{ key: Buffer }>;
      expect(one.map((x) => x.key.toString())).toEqual([`${p}1`, `${p}2`, `${p}3`]);
      expect(await drain(raw.iterate(p, `${p}~`, { pageSize: 10_240, timeoutMs: 0 }))).toHaveLength(3);
      await raw.put(`${p}1`, "x", { ttl: 0 });
      expect(await raw.scan(p, `${p}~`, 0)).toEqual([]);
    },
  );
});
