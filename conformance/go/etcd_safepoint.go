// Checks of PD's etcd face as client-go and etcd's own Go client (clientv3) use it: the
// safe-point KV client-go builds by default (tikv.NewEtcdSafePointKV on the PD endpoints),
// PD's GC state visible through it, and clientv3's KV, Txn, Lease and Watch.
package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tikv/client-go/v2/tikv"
	pd "github.com/tikv/pd/client"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// runSafePointChecks runs on the txn store, whose SafePointKV is client-go's etcd one.
func runSafePointChecks(ctx context.Context, endpoints []string, store *tikv.KVStore, pdCli pd.Client, p string) {
	spkv := store.GetSafePointKV()
	_, isEtcd := spkv.(*tikv.EtcdSafePointKV)
	check("safe-point kv is client-go's etcd one", isEtcd, "got %T", spkv)

	must("safe-point kv put", spkv.Put(p+"sp/a", "1"))
	must("safe-point kv put", spkv.Put(p+"sp/b", "2"))
	v, err := spkv.Get(p + "sp/a")
	if must("safe-point kv get", err) {
		check("safe-point kv get value", v == "1", "got %q", v)
	}
	kvs, err := spkv.GetWithPrefix(p + "sp/")
	if must("safe-point kv get with prefix", err) {
		check("safe-point kv prefix", len(kvs) == 2 && string(kvs[1].Value) == "2", "got %d keys", len(kvs))
	}

	// PD's txn safe point, advanced through PD, is what the etcd key holds (client-go's loadSafePoint).
	ts := mustTS(ctx, store)
	_, err = pdCli.UpdateServiceGCSafePoint(ctx, "gc_worker", math.MaxInt64, ts)
	if must("pd advances txn safe point (gc_worker)", err) {
		v, err = spkv.Get(tikv.GcSavedSafePoint)
		if must("read saved safe point through etcd", err) {
			check("saved safe point is PD's txn safe point", v == strconv.FormatUint(ts, 10), "got %q, want %d", v, ts)
		}
	}
	sp, err := store.GC(ctx, ts)
	if must("store GC", err) {
		check("GC safe point advanced", sp == ts, "got %d", sp)
		cid := pdCli.GetClusterID(ctx)
		v, err = spkv.Get(fmt.Sprintf("/pd/%d/gc/safe_point", cid))
		if must("read GC safe point through etcd", err) {
			check("GC safe point in PD's hex form", v == strconv.FormatUint(ts, 16), "got %q", v)
		}
	}

	runClientV3(ctx, endpoints, p+"v3/")
}

func runClientV3(ctx context.Context, endpoints []string, p string) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if !must("clientv3 connect", err) {
		return
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	// clientv3 syncs its endpoints from MemberList
	must("clientv3 sync", cli.Sync(ctx))

	put, err := cli.Put(ctx, p+"a", "1")
	if !must("clientv3 put", err) {
		return
	}
	start := put.Header.Revision
	wch := cli.Watch(ctx, p, clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithPrevKV())

	txn, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(p+"a"), "=", 1), clientv3.Compare(clientv3.Value(p+"a"), "=", "1")).
		Then(clientv3.OpPut(p+"a", "2"), clientv3.OpPut(p+"b", "x")).
		Else(clientv3.OpPut(p+"failed", "1")).
		Commit()
	if must("clientv3 txn", err) {
		check("clientv3 txn succeeded at one revision", txn.Succeeded && txn.Header.Revision == start+1, "succeeded=%v rev=%d", txn.Succeeded, txn.Header.Revision)
	}
	lease, err := cli.Grant(ctx, 10)
	if must("clientv3 lease grant", err) {
		_, err = cli.Put(ctx, p+"leased", "v", clientv3.WithLease(lease.ID))
		must("clientv3 put with lease", err)
		ttl, err := cli.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys())
		if must("clientv3 time to live", err) {
			check("clientv3 lease keys", len(ttl.Keys) == 1 && ttl.GrantedTTL == 10, "keys=%d granted=%d", len(ttl.Keys), ttl.GrantedTTL)
		}
		_, err = cli.KeepAliveOnce(ctx, lease.ID)
		must("clientv3 keep alive once", err)
		_, err = cli.Revoke(ctx, lease.ID)
		must("clientv3 lease revoke", err)
	}
	got, err := cli.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if must("clientv3 get prefix", err) {
		check("clientv3 get prefix sorted", got.Count == 2 && string(got.Kvs[0].Key) == p+"b", "count=%d", got.Count)
	}

	// the watch from `start` sees: put a, txn (a, b), put leased, revoke (delete leased)
	var seen []string
	for len(seen) < 5 {
		select {
		case wr := <-wch:
			if !must("clientv3 watch", wr.Err()) {
				return
			}
			for _, ev := range wr.Events {
				kind := "put"
				if ev.Type == mvccpb.DELETE {
					kind = "delete"
				}
				seen = append(seen, fmt.Sprintf("%s %s@%d", kind, string(ev.Kv.Key)[len(p):], ev.Kv.ModRevision-start))
			}
		case <-ctx.Done():
			check("clientv3 watch events", false, "timed out after %v", seen)
			return
		}
	}
	want := []string{"put a@0", "put a@1", "put b@1", "put leased@2", "delete leased@3"}
	check("clientv3 watch events in order", fmt.Sprint(seen) == fmt.Sprint(want), "got %v", seen)
}
