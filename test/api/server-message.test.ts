// errorFromServerMessage (issue #9): TiKV's storage errors arrive as text, in the Display form
// (raw responses' `error` string) or the Debug form (KeyError.abort). Each known one becomes a
// typed error keeping TiKV's text; the embedded cluster's renderings (src/cluster/engine/raw/
// raw-errors.ts) and TiKV's own texts (tikv src/storage/errors.rs) both go through the same map.

import { describe, expect, it } from "vitest";
import {
  apiVersionNotMatched,
  cfDeprecated,
  invalidCf,
  invalidKeyMode,
  invalidKeyRangeMode,
  keyTooLarge,
  type RawStorageError,
  ttlLenNotEqualsToPairs,
  ttlNotEnabled,
} from "../../src/cluster/engine/raw/raw-errors.js";
import { checkTxnKeys, checkTxnRanges } from "../../src/cluster/tikv/txn-api-check.js";
import {
  ApiVersionMismatchError,
  errorFromServerMessage,
  extractKeyError,
  InvalidArgumentError,
  InvalidKeyModeError,
  KeyTooLargeError,
  RegionUnavailableError,
  ServerBusyError,
  StaleCommandError,
  type TikvError,
  TikvServerTimeoutError,
  TtlNotEnabledError,
  TxnAbortedError,
} from "../../src/index.js";
import { APIVersion, KeyError } from "../../src/proto/kvrpcpb.js";

type Cls = abstract new (...a: never[]) => TikvError;

function expectTyped(text: string, cls: Cls, code: string): TikvError {
  const e = errorFromServerMessage(text);
  expect(e).toBeInstanceOf(cls);
  expect(e?.code).toBe(code);
  // TiKV's text is kept (InvalidArgumentError prefixes the argument name)
  expect(e?.message).toContain(text);
  return e as TikvError;
}

describe("errorFromServerMessage: the embedded cluster's storage errors, both renderings", () => {
  const cases: Array<[string, RawStorageError, Cls, string]> = [
    ["KeyTooLarge", keyTooLarge(10_000, 8192), KeyTooLargeError, "KEY_TOO_LARGE"],
    ["InvalidCf", invalidCf("nope"), InvalidArgumentError, "INVALID_ARGUMENT"],
    ["CfDeprecated", cfDeprecated("lock"), InvalidArgumentError, "INVALID_ARGUMENT"],
    ["TtlNotEnabled", ttlNotEnabled(), TtlNotEnabledError, "TTL_NOT_ENABLED"],
    ["TtlLenNotEqualsToPairs", ttlLenNotEqualsToPairs(), InvalidArgumentError, "INVALID_ARGUMENT"],
    [
      "ApiVersionNotMatched",
      apiVersionNotMatched("raw_put", APIVersion.V1, APIVersion.V2),
      ApiVersionMismatchError,
      "API_VERSION_NOT_MATCHED",
    ],
    [
      "InvalidKeyMode",
      invalidKeyMode("raw_get", APIVersion.V2, Buffer.from("xk")),
      InvalidKeyModeError,
      "INVALID_KEY_MODE",
    ],
    [
      "InvalidKeyRangeMode",
      invalidKeyRangeMode("raw_scan", APIVersion.V2, Buffer.from("a"), undefined),
      InvalidKeyModeError,
      "INVALID_KEY_MODE",
    ],
  ];
  for (const [kind, err, cls, code] of cases) {
    it(`${kind}: Display -> ${cls.name}`, () => expectTyped(err.display, cls, code));
    it(`${kind}: Debug (KeyError.abort) -> ${cls.name}`, () => expectTyped(err.debug, cls, code));
  }

  it("the txn commands' API checks (KeyError.abort and string forms) map the same way", () => {
    const mismatch = checkTxnKeys("prewrite", APIVersion.V1, APIVersion.V2, [Buffer.from("k")]);
    const mode = checkTxnKeys("prewrite", APIVersion.V2, APIVersion.V2, [Buffer.from("rk")]);
    const range = checkTxnRanges("scan_lock", APIVersion.V2, APIVersion.V2, [
      [Buffer.from("a"), Buffer.from("b")],
    ]);
    for (const t of [mismatch?.display, mismatch?.debug]) {
      const e = expectTyped(t as string, ApiVersionMismatchError, "API_VERSION_NOT_MATCHED");
      expect(e).toMatchObject({ command: "prewrite", storageApiVersion: "V1", requestApiVersion: "V2" });
    }
    for (const t of [mode?.display, mode?.debug, range?.display, range?.debug]) {
      expect(expectTyped(t as string, InvalidKeyModeError, "INVALID_KEY_MODE")).toHaveProperty("command");
    }
  });

  it("KeyTooLarge carries the size and the limit", () => {
    for (const t of [keyTooLarge(9000, 8192).display, keyTooLarge(9000, 8192).debug]) {
      expect(errorFromServerMessage(t)).toMatchObject({ keySize: 9000, limit: 8192, message: t });
    }
  });

  it("ApiVersionNotMatched carries the command and both versions", () => {
    const e = apiVersionNotMatched("raw_batch_get", APIVersion.V1TTL, APIVersion.V2);
    for (const t of [e.display, e.debug]) {
      expect(errorFromServerMessage(t)).toMatchObject({
        command: "raw_batch_get",
        storageApiVersion: "V1ttl",
        requestApiVersion: "V2",
      });
    }
  });

  it("argument errors name the argument", () => {
    expect(errorFromServerMessage(invalidCf("nope").display)).toMatchObject({ argument: "columnFamily" });
    expect(errorFromServerMessage(ttlLenNotEqualsToPairs().debug)).toMatchObject({ argument: "ttl" });
  });
});

