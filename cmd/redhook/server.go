package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/redhook/redhook/hooks"
)

// Healer is what the hook server needs from the healer: its latest report before a sync, and
// the new topology after it. Declared here, by its consumer.
type Healer interface {
	Report(key string) hooks.HealerReport
	Track(topology hooks.Topology)
}

// ClusterHealer is what the hook server needs from the Redis Cluster healer: its latest
// ClusterReport of a RedisCluster before a sync, and the new ClusterTopology after it.
type ClusterHealer interface {
	ClusterReport(key string) hooks.ClusterReport
	TrackCluster(topology hooks.ClusterTopology)
}

// server holds the dependencies of the HTTP handlers.
type server struct {
	log    zerolog.Logger
	healer Healer // nil: no healer, every healer report is unknown
	// clusterHealer is the RedisCluster healer; nil: every RedisCluster's report is unknown
	// (SyncCluster keeps the observed children and creates the missing ones).
	clusterHealer ClusterHealer
	metrics       *hookMetrics
	maxBody       int64
	ready         *atomic.Bool
	cache         *syncCache // nil: every sync is computed
}

// newRouter returns the hook server's routes: the Metacontroller hooks of both CompositeControllers
// (RedisFailover: /sync, /customize; RedisCluster: /sync-cluster, /customize-cluster), health probes and
// metrics. Metacontroller's wire format: https://metacontroller.github.io/metacontroller/api/hook.html
func newRouter(s *server, gatherer prometheus.Gatherer) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID, s.accessLog, s.recoverer)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	r.Get("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	r.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	r.Group(func(r chi.Router) {
		r.Use(requireJSON)
		r.Post("/sync", s.hook("sync", s.sync))
		r.Post("/customize", s.hook("customize", s.customize))
		r.Post("/sync-cluster", s.hook("sync-cluster", s.syncCluster))
		r.Post("/customize-cluster", s.hook("customize-cluster", s.customizeCluster))
	})
	return r
}

// hookFunc decodes a request body and returns the response value, or an error with its HTTP
// status.
type hookFunc func(r *http.Request, log zerolog.Logger) (any, *hookError)

type hookError struct {
	status int
	kind   string // metric label
	err    error
}

// hook wraps a hookFunc with the body limit, metrics and JSON encoding.
func (s *server) hook(name string, fn hookFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
		log := s.log.With().Str("hook", name).Str("request_id", middleware.GetReqID(r.Context())).Logger()
		resp, herr := fn(r, log)
		code := http.StatusOK
		if gz, ok := resp.(gzipped); ok && herr == nil {
			w.Header().Set("Content-Type", "application/json")
			if err := writeGzipped(w, r, gz); err != nil {
				herr = &hookError{http.StatusInternalServerError, "encode", err}
			}
		} else if herr == nil {
			var body []byte
			body, herr = encode(resp)
			if herr == nil {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(body) // a client that went away is not our error
			}
		}
		if herr != nil {
			code = herr.status
			s.metrics.errors.WithLabelValues(name, herr.kind).Inc()
			log.Warn().Err(herr.err).Int("status", code).Msg("hook request failed")
			http.Error(w, herr.err.Error(), code)
		}
		s.metrics.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		s.metrics.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
}

// encoded is a response already encoded (a cached sync): written as it is.
type encoded []byte

func encode(v any) ([]byte, *hookError) {
	if b, ok := v.(encoded); ok {
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &hookError{http.StatusInternalServerError, "encode", fmt.Errorf("encode response: %w", err)}
	}
	return b, nil
}

// bodyBuffers are the buffers of the sync request bodies: a sync reads ~50 KB, and
// allocating (and zeroing) that for every request is most of what a cached sync costs.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readPooledBody is readBody into a pooled buffer; release hands it back once nothing refers to
// the body any more (decoding copies what it keeps).
func readPooledBody(r *http.Request) (body []byte, release func(), herr *hookError) {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	release = func() {
		if buf.Cap() <= 1<<20 { // an exceptional huge request does not stay in the pool
			bodyBuffers.Put(buf)
		}
	}
	body, herr = readBodyInto(r, buf)
	return body, release, herr
}

// readBody reads the whole body (bounded by the MaxBytesReader set in hook): one buffer that
// is decoded in a single pass.
func readBody(r *http.Request) ([]byte, *hookError) {
	return readBodyInto(r, &bytes.Buffer{})
}

func readBodyInto(r *http.Request, buf *bytes.Buffer) ([]byte, *hookError) {
	if n := r.ContentLength; n > 0 && n < 64<<20 {
		buf.Grow(int(n) + bytes.MinRead) // one allocation, not io.ReadAll's doublings (a sync is 50 KB)
	}
	_, err := buf.ReadFrom(r.Body)
	b := buf.Bytes()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &hookError{http.StatusRequestEntityTooLarge, "too_large",
				fmt.Errorf("request body over %d bytes", tooBig.Limit)}
		}
		return nil, &hookError{http.StatusBadRequest, "read", fmt.Errorf("read request: %w", err)}
	}
	return b, nil
}

func decode(r *http.Request, v any) *hookError {
	b, herr := readBody(r)
	if herr != nil {
		return herr
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &hookError{http.StatusBadRequest, "decode", fmt.Errorf("decode request: %w", err)}
	}
	return nil
}

