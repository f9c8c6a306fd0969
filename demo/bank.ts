// The transactional half of `npm run demo`: a bank. Accounts live in several regions; many
// concurrent transfers between random accounts run through runTransaction, which re-runs a
// transfer in a new transaction when it conflicts with another. The total never changes.

import type { TikvClient, Transaction } from "../src/index.js";

const ACCOUNTS = 8;
const TRANSFERS = 40;
const CONCURRENCY = 8;
const INITIAL = 100;

const account = (i: number) => `bank:acct:${String(i).padStart(2, "0")}`;

async function balances(txn: Transaction): Promise<number[]> {
  const keys = Array.from({ length: ACCOUNTS }, (_, i) => account(i));
  return (await txn.batchGet(keys)).map((v) => Number(v?.toString() ?? "0"));
}

/** Runs the bank on `client`; `log` prints a line. Throws when the total is not conserved. */
export async function runBank(client: TikvClient, log: (msg: string) => void): Promise<void> {
  const txns = client.txn();
  await txns.runTransaction(async (txn) => {
    for (let i = 0; i < ACCOUNTS; i++) txn.set(account(i), String(INITIAL));
  });
  log(`bank: opened ${ACCOUNTS} accounts with ${INITIAL} each (total ${ACCOUNTS * INITIAL})`);

  let conflicts = 0;
  let done = 0;
  let rejected = 0;
  const transfer = async () => {
    const from = Math.floor(Math.random() * ACCOUNTS);
    const to = (from + 1 + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS;
    const amount = 1 + Math.floor(Math.random() * 30);
    const ok = await txns.runTransaction(
      async (txn) => {
        const [a, b] = (await txn.batchGet([account(from), account(to)])).map((v) => Number(v?.toString()));
        if ((a as number) < amount) return false; // no overdraft: commit nothing
        txn.set(account(from), String((a as number) - amount));
        txn.set(account(to), String((b as number) + amount));
        return true;
      },
      { maxAttempts: 100, onRetry: () => conflicts++ },
    );
    if (ok) done++;
    else rejected++;
  };
  const queue = Array.from({ length: TRANSFERS }, () => transfer);
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let job = queue.pop(); job; job = queue.pop()) await job();
    }),
  );
  log(
    `bank: ${TRANSFERS} transfers by ${CONCURRENCY} concurrent clients: ${done} done, ${rejected} refused (overdraft), ${conflicts} write conflicts retried with a new start ts`,
  );

  const snap = await txns.snapshot();
  const final = (await snap.batchGet(Array.from({ length: ACCOUNTS }, (_, i) => account(i)))).map((v) =>
    Number(v?.toString()),
  );
  const total = final.reduce((x, y) => x + y, 0);
  log(`bank: balances ${final.join(" ")} -> total ${total}`);
  if (total !== ACCOUNTS * INITIAL) throw new Error(`the bank lost money: total ${total}`);
  log("bank: total conserved");
  await txns.runTransaction(async (txn) => {
    const bs = await balances(txn);
    for (let i = 0; i < bs.length; i++) txn.delete(account(i));
  });
  await txns.whenIdle();
}
