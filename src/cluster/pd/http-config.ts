// PD's configuration as GET /pd/api/v1/config[/replicate|/schedule|/pd-server] answers it
// (pd server/config/config.go, pkg/schedule/config/config.go: kebab-case keys, Go durations
// as strings, bools tagged `,string` as "true"/"false"). Values are PD's defaults, except
// max-replicas, which is the cluster's replica count; the mock schedules nothing by itself.
import type { GoJson } from "./go-json.js";
import { goDuration } from "./go-json.js";
import type { PdState } from "./pd-state.js";

/** The replication section (sc.ReplicationConfig). */
export function replicationConfig(state: PdState): GoJson {
  return {
    "max-replicas": state.maxPeerCount,
    "location-labels": "",
    "strictly-match-label": "false",
    "enable-placement-rules": "true",
    "enable-placement-rules-cache": "false",
    "isolation-level": "",
  };
}

/** The schedule section (sc.ScheduleConfig), PD's defaults. */
export function scheduleConfig(): GoJson {
  const hour = 3_600_000;
  return {
    "max-snapshot-count": 64,
    "max-pending-peer-count": 64,
    "max-merge-region-size": 54,
    "max-merge-region-keys": 540000,
    "split-merge-interval": goDuration(hour),
    "switch-witness-interval": goDuration(hour),
    "enable-one-way-merge": "false",
    "enable-cross-table-merge": "true",
    "patrol-region-interval": goDuration(10),
    "max-store-down-time": goDuration(30 * 60_000),
    "max-store-preparing-time": goDuration(48 * hour),
    "leader-schedule-limit": 4,
    "leader-schedule-policy": "count",
    "region-schedule-limit": 2048,
    "witness-schedule-limit": 4,
    "replica-schedule-limit": 64,
    "merge-schedule-limit": 8,
    "hot-region-schedule-limit": 4,
    "hot-region-cache-hits-threshold": 3,
    "store-limit": {},
    "tolerant-size-ratio": 0,
    "low-space-ratio": 0.8,
    "high-space-ratio": 0.7,
    "region-score-formula-version": "v2",
    "scheduler-max-waiting-operator": 5,
    "enable-remove-down-replica": "true",
    "enable-replace-offline-replica": "true",
    "enable-make-up-replica": "true",
    "enable-remove-extra-replica": "true",
    "enable-location-replacement": "true",
    "enable-debug-metrics": "false",
    "enable-joint-consensus": "true",
    "enable-tikv-split-region": "true",
    "schedulers-v2": [],
    "hot-regions-write-interval": goDuration(10 * 60_000),
    "hot-regions-reserved-days": 7,
    "enable-diagnostic": "true",
    "enable-witness": "false",
    "store-limit-version": "v1",
    "patrol-region-worker-count": 1,
  };
}

/** The pd-server section (the keys clients read). */
export function pdServerConfig(state: PdState): GoJson {
  return {
    "use-region-storage": "true",
    "max-gap-reset-ts": goDuration(24 * 3_600_000),
    "key-type": "table",
    "runtime-services": "",
    "metric-storage": "",
    "dashboard-address": "auto",
    "flow-round-by-digit": 3,
    "min-resolved-ts-persistence-interval": goDuration(state.minResolvedTsPersistenceMs),
    "server-memory-limit": 0,
    "server-memory-limit-gc-trigger": 0.7,
    "enable-gogc-tuner": "false",
    "gc-tuner-threshold": 0.6,
    "block-safe-point-v1": "false",
  };
}

/** The whole config (config.Config) with the sections above; `member` names the answering PD. */
export function fullConfig(state: PdState, member: number): GoJson {
  const m = state.members[member];
  const urls = m ? m.clientUrls.join(",") : "";
  return {
    "client-urls": urls,
    "peer-urls": m ? m.peerUrls.join(",") : "",
    "advertise-client-urls": urls,
    "advertise-peer-urls": m ? m.peerUrls.join(",") : "",
    name: m?.name ?? "",
    "data-dir": "",
    "force-new-cluster": false,
    "enable-grpc-gateway": true,
    lease: 5,
    "tso-save-interval": goDuration(3000),
    "tso-update-physical-interval": goDuration(50),
    "enable-local-tso": false,
    schedule: scheduleConfig(),
    replication: replicationConfig(state),
    "pd-server": pdServerConfig(state),
    "cluster-version": state.storeVersion,
    keyspace: { "pre-alloc": null, "wait-region-split": true },
  };
}