// sync answers Metacontroller's sync hook: the healer's report goes into hooks.Sync, and the
// request's topology goes to the healer after the response is computed. A request and report
// seen last time for the same RedisFailover get the remembered response (see syncCache); the
// healer is told the topology all the same.
func (s *server) sync(r *http.Request, log zerolog.Logger) (any, *hookError) {
	body, release, herr := readPooledBody(r)
	defer release()
	if herr != nil {
		return nil, herr
	}
	var sum requestID
	if s.cache != nil {
		sum = requestSum(body)
		if e, ok := s.cache.lookup(sum); ok && e.fresh(s.report(e.key)) {
			s.metrics.cache.WithLabelValues("hit").Inc()
			s.track(e.topo)
			log.Debug().Str("redisfailover", e.key).Msg("synced: same request and report, same response")
			return gzipped(e.gz), nil
		}
		s.metrics.cache.WithLabelValues("miss").Inc()
	}
	req, err := hooks.DecodeSyncRequest(body)
	if err != nil {
		return nil, &hookError{http.StatusBadRequest, "decode", fmt.Errorf("decode request: %w", err)}
	}
	key := req.Parent.Namespace + "/" + req.Parent.Name
	obs := s.report(key)
	// While the spec is held (invalid, or its Secret missing) the topology is only the pods: the
	// healer goes on with the last valid settings, those of the held children.
	res := hooks.SyncDetailed(&req, obs)
	resp, topo := res.Response, res.Topology
	out, herr := encode(resp)
	if herr != nil {
		return nil, herr
	}
	if s.cache != nil {
		s.cache.store(&cachedSync{request: sum, key: key, report: obs, reportTimeRead: res.ReportTimeRead, gz: compress(out), topo: topo})
	}
	s.track(topo)
	if e := log.Debug(); e.Enabled() {
		e.Str("redisfailover", key).Int("children", len(resp.Children)).
			Float64("resync_after", resp.ResyncAfterSeconds).Msg("synced")
	}
	return encoded(out), nil
}

// report is the healer's report of key; unknown without a healer.
func (s *server) report(key string) hooks.HealerReport {
	if s.healer == nil {
		return hooks.HealerReport{}
	}
	return s.healer.Report(key)
}

// track hands the healer a topology.
func (s *server) track(t hooks.Topology) {
	if s.healer != nil {
		s.healer.Track(t)
	}
}

// syncCluster answers the sync hook of the redhook-cluster CompositeController (RedisCluster
// parents), as sync does for RedisFailovers, with the cluster healer's report and topology.
func (s *server) syncCluster(r *http.Request, log zerolog.Logger) (any, *hookError) {
	body, herr := readBody(r)
	if herr != nil {
		return nil, herr
	}
	req, err := hooks.DecodeClusterSyncRequest(body)
	if err != nil {
		return nil, &hookError{http.StatusBadRequest, "decode", fmt.Errorf("decode request: %w", err)}
	}
	key := req.Parent.Namespace + "/" + req.Parent.Name
	var obs hooks.ClusterReport
	if s.clusterHealer != nil {
		obs = s.clusterHealer.ClusterReport(key)
	}
	resp, topo, _ := hooks.SyncClusterWithTopology(&req, obs)
	if s.clusterHealer != nil {
		s.clusterHealer.TrackCluster(topo)
	}
	if e := log.Debug(); e.Enabled() {
		e.Str("rediscluster", key).Int("children", len(resp.Children)).
			Float64("resync_after", resp.ResyncAfterSeconds).Msg("synced")
	}
	return resp, nil
}

// customizeCluster answers the customize hook of the redhook-cluster CompositeController.
func (s *server) customizeCluster(r *http.Request, _ zerolog.Logger) (any, *hookError) {
	var req hooks.ClusterCustomizeRequest
	if herr := decode(r, &req); herr != nil {
		return nil, herr
	}
	return hooks.CustomizeCluster(&req), nil
}

// customize answers Metacontroller's customize hook.
func (s *server) customize(r *http.Request, _ zerolog.Logger) (any, *hookError) {
	var req hooks.CustomizeRequest
	if herr := decode(r, &req); herr != nil {
		return nil, herr
	}
	return hooks.Customize(&req), nil
}

// requireJSON refuses hook requests that are not JSON.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog logs one line per request: method, path, status, size, duration, request id.
// Bodies are never logged: a sync request carries the auth Secret.
func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		lvl := zerolog.DebugLevel
		if ww.Status() >= 400 {
			lvl = zerolog.InfoLevel
		}
		s.log.WithLevel(lvl).Str("method", r.Method).Str("path", r.URL.Path).Int("status", ww.Status()).
			Int("bytes", ww.BytesWritten()).Dur("duration", time.Since(start)).
			Str("request_id", middleware.GetReqID(r.Context())).Msg("request")
	})
}

// recoverer turns a panic into a 500 (Metacontroller then changes nothing and retries) and logs
// it with its stack.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Str("panic", fmt.Sprint(v)).Str("path", r.URL.Path).
					Str("request_id", middleware.GetReqID(r.Context())).Stack().Msg("handler panicked")
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
