package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/redhook/redhook/hooks"
)

// The reference request of docs/architecture.md ("Performance targets"): 3 redis, 3 sentinels, every
// child and pod observed, the healer reporting a healthy master.
const benchCase = "master-known"

// fixedHealer returns one report and forgets what it is given, so that it costs nothing.
type fixedHealer struct{ obs hooks.HealerReport }

func (h fixedHealer) Report(string) hooks.HealerReport { return h.obs }
func (fixedHealer) Track(hooks.Topology)               {}

// BenchmarkSyncHTTP: one sync through the router — decode, Sync, NewTopology, encode. No
// response cache: every sync is computed.
func BenchmarkSyncHTTP(b *testing.B) {
	benchSyncHTTP(b, nil)
}

// BenchmarkSyncHTTPCached: the steady sync — the same request and report as last time, answered
// from the response cache.
func BenchmarkSyncHTTPCached(b *testing.B) {
	benchSyncHTTP(b, newSyncCache(time.Hour))
}

func benchSyncHTTP(b *testing.B, cache *syncCache) {
	request, obs := readCase(b, benchCase)
	ready := &atomic.Bool{}
	ready.Store(true)
	s := &server{log: zerolog.Nop(), healer: fixedHealer{obs}, metrics: newHookMetrics(prometheus.NewRegistry()),
		maxBody: 32 << 20, ready: ready, cache: cache}
	h := newRouter(s, prometheus.NewRegistry())
	b.SetBytes(int64(len(request)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/sync", bytes.NewReader(request))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "gzip") // as Go's http.Client (Metacontroller's) sends
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}

// BenchmarkJSONFloor: the cost of decoding the same request bytes into map[string]any and
// encoding the same response as map[string]any — the floor any JSON hook pays.
func BenchmarkJSONFloor(b *testing.B) {
	request, obs := readCase(b, benchCase)
	req, err := hooks.DecodeSyncRequest(request)
	if err != nil {
		b.Fatal(err)
	}
	respBytes, err := json.Marshal(hooks.Sync(&req, obs))
	if err != nil {
		b.Fatal(err)
	}
	var resp map[string]any
	if err := json.Unmarshal(respBytes, &resp); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(request)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(request, &m); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(resp); err != nil {
			b.Fatal(err)
		}
	}
}
