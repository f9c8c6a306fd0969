// One id space for stores, regions and peers, as PD allocates all of them from a single
// allocator (pd server/id/id.go); AllocID draws from the same one.

/** Monotonic id allocator. */
export class IdAllocator {
  private next: bigint;

  constructor(first = 1n) {
    this.next = first;
  }

  /** Allocates one id. */
  alloc(): bigint {
    const id = this.next;
    this.next += 1n;
    return id;
  }

  /** Allocates `count` consecutive ids and returns the first. */
  allocBatch(count: number): bigint {
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`id count must be a positive integer, got ${count}`);
    const first = this.next;
    this.next += BigInt(count);
    return first;
  }

  /** The id the next alloc() returns. */
  peek(): bigint {
    return this.next;
  }
}
