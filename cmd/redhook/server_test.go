package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
)

const goldenDir = "../../hooks/testdata/sync"

// recordingHealer is a hand-written fake of the healer: it returns a fixed report and records
// the topologies it is given.
type recordingHealer struct {
	mu      sync.Mutex
	report  hooks.HealerReport
	tracked []hooks.Topology
	panics  bool
	// The RedisCluster side (ClusterHealer).
	clusterReport   hooks.ClusterReport
	trackedClusters []hooks.ClusterTopology
}

func (h *recordingHealer) ClusterReport(string) hooks.ClusterReport { return h.clusterReport }

func (h *recordingHealer) TrackCluster(t hooks.ClusterTopology) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trackedClusters = append(h.trackedClusters, t)
}

func (h *recordingHealer) Report(string) hooks.HealerReport {
	if h.panics {
		panic("report exploded")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.report
}

func (h *recordingHealer) setReport(r hooks.HealerReport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.report = r
}

func (h *recordingHealer) Track(t hooks.Topology) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tracked = append(h.tracked, t)
}

type testServer struct {
	*server
	reg    *prometheus.Registry
	url    string
	logs   *redistest.SyncBuffer
	healer *recordingHealer
	ready  *atomic.Bool
}

func startServer(t *testing.T, healer *recordingHealer) *testServer {
	t.Helper()
	logs := &redistest.SyncBuffer{}
	reg := prometheus.NewRegistry()
	ready := &atomic.Bool{}
	ready.Store(true)
	s := &server{log: zerolog.New(logs).Level(zerolog.DebugLevel), metrics: newHookMetrics(reg),
		maxBody: 1 << 20, ready: ready, cache: newSyncCache(time.Minute)}
	if healer != nil {
		s.healer, s.clusterHealer = healer, healer
	}
	ts := httptest.NewServer(newRouter(s, reg))
	t.Cleanup(ts.Close)
	return &testServer{server: s, reg: reg, url: ts.URL, logs: logs, healer: healer, ready: ready}
}

func post(t *testing.T, url, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func readCase(t testing.TB, name string) (request []byte, obs hooks.HealerReport) {
	t.Helper()
	request, err := os.ReadFile(filepath.Join(goldenDir, name, "request.json"))
	require.NoError(t, err)
	if b, err := os.ReadFile(filepath.Join(goldenDir, name, "observation.json")); err == nil {
		require.NoError(t, json.Unmarshal(b, &obs))
	}
	return request, obs
}

func TestSyncEndpointMatchesHooksSync(t *testing.T) {
	request, obs := readCase(t, "auth-running")
	healer := &recordingHealer{report: obs}
	srv := startServer(t, healer)
	resp, body := post(t, srv.url+"/sync", "application/json", request)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	req, err := hooks.DecodeSyncRequest(request)
	require.NoError(t, err)
	want, err := json.Marshal(hooks.Sync(&req, obs))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(body), "the handler adds nothing to hooks.Sync")

	healer.mu.Lock()
	defer healer.mu.Unlock()
	require.Len(t, healer.tracked, 1, "the topology goes to the healer after the sync")
	assert.Equal(t, "shop/cache", healer.tracked[0].Key())
	assert.NotContains(t, srv.logs.String(), "hunter2", "the password must never be logged")
}

func TestSyncHandsOnlyThePodsOfAnInvalidSpec(t *testing.T) {
	request, obs := readCase(t, "invalid-custom-config")
	healer := &recordingHealer{report: obs}
	srv := startServer(t, healer)
	resp, body := post(t, srv.url+"/sync", "application/json", request)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), `"SpecValid"`)
	healer.mu.Lock()
	defer healer.mu.Unlock()
	require.Len(t, healer.tracked, 1, "the healer keeps the RedisFailover while its spec is held")
	got := healer.tracked[0]
	assert.True(t, got.Held, "the healer must not act on the invalid spec")
	assert.Zero(t, got.RedisPort)
	assert.Empty(t, got.RedisConfig)
}

func TestHookErrors(t *testing.T) {
	srv := startServer(t, &recordingHealer{})
	tests := []struct {
		name        string
		path        string
		contentType string
		body        []byte
		status      int
	}{
		{"not JSON content type", "/sync", "text/plain", []byte(`{}`), http.StatusUnsupportedMediaType},
		{"undecodable body", "/sync", "application/json", []byte(`{"parent":`), http.StatusBadRequest},
		{"no parent", "/sync", "application/json", []byte(`{"children":{}}`), http.StatusBadRequest},
		{"body over the limit", "/sync", "application/json",
			[]byte(`{"parent":{"metadata":{"name":"` + strings.Repeat("x", 2<<20) + `"}}}`), http.StatusRequestEntityTooLarge},
		{"customize undecodable", "/customize", "application/json", []byte(`[`), http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, srv.url+tt.path, tt.contentType, tt.body)
			assert.Equal(t, tt.status, resp.StatusCode, string(body))
		})
	}
	_, metrics := get(t, srv.url+"/metrics")
	assert.Contains(t, metrics, `redhook_hook_errors_total{hook="sync",kind="decode"} 2`)
	assert.Contains(t, metrics, `redhook_hook_errors_total{hook="sync",kind="too_large"} 1`)
}

