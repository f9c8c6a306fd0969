// Request source labels (client-go util/request_source.go): "<internal|external>_<type>[_<explicit>]",
// "unknown" when neither type is set. TiKV and PD group RU and metrics by this label; internal
// "others" requests (client-go InternalTxnOthers) bypass resource control.

/** client-go InternalRequest / ExternalRequest / SourceUnknown. */
const INTERNAL_REQUEST = "internal";
const EXTERNAL_REQUEST = "external";
const SOURCE_UNKNOWN = "unknown";
/** client-go InternalTxnOthers: low-cost internal requests, not resource-controlled. */
const INTERNAL_TXN_OTHERS = "others";

/**
 * Builds a request source label as client-go's BuildRequestSource: `internal` picks the
 * scope, `type` the source type ("unknown" when empty), and `explicitType` (a task type such as
 * "lightning" or "br") is appended unless it is empty or equals `type`. With neither type set
 * the label is "unknown".
 *
 * @example
 * buildRequestSource(true, "gc");                 // "internal_gc"
 * buildRequestSource(false, "txn", "lightning");  // "external_txn_lightning"
 */
export function buildRequestSource(internal: boolean, type: string, explicitType = ""): string {
  if (type.length === 0 && explicitType.length === 0) return SOURCE_UNKNOWN;
  const parts = [internal ? INTERNAL_REQUEST : EXTERNAL_REQUEST, type.length > 0 ? type : SOURCE_UNKNOWN];
  if (explicitType.length > 0 && explicitType !== type) parts.push(explicitType);
  return parts.join("_");
}

/** client-go IsInternalRequest: the label starts with "internal". */
export function isInternalRequestSource(source: string): boolean {
  return source.startsWith(INTERNAL_REQUEST);
}

/** client-go resourcecontrol shouldBypass: internal "others" requests skip resource control. */
export function isBypassedSource(source: string): boolean {
  return source.includes(`${INTERNAL_REQUEST}_${INTERNAL_TXN_OTHERS}`);
}
