package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/hooks"
)

// freshResponse is what hooks.Sync answers, encoded, with no cache anywhere.
func freshResponse(t *testing.T, request []byte, obs hooks.HealerReport) []byte {
	t.Helper()
	req, err := hooks.DecodeSyncRequest(request)
	require.NoError(t, err)
	want, err := json.Marshal(hooks.Sync(&req, obs))
	require.NoError(t, err)
	return want
}

// cacheCount reads redhook_sync_cache_total{result} from the server's registry.
func cacheCount(t *testing.T, s *testServer, result string) float64 {
	t.Helper()
	families, err := s.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "redhook_sync_cache_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestSyncCache: the same request and report are answered with the remembered response, equal
// byte for byte to a fresh one, and the healer still gets the topology; a changed report or a
// changed request is computed afresh.
func TestSyncCache(t *testing.T) {
	request, obs := readCase(t, "master-known")
	healer := &recordingHealer{report: obs}
	srv := startServer(t, healer)
	sync := func(request []byte) []byte {
		t.Helper()
		resp, body := post(t, srv.url+"/sync", "application/json", request)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return body
	}

	first := sync(request)
	assert.Equal(t, 1.0, cacheCount(t, srv, "miss"))
	second := sync(request)
	assert.Equal(t, 1.0, cacheCount(t, srv, "hit"), "same request, same report")
	assert.Equal(t, string(freshResponse(t, request, obs)), string(second), "cached = fresh, byte for byte")
	assert.Equal(t, string(first), string(second))
	healer.mu.Lock()
	require.Len(t, healer.tracked, 2, "a cached sync still tracks the topology")
	assert.Equal(t, healer.tracked[0], healer.tracked[1])
	healer.mu.Unlock()

	// The healer makes a new report: only the time differs. The parent of the recorded request
	// has no status yet: every condition is stamped with the report's time, so the response
	// differs too.
	later := obs
	later.Time = obs.Time.Add(time.Minute)
	healer.setReport(later)
	third := sync(request)
	assert.Equal(t, 2.0, cacheCount(t, srv, "miss"), "a changed report misses")
	assert.Equal(t, string(freshResponse(t, request, later)), string(third))

	// Another report content: the master is gone.
	noMaster := later
	noMaster.Master = nil
	healer.setReport(noMaster)
	fourth := sync(request)
	assert.Equal(t, 3.0, cacheCount(t, srv, "miss"))
	assert.Equal(t, string(freshResponse(t, request, noMaster)), string(fourth))
	assert.NotEqual(t, string(third), string(fourth))

	// A changed request (the parent's resourceVersion) misses, and replaces the parent's entry.
	changed := bytes.Replace(request, []byte(`"resourceVersion": "1000"`), []byte(`"resourceVersion": "1001"`), 1)
	require.NotEqual(t, request, changed, "the recorded parent has resourceVersion 1000")
	fifth := sync(changed)
	assert.Equal(t, 4.0, cacheCount(t, srv, "miss"), "a changed request misses")
	assert.Equal(t, string(freshResponse(t, changed, noMaster)), string(fifth))
	assert.Equal(t, 1, srv.cache.len(), "one entry per RedisFailover")
	sync(changed)
	assert.Equal(t, 2.0, cacheCount(t, srv, "hit"))
}

// TestSyncCacheForgets: an entry not used for forgetAfter is dropped; one in use is kept.
func TestSyncCacheForgets(t *testing.T) {
	now := time.Unix(1700000000, 0)
	c := newSyncCache(10 * time.Minute)
	c.now = func() time.Time { return now }
	a := &cachedSync{request: requestSum([]byte("a")), key: "ns/a"}
	b := &cachedSync{request: requestSum([]byte("b")), key: "ns/b"}
	c.store(a)
	c.store(b)
	for range 3 { // b is synced every 5 minutes, a no more
		now = now.Add(5 * time.Minute)
		_, ok := c.lookup(b.request)
		require.True(t, ok)
	}
	_, ok := c.lookup(a.request)
	assert.False(t, ok, "a was not synced for 15 minutes")
	assert.Equal(t, 1, c.len())
}

// TestSyncCacheSteady: the next request of a steady RedisFailover carries the last status; a new
// report that differs only in its time is answered from the cache, byte for byte what a fresh
// sync answers, while a report without a time (unknown) is not.
func TestSyncCacheSteady(t *testing.T) {
	request, obs := readCase(t, "master-known")
	steady := steadyRequest(t, request, obs)
	healer := &recordingHealer{report: obs}
	srv := startServer(t, healer)
	sync := func() []byte {
		t.Helper()
		resp, body := post(t, srv.url+"/sync", "application/json", steady)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		return body
	}
	sync()
	later := obs
	later.Time = obs.Time.Add(10 * time.Second) // the next heal pass saw the same
	healer.setReport(later)
	got := sync()
	assert.Equal(t, 1.0, cacheCount(t, srv, "hit"), "only the report's time changed")
	assert.Equal(t, string(freshResponse(t, steady, later)), string(got), "cached = fresh, byte for byte")

	healer.setReport(hooks.HealerReport{}) // the healer forgot it: unknown
	got = sync()
	assert.Equal(t, 2.0, cacheCount(t, srv, "miss"))
	assert.Equal(t, string(freshResponse(t, steady, hooks.HealerReport{})), string(got))
}

// steadyRequest is request with the parent's status set to the status Sync answers to it, as
// Metacontroller sends the next sync once it wrote that status.
func steadyRequest(t *testing.T, request []byte, obs hooks.HealerReport) []byte {
	t.Helper()
	var status struct {
		Status json.RawMessage `json:"status"`
	}
	require.NoError(t, json.Unmarshal(freshResponse(t, request, obs), &status))
	var req map[string]any
	require.NoError(t, json.Unmarshal(request, &req))
	var st any
	require.NoError(t, json.Unmarshal(status.Status, &st))
	req["parent"].(map[string]any)["status"] = st
	out, err := json.Marshal(req)
	require.NoError(t, err)
	return out
}

// TestSyncCacheEncodings: a cached response goes gzipped to a client that accepts gzip and plain
// to one that does not; both are, byte for byte, what a fresh sync encodes.
func TestSyncCacheEncodings(t *testing.T) {
	request, obs := readCase(t, "master-known")
	srv := startServer(t, &recordingHealer{report: obs})
	want := freshResponse(t, request, obs)
	post(t, srv.url+"/sync", "application/json", request) // computed, remembered
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range []struct{ accept, encoding string }{{"gzip", "gzip"}, {"", ""}, {"gzip;q=0", ""}, {"br, gzip;q=0.5", "gzip"}} {
		t.Run("accept "+tt.accept, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.url+"/sync", bytes.NewReader(request))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if tt.accept != "" {
				req.Header.Set("Accept-Encoding", tt.accept)
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.Equal(t, tt.encoding, resp.Header.Get("Content-Encoding"))
			if tt.encoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				require.NoError(t, err)
				body, err = io.ReadAll(zr)
				require.NoError(t, err)
			}
			assert.Equal(t, string(want), string(body))
		})
	}
	assert.Equal(t, 4.0, cacheCount(t, srv, "hit"))
}
