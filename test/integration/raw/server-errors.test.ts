// Failures TiKV reports as text reach raw callers as typed errors keeping TiKV's message (issue
// #9: they were all UnknownError). Each case provokes the condition on the embedded cluster, which
// renders TiKV's storage errors as TiKV does (Display in `error` strings, Debug in KvPair
// KeyError.abort for RawBatchGet / RawScan).

import { describe, expect } from "vitest";
import {
  ApiVersionMismatchError,
  InvalidArgumentError,
  KeyTooLargeError,
  TtlNotEnabledError,
  UnknownError,
} from "../../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

const big = (p: string) => `${p}${"k".repeat(9000)}`;

describe.skipIf(skipOnRealCluster("v1"))("typed server errors, API v1 cluster", () => {
  const env = useCluster({ stores: 1 });

  const tooLarge: Array<
    [string, (raw: ReturnType<Awaited<ReturnType<typeof env.connect>>["raw"]>, p: string) => Promise<unknown>]
  > = [
    ["put", (raw, p) => raw.put(big(p), "v")],
    ["batchPut", (raw, p) => raw.batchPut([`${p}a`, big(p)], ["1", "2"])],
    ["delete", (raw, p) => raw.delete(big(p))],
    ["batchDelete", (raw, p) => raw.batchDelete([big(p)])],
    ["deleteRange", (raw, p) => raw.deleteRange(p, big(p))],
    // (TiKV checks no key size on compareAndSwap and atomic-mode writes; nor does the cluster)
  ];
  for (const [name, call] of tooLarge) {
    itFault(
      `${name} with a 9000-byte key: KeyTooLargeError with TiKV's message, size and limit`,
      async () => {
        const raw = (await env.connect()).raw();
        const p = uniquePrefix(name);
        const err = await call(raw, p).catch((e) => e);
        expect(err).toBeInstanceOf(KeyTooLargeError);
        expect(err).not.toBeInstanceOf(UnknownError);
        const size = Buffer.byteLength(big(p));
        expect(err).toMatchObject({
          code: "KEY_TOO_LARGE",
          keySize: size,
          limit: 8192,
          message: `max key size exceeded, size: ${size}, limit: 8192`,
        });
      },
    );
  }

  itFault("a TTL on a storage without TTL: TtlNotEnabledError; nothing written", async () => {
    const raw = (await env.connect()).raw();
    const p = uniquePrefix("ttl");
    const e1 = await raw.put(`${p}k`, "v", { ttl: 10 }).catch((e) => e);
    expect(e1).toBeInstanceOf(TtlNotEnabledError);
    expect(e1.serverMessage).toBe("ttl is not enabled, but get put request with ttl");
    expect(e1.message).toMatch(/^ttl is not enabled, but get put request with ttl: .*--api-version v1ttl/);
    const e2 = await raw.batchPut([`${p}a`, `${p}b`], ["1", "2"], { ttl: [0, 5] }).catch((e) => e);
    expect(e2).toBeInstanceOf(TtlNotEnabledError);
    expect(await raw.batchGet([`${p}k`, `${p}a`, `${p}b`])).toEqual([undefined, undefined, undefined]);
    // reading a TTL there is refused the same way
    await expect(raw.getKeyTTL(`${p}k`)).rejects.toBeInstanceOf(TtlNotEnabledError);
  });

  itFault(
    "an unknown column family: InvalidArgumentError(columnFamily) on writes, batch reads and scans",
    async () => {
      const raw = (await env.connect()).raw({ columnFamily: "nope" });
      const p = uniquePrefix("cf");
      for (const call of [
        () => raw.put(`${p}k`, "v"), // Display form in `error`
        () => raw.batchGet([`${p}k`]), // Debug form in a pair's KeyError.abort
        () => raw.scan(p, `${p}~`, 10),
      ]) {
        const err = await call().catch((e) => e);
        expect(err).toBeInstanceOf(InvalidArgumentError);
        expect(err).toMatchObject({ code: "INVALID_ARGUMENT", argument: "columnFamily" });
        expect(err.message).toContain("nope");
      }
    },
  );

  itFault(
    "a client speaking API v2 to a v1 cluster: connect fails with ApiVersionMismatchError naming both versions",
    async () => {
      const err = await env.connect({ apiVersion: "v2" }).catch((e) => e);
      expect(err).toBeInstanceOf(ApiVersionMismatchError);
      expect(err).toMatchObject({
        code: "API_VERSION_NOT_MATCHED",
        command: "raw_get",
        storageApiVersion: "V1",
        requestApiVersion: "V2",
      });
      expect(err.message).toMatch(/client speaks API v2 but the cluster serves API v1/);
      // TiKV's own text is kept as the cause
      expect(err.cause).toBeInstanceOf(ApiVersionMismatchError);
      expect(err.cause.message).toBe(
        "Api version in request does not match with TiKV storage, cmd: raw_get, storage: V1, request: V2",
      );
    },
  );
});

describe.skipIf(skipOnRealCluster("v2"))("typed server errors, API v2 cluster", () => {
  const env = useCluster({ stores: 1, apiVersion: "v2" });

  itFault(
    "a column family under API v2: InvalidArgumentError(columnFamily) with TiKV's message",
    async () => {
      const raw = (await env.connect()).raw({ columnFamily: "lock" });
      const err = await raw.put(uniquePrefix("cf2"), "v").catch((e) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err).toMatchObject({ argument: "columnFamily" });
      expect(err.message).toContain("cf is deprecated in API V2, cf name: lock");
    },
  );
});
