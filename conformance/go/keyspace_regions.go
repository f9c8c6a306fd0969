// Key-space checks: client-go's raw and transactional clients on one memcomparable API v1
// cluster (raw keys are looked up as they are, txn keys memcomparable-encoded, against the same
// region boundaries), and region boundaries of a fresh API v2 cluster at the default keyspace's
// raw and txn bounds (PD keyspace Manager.Bootstrap).
package main

import (
	"bytes"
	"context"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikv/client-go/v2/config"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/tikv"
	pd "github.com/tikv/pd/client"
)

// txnStore opens a KVStore for transactions: in the default keyspace (API v2) or in API v1.
func txnStore(pdAddrs []string, v2 bool) (*tikv.KVStore, error) {
	pdCli, err := tikv.NewPDClient(pdAddrs)
	if err != nil {
		return nil, err
	}
	codecPD := tikv.NewCodecPDClient(tikv.ModeTxn, pdCli)
	if v2 {
		if codecPD, err = tikv.NewCodecPDClientWithKeyspace(tikv.ModeTxn, pdCli, ""); err != nil {
			return nil, err
		}
	}
	rpc := tikv.NewRPCClient(tikv.WithSecurity(config.GetGlobalConfig().Security), tikv.WithCodec(codecPD.GetCodec()))
	return tikv.NewKVStore("tikv-ts-conformance-ks", codecPD, tikv.NewMockSafePointKV(), rpc)
}

// runSharedKeySpace: raw and txn clients on one memcomparable v1 cluster, across its
// (encoded) region boundaries and a txn split at a key raw requests then use.
func runSharedKeySpace(ctx context.Context, pdAddrs []string, p string) {
	raw, err := rawkv.NewClientWithOpts(ctx, pdAddrs)
	if !must("shared: raw connect", err) {
		return
	}
	defer raw.Close()
	store, err := txnStore(pdAddrs, false)
	if !must("shared: txn connect", err) {
		return
	}
	defer store.Close()

	// Keys spread over the whole key space, so they cross every region boundary the cluster
	// was started with; the 2-byte keys equal the user form of evenly cut split keys.
	var keys, vals [][]byte
	for _, b := range []byte{0x10, 0x40, 0x50, 0x80, 0x90, 0xc0, 0xd0} {
		keys = append(keys, []byte{b, 0}, append([]byte{b}, []byte(p)...))
	}
	for i := range keys {
		vals = append(vals, []byte(fmt.Sprintf("r%d", i)))
	}
	must("shared: raw batch put across regions", raw.BatchPut(ctx, keys, vals))
	got, err := raw.BatchGet(ctx, keys)
	if must("shared: raw batch get across regions", err) {
		same := len(got) == len(vals)
		for i := range got {
			same = same && bytes.Equal(got[i], vals[i])
		}
		check("shared: raw values", same, "got %q", got)
	}
	ks, _, err := raw.Scan(ctx, []byte{0x10}, []byte{0xe0}, 100)
	if must("shared: raw scan across regions", err) {
		check("shared: raw scan sees every key", len(ks) == len(keys), "got %d of %d", len(ks), len(keys))
	}

	// The repro: a txn split at k leaves raw k left of encode(k); raw get/put must work.
	k := []byte(p + "k3")
	_, err = store.SplitRegions(ctx, [][]byte{k}, false, nil)
	must("shared: txn split", err)
	must("shared: raw put at txn split key", raw.Put(ctx, k, []byte("raw")))
	v, err := raw.Get(ctx, k)
	if must("shared: raw get at txn split key", err) {
		check("shared: raw value at split key", bytes.Equal(v, []byte("raw")), "got %q", v)
	}
	ks, _, err = raw.Scan(ctx, []byte(p), []byte(p+"k4"), 10)
	if must("shared: raw scan over the split", err) {
		check("shared: raw scan over the split", len(ks) == 1 && bytes.Equal(ks[0], k), "got %q", ks)
	}

	txn, err := store.Begin()
	if !must("shared: txn begin", err) {
		return
	}
	for i, key := range keys {
		must("shared: txn set", txn.Set(key, []byte(fmt.Sprintf("t%d", i))))
	}
	must("shared: txn set at split key", txn.Set(k, []byte("txn")))
	must("shared: txn commit across regions", txn.Commit(ctx))
	snap := store.GetSnapshot(mustTS(ctx, store))
	tv, err := snap.BatchGet(ctx, append(keys, k))
	if must("shared: txn batch get", err) {
		check("shared: txn values", len(tv) == len(keys)+1 && string(tv[string(k)]) == "txn", "got %d values", len(tv))
	}
	// Each client reads its own data.
	v, err = raw.Get(ctx, k)
	if must("shared: raw get after txn write", err) {
		check("shared: raw and txn data stay apart", bytes.Equal(v, []byte("raw")), "got %q", v)
	}
	must("shared: raw cleanup", raw.DeleteRange(ctx, []byte{0x10}, []byte{0xe0}))
}

