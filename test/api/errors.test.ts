// Typed errors and KeyError conversion (client-go error/error.go ExtractKeyErr,
// txnkv/txnlock/lock.go ExtractLockFromKeyErr; KeyError shapes from tikv src/storage/errors.rs).
import { describe, expect, it } from "vitest";
import { RpcRejectedError } from "../../src/api/interceptor.js";
import * as errors from "../../src/errors/index.js";
import {
  AbortedError,
  AssertionFailedError,
  BackoffExhaustedError,
  CommitTsExpiredError,
  CommitTsTooLargeError,
  DeadlockError,
  extractKeyError,
  extractPdError,
  findError,
  GrpcError,
  hasErrorCode,
  hexKey,
  InvalidArgumentError,
  isCommitTsLagError,
  isKeyExistsError,
  isNotFoundError,
  isUndeterminedError,
  isWriteConflictError,
  KeyAlreadyExistsError,
  KeyLockedError,
  LockUpgradeConflictError,
  NotExistError,
  PdError,
  PrimaryMismatchError,
  RegionError,
  RegionUnavailableError,
  ResultUndeterminedError,
  RetryableError,
  regionErrorKind,
  ServerBusyError,
  SharedLockLostError,
  TikvError,
  TxnAbortedError,
  TxnLockNotFoundError,
  TxnNotFoundError,
  UnexpectedKeyError,
  WriteConflictError,
} from "../../src/errors/index.js";
import { Error as RegionErrorPb } from "../../src/proto/errorpb.js";
import {
  Assertion,
  KeyError,
  LockUpgradeConflict_Reason,
  Op,
  WriteConflict_Reason,
} from "../../src/proto/kvrpcpb.js";
import { ErrorType } from "../../src/proto/pdpb.js";

const s = (x: string) => Buffer.from(x);

function extracted<T extends TikvError>(
  partial: Parameters<typeof KeyError.fromPartial>[0],
  cls: new (...a: never[]) => T,
): T {
  const err = extractKeyError(KeyError.fromPartial(partial));
  expect(err).toBeInstanceOf(cls);
  expect(err).toBeInstanceOf(TikvError);
  expect(err).toBeInstanceOf(Error);
  return err as T;
}

