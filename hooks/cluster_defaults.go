package hooks

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Child names and labels of a RedisCluster. The prefix rdc- keeps them apart from a
// RedisFailover's rfr-/rfs- children in the same namespace.
//
// Shard k is the StatefulSet rdc-NAME-k, its pods rdc-NAME-k-0 (booted as the shard's master by
// the healer) to rdc-NAME-k-replicationFactor. Its controller-revision-hash label is the
// StatefulSet name plus 11 characters, and k < 100 (numberOfMaster ≤ 100; a leaving shard has a
// lower index than the shards before the scale-in): 4 + 45 + 3 + 11 = 63.
const MaxClusterNameLength = 45

func clusterName(rdc string) string { return "rdc-" + rdc }

// ClusterShardName names the StatefulSet and the PodDisruptionBudget of shard k.
func ClusterShardName(rdc string, k int) string { return clusterName(rdc) + "-" + strconv.Itoa(k) }

// ClusterPodName names the pod of ordinal i of shard k.
func ClusterPodName(rdc string, k, i int) string {
	return ClusterShardName(rdc, k) + "-" + strconv.Itoa(i)
}

// ClusterNodesName names the headless Service of every node (the StatefulSets' serviceName).
func ClusterNodesName(rdc string) string { return clusterName(rdc) + "-nodes" }

// ClusterClientName names the client Service and the ConfigMap of redis.conf.
func ClusterClientName(rdc string) string { return clusterName(rdc) }

// Labels of a RedisCluster's children. app.kubernetes.io/name is the application, as the
// Kubernetes recommended labels have it, and instance the RedisCluster: a RedisFailover's
// children carry their parent's name in app.kubernetes.io/name (spotahome's convention, kept for
// compatibility), which a new kind has no reason to copy.
const (
	LabelInstance   = "app.kubernetes.io/instance"
	LabelShard      = "redhook.io/shard"
	ClusterAppName  = "redis-cluster"
	ClusterBusShift = 10000 // the cluster bus port is the client port + 10000, as Redis derives it
)

// ClusterSelectorLabels select every pod of a RedisCluster.
func ClusterSelectorLabels(rdc string) map[string]string {
	return map[string]string{LabelName: ClusterAppName, LabelInstance: rdc}
}

// ClusterShardLabels select the pods of shard k.
func ClusterShardLabels(rdc string, k int) map[string]string {
	return merged(ClusterSelectorLabels(rdc), map[string]string{LabelShard: strconv.Itoa(k)})
}

// replicationFactor is spec.replicationFactor, defaulted.
func (rc *RedisCluster) replicationFactor() int32 {
	if rc.Spec.ReplicationFactor == nil {
		return DefaultReplicationFactor
	}
	return *rc.Spec.ReplicationFactor
}

// Defaults of a RedisCluster besides those of the pod fields, which are the RedisFailover's.
const (
	DefaultNumberOfMaster    = 3
	DefaultReplicationFactor = 1
	DefaultNodeTimeout       = 5000
)

// WithDefaults returns a copy of rc with every default filled in; rc is not changed. The pod
// fields get the RedisFailover's redis defaults (image, pull policy, security contexts, grace
// period), and a preferred anti-affinity that spreads the pods of one shard over nodes.
func (rc *RedisCluster) WithDefaults() *RedisCluster {
	out := rc.DeepCopy()
	s := &out.Spec
	if s.NumberOfMaster == 0 {
		s.NumberOfMaster = DefaultNumberOfMaster
	}
	if s.ReplicationFactor == nil {
		s.ReplicationFactor = ptr(int32(DefaultReplicationFactor))
	}
	p := out.podSettings()
	defaultPod(p, []string{"redis-server", redisConfigDir + "/" + redisConfFile}, DefaultRedisExporterImage)
	s.Image, s.ImagePullPolicy = p.Image, p.ImagePullPolicy
	s.SecurityContext, s.ContainerSecurityContext = p.SecurityContext, p.ContainerSecurityContext
	if s.TerminationGracePeriod == 0 {
		s.TerminationGracePeriod = DefaultGracePeriod
	}
	if pvc := s.Storage.PersistentVolumeClaim; pvc != nil && pvc.Name == "" {
		pvc.Name = DefaultDataVolume
	}
	return out
}

