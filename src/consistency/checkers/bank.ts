// The bank checker (Jepsen's bank workload): transfers move money between accounts inside
// transactions, and snapshot reads of every balance must always sum to the same total, with no
// negative balance when the workload forbids them. A read whose total is off by the amount of a
// transfer saw half of it (a partial transfer); any other difference is a wrong total.
//
// History format: f "transfer", value { from, to, amount }; f "read", ok value
// { [account]: balance | null } (null: the account's key was absent).
import type { Anomaly, Checker, HistoryEvent, Verdict } from "../types.js";
import { asRecord, pairOps, witness } from "./ops.js";

/** Options of {@link checkBank}. */
export interface BankOptions {
  /** Every account a read must show. */
  accounts: readonly string[];
  /** The constant sum of all balances. */
  total: number;
  /** Whether balances may go below zero (default false). */
  negativeAllowed?: boolean;
}

/**
 * Checks a bank history.
 *
 * @example
 * ```ts
 * const v = checkBank(history, { accounts: ["a0", "a1"], total: 200 });
 * ```
 */
export function checkBank(history: readonly HistoryEvent[], options: BankOptions): Verdict {
  const anomalies: Anomaly[] = [];
  const ops = pairOps(history);
  const amounts = new Set<number>();
  const counts = { reads: 0, transfersOk: 0, transfersFail: 0, transfersInfo: 0 };
  for (const op of ops) {
    if (op.f !== "transfer") continue;
    const amount = asRecord(op.value)?.amount;
    if (typeof amount === "number") amounts.add(Math.abs(amount));
    if (op.type === "ok") counts.transfersOk++;
    else if (op.type === "fail") counts.transfersFail++;
    else counts.transfersInfo++;
  }
  const known = new Set(options.accounts);
  for (const op of ops) {
    if (op.f !== "read" || op.type !== "ok") continue;
    counts.reads++;
    const balances = asRecord(op.value);
    const ev = witness(op);
    if (!balances) {
      anomalies.push({ kind: "malformed", message: "a read returned no balances", events: ev });
      continue;
    }
    let sum = 0;
    let complete = true;
    for (const acct of options.accounts) {
      const b = balances[acct];
      if (b === undefined || b === null) {
        complete = false;
        anomalies.push({ kind: "missing-account", message: `read shows no balance for ${acct}`, events: ev });
      } else if (typeof b !== "number") {
        complete = false;
        anomalies.push({
          kind: "malformed",
          message: `balance of ${acct} is ${JSON.stringify(b)}`,
          events: ev,
        });
      } else {
        sum += b;
        if (b < 0 && !options.negativeAllowed) {
          anomalies.push({ kind: "negative-balance", message: `${acct} has balance ${b}`, events: ev });
        }
      }
    }
    for (const acct of Object.keys(balances)) {
      if (!known.has(acct)) {
        anomalies.push({
          kind: "unexpected-account",
          message: `read shows unknown account ${acct}`,
          events: ev,
        });
      }
    }
    if (complete && sum !== options.total) {
      const delta = sum - options.total;
      const partial = amounts.has(Math.abs(delta));
      anomalies.push({
        kind: partial ? "partial-transfer" : "wrong-total",
        message: `balances sum to ${sum}, not ${options.total} (off by ${delta}${partial ? ", a transfer's amount" : ""})`,
        events: ev,
      });
    }
  }
  return {
    checker: "bank",
    valid: anomalies.length === 0,
    anomalies,
    stats: { ...counts, accounts: options.accounts.length, total: options.total },
  };
}

/** A checker for the runner. */
export function bankChecker(options: BankOptions): Checker {
  return (history) => checkBank(history, options);
}
