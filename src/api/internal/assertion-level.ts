// The wire assertion level of a transaction's `assertionLevel` option, shared by the plain and
// the pipelined transaction paths.

import { AssertionLevel } from "../../proto/kvrpcpb.js";
import type { AssertionLevelName, Transaction } from "../transaction.js";

/** Wire value of each assertion level name. */
export const ASSERTION_LEVEL: Record<AssertionLevelName, AssertionLevel> = {
  off: AssertionLevel.Off,
  fast: AssertionLevel.Fast,
  strict: AssertionLevel.Strict,
};

/** The assertion level `txn` prewrites (or flushes) with; "off" unless set. */
export function assertionLevelOf(txn: Transaction): AssertionLevel {
  return ASSERTION_LEVEL[txn.protocol.assertionLevel ?? "off"];
}
