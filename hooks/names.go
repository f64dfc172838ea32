package hooks

import (
	"regexp"
	"strconv"
	"strings"
)

// Child names follow spotahome's, so that dashboards, scripts and clients keep working.
// The longest is rfr-readiness-NAME: 14 + 48 characters, within the 63 of a DNS label.
const MaxNameLength = 48

func redisName(rf string) string     { return "rfr-" + rf }
func readinessName(rf string) string { return "rfr-readiness-" + rf }
func shutdownName(rf string) string  { return "rfr-s-" + rf }
func authName(rf string) string      { return "rfr-auth-" + rf }
func masterName(rf string) string    { return "rfrm-" + rf }
func replicasName(rf string) string  { return "rfrs-" + rf }
func sentinelName(rf string) string  { return "rfs-" + rf }

// The names of the children that `redhook local` reads back to run them as processes: it looks
// children up by these names rather than spelling them again.

// RedisName names the redis StatefulSet, its ConfigMap and Service.
func RedisName(rf string) string { return redisName(rf) }

// RedisPodName names pod i of the redis StatefulSet.
func RedisPodName(rf string, i int) string { return redisName(rf) + "-" + strconv.Itoa(i) }

// ReadinessName names the ConfigMap of the redis readiness script.
func ReadinessName(rf string) string { return readinessName(rf) }

// ShutdownName names the ConfigMap of the redis preStop script.
func ShutdownName(rf string) string { return shutdownName(rf) }

// AuthName names the Secret of the password configuration files.
func AuthName(rf string) string { return authName(rf) }

// SentinelName names the sentinel Deployment, its ConfigMap and Service.
func SentinelName(rf string) string { return sentinelName(rf) }

// Label keys. The selector labels are fixed: a selector built from mutable user labels stops
// matching its pods (spotahome #628).
const (
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelRF        = "redisfailovers.databases.spotahome.com/name"

	partOf    = "redis-failover"
	managedBy = "redhook"

	ComponentRedis    = "redis"
	ComponentSentinel = "sentinel"

	// labelServiceName ties an EndpointSlice to its Service; labelSliceManagedBy tells the
	// EndpointSlice controller to leave the slice alone.
	labelServiceName    = "kubernetes.io/service-name"
	labelSliceManagedBy = "endpointslice.kubernetes.io/managed-by"
	sliceManagedBy      = "redhook.databases.spotahome.com"

	// LabelRevision is the StatefulSet's pod revision label.
	LabelRevision = "controller-revision-hash"
)

// SelectorLabels select the pods of one component of a RedisFailover.
func SelectorLabels(rf, component string) map[string]string {
	return map[string]string{LabelName: rf, LabelComponent: component, LabelPartOf: partOf}
}

// podsSelector selects every pod of a RedisFailover, redis and sentinel.
func podsSelector(rf string) map[string]string {
	return map[string]string{LabelName: rf, LabelPartOf: partOf}
}

// childLabels are the labels of every child: the parent's labels that pass the whitelist, then
// redhook's own (which win on a clash), then the component's selector labels if any.
func childLabels(rf *RedisFailover, whitelist []*regexp.Regexp, component string) map[string]string {
	out := map[string]string{}
	for k, v := range rf.Labels {
		if whitelisted(k, whitelist) {
			out[k] = v
		}
	}
	out[LabelName] = rf.Name
	out[LabelPartOf] = partOf
	out[LabelManagedBy] = managedBy
	out[LabelRF] = rf.Name
	if component != "" {
		out[LabelComponent] = component
	}
	return out
}

// Annotations of the parent that are never copied to a child. kubectl's is the parent's own
// manifest: on the StatefulSet, `kubectl apply`, `kubectl diff` and GitOps tools would take it
// for the StatefulSet's last applied configuration and compute their 3-way merge (and prunes)
// against the wrong object; it is also as large as the parent. Metacontroller's (prefix
// metacontroller.k8s.io/) are its own bookkeeping on an object, such as the last-applied state
// of its 3-way merge: copied onto a child they would overwrite what Metacontroller keeps there.
const kubectlLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

const metacontrollerPrefix = "metacontroller.k8s.io/"

// copiedAnnotations are the parent's annotations that spotahome copied to the redis
// StatefulSet, less those above; nil when none is left.
func copiedAnnotations(parent map[string]string) map[string]string {
	var out map[string]string
	for k, v := range parent {
		if k == kubectlLastApplied || strings.HasPrefix(k, metacontrollerPrefix) {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(parent))
		}
		out[k] = v
	}
	return out
}

func whitelisted(key string, whitelist []*regexp.Regexp) bool {
	if len(whitelist) == 0 {
		return true
	}
	for _, re := range whitelist {
		if re.MatchString(key) {
			return true
		}
	}
	return false
}

// merged returns a new map with the entries of every map, later maps winning.
func merged(maps ...map[string]string) map[string]string {
	n := 0
	for _, m := range maps {
		n += len(m)
	}
	if n == 0 {
		return nil
	}
	out := make(map[string]string, n)
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
