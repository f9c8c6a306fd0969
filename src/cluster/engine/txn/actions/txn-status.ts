import type { Lock } from "../../mvcc/types.js";

/** Outcome of a status check on a transaction's primary key (tikv storage::types::TxnStatus). */
export type TxnStatus =
  /** Rolled back before this request. */
  | { readonly kind: "RolledBack" }
  /** Rolled back now because its lock's TTL expired. */
  | { readonly kind: "TtlExpire" }
  /** Rolled back now because no lock was found. */
  | { readonly kind: "LockNotExist" }
  /** Still running. */
  | { readonly kind: "Uncommitted"; readonly lock: Lock; readonly minCommitTsPushed: boolean }
  /** Committed at commitTs. */
  | { readonly kind: "Committed"; readonly commitTs: bigint }
  /** The primary pessimistic lock expired and was removed (no rollback record). */
  | { readonly kind: "PessimisticRollBack" }
  /** No lock, no record, and nothing was written (resolving a pessimistic lock). */
  | { readonly kind: "LockNotExistDoNothing" };
