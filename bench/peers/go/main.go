// Command peers is the client-go side of bench/peers: it connects TiKV's Go client
// (github.com/tikv/client-go/v2, its default settings, BatchCommands on) to the cluster given by
// -pd, then runs one workload per line read from stdin and answers each with one JSON line.
//
// The driver (bench/peers/peers.bench.ts) runs the same workloads through tikv-ts against the
// same cluster, alternating with this process, so both clients meet the same server state.
// Client CPU is this process's own rusage (every goroutine, GC included), as process.cpuUsage()
// is on the Node side.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tikv/client-go/v2/config"
	tikvkv "github.com/tikv/client-go/v2/kv"
	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/tikv"
)

// request is one workload run, as the driver sends it.
type request struct {
	Workload    string `json:"workload"`
	Concurrency int    `json:"concurrency"`
	Ops         int    `json:"ops"`
	// Prefix keeps the keys written by transactions of different runs apart.
	Prefix string `json:"prefix"`
}

// result mirrors bench/peers' Sample (without the cluster CPU, which the driver measures).
type result struct {
	Ops    int     `json:"ops"`
	WallUs float64 `json:"wallUs"`
	P50Us  float64 `json:"p50Us"`
	P99Us  float64 `json:"p99Us"`
	CPUUs  float64 `json:"cpuUs"`
	Error  string  `json:"error,omitempty"`
}

// The shared data set; the same names and sizes as bench/peers/workloads.ts.
const (
	rawKeys   = 1024
	batchSize = 100
	txnKeys   = 1024
)

func rawKey(i int) []byte { return []byte(fmt.Sprintf("peer-raw-%06d", i%rawKeys)) }
func txnKey(i int) []byte { return []byte(fmt.Sprintf("peer-txn-%06d", i%txnKeys)) }

type clients struct {
	raw   *rawkv.Client
	store *tikv.KVStore
	keys  [][]byte   // raw keys
	value []byte     // 64-byte value
	batch [][][]byte // raw key batches of batchSize, starting at multiples of batchSize
	vals  [][]byte   // batchSize values
	txnB  [][][]byte // txn key batches
}

func connect(ctx context.Context, pd []string) (*clients, error) {
	raw, err := rawkv.NewClientWithOpts(ctx, pd)
	if err != nil {
		return nil, err
	}
	pdCli, err := tikv.NewPDClient(pd)
	if err != nil {
		return nil, err
	}
	codecPD := tikv.NewCodecPDClient(tikv.ModeTxn, pdCli)
	// The safe-point KV is the only part of a KVStore that needs PD's etcd; the embedded PD has
	// none, and the benchmark never reads the safe point.
	rpc := tikv.NewRPCClient(tikv.WithSecurity(config.GetGlobalConfig().Security), tikv.WithCodec(codecPD.GetCodec()))
	store, err := tikv.NewKVStore("tikv-ts-peers", codecPD, tikv.NewMockSafePointKV(), rpc)
	if err != nil {
		return nil, err
	}
	c := &clients{raw: raw, store: store, value: make([]byte, 64)}
	for i := range c.value {
		c.value[i] = 'a'
	}
	for i := 0; i < rawKeys; i++ {
		c.keys = append(c.keys, rawKey(i))
	}
	for b := 0; b*batchSize < rawKeys; b++ {
		var ks, ts [][]byte
		for j := 0; j < batchSize; j++ {
			ks = append(ks, rawKey(b*batchSize+j))
			ts = append(ts, txnKey(b*batchSize+j))
		}
		c.batch = append(c.batch, ks)
		c.txnB = append(c.txnB, ts)
	}
	for j := 0; j < batchSize; j++ {
		c.vals = append(c.vals, c.value)
	}
	return c, nil
}

// commitKeys runs one 10-key transaction with the given mode.
func (c *clients) commitKeys(ctx context.Context, prefix string, i int, mode string) error {
	txn, err := c.store.Begin()
	if err != nil {
		return err
	}
	keys := make([][]byte, 10)
	for j := range keys {
		keys[j] = []byte(fmt.Sprintf("%st%d-%d", prefix, i, j))
	}
	switch mode {
	case "async":
		txn.SetEnableAsyncCommit(true)
	case "1pc":
		txn.SetEnable1PC(true)
	case "pessimistic":
		txn.SetPessimistic(true)
		lockCtx := tikvkv.NewLockCtx(txn.StartTS(), tikvkv.LockAlwaysWait, time.Now())
		if err := txn.LockKeys(ctx, lockCtx, keys...); err != nil {
			_ = txn.Rollback()
			return err
		}
	}
	for _, k := range keys {
		if err := txn.Set(k, []byte("v")); err != nil {
			return err
		}
	}
	return txn.Commit(ctx)
}

