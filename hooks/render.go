package hooks

import (
	"regexp"
	"strconv"
)

// renderer holds what every child renderer needs: the defaulted parent and what Sync derived
// from the request. It is built once per sync.
type renderer struct {
	rf        *RedisFailover // defaulted
	whitelist []*regexp.Regexp
	auth      bool
	// sentinelAuth: the sentinels require the password too (spec.auth.sentinel). Without it
	// they require none, as in spotahome, and only use the password towards redis (auth-pass).
	sentinelAuth bool
	password     Secret
	obs          HealerReport
	// sentinelMaster is the address sentinel.conf monitors: the observed master, else the one
	// the observed sentinel ConfigMap names, else the boot placeholder host.
	sentinelMaster string
	// observedClaims are the volumeClaimTemplates of the existing StatefulSet (immutable).
	observedClaims []ClaimTemplate
	observedPolicy string
	// rollout is the redis StatefulSet's replica count and partition (see rollout.go).
	rollout redisRollout
	// redisPods are the observed redis pods.
	redisPods []PodRef
	// observedSlices are the observed master and replicas EndpointSlices' endpoints, by name.
	observedSlices map[string]observedSlice
}

func (r *renderer) name() string      { return r.rf.Name }
func (r *renderer) namespace() string { return r.rf.Namespace }
func (r *renderer) port() int32       { return r.rf.Spec.Redis.Port }
func (r *renderer) masterName() string {
	return r.rf.Spec.Sentinel.MasterName
}
func (r *renderer) sentinels() bool { return sentinelsEnabled(r.rf) }

// meta is the metadata of a child named name; component is "" for children that belong to
// the RedisFailover as a whole.
func (r *renderer) meta(name, component string, annotations map[string]string) ObjectMeta {
	return ObjectMeta{Name: name, Namespace: r.namespace(),
		Labels: childLabels(r.rf, r.whitelist, component), Annotations: merged(annotations)}
}

func (r *renderer) portString() string { return strconv.Itoa(int(r.port())) }

// children renders every child, in a fixed order.
func (r *renderer) children() []identified {
	out := []identified{
		r.redisConfigMap(), r.readinessConfigMap(),
	}
	if r.rf.Spec.Redis.ShutdownConfigMap == "" {
		out = append(out, r.shutdownConfigMap())
	}
	if r.auth {
		out = append(out, r.authSecret())
	}
	out = append(out, r.redisStatefulSet(), r.headlessService(),
		r.masterService(), r.masterEndpointSlice(), r.replicasService(), r.replicasEndpointSlice())
	if !r.rf.Spec.Redis.DisablePodDisruptionBudget {
		out = append(out, r.redisPDB())
	}
	if r.sentinels() {
		out = append(out, r.sentinelConfigMap(), r.sentinelDeployment(), r.sentinelService())
		if !r.rf.Spec.Sentinel.DisablePodDisruptionBudget {
			out = append(out, r.sentinelPDB())
		}
	}
	return out
}
