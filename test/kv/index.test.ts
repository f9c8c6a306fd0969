import { describe, expect, it } from "vitest";
import * as kv from "../../src/kv/index.js";

describe("src/kv barrel", () => {
  it("re-exports the public API of every kv module", () => {
    for (const name of [
      "toKey",
      "prefixNext",
      "toLatin1Key",
      "encodeBytes",
      "decodeBytes",
      "KeyspaceCodec",
      "ApiV1Codec",
      "createApiCodec",
      "encodeRequest",
      "decodeResponse",
      "decodeRegionError",
      "composeTs",
    ]) {
      expect(typeof (kv as Record<string, unknown>)[name], name).toBe("function");
    }
    expect(kv.RAW_MODE_PREFIX).toBe(0x72);
    expect(kv.TXN_MODE_PREFIX).toBe(0x78);
    expect(kv.LOGICAL_BITS).toBe(18);
  });

  it("a v2 codec accepts plain Uint8Array keys", () => {
    const c = new kv.KeyspaceCodec({ mode: "txn", keyspaceId: 1 });
    const enc = c.encodeKey(new Uint8Array([9, 8]));
    expect([...enc]).toEqual([0x78, 0, 0, 1, 9, 8]);
    expect(Buffer.isBuffer(c.decodeKey(new Uint8Array(enc)))).toBe(true);
  });
});
