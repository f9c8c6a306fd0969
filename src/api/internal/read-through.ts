// Reads of a transaction: its own writes first (an empty value is its delete), the snapshot for
// the rest, in one batch. Shared by the plain and the pipelined transaction.

/**
 * The values of `keys`, positional: `own(i)` is the transaction's write of keys[i] (undefined
 * when it wrote none, empty when it deleted the key); the other keys are read with `read`.
 */
export async function readThrough(
  keys: readonly Buffer[],
  own: (i: number) => Buffer | undefined,
  read: (keys: Buffer[]) => Promise<Array<Buffer | undefined>>,
): Promise<Array<Buffer | undefined>> {
  const out = new Array<Buffer | undefined>(keys.length).fill(undefined);
  const remote: number[] = [];
  keys.forEach((_, i) => {
    const v = own(i);
    if (v === undefined) remote.push(i);
    else out[i] = v.length === 0 ? undefined : v;
  });
  if (remote.length > 0) {
    const got = await read(remote.map((i) => keys[i] as Buffer));
    remote.forEach((i, j) => {
      out[i] = got[j];
    });
  }
  return out;
}
