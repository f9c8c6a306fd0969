// Leases of the embedded etcd (etcd server/lease): a lease has a TTL in seconds (raised to
// the minimum TTL the raft timing allows), keys attach to it on put, and when it expires or is
// revoked its keys are deleted in one write (one revision). Expiry is checked against the
// PD clock before every request and by a background check every 500 ms while leases exist,
// as etcd's lessor loop does.
import { errLeaseExist, errLeaseNotFound, errLeaseTtlTooLarge } from "./errors.js";
import type { KvStore, LeaseIndex } from "./kv-store.js";

/** etcd's MaxLeaseTTL (seconds). */
export const MAX_LEASE_TTL = 9_000_000_000n;

/**
 * Minimum lease TTL of PD's embedded etcd in seconds: etcd raises shorter TTLs to
 * ceil(1.5 × election timeout), and PD runs etcd with a 3 s election timeout.
 */
export const PD_MIN_LEASE_TTL = 5n;

const CHECK_INTERVAL_MS = 500;

interface Lease {
  readonly id: bigint;
  /** Granted TTL in seconds (after the minimum is applied). */
  readonly ttl: bigint;
  expiresAtMs: number;
  readonly keys: Set<string>;
}

/** A lease as LeaseTimeToLive reports it. */
export interface LeaseInfo {
  id: bigint;
  /** Whole seconds left. */
  remaining: bigint;
  granted: bigint;
  keys: string[];
}

/** The embedded etcd's lessor. */
export class Lessor implements LeaseIndex {
  private readonly leases = new Map<bigint, Lease>();
  private timer: NodeJS.Timeout | undefined;
  private nextId: bigint;

  constructor(
    private readonly kv: KvStore,
    private readonly now: () => number,
    private readonly minTtl: bigint = PD_MIN_LEASE_TTL,
  ) {
    kv.useLeases(this);
    // etcd ids are positive int64s derived from member and time; any unused positive id will do
    this.nextId = BigInt(Math.floor(now())) * 1000n + 1n;
  }

  exists(id: bigint): boolean {
    return this.leases.has(id);
  }

  attach(id: bigint, key: string): void {
    this.leases.get(id)?.keys.add(key);
  }

  detach(id: bigint, key: string): void {
    this.leases.get(id)?.keys.delete(key);
  }

  /** LeaseGrant: `id` 0 lets the lessor choose. Returns the id and the granted TTL. */
  grant(id: bigint, ttl: bigint): { id: bigint; ttl: bigint } {
    if (ttl > MAX_LEASE_TTL) throw errLeaseTtlTooLarge();
    let leaseId = id;
    if (leaseId === 0n) {
      while (this.leases.has(this.nextId)) this.nextId++;
      leaseId = this.nextId++;
    } else if (this.leases.has(leaseId)) {
      throw errLeaseExist();
    }
    const granted = ttl < this.minTtl ? this.minTtl : ttl;
    this.leases.set(leaseId, {
      id: leaseId,
      ttl: granted,
      expiresAtMs: this.now() + Number(granted) * 1000,
      keys: new Set(),
    });
    this.schedule();
    return { id: leaseId, ttl: granted };
  }

  /** LeaseRevoke: deletes the lease and, in one write, every key attached to it. */
  revoke(id: bigint): void {
    const lease = this.leases.get(id);
    if (!lease) throw errLeaseNotFound();
    this.leases.delete(id);
    const keys = [...lease.keys].sort();
    if (keys.length > 0) {
      this.kv.write((w) => {
        for (const key of keys) w.deleteRange({ kind: "single", key });
      });
    }
    if (this.leases.size === 0) this.unschedule();
  }

  /** LeaseKeepAlive: the refreshed TTL, or 0 when the lease does not exist (any more). */
  renew(id: bigint): bigint {
    this.expire();
    const lease = this.leases.get(id);
    if (!lease) return 0n;
    lease.expiresAtMs = this.now() + Number(lease.ttl) * 1000;
    return lease.ttl;
  }

  /** LeaseTimeToLive: undefined when the lease does not exist. */
  info(id: bigint): LeaseInfo | undefined {
    const lease = this.leases.get(id);
    if (!lease) return undefined;
    const left = Math.max(0, Math.floor((lease.expiresAtMs - this.now()) / 1000));
    return { id, remaining: BigInt(left), granted: lease.ttl, keys: [...lease.keys].sort() };
  }

  /** LeaseLeases: every lease id. */
  ids(): bigint[] {
    return [...this.leases.keys()];
  }

  /** Revokes every lease whose TTL has run out. */
  expire(): void {
    const now = this.now();
    for (const lease of [...this.leases.values()]) {
      if (lease.expiresAtMs <= now && this.leases.has(lease.id)) this.revoke(lease.id);
    }
  }

  /** Stops the background expiry check (the PD is stopping). */
  stop(): void {
    this.unschedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.expire(), CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  private unschedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
