// porcupine-check: an independent linearizability check of a tikv-ts consistency history
// (history.jsonl, one event a line) with porcupine. It reads the raw-register vocabulary
// (get, batch-get, put, batch-put, delete, cas), splits it per key into register operations and
// prints {"keys": {"<key>": "Ok" | "Illegal" | "Unknown"}, "operations": N} on stdout.
//
// Failed operations are dropped; indeterminate (info, or never completed) ones get an unbounded
// return time, so porcupine may place them anywhere after their invoke, including after every
// other operation, where they change nothing: "may or may not have happened".
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

type event struct {
	Index   int64           `json:"index"`
	Type    string          `json:"type"`
	Process int             `json:"process"`
	F       string          `json:"f"`
	Value   json.RawMessage `json:"value"`
}

type opValue struct {
	Key      *string      `json:"key"`
	Keys     []string     `json:"keys"`
	Value    *string      `json:"value"`
	Values   []*string    `json:"values"`
	Pairs    [][2]*string `json:"pairs"`
	Expected *string      `json:"expected"`
	New      *string      `json:"new"`
	Previous *string      `json:"previous"`
	Swapped  bool         `json:"swapped"`
}

// A register state: present with a value, or absent.
type state struct {
	present bool
	value   string
}

func stateOf(p *string) state {
	if p == nil {
		return state{}
	}
	return state{true, *p}
}

type input struct {
	kind     string // "read", "write", "cas"
	value    state  // write: the value written (absent = delete)
	expected state  // cas
	newValue state  // cas
}

type output struct {
	unknown  bool  // info: the outcome was not seen
	value    state // read: observed
	previous state // cas
	swapped  bool  // cas
}

var model = porcupine.Model{
	Init: func() interface{} { return state{} },
	Step: func(st, in, out interface{}) (bool, interface{}) {
		s := st.(state)
		i := in.(input)
		o := out.(output)
		switch i.kind {
		case "read":
			return o.value == s, s
		case "write":
			return true, i.value
		default: // cas
			match := s == i.expected
			if o.unknown {
				if match {
					return true, i.newValue
				}
				return true, s
			}
			if o.previous != s || o.swapped != match {
				return false, s
			}
			if o.swapped {
				return true, i.newValue
			}
			return true, s
		}
	},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: porcupine-check history.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer f.Close()
	type pending struct {
		inv event
		val opValue
	}
	open := map[int]pending{}
	byKey := map[string][]porcupine.Operation{}
	infinity := int64(math.MaxInt64)
	add := func(key string, in input, out output, call, ret int64, proc int) {
		byKey[key] = append(byKey[key], porcupine.Operation{ClientId: proc, Input: in, Call: call, Output: out, Return: ret})
	}
	emit := func(p pending, typ string, done opValue, ret int64) {
		v := p.val
		info := typ == "info"
		if typ == "fail" {
			return
		}
		if info {
			ret = infinity
		}
		proc := p.inv.Process
		call := p.inv.Index
		switch p.inv.F {
		case "get":
			if typ == "ok" && v.Key != nil {
				add(*v.Key, input{kind: "read"}, output{value: stateOf(done.Value)}, call, ret, proc)
			}
		case "batch-get":
			if typ == "ok" {
				for i, k := range v.Keys {
					var obs *string
					if i < len(done.Values) {
						obs = done.Values[i]
					}
					add(k, input{kind: "read"}, output{value: stateOf(obs)}, call, ret, proc)
				}
			}
		case "put":
			if v.Key != nil {
				add(*v.Key, input{kind: "write", value: stateOf(v.Value)}, output{unknown: info}, call, ret, proc)
			}
		case "delete":
			if v.Key != nil {
				add(*v.Key, input{kind: "write"}, output{unknown: info}, call, ret, proc)
			}
		case "batch-put":
			for _, pair := range v.Pairs {
				if pair[0] != nil {
					add(*pair[0], input{kind: "write", value: stateOf(pair[1])}, output{unknown: info}, call, ret, proc)
				}
			}
		case "cas":
			if v.Key != nil {
				in := input{kind: "cas", expected: stateOf(v.Expected), newValue: stateOf(v.New)}
				out := output{unknown: info}
				if typ == "ok" {
					out.previous = stateOf(done.Previous)
					out.swapped = done.Swapped
				}
				add(*v.Key, in, out, call, ret, proc)
			}
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			fmt.Fprintln(os.Stderr, "bad line:", err)
			os.Exit(2)
		}
		if e.Process < 0 {
			continue // nemesis
		}
		var v opValue
		_ = json.Unmarshal(e.Value, &v)
		if e.Type == "invoke" {
			open[e.Process] = pending{e, v}
			continue
		}
		p, ok := open[e.Process]
		if !ok {
			fmt.Fprintf(os.Stderr, "event %d: completion without invoke\n", e.Index)
			os.Exit(2)
		}
		delete(open, e.Process)
		emit(p, e.Type, v, e.Index)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, p := range open {
		emit(p, "info", opValue{}, infinity)
	}
	keys := make([]string, 0, len(byKey))
	total := 0
	for k, ops := range byKey {
		keys = append(keys, k)
		total += len(ops)
	}
	sort.Strings(keys)
	results := map[string]string{}
	for _, k := range keys {
		res := porcupine.CheckOperationsTimeout(model, byKey[k], 60*time.Second)
		results[k] = string(res)
	}
	out, _ := json.Marshal(map[string]interface{}{"keys": results, "operations": total})
	fmt.Println(string(out))
}