// podSettings are the spec's pod fields as the RedisFailover's PodSettings, so that the pod
// template, its defaults and its validation are the RedisFailover's code. It shares the spec's
// pointers: WithDefaults copies the defaulted ones back.
func (rc *RedisCluster) podSettings() *PodSettings {
	s := &rc.Spec
	return &PodSettings{
		Image: s.Image, ImagePullPolicy: s.ImagePullPolicy, Resources: s.Resources,
		CustomConfig: s.CustomConfig, Affinity: s.Affinity, SecurityContext: s.SecurityContext,
		ContainerSecurityContext: s.ContainerSecurityContext, ImagePullSecrets: s.ImagePullSecrets,
		Tolerations: s.Tolerations, NodeSelector: s.NodeSelector,
		TopologySpreadConstraints: s.TopologySpreadConstraints, PodAnnotations: s.PodAnnotations,
		ServiceAnnotations: s.ServiceAnnotations, PriorityClassName: s.PriorityClassName,
		ServiceAccountName: s.ServiceAccountName,
		// Defaults that the RedisFailover lets a user change and a RedisCluster does not (yet).
		DNSPolicy: "ClusterFirst", EnableServiceLinks: ptr(true),
	}
}

// managedClusterOptions are the redis.conf options SyncCluster renders or passes at start; a
// customConfig entry for one of them would break the cluster bus, auth or the pod layout.
var managedClusterOptions = func() map[string]string {
	out := map[string]string{}
	for k, v := range managedRedisOptions {
		out[k] = v
	}
	out["replicaof"] = "Redis refuses it in cluster mode; the healer sets replicas with CLUSTER REPLICATE"
	out["slaveof"] = out["replicaof"]
	for _, k := range []string{"cluster-enabled", "cluster-config-file", "cluster-announce-ip",
		"cluster-announce-port", "cluster-announce-bus-port", "cluster-announce-tls-port",
		"cluster-port", "cluster-announce-hostname", "cluster-preferred-endpoint-type"} {
		out[k] = ""
	}
	return out
}()

// ValidateCluster returns every problem of rc's spec with its field path. It never changes rc.
// An empty result means SyncCluster can render the children. The checks the RedisFailover's
// redis fields share (pod fields, customConfig, storage, secret name) are the same code.
func ValidateCluster(rc *RedisCluster) FieldErrors {
	var e errs
	validateParentName(&e, rc.Name, MaxClusterNameLength, ClusterShardName(rc.Name, 99)+"-HASH", 63)
	if base, ok := strings.CutSuffix(rc.Name, "-nodes"); ok && base != "" {
		e.add("metadata.name", "%q ends in -nodes: its client Service %s would be the headless Service of a RedisCluster named %q in the same namespace",
			rc.Name, ClusterClientName(rc.Name), base)
	}
	s := &rc.Spec
	if n := s.NumberOfMaster; n != 0 && (n < 3 || n > 100) {
		e.add("spec.numberOfMaster", "%d: from 3 to 100 (Redis Cluster needs a majority of 3 masters or more to fail a node over)", n)
	}
	if f := s.ReplicationFactor; f != nil && (*f < 0 || *f > 5) {
		e.add("spec.replicationFactor", "%d: from 0 to 5", *f)
	}
	if s.TerminationGracePeriod < 0 {
		e.add("spec.terminationGracePeriod", "must not be negative")
	}
	validatePod(&e, "spec", rc.podSettings(), map[string]bool{dataVolume(&s.Storage): true},
		map[string]bool{redisConfigDir: true, dataDir: true})
	validateConfigLines(&e, "spec.customConfig", s.CustomConfig, true, managedClusterOptions)
	validateStorage(&e, "spec.storage", &s.Storage)
	if p := s.Auth.SecretPath; p != "" {
		for _, msg := range validation.IsDNS1123Subdomain(p) {
			e.add("spec.auth.secretPath", "%q: %s", p, msg)
		}
	}
	return e.list
}

// clusterNodeTimeout is the cluster-node-timeout in force, in milliseconds: customConfig's (the
// last line wins, as in redis.conf; validated as an integer), else redhook's.
func clusterNodeTimeout(rc *RedisCluster) int64 {
	out := int64(DefaultNodeTimeout)
	for _, c := range configEntries(rc.Spec.CustomConfig) {
		if n, err := strconv.ParseInt(c.Value, 10, 64); c.Key == "cluster-node-timeout" && err == nil {
			out = n
		}
	}
	return out
}