describe("extractKeyError: one test per KeyError shape", () => {
  it("locked -> KeyLockedError with every LockInfo field", () => {
    const e = extracted(
      {
        locked: {
          key: s("k"),
          primaryLock: s("p"),
          lockVersion: 100n,
          lockTtl: 3000n,
          txnSize: 4n,
          lockType: Op.PessimisticLock,
          lockForUpdateTs: 110n,
          useAsyncCommit: true,
          minCommitTs: 120n,
          secondaries: [s("s1")],
          durationToLastUpdateMs: 7n,
          isTxnFile: true,
          sharedLockInfos: [{ key: s("k"), primaryLock: s("p2"), lockVersion: 90n, lockType: Op.SharedLock }],
        },
      },
      KeyLockedError,
    );
    expect(e.code).toBe("KEY_LOCKED");
    expect(e.isRetryable).toBe(false);
    expect(e.lock).toMatchObject({
      key: s("k"),
      primary: s("p"),
      startTs: 100n,
      ttl: 3000n,
      txnSize: 4n,
      lockType: Op.PessimisticLock,
      lockForUpdateTs: 110n,
      useAsyncCommit: true,
      minCommitTs: 120n,
      secondaries: [s("s1")],
      durationToLastUpdateMs: 7n,
      isTxnFile: true,
    });
    expect(e.lock.sharedLocks).toHaveLength(1);
    expect(e.lock.sharedLocks[0]).toMatchObject({ primary: s("p2"), startTs: 90n, lockType: Op.SharedLock });
    expect(e.message).toContain("6B"); // hex of "k"
  });

  it("conflict (TiKV also sets retryable) -> WriteConflictError, retryable", () => {
    const e = extracted(
      {
        conflict: {
          startTs: 10n,
          conflictTs: 20n,
          conflictCommitTs: 21n,
          key: s("k"),
          primary: s("p"),
          reason: WriteConflict_Reason.PessimisticRetry,
        },
        retryable: "WriteConflict { ... }",
      },
      WriteConflictError,
    );
    expect(e).toMatchObject({
      code: "WRITE_CONFLICT",
      startTs: 10n,
      conflictStartTs: 20n,
      conflictCommitTs: 21n,
      key: s("k"),
      primary: s("p"),
      reason: WriteConflict_Reason.PessimisticRetry,
      isRetryable: true,
    });
    expect(e.message).toContain("PessimisticRetry");
    expect(isWriteConflictError(e)).toBe(true);
  });

  it("alreadyExist -> KeyAlreadyExistsError", () => {
    const e = extracted({ alreadyExist: { key: s("dup") } }, KeyAlreadyExistsError);
    expect(e.key).toEqual(s("dup"));
    expect(e.code).toBe("KEY_ALREADY_EXISTS");
    expect(isKeyExistsError(e)).toBe(true);
  });

  it("deadlock -> DeadlockError with wait chain; not retryable until the txn layer says so", () => {
    const e = extracted(
      {
        deadlock: {
          lockTs: 5n,
          lockKey: s("lk"),
          deadlockKeyHash: 99n,
          deadlockKey: s("dk"),
          waitChain: [
            { txn: 5n, waitForTxn: 6n, keyHash: 1n, key: s("a"), resourceGroupTag: s("t"), waitTime: 3n },
            { txn: 6n, waitForTxn: 5n, keyHash: 2n, key: s("b") },
          ],
        },
      },
      DeadlockError,
    );
    expect(e).toMatchObject({
      code: "DEADLOCK",
      lockTs: 5n,
      lockKey: s("lk"),
      deadlockKeyHash: 99n,
      deadlockKey: s("dk"),
    });
    expect(e.waitChain).toEqual([
      { txn: 5n, waitForTxn: 6n, keyHash: 1n, key: s("a"), resourceGroupTag: s("t"), waitTime: 3n },
      { txn: 6n, waitForTxn: 5n, keyHash: 2n, key: s("b"), resourceGroupTag: Buffer.alloc(0), waitTime: 0n },
    ]);
    expect(e.isRetryable).toBe(false);
    e.isRetryable = true; // client-go sets ErrDeadlock.IsRetryable when the deadlock key is in the statement
    expect(e.isRetryable).toBe(true);
  });

  it("txnLockNotFound (with TiKV's retryable text) -> TxnLockNotFoundError, a RetryableError", () => {
    const e = extracted(
      { txnLockNotFound: { key: s("k") }, retryable: "TxnLockNotFound { start_ts: 1 }" },
      TxnLockNotFoundError,
    );
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.code).toBe("TXN_LOCK_NOT_FOUND");
    expect(e.key).toEqual(s("k"));
    expect(e.isRetryable).toBe(true);
    expect(e.retryableMessage).toContain("TxnLockNotFound");
    // Without the text a message is still produced.
    expect(extracted({ txnLockNotFound: { key: s("k") } }, TxnLockNotFoundError).message).toContain("6B");
  });

  it("retryable only -> RetryableError", () => {
    const e = extracted({ retryable: "please retry" }, RetryableError);
    expect(e).toMatchObject({
      code: "RETRYABLE",
      retryableMessage: "please retry",
      message: "please retry",
      isRetryable: true,
    });
  });

  it("assertionFailed -> AssertionFailedError", () => {
    const e = extracted(
      {
        assertionFailed: {
          startTs: 1n,
          key: s("k"),
          assertion: Assertion.NotExist,
          existingStartTs: 2n,
          existingCommitTs: 3n,
        },
      },
      AssertionFailedError,
    );
    expect(e).toMatchObject({
      code: "ASSERTION_FAILED",
      startTs: 1n,
      key: s("k"),
      assertion: Assertion.NotExist,
      existingStartTs: 2n,
      existingCommitTs: 3n,
    });
  });

  it("abort -> TxnAbortedError", () => {
    const e = extracted({ abort: 'Other("boom")' }, TxnAbortedError);
    expect(e.code).toBe("TXN_ABORTED");
    expect(e.abortMessage).toBe('Other("boom")');
    expect(e.message).toBe('tikv aborts txn: Other("boom")');
  });

  it("commitTsTooLarge -> CommitTsTooLargeError", () => {
    const e = extracted({ commitTsTooLarge: { commitTs: 77n } }, CommitTsTooLargeError);
    expect(e).toMatchObject({ code: "COMMIT_TS_TOO_LARGE", commitTs: 77n });
    expect(e.message).toBe("commit TS 77 is too large");
  });

  it("commitTsExpired -> CommitTsExpiredError", () => {
    const e = extracted(
      { commitTsExpired: { startTs: 1n, attemptedCommitTs: 5n, key: s("k"), minCommitTs: 9n } },
      CommitTsExpiredError,
    );
    expect(e).toMatchObject({
      code: "COMMIT_TS_EXPIRED",
      startTs: 1n,
      attemptedCommitTs: 5n,
      key: s("k"),
      minCommitTs: 9n,
    });
  });

  it("txnNotFound -> TxnNotFoundError", () => {
    const e = extracted({ txnNotFound: { startTs: 42n, primaryKey: s("p") } }, TxnNotFoundError);
    expect(e).toMatchObject({ code: "TXN_NOT_FOUND", startTs: 42n, primaryKey: s("p") });
    expect(e.message).toContain("txn 42 not found");
  });

  it("primaryMismatch -> PrimaryMismatchError (with and without lock info)", () => {
    const e = extracted(
      { primaryMismatch: { lockInfo: { key: s("k"), primaryLock: s("other"), lockVersion: 3n } } },
      PrimaryMismatchError,
    );
    expect(e.code).toBe("PRIMARY_MISMATCH");
    expect(e.lock).toMatchObject({ key: s("k"), primary: s("other"), startTs: 3n });
    expect(extracted({ primaryMismatch: {} }, PrimaryMismatchError).lock).toBeUndefined();
  });

  it("lockUpgradeConflict -> LockUpgradeConflictError", () => {
    const e = extracted(
      {
        lockUpgradeConflict: {
          key: s("k"),
          startTs: 1n,
          ownerStartTs: 2n,
          reason: LockUpgradeConflict_Reason.SecondUpgrader,
        },
      },
      LockUpgradeConflictError,
    );
    expect(e).toMatchObject({ code: "LOCK_UPGRADE_CONFLICT", key: s("k"), startTs: 1n, ownerStartTs: 2n });
    expect(e.reason).toBe(LockUpgradeConflict_Reason.SecondUpgrader);
  });

  it("sharedLockLost -> SharedLockLostError", () => {
    const e = extracted({ sharedLockLost: { key: s("k"), startTs: 8n } }, SharedLockLostError);
    expect(e).toMatchObject({ code: "SHARED_LOCK_LOST", key: s("k"), startTs: 8n });
  });

  it("nothing known -> UnexpectedKeyError", () => {
    const e = extracted({}, UnexpectedKeyError);
    expect(e.code).toBe("UNEXPECTED_KEY_ERROR");
    expect(e.message).toBe("unexpected KeyError: {}");
    // debug info alone is not a kind
    expect(extracted({ debugInfo: { mvccInfo: [] } }, UnexpectedKeyError).detail).toContain("debugInfo");
  });
});

