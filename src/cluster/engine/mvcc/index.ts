/**
 * Storage core of the embedded cluster: TiKV's lock / write / default column families in
 * memory, the MvccTxn write buffer, read helpers, MVCC errors and the max_ts tracker.
 */
export * from "./errors.js";
export * from "./key.js";
export * from "./max-ts.js";
export * from "./mvcc-info.js";
export * from "./reader.js";
export * from "./store.js";
export * from "./txn.js";
export * from "./types.js";
