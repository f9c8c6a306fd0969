// Checks of caller input: every public buffer method validates its arguments first, so bad input
// gets a typed InvalidArgumentError instead of a TypeError from deep inside.

import { InvalidArgumentError } from "../../errors/base.js";
import type { Latin1Key } from "../key.js";
import { treeKey } from "./entries.js";
import { type FlagsOp, isFlagsOp } from "./key-flags.js";

/** Returns `v` when it is a Buffer; throws InvalidArgumentError otherwise. */
export function bufferArg(v: unknown, argument: string): Buffer {
  if (Buffer.isBuffer(v)) return v;
  throw new InvalidArgumentError(`expected a Buffer, got ${describe(v)}`, argument);
}

/** A range bound: undefined or an empty Buffer mean unbounded; returns the latin1 form or undefined. */
export function boundArg(v: unknown, argument: string): Latin1Key | undefined {
  if (v === undefined) return undefined;
  const b = bufferArg(v, argument);
  return b.length === 0 ? undefined : treeKey(b);
}

const NO_OPS: readonly FlagsOp[] = [];

/** Flag operations: undefined (none) or an array of {@link FlagsOp} values. */
export function opsArg(v: unknown, argument = "ops"): readonly FlagsOp[] {
  if (v === undefined) return NO_OPS;
  if (!Array.isArray(v))
    throw new InvalidArgumentError(`expected an array of FlagsOp, got ${describe(v)}`, argument);
  for (let i = 0; i < v.length; i++) {
    if (!isFlagsOp(v[i]))
      throw new InvalidArgumentError(`unknown FlagsOp ${String(v[i])}`, `${argument}[${i}]`);
  }
  return v as readonly FlagsOp[];
}

/** Returns `v` when it is a function; throws InvalidArgumentError otherwise. */
export function functionArg<F extends (...args: never[]) => unknown>(v: unknown, argument: string): F {
  if (typeof v === "function") return v as F;
  throw new InvalidArgumentError(`expected a function, got ${describe(v)}`, argument);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return (v as object).constructor?.name ?? "object";
  return typeof v;
}
