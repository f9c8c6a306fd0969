// Fault injection for the mock PD: a typed API consulted before every request. Kept local to
// the PD (no dependency on the stores' fault registry).
import type { status } from "@grpc/grpc-js";

/** PD RPC names as in pdpb.PD / keyspacepb.Keyspace ("GetRegion", "Tso", "LoadKeyspace"...). */
export type PdMethod = string;

/** What an injected failure answers with. */
export type PdFaultKind =
  /** UNAVAILABLE "not leader" (a Tso stream gets PD's not-leader TSO error). */
  | { kind: "notLeader" }
  /** UNAVAILABLE "server not started", as a closed PD member answers. */
  | { kind: "unavailable" }
  /** Any gRPC status. */
  | { kind: "status"; code: status; details: string };

/** One request as the hook sees it. */
export interface PdRequestEvent {
  method: PdMethod;
  /** Index of the member that received it. */
  member: number;
  request: unknown;
}

interface FailRule {
  method: PdMethod | "*";
  member: number | undefined;
  remaining: number;
  fault: PdFaultKind;
}

/** Per-PD fault registry. */
export class PdFaults {
  private readonly unavailableMembers = new Set<number>();
  private allUnavailable = false;
  private rules: FailRule[] = [];
  private readonly delays = new Map<PdMethod | "*", number>();
  private readonly counters = new Map<PdMethod, number>();
  private readonly hooks = new Set<(e: PdRequestEvent) => void>();

  /** Makes every member (or one member) answer UNAVAILABLE until cleared. */
  setUnavailable(on: boolean, member?: number): void {
    if (member === undefined) this.allUnavailable = on;
    else if (on) this.unavailableMembers.add(member);
    else this.unavailableMembers.delete(member);
  }

  /** Whether `member` is currently unavailable. */
  isUnavailable(member: number): boolean {
    return this.allUnavailable || this.unavailableMembers.has(member);
  }

  /** Fails the next `count` calls of `method` ("*" = any) with `fault`, optionally on one member. */
  failNext(method: PdMethod | "*", count: number, fault: PdFaultKind, member?: number): void {
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`count must be a positive integer, got ${count}`);
    this.rules.push({ method, member, remaining: count, fault });
  }

  /** Delays every call of `method` ("*" = all) by `ms` (0 removes the delay). */
  setDelay(method: PdMethod | "*", ms: number): void {
    if (ms <= 0) this.delays.delete(method);
    else this.delays.set(method, ms);
  }

  /** Registers a hook that sees every request; returns an unsubscribe function. */
  onRequest(hook: (e: PdRequestEvent) => void): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** Calls of `method` so far (every member; each Tso stream message counts once). */
  calls(method: PdMethod): number {
    return this.counters.get(method) ?? 0;
  }

  /** All counters. */
  allCalls(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  /** Clears rules, delays, unavailability, counters and hooks. */
  reset(): void {
    this.unavailableMembers.clear();
    this.allUnavailable = false;
    this.rules = [];
    this.delays.clear();
    this.counters.clear();
    this.hooks.clear();
  }

  /** Counts the call, runs hooks, and returns the fault to apply, if any (consumes a rule). */
  enter(method: PdMethod, member: number, request: unknown): PdFaultKind | undefined {
    this.counters.set(method, (this.counters.get(method) ?? 0) + 1);
    for (const h of this.hooks) {
      try {
        h({ method, member, request });
      } catch {
        // A failing test hook must not break the server.
      }
    }
    if (this.isUnavailable(member)) return { kind: "unavailable" };
    const i = this.rules.findIndex(
      (r) => (r.method === "*" || r.method === method) && (r.member === undefined || r.member === member),
    );
    if (i < 0) return undefined;
    const rule = this.rules[i]!;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules.splice(i, 1);
    return rule.fault;
  }

  /** Delay for `method` in ms (a method-specific delay wins over "*"). */
  delayOf(method: PdMethod): number {
    return this.delays.get(method) ?? this.delays.get("*") ?? 0;
  }
}
