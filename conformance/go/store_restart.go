// A store stopped and restarted mid-run: client-go marks it unreachable when a request to it
// fails, probes it with grpc.health.v1 and routes to it again once it answers SERVING. The
// store is stopped and started through the cluster's control channel (-control, printed by
// `tikv-ts cluster --json`).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tikv/client-go/v2/rawkv"
	"github.com/tikv/client-go/v2/tikv"
)

var controlURL = flag.String("control", "", "control channel URL of the cluster (enables the store restart check)")

// control calls target.method(args...) on the cluster's control channel.
func control(ctx context.Context, target, method string, args ...any) error {
	body, _ := json.Marshal(args)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/call/%s/%s", strings.TrimRight(*controlURL, "/"), target, method), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Error any `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusOK || out.Error != nil {
		return fmt.Errorf("control %s.%s: status %d, error %v", target, method, resp.StatusCode, out.Error)
	}
	return nil
}

// runStoreRestart stops the store leading the key's region, reads (client-go retries while
// it is down), restarts it, and expects the read to succeed and later writes to work.
func runStoreRestart(ctx context.Context, pdAddrs []string, p string) {
	if *controlURL == "" {
		return
	}
	cli, err := rawkv.NewClientWithOpts(ctx, pdAddrs)
	if !must("restart: raw connect", err) {
		return
	}
	defer cli.Close()
	pdCli, err := tikv.NewPDClient(pdAddrs)
	if !must("restart: pd client", err) {
		return
	}
	defer pdCli.Close()

	k := []byte(p + "k")
	if !must("restart: put before stop", cli.Put(ctx, k, []byte("before"))) {
		return
	}
	region, err := pdCli.GetRegion(ctx, k)
	if !must("restart: locate key", err) || region.Leader == nil {
		return
	}
	storeID := region.Leader.GetStoreId()
	if !must("restart: stop store", control(ctx, "cluster", "stopStore", storeID)) {
		return
	}
	type result struct {
		v   []byte
		err error
	}
	done := make(chan result, 1)
	began := time.Now()
	go func() {
		v, err := cli.Get(ctx, k)
		done <- result{v, err}
	}()
	time.Sleep(1500 * time.Millisecond)
	if !must("restart: start store", control(ctx, "cluster", "startStore", storeID)) {
		return
	}
	r := <-done
	if must("restart: get across the restart", r.err) {
		check("restart: value survives", bytes.Equal(r.v, []byte("before")), "got %q", r.v)
		check("restart: read waited for the store", time.Since(began) >= 1500*time.Millisecond, "took %v", time.Since(began))
	}
	if must("restart: put after restart", cli.Put(ctx, k, []byte("after"))) {
		v, err := cli.Get(ctx, k)
		if must("restart: get after restart", err) {
			check("restart: new value", bytes.Equal(v, []byte("after")), "got %q", v)
		}
	}
}
