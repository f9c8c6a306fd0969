import { describe, expect, it } from "vitest";
import { useCluster } from "../../support/cluster.js";

describe("raw smoke", () => {
  const env = useCluster({ stores: 3, splitKeys: ["m"] });
  it("put/get across regions", async () => {
    const c = await env.connect();
    const raw = c.raw();
    await raw.put("a", "1");
    await raw.put("z", "2");
    expect((await raw.get("a"))?.toString()).toBe("1");
    expect((await raw.get("z"))?.toString()).toBe("2");
    expect(await raw.get("nope")).toBeUndefined();
    const all = await raw.scan("", "", 10);
    expect(all.map((p) => p.key.toString())).toEqual(["a", "z"]);
  });
});