describe("error classes", () => {
  const samples: TikvError[] = [
    new InvalidArgumentError("bad", "key"),
    new errors.KeyDecodeError("truncated", s("x"), 0),
    new errors.KeyOutOfKeyspaceError(s("x"), s("r\0\0\0")),
    new errors.TlsError("untrusted-certificate", "self-signed certificate in certificate chain", "h:1"),
    new errors.WriteConflictInLatchError(5n),
    new errors.TxnTooLargeError(10),
    new errors.KeyTooLargeError(10),
    new errors.EntryTooLargeError(5, 10),
    new errors.InvalidTxnError(),
    new errors.CannotSetNilValueError(),
    new NotExistError(),
    new errors.TxnAbortedByGcError(1n, 2n),
    new errors.GcStateError("decreasingTxnSafePoint", "[PD:gc:ErrDecreasingTxnSafePoint]"),
    new errors.LockAcquireFailAndNoWaitSetError(),
    new errors.LockWaitTimeoutError(),
    new errors.ResolveLockTimeoutError(),
    new errors.LockOnlyIfExistsNoReturnValueError(1n, 2n, s("k")),
    new errors.LockOnlyIfExistsNoPrimaryKeyError(1n, 2n, s("k")),
    new ResultUndeterminedError(),
    new errors.CommitTsLagError(),
    new errors.BodyMissingError(),
    new errors.ShuttingDownError(),
    new errors.TikvServerTimeoutError(),
    new errors.StaleCommandError(),
    new errors.MaxTimestampNotSyncedError(),
    new ServerBusyError(),
    new RegionUnavailableError(),
    new errors.RegionDataNotReadyError(),
    new errors.RegionNotInitializedError(),
    new errors.DiskFullError(),
    new errors.RegionRecoveryInProgressError(),
    new errors.RegionFlashbackInProgressError(),
    new errors.RegionFlashbackNotPreparedError(),
    new errors.IsWitnessError(),
    new errors.UnknownError(),
    new errors.PdServerTimeoutError(),
    new errors.ClusterIdMismatchError(),
    new errors.LatestStaleReadError(),
    new RegionError(RegionErrorPb.fromPartial({ notLeader: { regionId: 1n } }), 1n),
    new PdError(ErrorType.REGION_NOT_FOUND, "nope"),
    new GrpcError(14, "unavailable", "127.0.0.1:1"),
    new errors.TimeoutError("get", 100),
    new AbortedError("user"),
    new BackoffExhaustedError("regionMiss", 100, 100),
    new errors.FutureTsReadError(5n, 4n),
    new errors.TokenLimitError(3n),
    new errors.MaxScanLimitExceededError(20000, 10240),
    new errors.TtlNotEnabledError(),
    new errors.ApiVersionMismatchError("api version mismatch", "raw_put", "V1", "V2"),
    new errors.InvalidKeyModeError("key mode mismatch", "raw_get"),
    new RpcRejectedError("refused by an interceptor"),
    new errors.ResourceGroupThrottledError("rg", 100, 0, -3),
    new errors.ResourceGroupNotFoundError("rg"),
    ...[
      { locked: {} },
      { conflict: {} },
      { alreadyExist: {} },
      { deadlock: {} },
      { txnLockNotFound: {} },
      { retryable: "r" },
      { assertionFailed: {} },
      { abort: "a" },
      { commitTsTooLarge: {} },
      { commitTsExpired: {} },
      { txnNotFound: {} },
      { primaryMismatch: {} },
      { lockUpgradeConflict: {} },
      { sharedLockLost: {} },
      {},
    ].map((p) => extractKeyError(KeyError.fromPartial(p))),
  ];

  it("every kind has a distinct, stable SCREAMING_CASE code and its class name as name", () => {
    const codes = samples.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    // ERROR_CODES lists exactly the codes in use.
    expect([...codes].sort()).toEqual([...errors.ERROR_CODES].sort());
    for (const e of samples) {
      expect(e.code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(e.name).toBe(e.constructor.name);
      expect(e).toBeInstanceOf(TikvError);
      expect(e.message.length).toBeGreaterThan(0);
    }
  });

  it("only the kinds client-go treats as retryable are retryable", () => {
    const retryable = samples
      .filter((e) => e.isRetryable)
      .map((e) => e.constructor.name)
      .sort();
    expect(retryable).toEqual([
      "RetryableError",
      "TxnLockNotFoundError",
      "WriteConflictError",
      "WriteConflictInLatchError",
    ]);
  });

  it("every exported class extending TikvError is covered by the samples", () => {
    const covered = new Set(samples.map((e) => e.constructor));
    const exported = Object.values(errors).filter(
      (v): v is typeof TikvError => typeof v === "function" && v.prototype instanceof TikvError,
    );
    const missing = exported.filter((c) => !covered.has(c)).map((c) => c.name);
    expect(missing).toEqual([]);
  });

  it("messages carry the data", () => {
    expect(new InvalidArgumentError("must be positive", "limit").message).toBe(
      "invalid argument limit: must be positive",
    );
    expect(new InvalidArgumentError("plain").argument).toBeUndefined();
    expect(new errors.EntryTooLargeError(5, 10).message).toBe("entry size too large, size: 10, limit: 5");
    expect(new GrpcError(14, "unavailable", "127.0.0.1:1").message).toBe(
      "grpc error 14 from 127.0.0.1:1: unavailable",
    );
    expect(new AbortedError(undefined, 2).message).toBe("query interrupted by signal 2");
    expect(new PdError(ErrorType.REGION_NOT_FOUND, "nope").message).toBe("pd error REGION_NOT_FOUND: nope");
    expect(new RegionError(RegionErrorPb.fromPartial({ notLeader: { regionId: 1n } }), 1n).message).toBe(
      "region error on region 1: notLeader",
    );
  });

  it("regionErrorKind names the set field", () => {
    expect(regionErrorKind(RegionErrorPb.fromPartial({ epochNotMatch: {} }))).toBe("epochNotMatch");
    expect(regionErrorKind(RegionErrorPb.fromPartial({ message: "x" }))).toBe("unknown");
  });

  it("extractPdError", () => {
    const e = extractPdError({ type: ErrorType.NOT_BOOTSTRAPPED, message: "not bootstrapped" });
    expect(e).toBeInstanceOf(PdError);
    expect(e.pdErrorType).toBe(ErrorType.NOT_BOOTSTRAPPED);
    expect(e.pdMessage).toBe("not bootstrapped");
  });

  it("BackoffExhaustedError keeps the errors and uses the last one as cause", () => {
    const first = new ServerBusyError();
    const last = new RegionUnavailableError();
    const e = new BackoffExhaustedError("regionMiss", 2000, 2000, [first, last]);
    expect(e.cause).toBe(last);
    expect(e.errors).toEqual([first, last]);
    expect(e.message).toContain("last error: region unavailable");
    expect(new BackoffExhaustedError("x", 1, 1).cause).toBeUndefined();
  });

  it("hexKey renders keys in upper-case hex", () => {
    expect(hexKey(Buffer.from([0x0a, 0xff]))).toBe("0AFF");
    expect(hexKey(new Uint8Array([1, 2, 3]).subarray(1))).toBe("0203");
    expect(hexKey(Buffer.alloc(0))).toBe('""');
    expect(hexKey(undefined)).toBe('""');
  });
});

describe("cause-chain helpers (client-go IsErr* / errors.As)", () => {
  it("find errors wrapped as causes", () => {
    const inner = new ResultUndeterminedError({ cause: new GrpcError(4, "deadline") });
    const outer = new Error("commit failed", { cause: inner });
    expect(isUndeterminedError(outer)).toBe(true);
    expect(findError(outer, GrpcError)?.grpcCode).toBe(4);
    expect(hasErrorCode(outer, "GRPC_ERROR")).toBe(true);
    expect(hasErrorCode(outer, "WRITE_CONFLICT")).toBe(false);
    expect(isNotFoundError(new Error("x", { cause: new NotExistError(s("k")) }))).toBe(true);
    expect(isCommitTsLagError(new errors.CommitTsLagError())).toBe(true);
    expect(isKeyExistsError(new Error("plain"))).toBe(false);
    expect(findError("not an error", TikvError)).toBeUndefined();
  });

  it("terminate on cyclic cause chains", () => {
    const a = new Error("a");
    const b2 = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b2;
    expect(findError(a, TikvError)).toBeUndefined();
    expect(hasErrorCode(a, "UNKNOWN")).toBe(false);
  });
});

// client-go error/error_test.go TestExtractDebugInfoStrFromKeyErr
describe("keyErrorDebugInfo", () => {
  const debugInfo = {
    mvccInfo: [
      {
        key: s("byte"),
        mvcc: {
          lock: {
            type: Op.Del,
            startTs: 128n,
            primary: s("k1"),
            secondaries: [s("k1"), s("k2")],
            shortValue: s("v1"),
          },
          writes: [
            { type: Op.Insert, startTs: 64n, commitTs: 86n, shortValue: Buffer.from([1, 2, 3, 4, 5, 6]) },
          ],
          values: [{ startTs: 64n, value: Buffer.from([0x11, 0x12]) }],
        },
      },
    ],
  };
  const keyErr = KeyError.fromPartial({ txnLockNotFound: { key: s("byte") }, debugInfo });

  it("is empty without debug info", () => {
    expect(errors.keyErrorDebugInfo(KeyError.fromPartial({ txnLockNotFound: { key: s("byte") } }))).toBe("");
  });

  it("renders client-go's JSON", () => {
    expect(errors.keyErrorDebugInfo(keyErr)).toBe(
      `{"mvcc_info":[{"key":"Ynl0ZQ==","mvcc":{"lock":{"type":1,"start_ts":128,"primary":"azE=","short_value":"djE=","secondaries":["azE=","azI="]},"writes":[{"type":4,"start_ts":64,"commit_ts":86,"short_value":"AQIDBAUG"}],"values":[{"start_ts":64,"value":"ERI="}]}}]}`,
    );
  });

  it("redacts keys and values", () => {
    expect(errors.keyErrorDebugInfo(keyErr, { redact: true })).toBe(
      `{"mvcc_info":[{"key":"Pw==","mvcc":{"lock":{"type":1,"start_ts":128,"primary":"Pw==","short_value":"Pw==","secondaries":["Pw==","Pw=="]},"writes":[{"type":4,"start_ts":64,"commit_ts":86,"short_value":"Pw=="}],"values":[{"start_ts":64,"value":"Pw=="}]}}]}`,
    );
    // The input is not modified by redaction.
    expect(keyErr.debugInfo!.mvccInfo[0]!.key).toEqual(s("byte"));
  });
});
