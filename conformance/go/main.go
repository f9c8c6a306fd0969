// Command conformance drives TiKV's own Go client (github.com/tikv/client-go/v2) against a
// cluster given by -pd, with client-go's default settings (BatchCommands on), and exits non-zero
// on the first result that differs from what a real TiKV cluster would give.
//
// It is how tikv-ts checks that its embedded cluster answers a client nobody here wrote.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tikv/client-go/v2/config"
	tikvkv "github.com/tikv/client-go/v2/kv"
	tikverr "github.com/tikv/client-go/v2/error"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/tikv"
)

var failures int

func check(name string, ok bool, detail string, args ...any) {
	if ok {
		fmt.Printf("ok   %s\n", name)
		return
	}
	failures++
	fmt.Printf("FAIL %s: %s\n", name, fmt.Sprintf(detail, args...))
}

func must(name string, err error) bool {
	if err != nil {
		check(name, false, "unexpected error: %v", err)
		return false
	}
	return true
}

func main() {
	pd := flag.String("pd", "127.0.0.1:2379", "comma-separated PD endpoints")
	prefix := flag.String("prefix", fmt.Sprintf("conf-%d/", time.Now().UnixNano()), "key prefix for this run")
	only := flag.String("only", "", "run only the raw, txn, shared (raw+txn on one cluster) or v2 checks")
	flag.Parse()
	endpoints := strings.Split(*pd, ",")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	ran := runKeySpaceChecks(ctx, endpoints, *prefix, *only)
	if !ran && *only != "txn" {
		runRaw(ctx, endpoints, *prefix+"raw/")
	}
	if !ran && *only != "raw" {
		runTxn(ctx, endpoints, *prefix+"txn/")
	}

	if failures > 0 {
		fmt.Printf("client-go checks: %d failed\n", failures)
		os.Exit(1)
	}
	fmt.Println("client-go checks: all passed")
}

func key(prefix string, i int) []byte { return []byte(fmt.Sprintf("%s%04d", prefix, i)) }

func runRaw(ctx context.Context, pd []string, p string) {
	cli, err := rawkv.NewClientWithOpts(ctx, pd)
	if !must("raw connect", err) {
		return
	}
	defer cli.Close()

	must("raw put", cli.Put(ctx, key(p, 1), []byte("v1")))
	v, err := cli.Get(ctx, key(p, 1))
	if must("raw get", err) {
		check("raw get value", bytes.Equal(v, []byte("v1")), "got %q", v)
	}
	v, err = cli.Get(ctx, key(p, 999))
	if must("raw get missing", err) {
		check("raw get missing is nil", v == nil, "got %q", v)
	}

	var keys, vals [][]byte
	for i := 10; i < 60; i++ {
		keys = append(keys, key(p, i))
		vals = append(vals, []byte(fmt.Sprintf("val%d", i)))
	}
	must("raw batch put", cli.BatchPut(ctx, keys, vals))
	got, err := cli.BatchGet(ctx, keys)
	if must("raw batch get", err) {
		same := len(got) == len(vals)
		for i := range got {
			same = same && bytes.Equal(got[i], vals[i])
		}
		check("raw batch get values", same, "values differ")
	}

	ks, vs, err := cli.Scan(ctx, key(p, 10), key(p, 20), 100)
	if must("raw scan", err) {
		check("raw scan count", len(ks) == 10 && len(vs) == 10, "got %d keys", len(ks))
		check("raw scan order", len(ks) > 0 && bytes.Equal(ks[0], key(p, 10)), "first key %q", first(ks))
	}
	ks, _, err = cli.ReverseScan(ctx, key(p, 20), key(p, 10), 3)
	if must("raw reverse scan", err) {
		check("raw reverse scan", len(ks) == 3 && bytes.Equal(ks[0], key(p, 19)), "got %q", ks)
	}

	must("raw delete", cli.Delete(ctx, key(p, 10)))
	v, err = cli.Get(ctx, key(p, 10))
	if must("raw get after delete", err) {
		check("raw deleted key is gone", v == nil, "got %q", v)
	}
	must("raw delete range", cli.DeleteRange(ctx, key(p, 11), key(p, 30)))
	ks, _, err = cli.Scan(ctx, key(p, 0), key(p, 100), 1000)
	if must("raw scan after delete range", err) {
		check("raw delete range removed 11..29", len(ks) == 31, "got %d keys", len(ks))
	}

	atomic := cli.SetAtomicForCAS(true)
	prev, swapped, err := atomic.CompareAndSwap(ctx, key(p, 500), nil, []byte("first"))
	if must("raw cas on absent key", err) {
		check("raw cas on absent key swaps", swapped && prev == nil, "swapped=%v prev=%q", swapped, prev)
	}
	prev, swapped, err = atomic.CompareAndSwap(ctx, key(p, 500), []byte("wrong"), []byte("second"))
	if must("raw cas mismatch", err) {
		check("raw cas mismatch keeps value", !swapped && bytes.Equal(prev, []byte("first")), "swapped=%v prev=%q", swapped, prev)
	}
	cli.SetAtomicForCAS(false)
	runStoreRestart(ctx, pd, p+"restart/")
}

func first(ks [][]byte) []byte {
	if len(ks) == 0 {
		return nil
	}
	return ks[0]
}

