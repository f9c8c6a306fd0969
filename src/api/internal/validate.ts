// Checks of numeric options shared by the facade's option validators, so every bad number gets
// the same typed error and message.

import { InvalidArgumentError } from "../../errors/base.js";

/** Checks an integer option ≥ 1 (and ≤ `max`); throws InvalidArgumentError naming `name`. */
export function checkPositiveInt(v: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
    throw new InvalidArgumentError(`must be a positive integer, got ${String(v)}`, name);
  }
  return v;
}

/** Checks a non-negative integer option (ms, sizes); throws InvalidArgumentError naming `name`. */
export function checkNonNegativeInt(v: unknown, name: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new InvalidArgumentError(`must be a non-negative integer, got ${String(v)}`, name);
  }
  return v;
}
