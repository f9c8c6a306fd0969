// client-go's IsErr* helpers (error/error.go): they look through the cause chain like errors.Is/As.

import { findError } from "./base.js";
import {
  CommitTsLagError,
  KeyAlreadyExistsError,
  NotExistError,
  ResultUndeterminedError,
  WriteConflictError,
} from "./txn.js";

/** True when `err` (or a cause) is a {@link NotExistError} (client-go IsErrNotFound). */
export function isNotFoundError(err: unknown): boolean {
  return findError(err, NotExistError) !== undefined;
}

/** True when `err` (or a cause) is a {@link KeyAlreadyExistsError} (client-go IsErrKeyExist). */
export function isKeyExistsError(err: unknown): boolean {
  return findError(err, KeyAlreadyExistsError) !== undefined;
}

/** True when `err` (or a cause) is a {@link WriteConflictError} (client-go IsErrWriteConflict). */
export function isWriteConflictError(err: unknown): boolean {
  return findError(err, WriteConflictError) !== undefined;
}

/** True when `err` (or a cause) is a {@link ResultUndeterminedError} (client-go IsErrorUndetermined). */
export function isUndeterminedError(err: unknown): boolean {
  return findError(err, ResultUndeterminedError) !== undefined;
}

/** True when `err` (or a cause) is a {@link CommitTsLagError} (client-go IsErrorCommitTSLag). */
export function isCommitTsLagError(err: unknown): boolean {
  return findError(err, CommitTsLagError) !== undefined;
}
