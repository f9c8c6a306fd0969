/** Rust Display/Debug renderings used in raw error responses (tikv src/storage/errors.rs). */
import { describe, expect, it } from "vitest";
import {
  apiVersionName,
  invalidKeyRangeMode,
  keyTooLarge,
  otherError,
  rustDebugStr,
} from "../../../../src/cluster/engine/raw/raw-errors.js";
import { APIVersion } from "../../../../src/proto/kvrpcpb.js";

describe("raw error renderings", () => {
  it("rustDebugStr quotes and escapes like Rust's {:?} for str", () => {
    expect(rustDebugStr("plain")).toBe('"plain"');
    expect(rustDebugStr('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(rustDebugStr("\n\r\t\0")).toBe('"\\n\\r\\t\\0"');
    expect(rustDebugStr("\x01\x7f")).toBe('"\\u{1}\\u{7f}"');
    expect(rustDebugStr("é")).toBe('"é"');
  });

  it("names API versions as rust-protobuf does", () => {
    expect(apiVersionName(APIVersion.V1)).toBe("V1");
    expect(apiVersionName(APIVersion.V1TTL)).toBe("V1ttl");
    expect(apiVersionName(APIVersion.V2)).toBe("V2");
    expect(apiVersionName(APIVersion.V3)).toBe("V3");
  });

  it("renders Display and Debug forms", () => {
    const e = keyTooLarge(9000, 8192);
    expect(e.display).toBe("max key size exceeded, size: 9000, limit: 8192");
    expect(e.debug).toBe("Error(KeyTooLarge { size: 9000, limit: 8192 })");
    expect(e).toBeInstanceOf(Error);
    expect(otherError("Invalid KeyRanges").debug).toBe('Error(Other("Invalid KeyRanges"))');
    expect(invalidKeyRangeMode("raw_scan", APIVersion.V2, undefined, Buffer.from([0xab])).display).toBe(
      'Key mode mismatched with the request mode, cmd: raw_scan, storage: V2, range: (None, Some("AB"))',
    );
  });
});
