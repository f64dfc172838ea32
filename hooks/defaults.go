package hooks

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults. The Redis image is the 7.2 line, the last one under the BSD licence that
// spotahome's users deployed; any Redis ≥ 7.0 works (redhook relies on REPLICAOF, ROLE and
// Sentinel's CONFIG REWRITE behaviour of 7.0).
const (
	DefaultRedisImage         = "redis:7.2.7"
	DefaultRedisExporterImage = "oliver006/redis_exporter:v1.67.0"
	// DefaultSentinelExporterImage is redis_exporter too, as in spotahome: pointed at a sentinel
	// it exports the sentinel metrics, under the names spotahome users' dashboards know.
	DefaultSentinelExporterImage = DefaultRedisExporterImage
	DefaultReplicas              = 3
	DefaultRedisPort             = 6379
	SentinelPort                 = 26379
	RedisExporterPort            = 9121
	SentinelExporterPort         = 9355
	DefaultMasterName            = "mymaster"
	DefaultGracePeriod           = 30
	DefaultBootstrapPort         = "6379"
	DefaultDataVolume            = "redis-data"
	// IfNotPresent, not spotahome's Always: a registry outage must not stop a failed pod from
	// coming back on a node that has the image.
	DefaultPullPolicy = corev1.PullIfNotPresent
	defaultUID        = 1000
)

// defaultSentinelConfig holds the per-master Sentinel settings a user entry overrides one key at
// a time (spotahome replaced the whole list, silently dropping the defaults).
var defaultSentinelConfig = []string{
	"down-after-milliseconds 5000",
	"failover-timeout 10000",
	"parallel-syncs 2",
}

// WithDefaults returns a copy of rf with every default filled in; rf is not changed.
func (rf *RedisFailover) WithDefaults() *RedisFailover {
	out := rf.DeepCopy()
	s := &out.Spec
	defaultPod(&s.Redis.PodSettings, []string{"redis-server", "/redis/redis.conf"}, DefaultRedisExporterImage)
	defaultPod(&s.Sentinel.PodSettings,
		[]string{"redis-server", "/redis/sentinel.conf", "--sentinel"}, DefaultSentinelExporterImage)
	if s.Redis.Port == 0 {
		s.Redis.Port = DefaultRedisPort
	}
	if s.Redis.TerminationGracePeriod == 0 {
		s.Redis.TerminationGracePeriod = DefaultGracePeriod
	}
	if pvc := s.Redis.Storage.PersistentVolumeClaim; pvc != nil && pvc.Name == "" {
		pvc.Name = DefaultDataVolume
	}
	if s.Sentinel.MasterName == "" {
		s.Sentinel.MasterName = DefaultMasterName
	}
	if s.Sentinel.ConfigCopy.ContainerSecurityContext == nil {
		s.Sentinel.ConfigCopy.ContainerSecurityContext = defaultContainerSecurityContext(s.Sentinel.SecurityContext)
	}
	s.Sentinel.CustomConfig = mergeConfig(defaultSentinelConfig, s.Sentinel.CustomConfig)
	if b := s.BootstrapNode; b != nil && b.Port == "" {
		b.Port = DefaultBootstrapPort
	}
	if s.Redis.Affinity == nil {
		s.Redis.Affinity = defaultAffinity(SelectorLabels(out.Name, ComponentRedis))
	}
	if s.Sentinel.Affinity == nil {
		s.Sentinel.Affinity = defaultAffinity(SelectorLabels(out.Name, ComponentSentinel))
	}
	return out
}

