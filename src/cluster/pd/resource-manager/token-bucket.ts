// A resource group's RU token bucket on the PD side, after PD's GroupTokenBucket
// (pkg/mcs/resourcemanager/server/token_buckets.go): the bucket fills at the group's rate up to
// its burst limit; each client has a slot with its share of the rate; a grant larger than what
// the slot holds is a loan, delivered over a trickle time (the client spreads it over that
// period), and loans beyond `loanCoefficient` target periods are refused down to a reserve.
//
// Simplification (stated in the README): the fill rate is split evenly between the clients
// asking, where PD weighs the split by each client's recent demand.

import type { TokenBucket } from "../../../proto/resource_manager.js";

/** PD's defaults (token_buckets.go). */
export const DEFAULT_REFILL_RATE = 10_000;
export const DEFAULT_INITIAL_TOKENS = 10 * 10_000;
const DEFAULT_RESERVE_RATIO = 0.5;
const DEFAULT_LOAN_COEFFICIENT = 2;
/** PD's UnlimitedRate (math.MaxInt32), the default group's fill rate. */
export const UNLIMITED_RATE = 2_147_483_647;
/** A slot unused this long is dropped (PD slotExpireTimeout). */
const SLOT_EXPIRE_MS = 10 * 60_000;

/** How the burst limit reads (PD burstableMode). */
export type BurstMode = "limited" | "rateControlled" | "unlimited" | "moderated";

/** burst > 0: limited; 0: rate controlled, no cap; -1: unlimited; -2: moderated. */
export function burstMode(burstLimit: bigint): BurstMode {
  if (burstLimit === -1n) return "unlimited";
  if (burstLimit === -2n) return "moderated";
  if (burstLimit === 0n) return "rateControlled";
  return "limited";
}

interface Slot {
  fillRate: number;
  burstLimit: number;
  tokens: number;
  lastReqMs: number;
}

/** One grant: the tokens and the burst limit the client must apply, and the trickle time. */
export interface Grant {
  tokens: number;
  burstLimit: bigint;
  fillRate: number;
  trickleTimeMs: number;
}

/** The running bucket of one group. */
export class GroupTokenBucket {
  fillRate: number;
  burstLimit: bigint;
  tokens: number;
  private lastUpdateMs: number | undefined;
  private readonly slots = new Map<bigint, Slot>();

  constructor(settings: { fillRate: number; burstLimit: bigint; tokens?: number }) {
    this.fillRate = settings.fillRate;
    this.burstLimit = settings.burstLimit;
    this.tokens = settings.tokens ?? 0;
  }

  /** New settings (ModifyResourceGroup); tokens already accumulated stay, capped at the new burst. */
  reconfigure(fillRate: number, burstLimit: bigint): void {
    this.fillRate = fillRate;
    this.burstLimit = burstLimit;
    if (burstLimit > 0n && this.tokens > Number(burstLimit)) this.tokens = Number(burstLimit);
  }

  /** The bucket as ListResourceGroups reports it. */
  toProto(): TokenBucket {
    return {
      settings: { fillRate: BigInt(this.fillRate), burstLimit: this.burstLimit, maxTokens: 0 },
      tokens: this.tokens,
    };
  }

  /**
   * Serves `required` tokens to client `clientId` at `nowMs` for a report period of
   * `targetPeriodMs` (PD GroupTokenBucket.request).
   */
  request(nowMs: number, required: number, targetPeriodMs: number, clientId: bigint): Grant {
    this.refill(nowMs);
    const slot = this.balance(nowMs, clientId, required);
    if (slot === undefined) return { tokens: 0, burstLimit: this.burstLimit, fillRate: 0, trickleTimeMs: 0 };
    const before = slot.tokens;
    const grant = assign(slot, required, targetPeriodMs);
    // what the slot gave (or lent) comes out of the group's bucket
    this.tokens -= before - slot.tokens;
    return grant;
  }

  // PD updateTokens: first use fills the bucket to its initial tokens; later, time elapsed
  // times the rate, capped at the burst limit (no cap with a burst limit <= 0).
  private refill(nowMs: number): void {
    if (this.lastUpdateMs === undefined) {
      if (this.fillRate === 0) this.fillRate = DEFAULT_REFILL_RATE;
      if (this.tokens < DEFAULT_INITIAL_TOKENS && this.burstLimit > 0n) this.tokens = DEFAULT_INITIAL_TOKENS;
      this.lastUpdateMs = nowMs;
      this.spread(this.tokens, true);
      return;
    }
    const burst = Number(this.burstLimit);
    if (burst <= 0) return;
    const delta = nowMs - this.lastUpdateMs;
    let fresh = 0;
    if (delta > 0) fresh = (this.fillRate * delta) / 1000;
    this.tokens += fresh;
    if (this.tokens > burst) {
      fresh -= this.tokens - burst;
      this.tokens = burst;
    }
    this.lastUpdateMs = nowMs;
    if (fresh > 0) this.spread(fresh, false);
  }

