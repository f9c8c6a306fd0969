// The bank workload (Jepsen): transactions move random amounts between accounts; snapshot reads
// (at a fresh ts, or an older one: a stale read) show every balance. The total never changes and,
// since a transfer that would overdraw is abandoned, no balance goes negative.

import type { Snapshot } from "../../api/snapshot.js";
import { bankChecker } from "../checkers/bank.js";
import { asRecord } from "../checkers/ops.js";
import { classify } from "../classify.js";
import type { OpOutcome, OpRequest, OpValue, Workload } from "../types.js";
import {
  intSetting,
  pickProbeRead,
  prefixOf,
  probeSnapshot,
  runInTxn,
  type TxnWorkloadOptions,
  txnModeOf,
} from "./txn-mode.js";

/** Options of {@link bankWorkload}. */
export interface BankWorkloadOptions extends TxnWorkloadOptions {
  /** Number of accounts (default `settings.accounts`, else 8). */
  accounts?: number;
  /** Each account's opening balance (default `settings.balance`, else 100). */
  balance?: number;
}

const num = (v: Buffer | undefined): number | null => (v === undefined ? null : Number(v.toString("utf8")));

/**
 * Builds the bank workload.
 *
 * @example
 * ```ts
 * const w = bankWorkload({ clients: 5, ops: 500, mode: "pessimistic" });
 * ```
 */
export function bankWorkload(opts: BankWorkloadOptions): Workload {
  const mode = txnModeOf(opts);
  const prefix = prefixOf(opts, "bank/");
  const n = opts.accounts ?? intSetting(opts, "accounts", 8);
  const balance = opts.balance ?? intSetting(opts, "balance", 100);
  const accounts = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, "0")}`);
  let setupTs = 0n;
  const readAll = async (snap: Snapshot): Promise<OpValue> => {
    const vals = await snap.batchGet(accounts);
    return Object.fromEntries(accounts.map((a, i) => [a, num(vals[i])]));
  };

  return {
    name: `bank/${mode}`,
    keyPrefix: prefix,
    keyMode: "txn",
    checkers: [bankChecker({ accounts, total: n * balance })],
    async setup(client) {
      const txn = await client.txn().begin();
      for (const a of accounts) txn.set(a, String(balance));
      setupTs = await txn.commit();
    },
    next(rng): OpRequest {
      if (rng.next() < 0.4) return { f: "read", value: { ...pickProbeRead(rng, 0.25, 200) } };
      const from = rng.pick(accounts);
      let to = rng.pick(accounts);
      while (to === from) to = rng.pick(accounts);
      return {
        f: "transfer",
        value: { from, to, amount: 1 + rng.int(Math.max(1, Math.floor(balance / 4))) },
      };
    },
    async run(client, op): Promise<OpOutcome> {
      const v = asRecord(op.value) ?? {};
      if (op.f === "read") {
        try {
          const { snap } = await probeSnapshot(client, v, setupTs);
          return { type: "ok", value: await readAll(snap) };
        } catch (e) {
          return classify(e, "read");
        }
      }
      const from = String(v.from);
      const to = String(v.to);
      const amount = Number(v.amount);
      return runInTxn(client, mode, async ({ txn, readForUpdate, abort }) => {
        const [a, b] = (await readForUpdate([from, to])).map(num);
        if (a === null || b === null) abort(`account missing: ${from}=${a} ${to}=${b}`);
        if ((a as number) < amount) abort(`insufficient funds: ${from} has ${a}`);
        txn.set(from, String((a as number) - amount));
        txn.set(to, String((b as number) + amount));
        return op.value;
      });
    },
    finalOps(): OpRequest[] {
      return [{ f: "read", value: { ageMs: 0 } }];
    },
  };
}