describe("errorFromServerMessage: TiKV texts the cluster does not produce", () => {
  it.each<[string, Cls, string]>([
    // storage::ErrorInner::DeadlineExceeded (Display, Debug) and raftstore's region-error text
    ["Deadline is exceeded", TikvServerTimeoutError, "TIKV_SERVER_TIMEOUT"],
    ["Error(DeadlineExceeded)", TikvServerTimeoutError, "TIKV_SERVER_TIMEOUT"],
    ["deadline is exceeded", TikvServerTimeoutError, "TIKV_SERVER_TIMEOUT"],
    // SchedTooBusy / GcWorkerTooBusy (Display, Debug) and the region errors' reasons
    ["scheduler is too busy", ServerBusyError, "TIKV_SERVER_BUSY"],
    ["Error(SchedTooBusy)", ServerBusyError, "TIKV_SERVER_BUSY"],
    ["gc worker is too busy", ServerBusyError, "TIKV_SERVER_BUSY"],
    ["Error(GcWorkerTooBusy)", ServerBusyError, "TIKV_SERVER_BUSY"],
    ["scheduler is busy", ServerBusyError, "TIKV_SERVER_BUSY"],
    ["raftstore is busy", ServerBusyError, "TIKV_SERVER_BUSY"],
    // ErrorInner::Closed and the region error TiKV makes of it
    ["storage is closed.", RegionUnavailableError, "REGION_UNAVAILABLE"],
    ["Error(Closed)", RegionUnavailableError, "REGION_UNAVAILABLE"],
    ["TiKV is Closing", RegionUnavailableError, "REGION_UNAVAILABLE"],
    // a raw write whose proposal was dropped
    ["stale command", StaleCommandError, "TIKV_STALE_COMMAND"],
    ['Error(Other("stale command"))', StaleCommandError, "TIKV_STALE_COMMAND"],
    // TiKV's raw store on a storage without TTL
    ["get ttl on non-ttl store", TtlNotEnabledError, "TTL_NOT_ENABLED"],
    // transactional writes check key sizes too: nested in the txn error's Debug text
    ["Error(Txn(Error(KeyTooLarge { size: 9000, limit: 8192 })))", KeyTooLargeError, "KEY_TOO_LARGE"],
  ])("%j -> %o", (text, cls, code) => {
    expectTyped(text, cls, code);
  });

  it.each([
    "Invalid KeyRanges",
    "Error(Txn(Error(Mvcc(Error(KeyVersion)))))",
    "something else",
    "",
  ])("%j is not recognised (the caller falls back)", (text) => {
    expect(errorFromServerMessage(text)).toBeUndefined();
  });
});

describe("KeyError.abort goes through the same map", () => {
  it("a known storage error gets its type", () => {
    const e = extractKeyError(KeyError.fromPartial({ abort: keyTooLarge(9000, 8192).debug }));
    expect(e).toBeInstanceOf(KeyTooLargeError);
    expect(e.message).toBe(keyTooLarge(9000, 8192).debug);
  });

  it("anything else stays TxnAbortedError with TiKV's text", () => {
    const e = extractKeyError(
      KeyError.fromPartial({ abort: 'Error(Txn(Error(Mvcc(Error(Other("boom"))))))' }),
    );
    expect(e).toBeInstanceOf(TxnAbortedError);
    expect(e.message).toContain("boom");
  });
});
