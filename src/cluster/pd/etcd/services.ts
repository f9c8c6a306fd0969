// The etcd gRPC services one mock PD member serves on its client port, as real PD's embedded
// etcd does: etcdserverpb.KV, Watch, Lease, Cluster (MemberList, which clientv3 calls to sync
// its endpoints) and Maintenance (Status, Alarm). Every member answers from the one shared
// EtcdFace; headers name the member that answered.
import type { handleUnaryCall, Server, ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import {
  type AlarmResponse,
  type ClusterServer,
  ClusterService,
  type CompactionResponse,
  type DeleteRangeResponse,
  type KVServer,
  KVService,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseLeasesResponse,
  type LeaseRevokeResponse,
  type LeaseServer,
  LeaseService,
  type LeaseTimeToLiveResponse,
  type MaintenanceServer,
  MaintenanceService,
  type MemberListResponse,
  type PutResponse,
  type RangeResponse,
  type StatusResponse,
  type TxnResponse,
  type WatchRequest,
  type WatchServer,
  WatchService,
} from "../../../proto/etcd/etcdserverpb/rpc.js";
import { toEtcdServiceError } from "./errors.js";
import { ETCD_VERSION, type EtcdFace } from "./etcd-face.js";
import { keyBytes } from "./key-range.js";
import { applyDeleteRange, applyPut, applyRange, applyTxn, type HeaderAt } from "./kv-ops.js";
import { WatchStream } from "./watch-stream.js";

/** Adds the etcd services of member `member` to a PD member's gRPC server. */
export function addEtcdServices(server: Server, etcd: EtcdFace, member: number): void {
  const header: HeaderAt = (rev) => etcd.header(member, rev);
  server.addService(KVService, kvService(etcd, header));
  server.addService(WatchService, watchService(etcd, header));
  server.addService(LeaseService, leaseService(etcd, header));
  server.addService(ClusterService, clusterService(etcd, header));
  server.addService(MaintenanceService, maintenanceService(etcd, header));
}

/** A unary handler: expire due leases, answer, map etcd errors to their gRPC statuses. */
function unary<Req, Res>(etcd: EtcdFace, fn: (req: Req) => Res): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    try {
      etcd.tick();
      callback(null, fn(call.request));
    } catch (e) {
      callback(toEtcdServiceError(e));
    }
  };
}

function kvService(etcd: EtcdFace, header: HeaderAt): KVServer {
  const { kv } = etcd;
  return {
    range: unary(etcd, (req): RangeResponse => {
      const body = applyRange(kv, req);
      return { header: header(kv.revision), ...body };
    }),
    put: unary(etcd, (req): PutResponse => {
      const body = kv.write((w) => applyPut(kv, w, req));
      return { header: header(kv.revision), ...body };
    }),
    deleteRange: unary(etcd, (req): DeleteRangeResponse => {
      const body = kv.write((w) => applyDeleteRange(w, req));
      return { header: header(kv.revision), ...body };
    }),
    txn: unary(etcd, (req): TxnResponse => {
      const body = applyTxn(kv, req, (rev) => ({ ...emptyHeader, revision: rev }));
      return { header: header(kv.revision), ...body };
    }),
    compact: unary(etcd, (req): CompactionResponse => {
      kv.compact(req.revision);
      return { header: header(kv.revision) };
    }),
  };
}

// etcd fills only the revision in the headers of a txn's inner responses
const emptyHeader = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };

function watchService(etcd: EtcdFace, header: HeaderAt): WatchServer {
  return {
    watch: (call) => {
      const stream = new WatchStream(etcd.kv, header, (r) => call.write(r), etcd.progressNotifyMs);
      call.on("data", (req: WatchRequest) => {
        etcd.tick();
        stream.handle(req);
      });
      const end = () => stream.close();
      call.on("end", () => {
        end();
        call.end();
      });
      call.on("error", end);
      call.on("cancelled", end);
      call.on("close", end);
    },
  };
}

function leaseService(etcd: EtcdFace, header: HeaderAt): LeaseServer {
  const { lessor, kv } = etcd;
  return {
    leaseGrant: unary(etcd, (req): LeaseGrantResponse => {
      const { id, ttl } = lessor.grant(req.ID, req.TTL);
      return { header: header(kv.revision), ID: id, TTL: ttl, error: "" };
    }),
    leaseRevoke: unary(etcd, (req): LeaseRevokeResponse => {
      lessor.revoke(req.ID);
      return { header: header(kv.revision) };
    }),
    leaseKeepAlive: (call) => {
      call.on("data", (req: LeaseKeepAliveRequest) => {
        const ttl = lessor.renew(req.ID);
        const resp: LeaseKeepAliveResponse = { header: header(kv.revision), ID: req.ID, TTL: ttl };
        call.write(resp);
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
    leaseTimeToLive: unary(etcd, (req): LeaseTimeToLiveResponse => {
      const info = lessor.info(req.ID);
      if (!info) return { header: header(kv.revision), ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
      return {
        header: header(kv.revision),
        ID: req.ID,
        TTL: info.remaining,
        grantedTTL: info.granted,
        keys: req.keys ? info.keys.map(keyBytes) : [],
      };
    }),
    leaseLeases: unary(
      etcd,
      (): LeaseLeasesResponse => ({
        header: header(kv.revision),
        leases: lessor.ids().map((ID) => ({ ID })),
      }),
    ),
  };
}

function clusterService(etcd: EtcdFace, header: HeaderAt): ClusterServer {
  return {
    memberList: unary(
      etcd,
      (): MemberListResponse => ({
        header: header(etcd.kv.revision),
        members: etcd.members().map((m) => ({
          ID: m.memberId,
          name: m.name,
          peerURLs: [...m.peerUrls],
          clientURLs: [...m.clientUrls],
          isLearner: false,
        })),
      }),
    ),
  };
}

function maintenanceService(etcd: EtcdFace, header: HeaderAt): MaintenanceServer {
  return {
    // no alarms are ever raised: GET lists none, (de)activation is accepted and changes nothing
    alarm: unary(etcd, (): AlarmResponse => ({ header: header(etcd.kv.revision), alarms: [] })),
    status: unary(etcd, (): StatusResponse => {
      const size = BigInt(etcd.kv.approximateSize());
      const index = BigInt(etcd.kv.revision);
      return {
        header: header(etcd.kv.revision),
        version: ETCD_VERSION,
        dbSize: size,
        leader: etcd.leaderId(),
        raftIndex: index,
        raftTerm: etcd.raftTerm(),
        raftAppliedIndex: index,
        errors: [],
        dbSizeInUse: size,
        isLearner: false,
      };
    }),
  };
}