func runTxn(ctx context.Context, pd []string, p string) {
	pdCli, err := tikv.NewPDClient(pd)
	if !must("txn pd client", err) {
		return
	}
	codecPD := tikv.NewCodecPDClient(tikv.ModeTxn, pdCli)
	// client-go's default safe-point KV (as txnkv.NewClient builds it): etcd on PD's client port.
	spkv, err := tikv.NewEtcdSafePointKV(pd, nil)
	if !must("txn etcd safe-point kv", err) {
		return
	}
	rpc := tikv.NewRPCClient(tikv.WithSecurity(config.GetGlobalConfig().Security), tikv.WithCodec(codecPD.GetCodec()))
	store, err := tikv.NewKVStore("tikv-ts-conformance", codecPD, spkv, rpc)
	if !must("txn connect", err) {
		return
	}
	defer store.Close()

	// Commit, then read back from a new transaction.
	txn, err := store.Begin()
	if !must("txn begin", err) {
		return
	}
	for i := 0; i < 20; i++ {
		must("txn set", txn.Set(key(p, i), []byte(fmt.Sprintf("t%d", i))))
	}
	must("txn commit", txn.Commit(ctx))

	snap := store.GetSnapshot(mustTS(ctx, store))
	v, err := snap.Get(ctx, key(p, 3))
	if must("txn snapshot get", err) {
		check("txn committed value visible", bytes.Equal(v, []byte("t3")), "got %q", v)
	}
	_, err = snap.Get(ctx, key(p, 999))
	check("txn get missing is ErrNotExist", tikverr.IsErrNotFound(err), "got %v", err)
	vals, err := snap.BatchGet(ctx, [][]byte{key(p, 1), key(p, 2), key(p, 999)})
	if must("txn batch get", err) {
		check("txn batch get", len(vals) == 2 && string(vals[string(key(p, 2))]) == "t2", "got %d values", len(vals))
	}
	it, err := snap.Iter(key(p, 5), key(p, 10))
	if must("txn scan", err) {
		n := 0
		for it.Valid() {
			n++
			if it.Next() != nil {
				break
			}
		}
		it.Close()
		check("txn scan count", n == 5, "got %d", n)
	}

	// Rollback leaves nothing behind.
	txn, _ = store.Begin()
	must("txn set before rollback", txn.Set(key(p, 100), []byte("nope")))
	must("txn rollback", txn.Rollback())
	_, err = store.GetSnapshot(mustTS(ctx, store)).Get(ctx, key(p, 100))
	check("rolled back write is invisible", tikverr.IsErrNotFound(err), "got %v", err)

	// Two optimistic transactions writing the same key: the second committer conflicts.
	t1, _ := store.Begin()
	t2, _ := store.Begin()
	must("t1 set", t1.Set(key(p, 200), []byte("one")))
	must("t2 set", t2.Set(key(p, 200), []byte("two")))
	must("t1 commit", t1.Commit(ctx))
	err = t2.Commit(ctx)
	var wc *tikverr.ErrWriteConflict
	check("t2 commit gets a write conflict", errors.As(err, &wc) || tikverr.IsErrWriteConflict(err), "got %v", err)
	v, err = store.GetSnapshot(mustTS(ctx, store)).Get(ctx, key(p, 200))
	if must("read conflicted key", err) {
		check("first committer wins", bytes.Equal(v, []byte("one")), "got %q", v)
	}

	// Pessimistic transaction: lock a key, write it, commit.
	pt, _ := store.Begin()
	pt.SetPessimistic(true)
	lockCtx := tikvkv.NewLockCtx(pt.StartTS(), tikvkv.LockAlwaysWait, time.Now())
	must("pessimistic lock", pt.LockKeys(ctx, lockCtx, key(p, 300)))
	must("pessimistic set", pt.Set(key(p, 300), []byte("locked")))
	must("pessimistic commit", pt.Commit(ctx))
	v, err = store.GetSnapshot(mustTS(ctx, store)).Get(ctx, key(p, 300))
	if must("read pessimistic write", err) {
		check("pessimistic write visible", bytes.Equal(v, []byte("locked")), "got %q", v)
	}

	// Async commit and 1PC, each on a fresh transaction.
	for i, mode := range []string{"async-commit", "1pc"} {
		t, _ := store.Begin()
		if mode == "async-commit" {
			t.SetEnableAsyncCommit(true)
		} else {
			t.SetEnable1PC(true)
		}
		k := key(p, 400+i)
		must(mode+" set", t.Set(k, []byte(mode)))
		must(mode+" commit", t.Commit(ctx))
		v, err = store.GetSnapshot(mustTS(ctx, store)).Get(ctx, k)
		if must(mode+" read", err) {
			check(mode+" write visible", bytes.Equal(v, []byte(mode)), "got %q", v)
		}
	}

	// Delete in a transaction.
	txn, _ = store.Begin()
	must("txn delete", txn.Delete(key(p, 0)))
	must("txn commit delete", txn.Commit(ctx))
	_, err = store.GetSnapshot(mustTS(ctx, store)).Get(ctx, key(p, 0))
	check("deleted key is gone", tikverr.IsErrNotFound(err), "got %v", err)

	runSafePointChecks(ctx, pd, store, pdCli, p)
}

func mustTS(ctx context.Context, store *tikv.KVStore) uint64 {
	ts, err := store.CurrentTimestamp("global")
	if err != nil {
		check("get timestamp", false, "%v", err)
		return 0
	}
	return ts
}