func TestPanicIsA500(t *testing.T) {
	srv := startServer(t, &recordingHealer{panics: true})
	request, _ := readCase(t, "minimal")
	resp, _ := post(t, srv.url+"/sync", "application/json", request)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, "Metacontroller must change nothing")
	assert.Contains(t, srv.logs.String(), "handler panicked")
	// The server keeps serving.
	resp2, _ := get(t, srv.url+"/healthz")
	assert.Equal(t, http.StatusOK, resp2.StatusCode)
}

func TestCustomizeEndpoint(t *testing.T) {
	srv := startServer(t, nil)
	body := []byte(`{"parent":{"metadata":{"name":"cache","namespace":"shop"},"spec":{"auth":{"secretPath":"pw"}}}}`)
	resp, out := post(t, srv.url+"/customize", "application/json", body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"relatedResources":[
		{"apiVersion":"v1","resource":"pods","namespace":"shop","labelSelector":{"matchLabels":{
			"app.kubernetes.io/name":"cache","app.kubernetes.io/part-of":"redis-failover"}}},
		{"apiVersion":"v1","resource":"secrets","namespace":"shop","names":["pw"]}]}`, string(out))
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestHealthAndMetrics(t *testing.T) {
	srv := startServer(t, nil)
	request, _ := readCase(t, "auth")
	resp, _ := post(t, srv.url+"/sync", "application/json", request)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r, _ := get(t, srv.url+"/healthz")
	assert.Equal(t, http.StatusOK, r.StatusCode)
	r, _ = get(t, srv.url+"/readyz")
	assert.Equal(t, http.StatusOK, r.StatusCode)
	srv.ready.Store(false)
	r, _ = get(t, srv.url+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	_, metrics := get(t, srv.url+"/metrics")
	assert.Contains(t, metrics, `redhook_hook_requests_total{code="200",hook="sync"} 1`)
	assert.Contains(t, metrics, `redhook_hook_duration_seconds_count{hook="sync"} 1`)
	assert.NotContains(t, metrics, "hunter2")
	assert.NotContains(t, srv.logs.String(), "hunter2")
	assert.Contains(t, srv.logs.String(), `"request_id"`)
}

// startServing runs serveOn on a free loopback port with the given drain period until cancel,
// and waits until /readyz answers 200. done receives serveOn's result.
func startServing(t *testing.T, drain time.Duration) (url string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := defaultConfig()
	cfg.Listen = ln.Addr().String()
	cfg.DrainPeriod = drain
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- serveOn(ctx, ln, cfg, zerolog.Nop()) }()
	url = "http://" + ln.Addr().String()
	require.Eventually(t, func() bool {
		r, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}, 5*time.Second, 10*time.Millisecond)
	return url, cancel, result
}

// TestGracefulShutdown: after the context ends, readyz fails, in-flight requests finish and
// serveOn returns nil.
func TestGracefulShutdown(t *testing.T) {
	url, cancel, done := startServing(t, 100*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("serveOn did not return after its context ended")
	}
	_, err := http.Get(url + "/healthz")
	assert.Error(t, err, "the listener is closed")
}

// TestDrainBeforeShutdown: for the drain period after the context ends, /readyz answers 503 (so
// that the Service stops sending requests) while /sync is still served; then serveOn returns.
func TestDrainBeforeShutdown(t *testing.T) {
	const drain = 2 * time.Second
	url, cancel, done := startServing(t, drain)
	defer cancel()
	// A fresh connection per request: the drain is for new requests, not for kept-alive ones.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	cancelled := time.Now()
	cancel()
	require.Eventually(t, func() bool {
		r, err := client.Get(url + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusServiceUnavailable
	}, time.Second, 10*time.Millisecond, "/readyz must answer 503 during the drain")
	request, _ := readCase(t, "minimal")
	resp, err := client.Post(url+"/sync", "application/json", bytes.NewReader(request))
	require.NoError(t, err, "/sync must still be served during the drain")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case err := <-done:
		assert.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(cancelled), drain, "serveOn returned before the drain ended")
	case <-time.After(10 * time.Second):
		t.Fatal("serveOn did not return after the drain")
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{"REDHOOK_LISTEN": "127.0.0.1:9000", "REDHOOK_LOG_LEVEL": "debug"}
	cfg, err := parseServeFlags(nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9000", cfg.Listen)
	assert.Equal(t, "debug", cfg.LogLevel)
	cfg, err = parseServeFlags([]string{"--listen", ":7000"}, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, ":7000", cfg.Listen, "a flag wins over the environment")
	_, err = parseServeFlags([]string{"--listen", "nope", "--log-level", "loud"}, func(string) string { return "" }, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--listen "nope"`)
	assert.Contains(t, err.Error(), `--log-level "loud"`)
	assert.Equal(t, 5*time.Second, defaultConfig().DrainPeriod)
	cfg, err = parseServeFlags(nil, func(k string) string { return map[string]string{"REDHOOK_DRAIN_PERIOD": "1s"}[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, time.Second, cfg.DrainPeriod)
	cfg, err = parseServeFlags([]string{"--drain-period", "0s"}, func(k string) string { return map[string]string{"REDHOOK_DRAIN_PERIOD": "7s"}[k] }, io.Discard)
	require.NoError(t, err)
	assert.Zero(t, cfg.DrainPeriod, "a flag wins over the environment")
	_, err = parseServeFlags(nil, func(k string) string { return map[string]string{"REDHOOK_DRAIN_PERIOD": "soon"}[k] }, io.Discard)
	assert.ErrorContains(t, err, "REDHOOK_DRAIN_PERIOD")
	_, err = parseServeFlags([]string{"--drain-period", "-1s"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "--drain-period")
	assert.Equal(t, 10*time.Minute, defaultConfig().ForgetAfter)
	cfg, err = parseServeFlags([]string{"--forget-after", "1h"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, time.Hour, cfg.ForgetAfter)
	_, err = parseServeFlags([]string{"--forget-after", "10s"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, "--forget-after 10s")
}

// TestDebugServer: --debug-listen serves Go's profiles on its own address, and only there; a
// bad address is refused with the flag's name.
func TestDebugServer(t *testing.T) {
	_, err := parseServeFlags([]string{"--debug-listen", "6060"}, func(string) string { return "" }, io.Discard)
	assert.ErrorContains(t, err, `--debug-listen "6060"`)
	cfg, err := parseServeFlags([]string{"--debug-listen", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, defaultConfig().DebugListen, "off by default")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(debugRouter())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/debug/pprof/heap?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "heap profile")
	require.NoError(t, serveDebug(ctx, cfg.DebugListen, zerolog.Nop()))
	assert.Error(t, serveDebug(ctx, "127.0.0.1:-1", zerolog.Nop()), "an address it cannot listen on")

	hooks := httptest.NewServer(newRouter(&server{log: zerolog.Nop(), metrics: newHookMetrics(prometheus.NewRegistry()),
		ready: &atomic.Bool{}}, prometheus.NewRegistry()))
	defer hooks.Close()
	resp, err = http.Get(hooks.URL + "/debug/pprof/heap")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no profiles on the hook server")
}

// /sync-cluster answers what hooks.SyncCluster answers, with the cluster healer's report in and
// the topology out; without a cluster healer (what serve runs for now) the report is unknown.
func TestSyncClusterEndpointMatchesHooksSyncCluster(t *testing.T) {
	dir := filepath.Join(goldenDir+"-cluster", "scale-in-held")
	request, err := os.ReadFile(filepath.Join(dir, "request.json"))
	require.NoError(t, err)
	var obs hooks.ClusterReport
	b, err := os.ReadFile(filepath.Join(dir, "observation.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &obs))
	req, err := hooks.DecodeClusterSyncRequest(request)
	require.NoError(t, err)

	healer := &recordingHealer{clusterReport: obs}
	srv := startServer(t, healer)
	resp, body := post(t, srv.url+"/sync-cluster", "application/json", request)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	want, err := json.Marshal(hooks.SyncCluster(&req, obs))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(body), "the handler adds nothing to hooks.SyncCluster")
	healer.mu.Lock()
	require.Len(t, healer.trackedClusters, 1, "the topology goes to the cluster healer after the sync")
	assert.Equal(t, "shop/orders", healer.trackedClusters[0].Key())
	assert.Empty(t, healer.tracked, "not to the RedisFailover healer")
	healer.mu.Unlock()

	bare := startServer(t, nil)
	resp, body = post(t, bare.url+"/sync-cluster", "application/json", request)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	want, err = json.Marshal(hooks.SyncCluster(&req, hooks.ClusterReport{}))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(body), "no cluster healer: the report is unknown")

	resp, _ = post(t, bare.url+"/sync-cluster", "application/json", []byte(`{"parent":{}}`))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a parent without a name")
}

func TestCustomizeClusterEndpoint(t *testing.T) {
	srv := startServer(t, nil)
	resp, body := post(t, srv.url+"/customize-cluster", "application/json",
		[]byte(`{"parent":{"metadata":{"name":"orders","namespace":"shop"},"spec":{"auth":{"secretPath":"orders-auth"}}}}`))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.JSONEq(t, `{"relatedResources":[
		{"apiVersion":"v1","resource":"pods","namespace":"shop","labelSelector":{"matchLabels":{"app.kubernetes.io/instance":"orders","app.kubernetes.io/name":"redis-cluster"}}},
		{"apiVersion":"v1","resource":"secrets","namespace":"shop","names":["orders-auth"]}]}`, string(body))
}