  // hands `n` new tokens to the slots in equal shares (replace: the slots' balance is the whole bucket)
  private spread(n: number, replace: boolean): void {
    if (this.slots.size === 0) return;
    const share = n / this.slots.size;
    for (const s of this.slots.values()) s.tokens = replace ? share : s.tokens + share;
  }

  // PD balanceSlotTokens: a client asking for nothing gives up its slot; idle slots expire;
  // the rate and burst are shared evenly.
  private balance(nowMs: number, clientId: bigint, required: number): Slot | undefined {
    let slot = this.slots.get(clientId);
    if (required === 0) {
      if (slot) this.slots.delete(clientId);
      slot = undefined;
    } else if (slot === undefined) {
      // a new client starts with its share of what the bucket holds
      slot = { fillRate: 0, burstLimit: 0, tokens: 0, lastReqMs: nowMs };
      this.slots.set(clientId, slot);
      const total = Math.max(0, this.tokens);
      for (const s of this.slots.values()) s.tokens = total / this.slots.size;
    } else {
      slot.lastReqMs = nowMs;
    }
    for (const [id, s] of this.slots) if (nowMs - s.lastReqMs >= SLOT_EXPIRE_MS) this.slots.delete(id);
    const n = this.slots.size;
    if (n === 0) return undefined;
    const mode = burstMode(this.burstLimit);
    const rate =
      mode === "moderated" ? Math.min(this.fillRate + DEFAULT_REFILL_RATE, UNLIMITED_RATE) : this.fillRate;
    const burst = mode === "moderated" ? rate : Number(this.burstLimit);
    for (const s of this.slots.values()) {
      s.fillRate = Math.floor(rate / n);
      s.burstLimit = mode === "unlimited" || mode === "rateControlled" ? burst : Math.floor(burst / n);
      // PD: one slot is the whole group; several keep at most their share of the burst
      if (n === 1) s.tokens = this.tokens;
      else if (s.burstLimit > 0 && s.tokens > s.burstLimit) s.tokens = s.burstLimit;
    }
    return slot;
  }
}

// PD tokenSlot.assignSlotTokens: grant from what the slot holds; beyond it, lend at most
// `loanCoefficient` periods' worth at a decreasing rate, delivered over a trickle time; a
// client that has borrowed past that still gets the reserve (half a period's fill).
function assign(slot: Slot, required: number, targetPeriodMs: number): Grant {
  const base = { burstLimit: BigInt(slot.burstLimit), fillRate: slot.fillRate };
  if (slot.burstLimit === -1) return { ...base, tokens: required, trickleTimeMs: 0 };
  if (required <= 0) return { ...base, tokens: 0, trickleTimeMs: 0 };
  if (slot.fillRate === 0) {
    slot.tokens = 0;
    return { ...base, tokens: 0, trickleTimeMs: targetPeriodMs };
  }
  if (slot.tokens >= required) {
    slot.tokens -= required;
    return { ...base, tokens: required, trickleTimeMs: 0 };
  }
  let granted = 0;
  let need = required;
  let consumedExisting = false;
  if (slot.tokens > 0) {
    granted = slot.tokens;
    need -= granted;
    slot.tokens = 0;
    consumedExisting = true;
  }
  const periodSec = targetPeriodMs / 1000;
  const rate = slot.fillRate;
  const k = slot.burstLimit > 0 && slot.burstLimit <= rate ? 1 : DEFAULT_LOAN_COEFFICIENT;
  // p[i]: the loan ceiling of round i (k, then k-1 ... periods of fill, accumulated)
  const p: number[] = [k * rate * periodSec];
  for (let i = 1; i < k; i++) p.push((k - i) * rate * periodSec + (p[i - 1] as number));
  let trickle = 0;
  for (let i = 0; i < k && need > 0 && trickle < periodSec; i++) {
    const loan = -slot.tokens;
    const ceiling = p[i] as number;
    if (loan >= ceiling) continue;
    const roundTokens = ceiling - loan;
    const roundRate = (k - i) * rate;
    if (roundTokens > need) {
      slot.tokens -= need;
      granted += need;
      trickle += granted / roundRate;
      need = 0;
    } else {
      const roundTime = roundTokens / roundRate;
      if (roundTime + trickle >= periodSec) {
        const t = (periodSec - trickle) * roundRate;
        need -= t;
        slot.tokens -= t;
        granted += t;
        trickle = periodSec;
      } else {
        granted += roundTokens;
        need -= roundTokens;
        slot.tokens -= roundTokens;
        trickle += roundTime;
      }
    }
  }
  const reserve = DEFAULT_RESERVE_RATIO * rate * periodSec;
  if (need > 0 && granted < reserve) {
    const r = Math.min(need + granted, reserve);
    slot.tokens -= r - granted;
    granted = r;
  }
  const trickleTimeMs = consumedExisting ? Math.floor(Math.min(trickle, periodSec) * 1000) : targetPeriodMs;
  return { ...base, tokens: granted, trickleTimeMs };
}
