package hooks

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// headlessService gives every redis pod a stable DNS name; it publishes pods before they are
// ready, since a fresh node is a not-ready replica until the healer attaches it.
func (r *renderer) headlessService() *Service {
	s := &r.rf.Spec.Redis
	ports := []corev1.ServicePort{tcpPort("redis", s.Port)}
	var annotations map[string]string
	if s.Exporter.Enabled {
		ports = append(ports, tcpPort(metricsPortName, RedisExporterPort))
		// spotahome's scrape annotations, for Prometheus' kubernetes-service-endpoints job. The
		// port is a number (spotahome wrote "http", which matched nothing, so every port of its
		// one-port Service was scraped): this Service also has the redis port, which must not be
		// scraped over HTTP. The user's serviceAnnotations win.
		annotations = map[string]string{
			"prometheus.io/scrape": "true",
			"prometheus.io/port":   strconv.Itoa(RedisExporterPort),
			"prometheus.io/path":   "/metrics",
		}
	}
	return &Service{APIVersion: "v1", Kind: "Service",
		Metadata: r.meta(redisName(r.name()), ComponentRedis, merged(annotations, s.ServiceAnnotations)),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 SelectorLabels(r.name(), ComponentRedis),
			Ports:                    ports,
			PublishNotReadyAddresses: true,
		}}
}

// masterService and replicasService have no selector: their EndpointSlices, rendered from the
// healer's report, say where the master and the in-sync replicas are. A Service driven by pod
// labels lags a failover by the label updater's delay (Opstree #1153, spotahome #608).
func (r *renderer) masterService() *Service {
	return r.selectorlessService(masterName(r.name()))
}

func (r *renderer) replicasService() *Service {
	return r.selectorlessService(replicasName(r.name()))
}

func (r *renderer) selectorlessService(name string) *Service {
	s := &r.rf.Spec.Redis
	return &Service{APIVersion: "v1", Kind: "Service",
		Metadata: r.meta(name, ComponentRedis, s.ServiceAnnotations),
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{tcpPort("redis", s.Port)},
		}}
}

// sentinelService is where Sentinel-aware clients connect.
func (r *renderer) sentinelService() *Service {
	s := &r.rf.Spec.Sentinel
	ports := []corev1.ServicePort{tcpPort(sentinelPortLabel, SentinelPort)}
	if s.Exporter.Enabled {
		ports = append(ports, tcpPort(metricsPortName, SentinelExporterPort))
	}
	return &Service{APIVersion: "v1", Kind: "Service",
		Metadata: r.meta(sentinelName(r.name()), ComponentSentinel, s.ServiceAnnotations),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(r.name(), ComponentSentinel),
			Ports:    ports,
		}}
}
