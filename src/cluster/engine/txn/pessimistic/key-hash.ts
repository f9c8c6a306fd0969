import { fingerprint64 } from "farmhash-modern";

/**
 * The hash TiKV and TiDB use to identify a key in lock waiting and deadlock detection
 * (farmhash Fingerprint64 of the raw key, as txn_types `Key::gen_hash` and client-go's
 * mock detector compute it).
 */
export function keyHash(key: Uint8Array): bigint {
  return fingerprint64(key);
}
