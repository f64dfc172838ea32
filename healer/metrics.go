package healer

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redhook/redhook/hooks"
)

// metrics of the healer. Labels never carry a secret; per-RedisFailover series carry only
// namespace and name and are deleted when the RedisFailover is forgotten.
type metrics struct {
	passes    *prometheus.CounterVec
	duration  prometheus.Histogram
	actions   *prometheus.CounterVec
	errors    *prometheus.CounterVec
	failovers prometheus.Counter
	// watchTriggers counts the passes the master watcher asked for.
	watchTriggers prometheus.Counter
	tracked       prometheus.Gauge

	masterKnown *prometheus.GaugeVec
	inSync      *prometheus.GaugeVec
	agreeing    *prometheus.GaugeVec
}

// Error classes of redhook_healer_errors_total.
const (
	errObserve   = "observe"   // a pod did not answer or answered nonsense
	errApply     = "apply"     // a write failed
	errSubscribe = "subscribe" // the Sentinel event subscription broke
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	rf := []string{"namespace", "name"}
	m := &metrics{
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redhook_healer_passes_total", Help: "Heal passes by result (ok, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "redhook_healer_pass_duration_seconds",
			Help:    "Duration of one heal pass: observe, plan, apply.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redhook_healer_actions_total", Help: "Writes sent to Redis and Sentinel, by action type.",
		}, []string{"action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redhook_healer_errors_total", Help: "Healer errors by class (observe, apply, subscribe).",
		}, []string{"class"}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redhook_healer_failovers_observed_total", Help: "Sentinel +switch-master events (one per failover).",
		}),
		watchTriggers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redhook_healer_watch_triggers_total",
			Help: "Heal passes asked for by the master watcher (master dead, restarted or demoted).",
		}),
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "redhook_healer_tracked", Help: "RedisFailovers the healer tracks.",
		}),
		masterKnown: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redhook_redisfailover_master_known", Help: "1 when the healer knows a writable master.",
		}, rf),
		inSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redhook_redisfailover_replicas_in_sync", Help: "Replicas linked to the master and not syncing.",
		}, rf),
		agreeing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redhook_redisfailover_sentinels_agreeing", Help: "Sentinels that monitor the master.",
		}, rf),
	}
	for _, c := range []prometheus.Collector{m.passes, m.duration, m.actions, m.errors, m.failovers,
		m.watchTriggers, m.tracked, m.masterKnown, m.inSync, m.agreeing} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"replicaof", "promote", "config-set", "sentinel-remove", "sentinel-monitor",
		"sentinel-set", "sentinel-reset", "sentinel-failover"} {
		m.actions.WithLabelValues(k) // zero series exist from the start
	}
	for _, c := range []string{errObserve, errApply, errSubscribe} {
		m.errors.WithLabelValues(c)
	}
	return m, nil
}

// observe updates the per-RedisFailover gauges from a report.
func (m *metrics) report(t hooks.Topology, r hooks.HealerReport) {
	known, inSync, agreeing := 0.0, 0.0, 0.0
	if r.Master != nil {
		known = 1
		for _, n := range r.Redis {
			if n.InSync(r.Master) {
				inSync++
			}
		}
		for _, s := range r.Sentinels {
			if s.Agrees(r.Master) {
				agreeing++
			}
		}
	}
	m.masterKnown.WithLabelValues(t.Namespace, t.Name).Set(known)
	m.inSync.WithLabelValues(t.Namespace, t.Name).Set(inSync)
	m.agreeing.WithLabelValues(t.Namespace, t.Name).Set(agreeing)
}

// forget deletes the per-RedisFailover series.
func (m *metrics) forget(namespace, name string) {
	m.masterKnown.DeleteLabelValues(namespace, name)
	m.inSync.DeleteLabelValues(namespace, name)
	m.agreeing.DeleteLabelValues(namespace, name)
}
