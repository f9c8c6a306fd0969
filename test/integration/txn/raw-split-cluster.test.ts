// A transactional client on a cluster whose regions were split at raw keys (API v1, the
// embedded cluster's default encoding): the boundaries PD returns are not memcomparable, so the
// client cannot place txn keys in them. It fails at once with a typed error naming the cause, as
// client-go's loadRegion does on a decode error, instead of backing off ~80 s on "region not
// found"; nothing is written, and raw calls on the same cluster keep working.

import { describe, expect, it } from "vitest";
import { findError, RegionUnavailableError } from "../../../src/index.js";
import { skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";

describe.skipIf(skipOnRealCluster("v1"))("transactions on a cluster split at raw keys", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });

  it("commit fails at once with RegionUnavailableError saying the boundaries are not memcomparable", async () => {
    const client = await env.connect();
    const p = uniquePrefix("rawsplit");
    const txn = await client.txn().begin();
    txn.set(`${p}a`, "1");
    const err = await txn.commit().catch((e: unknown) => e);
    const e = findError(err, RegionUnavailableError);
    expect(e, String(err)).toBeDefined();
    expect(e?.message).toMatch(/memcomparable/);
    expect(e?.isRetryable).toBe(false);
    // no backoff was spent on it
    expect(String(err)).not.toMatch(/BACKOFF_EXHAUSTED|exhausted/);
    // the raw side of the same cluster is unaffected
    await client.raw().put(`${p}a`, "raw");
    expect((await client.raw().get(`${p}a`))?.toString()).toBe("raw");
  });
});