// op returns the operation of a workload; i is the operation's sequence number.
func (c *clients) op(ctx context.Context, req request) (func(i int) error, error) {
	switch req.Workload {
	case "raw-get":
		return func(i int) error { _, err := c.raw.Get(ctx, c.keys[i%rawKeys]); return err }, nil
	case "raw-put":
		return func(i int) error { return c.raw.Put(ctx, c.keys[i%rawKeys], c.value) }, nil
	case "raw-batch-get":
		return func(i int) error { _, err := c.raw.BatchGet(ctx, c.batch[i%len(c.batch)]); return err }, nil
	case "raw-batch-put":
		return func(i int) error { return c.raw.BatchPut(ctx, c.batch[i%len(c.batch)], c.vals) }, nil
	case "raw-scan":
		return func(int) error {
			ks, _, err := c.raw.Scan(ctx, c.keys[0], nil, 1000)
			if err == nil && len(ks) != 1000 {
				err = fmt.Errorf("scan returned %d keys", len(ks))
			}
			return err
		}, nil
	case "txn-commit", "txn-async-commit", "txn-1pc", "txn-pessimistic":
		mode := strings.TrimPrefix(strings.TrimSuffix(req.Workload, "-commit"), "txn-")
		return func(i int) error { return c.commitKeys(ctx, req.Prefix, i, mode) }, nil
	case "snapshot-batch-get":
		ts, err := c.store.CurrentTimestamp("global")
		if err != nil {
			return nil, err
		}
		return func(i int) error {
			// a new snapshot per batch: a KVSnapshot caches what its BatchGet returned
			m, err := c.store.GetSnapshot(ts).BatchGet(ctx, c.txnB[i%len(c.txnB)])
			if err == nil && len(m) != batchSize {
				err = fmt.Errorf("snapshot batch get returned %d values", len(m))
			}
			return err
		}, nil
	case "txn-load":
		// one transaction writing the txn data set (run once by the driver, not measured)
		return func(int) error {
			txn, err := c.store.Begin()
			if err != nil {
				return err
			}
			for i := 0; i < txnKeys; i++ {
				if err := txn.Set(txnKey(i), c.value); err != nil {
					return err
				}
			}
			return txn.Commit(ctx)
		}, nil
	}
	return nil, fmt.Errorf("unknown workload %q", req.Workload)
}

func cpuUs() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e3
}

// run keeps req.Concurrency operations in flight until req.Ops have finished.
func run(ctx context.Context, c *clients, req request) result {
	op, err := c.op(ctx, req)
	if err != nil {
		return result{Error: err.Error()}
	}
	lat := make([]int64, req.Ops)
	var next int64 = -1
	var firstErr atomic.Value
	var wg sync.WaitGroup
	cpu0 := cpuUs()
	t0 := time.Now()
	for w := 0; w < req.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= req.Ops || firstErr.Load() != nil {
					return
				}
				s := time.Now()
				if err := op(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = int64(time.Since(s))
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	cpu := cpuUs() - cpu0
	if e, ok := firstErr.Load().(error); ok {
		return result{Error: e.Error()}
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	pct := func(p float64) float64 {
		i := int(p * float64(len(lat)))
		if i >= len(lat) {
			i = len(lat) - 1
		}
		return float64(lat[i]) / 1e3
	}
	return result{Ops: req.Ops, WallUs: float64(wall.Microseconds()), P50Us: pct(0.5), P99Us: pct(0.99), CPUUs: cpu}
}

func main() {
	pd := flag.String("pd", "127.0.0.1:2379", "comma-separated PD endpoints")
	flag.Parse()
	ctx := context.Background()
	c, err := connect(ctx, strings.Split(*pd, ","))
	out := json.NewEncoder(os.Stdout)
	if err != nil {
		_ = out.Encode(map[string]string{"error": err.Error()})
		os.Exit(1)
	}
	_ = out.Encode(map[string]bool{"ready": true})
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			_ = out.Encode(result{Error: err.Error()})
			continue
		}
		if req.Concurrency < 1 || req.Ops < 1 {
			_ = out.Encode(result{Error: errors.New("concurrency and ops must be >= 1").Error()})
			continue
		}
		_ = out.Encode(run(ctx, c, req))
	}
	c.raw.Close()
	c.store.Close()
}