func defaultPod(p *PodSettings, command []string, exporterImage string) {
	if p.Image == "" {
		p.Image = DefaultRedisImage
	}
	if p.ImagePullPolicy == "" {
		p.ImagePullPolicy = DefaultPullPolicy
	}
	if p.Replicas == 0 {
		p.Replicas = DefaultReplicas
	}
	if len(p.Command) == 0 {
		p.Command = command
	}
	if p.DNSPolicy == "" {
		p.DNSPolicy = corev1.DNSClusterFirst
	}
	if p.EnableServiceLinks == nil {
		p.EnableServiceLinks = ptr(true) // the Kubernetes default, which spotahome kept
	}
	p.SecurityContext = defaultPodSecurityContext(p.SecurityContext)
	if p.ContainerSecurityContext == nil {
		p.ContainerSecurityContext = defaultContainerSecurityContext(p.SecurityContext)
	}
	if p.Exporter.Image == "" {
		p.Exporter.Image = exporterImage
	}
	if p.Exporter.ImagePullPolicy == "" {
		p.Exporter.ImagePullPolicy = DefaultPullPolicy
	}
	if p.Exporter.ContainerSecurityContext == nil {
		p.Exporter.ContainerSecurityContext = defaultContainerSecurityContext(p.SecurityContext)
	}
	if p.Exporter.Resources == nil {
		p.Exporter.Resources = defaultExporterResources()
	}
}

// defaultExporterResources are spotahome's exporter resources (v1.3; v1.2 limited the CPU to
// 50m, which throttled scrapes of large instances). resources: {} in the spec means none.
func defaultExporterResources() *corev1.ResourceRequirements {
	return &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("50Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("100Mi")},
	}
}

// defaultPodSecurityContext: without a securityContext the pods run as 1000:1000 with fsGroup
// 1000 and runAsNonRoot (spotahome's default user). A securityContext that names no user, such as
// {fsGroup: 2000} or {runAsNonRoot: false} (spotahome's examples), gets user 1000, and group and
// fsGroup 1000 where it sets none: the official redis image has no USER, and the kubelet refuses
// a container that must run as non-root without a user. Fields the user sets are kept.
func defaultPodSecurityContext(sc *corev1.PodSecurityContext) *corev1.PodSecurityContext {
	uid := int64(defaultUID)
	switch {
	case sc == nil:
		return &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: ptr(uid), FSGroup: ptr(uid), RunAsNonRoot: ptr(true)}
	case sc.RunAsUser == nil:
		sc.RunAsUser = &uid
		if sc.RunAsGroup == nil {
			sc.RunAsGroup = ptr(uid)
		}
		if sc.FSGroup == nil {
			sc.FSGroup = ptr(uid)
		}
	}
	return sc
}

// defaultContainerSecurityContext is the security context of redhook's containers when the
// spec gives none. It asks for a non-root user only when the pod runs as one (the defaulted pod
// context always names a user): a container that must be non-root in a pod of runAsUser 0, or of
// runAsNonRoot false, would never start.
func defaultContainerSecurityContext(pod *corev1.PodSecurityContext) *corev1.SecurityContext {
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr(true),
	}
	if pod == nil || pod.RunAsNonRoot == nil || *pod.RunAsNonRoot {
		if pod == nil || pod.RunAsUser == nil || *pod.RunAsUser != 0 {
			sc.RunAsNonRoot = ptr(true)
		}
	}
	return sc
}

// defaultAffinity spreads the pods of one component over nodes when it can (soft anti-affinity).
func defaultAffinity(selector map[string]string) *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
			},
		}},
	}}
}

// mergeConfig returns the defaults with user entries overriding them key by key, followed by
// the user's other entries in their order. Entries are "key value" lines.
func mergeConfig(defaults, user []string) []string {
	byKey := map[string]string{}
	for _, line := range user {
		k, _ := splitConfig(line)
		byKey[k] = line
	}
	out := make([]string, 0, len(defaults)+len(user))
	seen := map[string]bool{}
	for _, line := range defaults {
		k, _ := splitConfig(line)
		seen[k] = true
		if u, ok := byKey[k]; ok {
			out = append(out, u)
		} else {
			out = append(out, line)
		}
	}
	for _, line := range user {
		k, _ := splitConfig(line)
		if !seen[k] {
			out = append(out, line)
		}
	}
	return out
}

// splitConfig splits a "key value…" line at its first run of blanks; the key is lower-cased
// (Redis option names are case-insensitive).
func splitConfig(line string) (key, value string) {
	line = strings.TrimSpace(line)
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return strings.ToLower(line), ""
	}
	return strings.ToLower(line[:i]), strings.TrimSpace(line[i+1:])
}

func ptr[T any](v T) *T { return &v }
