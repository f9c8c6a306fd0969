// JSON as PD's Go code writes it: uint64 as bare numbers (bigint here, beyond 2^53), time.Time
// in RFC 3339 with trimmed fractions, time.Duration / typeutil.Duration as Go's String(), keys
// in upper-case hex (core.HexRegionKeyStr).

import { hexUpper } from "../../kv/key.js";

/** A JSON value that may carry bigints (written as bare numbers). */
export type GoJson =
  | null
  | boolean
  | number
  | bigint
  | string
  | readonly GoJson[]
  | { readonly [k: string]: GoJson | undefined };

/** Serializes `v`; object members that are undefined are left out (Go's omitempty). */
export function goJson(v: GoJson): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "bigint":
      return v.toString();
    case "number":
    case "boolean":
    case "string":
      return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map(goJson).join(",")}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as { [k: string]: GoJson | undefined })) {
    if (x !== undefined) parts.push(`${JSON.stringify(k)}:${goJson(x)}`);
  }
  return `{${parts.join(",")}}`;
}

/** Go's time.Time JSON form (UTC), e.g. "2024-05-01T10:00:00.5Z". */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, "Z");
}

/** Go's time.Duration String() of a whole number of ms: "0s", "250ms", "1.5s", "1h2m3s". */
export function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const sec = `${s}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  return m > 0 ? `${m}m${sec}` : sec;
}

/** core.HexRegionKeyStr: upper-case hex of a key. */
export const hexKey: (key: Uint8Array) => string = hexUpper;
