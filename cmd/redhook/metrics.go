package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// hookMetrics are the hook server's Prometheus metrics. Labels never carry a secret or a
// per-request value; the RedisFailover key is not a label here (unbounded cardinality).
type hookMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	cache    *prometheus.CounterVec
}

func newHookMetrics(reg prometheus.Registerer) *hookMetrics {
	m := &hookMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redhook_hook_requests_total", Help: "Hook requests by hook and HTTP status code.",
		}, []string{"hook", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "redhook_hook_duration_seconds",
			Help:    "Time to decode, compute and encode a hook response.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"hook"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redhook_hook_errors_total", Help: "Hook requests that failed, by hook and kind.",
		}, []string{"hook", "kind"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redhook_sync_cache_total",
			Help: "Sync requests answered with the remembered response (hit: same request and healer report) or computed (miss).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.duration, m.errors, m.cache,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