// runKeyspaceRegions: a fresh v2 cluster is cut at the default keyspace's bounds and
// client-go's raw and txn clients work in it.
func runKeyspaceRegions(ctx context.Context, pdAddrs []string, p string) {
	pdCli, err := tikv.NewPDClient(pdAddrs)
	if !must("v2: pd client", err) {
		return
	}
	defer pdCli.Close()
	regions, err := pdCli.ScanRegions(ctx, nil, nil, 100)
	if must("v2: scan regions", err) {
		starts := map[string]bool{}
		for _, r := range regions {
			starts[string(r.Meta.StartKey)] = true
		}
		// PD's EncodeKeyspaceBoundary: mode, 3-byte id, four zero pad bytes, marker 0xfb.
		for _, b := range [][]byte{
			{'r', 0, 0, 0, 0, 0, 0, 0, 0xfb}, {'r', 0, 0, 1, 0, 0, 0, 0, 0xfb},
			{'x', 0, 0, 0, 0, 0, 0, 0, 0xfb}, {'x', 0, 0, 1, 0, 0, 0, 0, 0xfb},
		} {
			check(fmt.Sprintf("v2: region boundary at %x", b), starts[string(b)], "boundaries %x", keysOf(regions))
		}
	}

	raw, err := rawkv.NewClientWithOpts(ctx, pdAddrs, rawkv.WithAPIVersion(kvrpcpb.APIVersion_V2))
	if !must("v2: raw connect", err) {
		return
	}
	defer raw.Close()
	k := []byte(p + "k")
	must("v2: raw put", raw.Put(ctx, k, []byte("v")))
	v, err := raw.Get(ctx, k)
	if must("v2: raw get", err) {
		check("v2: raw value", bytes.Equal(v, []byte("v")), "got %q", v)
	}
	// The raw key's region is the default keyspace's raw region [r000, r001).
	r, err := pdCli.GetRegion(ctx, append([]byte{'r', 0, 0, 0}, k...))
	if must("v2: region of raw key", err) && r != nil {
		check("v2: raw key in the keyspace's raw region",
			bytes.Equal(r.Meta.StartKey, []byte{'r', 0, 0, 0, 0, 0, 0, 0, 0xfb}) &&
				bytes.Equal(r.Meta.EndKey, []byte{'r', 0, 0, 1, 0, 0, 0, 0, 0xfb}),
			"region [%x, %x)", r.Meta.StartKey, r.Meta.EndKey)
	}

	store, err := txnStore(pdAddrs, true)
	if !must("v2: txn connect", err) {
		return
	}
	defer store.Close()
	txn, err := store.Begin()
	if !must("v2: txn begin", err) {
		return
	}
	must("v2: txn set", txn.Set(k, []byte("t")))
	must("v2: txn commit", txn.Commit(ctx))
	tv, err := store.GetSnapshot(mustTS(ctx, store)).Get(ctx, k)
	if must("v2: txn get", err) {
		check("v2: txn value", bytes.Equal(tv, []byte("t")), "got %q", tv)
	}
}

func keysOf(rs []*pd.Region) [][]byte {
	var out [][]byte
	for _, r := range rs {
		out = append(out, r.Meta.StartKey)
	}
	return out
}

// runKeySpaceChecks runs the checks `only` names ("shared" or "v2"); false for any other value.
func runKeySpaceChecks(ctx context.Context, pdAddrs []string, prefix, only string) bool {
	switch only {
	case "shared":
		runSharedKeySpace(ctx, pdAddrs, prefix+"shared/")
	case "v2":
		runKeyspaceRegions(ctx, pdAddrs, prefix+"v2/")
	default:
		return false
	}
	return true
}
