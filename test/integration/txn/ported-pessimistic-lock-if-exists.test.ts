// Ported by meaning from client-go integration_tests/2pc_test.go TestPessimisticLockIfExists:
// locking only the keys that exist (getForUpdate / batchGetForUpdate with lockOnlyIfExists) —
// which keys end up locked and with which primary, the flags they get, and the typed errors when
// the option cannot be honoured. Mapping: test/ported/txn-2pc.md.

import { describe, expect } from "vitest";
import type { Transaction } from "../../../src/api/transaction.js";
import {
  LockOnlyIfExistsNoPrimaryKeyError,
  LockOnlyIfExistsNoReturnValueError,
} from "../../../src/errors/txn.js";
import { hasLocked, hasLockedValueExists } from "../../../src/kv/memdb/key-flags.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../../support/cluster.js";
import { b, str } from "./ported-2pc-support.js";
import { locksOf } from "./ported-pessimistic-support.js";

describe.skipIf(skipOnRealCluster("v1"))("client-go 2pc_test: lock only if exists", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });

  // key and key3 exist; key0 and key2 do not (key0 is the usual first lock, hence the primary)
  async function setup() {
    const t = (await env.connect()).txn();
    const p = uniquePrefix("lie");
    const k = { key0: `a${p}jkey`, key: `a${p}key`, key2: `h${p}key2`, key3: `q${p}key3` };
    await t.runTransaction(async (w) => {
      w.set(k.key, k.key);
      w.set(k.key3, k.key3);
    });
    const all = [k.key0, k.key, k.key2, k.key3];
    const held = (txn: Transaction) => locksOf(env, txn.startTs, all);
    const primaryOf = (txn: Transaction) =>
      new Set([...held(txn).values()].map((l) => l.primaryLock.toString()));
    const flags = (txn: Transaction, key: string) => txn.buffer.getFlags(b(key));
    const begin = async (lockKey0: boolean) => {
      const txn = await t.begin({ pessimistic: true });
      if (lockKey0) await txn.lockKeys([k.key0], { forUpdateTs: txn.startTs });
      return txn;
    };
    return { t, k, held, primaryOf, flags, begin };
  }

  itFault("an existing key is locked under the primary and flagged as existing", async () => {
    const { k, held, primaryOf, flags, begin } = await setup();
    const txn = await begin(true);
    const v = await txn.getForUpdate(k.key, { forUpdateTs: txn.startTs, lockOnlyIfExists: true });
    expect(v?.toString()).toBe(k.key);
    expect(primaryOf(txn)).toEqual(new Set([k.key0]));
    expect(hasLockedValueExists(flags(txn, k.key) ?? 0)).toBe(true);
    expect(held(txn).size).toBe(2);
    await txn.rollback();
  });

  itFault("an absent key is neither locked nor flagged", async () => {
    const { k, held, flags, begin } = await setup();
    const txn = await begin(true);
    expect(
      await txn.getForUpdate(k.key2, { forUpdateTs: txn.startTs, lockOnlyIfExists: true }),
    ).toBeUndefined();
    expect(flags(txn, k.key2)).toBeUndefined();
    expect([...held(txn).keys()]).toEqual([k.key0]);
    await txn.rollback();
  });

  itFault(
    "several keys in any order: the existing ones are locked, values come back positionally",
    async () => {
      const { t, k, held, primaryOf, flags, begin } = await setup();
      for (const [order, commit] of [
        [[k.key, k.key2, k.key3], false],
        [[k.key2, k.key, k.key3], true],
      ] as const) {
        const txn = await begin(true);
        const vs = await txn.batchGetForUpdate(order, { forUpdateTs: txn.startTs, lockOnlyIfExists: true });
        expect(str(vs)).toEqual(order.map((x) => (x === k.key2 ? undefined : x)));
        expect(primaryOf(txn)).toEqual(new Set([k.key0]));
        expect(hasLockedValueExists(flags(txn, k.key) ?? 0)).toBe(true);
        expect(hasLockedValueExists(flags(txn, k.key3) ?? 0)).toBe(true);
        expect(flags(txn, k.key2)).toBeUndefined();
        expect([...held(txn).keys()].sort()).toEqual([k.key0, k.key, k.key3].sort());
        if (commit) await txn.commit();
        else await txn.rollback();
      }
      await t.whenIdle();
    },
  );

  itFault("an absent key, then two existing ones in another call", async () => {
    const { t, k, held, primaryOf, flags, begin } = await setup();
    const txn = await begin(true);
    await txn.getForUpdate(k.key2, { forUpdateTs: txn.startTs, lockOnlyIfExists: true });
    const vs = await txn.batchGetForUpdate([k.key3, k.key], {
      forUpdateTs: txn.startTs,
      lockOnlyIfExists: true,
    });
    expect(str(vs)).toEqual([k.key3, k.key]);
    expect(primaryOf(txn)).toEqual(new Set([k.key0]));
    expect(flags(txn, k.key2)).toBeUndefined();
    expect(held(txn).size).toBe(3);
    await txn.commit();
    await t.whenIdle();
  });

  itFault("a key locked earlier in the list: it stays locked and reads as absent", async () => {
    const { t, k, held, primaryOf, flags, begin } = await setup();
    const txn = await begin(true);
    const vs = await txn.batchGetForUpdate([k.key0, k.key, k.key3], {
      forUpdateTs: txn.startTs,
      lockOnlyIfExists: true,
    });
    expect(str(vs)).toEqual([undefined, k.key, k.key3]);
    expect(primaryOf(txn)).toEqual(new Set([k.key0]));
    expect(hasLocked(flags(txn, k.key0) ?? 0)).toBe(true);
    expect(held(txn).size).toBe(3);
    await txn.commit();
    await t.whenIdle();
  });

  itFault("with no primary yet, one existing key becomes the primary", async () => {
    const { t, k, held, primaryOf, begin } = await setup();
    const txn = await begin(false);
    expect((await txn.getForUpdate(k.key, { lockOnlyIfExists: true }))?.toString()).toBe(k.key);
    expect(primaryOf(txn)).toEqual(new Set([k.key]));
    expect(held(txn).size).toBe(1);
    await txn.commit();
    await t.whenIdle();
  });

  // client-go unsetPrimaryKeyIfNeeded
  itFault("with no primary yet, an absent key locks nothing and does not become the primary", async () => {
    const { t, k, held, primaryOf, flags, begin } = await setup();
    const txn = await begin(false);
    expect(await txn.getForUpdate(k.key2, { lockOnlyIfExists: true })).toBeUndefined();
    expect(flags(txn, k.key2)).toBeUndefined();
    expect(held(txn).size).toBe(0);
    // the next lock chooses the primary
    await txn.lockKeys([k.key3]);
    expect(primaryOf(txn)).toEqual(new Set([k.key3]));
    await txn.commit();
    await t.whenIdle();
  });

  // client-go ErrLockOnlyIfExistsNoPrimaryKey: the chosen primary might be absent and hold no lock
  itFault("with no primary yet, several keys cannot be locked only-if-exists", async () => {
    const { k, held, begin } = await setup();
    const txn = await begin(false);
    await expect(txn.batchGetForUpdate([k.key, k.key2], { lockOnlyIfExists: true })).rejects.toBeInstanceOf(
      LockOnlyIfExistsNoPrimaryKeyError,
    );
    expect(held(txn).size).toBe(0);
    await txn.rollback();
  });

  // client-go ErrLockOnlyIfExistsNoReturnValue (TiKV would refuse it); locking no key with the
  // option is not an error
  itFault("lock only if exists needs the values: lockKeys with it fails, typed", async () => {
    const { k, begin } = await setup();
    const txn = await begin(true);
    await expect(txn.lockKeys([k.key2], { lockOnlyIfExists: true })).rejects.toBeInstanceOf(
      LockOnlyIfExistsNoReturnValueError,
    );
    await txn.lockKeys([], { lockOnlyIfExists: true });
    await txn.rollback();
  });
});
