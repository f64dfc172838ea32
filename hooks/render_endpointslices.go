package hooks

import (
	"net"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// masterEndpointSlice points the master Service at the master of the healer's report; with no
// master, at nothing (a refused connection beats a write to the wrong node). In bootstrap mode
// it points at the external node when that is an IP address.
func (r *renderer) masterEndpointSlice() *EndpointSlice {
	return r.endpointSlice(masterName(r.name()), r.masterEndpoints())
}

func (r *renderer) masterEndpoints() []endpoint {
	if m := r.obs.Master; m != nil {
		return []endpoint{{ip: m.IP, pod: m.Pod}}
	}
	if b := r.rf.Spec.BootstrapNode; b != nil && net.ParseIP(b.Host) != nil {
		return []endpoint{{ip: b.Host}}
	}
	return nil
}

// replicasEndpointSlice points the replicas Service at the replicas in sync with the master
// whose pods exist at the address the healer saw and are not terminating: a report made before
// a scale-down or a deletion must not send reads to a pod that is gone or going.
//
// While the master slice moves, the replicas slice stays as observed, and follows at the next
// sync: kube-proxy rewrites its rules at most once a second (minSyncPeriod), on the first
// EndpointSlice change it sees, and Metacontroller applies the children of one kind in no fixed
// order. Had the replicas slice been written first, the master's move would have waited for
// kube-proxy's next sync, up to a second later, with every write failing meanwhile.
func (r *renderer) replicasEndpointSlice() *EndpointSlice {
	name := replicasName(r.name())
	if held, ok := r.replicasHeld(); ok {
		return r.endpointSlice(name, held)
	}
	live := map[string]string{}
	for _, p := range r.redisPods {
		if !p.Terminating {
			live[p.Name] = p.IP
		}
	}
	var eps []endpoint
	for _, n := range r.obs.Redis {
		if n.InSync(r.obs.Master) && n.IP != "" && live[n.Pod] == n.IP {
			eps = append(eps, endpoint{ip: n.IP, pod: n.Pod})
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].pod < eps[j].pod })
	return r.endpointSlice(name, eps)
}

// replicasHeld returns the observed replicas slice's endpoints, and true, while the master
// slice moves (see replicasEndpointSlice), and while no master is known: a replica is in sync
// with no master then, and emptying the slice during a failover would be one more kube-proxy
// sync for the master's move to wait for; the replicas still serve what they hold.
func (r *renderer) replicasHeld() ([]endpoint, bool) {
	if !r.masterSliceMoves() && r.obs.Master != nil {
		return nil, false
	}
	replicas, ok := r.observedSlices[replicasName(r.name())]
	return replicas, ok
}

// masterSliceMoves tells whether the master slice changes in this sync.
func (r *renderer) masterSliceMoves() bool {
	master, ok := r.observedSlices[masterName(r.name())]
	return ok && !slices.Equal(master, r.masterEndpoints())
}

// observedEndpointSlices are the endpoints of the observed master and replicas EndpointSlices,
// by name, in the form endpointSlice renders them from: an address and the pod of its target.
// A slice that cannot be read is left out.
func observedEndpointSlices(children Objects, namespace string, names ...string) map[string][]endpoint {
	out := map[string][]endpoint{}
	for _, name := range names {
		var slice struct {
			Endpoints []discoveryv1.Endpoint `json:"endpoints"`
		}
		if !observedObject(children, KeyEndpointSlice, namespace, name, &slice) {
			continue
		}
		eps := []endpoint{}
		for _, e := range slice.Endpoints {
			ep := endpoint{}
			if len(e.Addresses) > 0 {
				ep.ip = e.Addresses[0]
			}
			if e.TargetRef != nil {
				ep.pod = e.TargetRef.Name
			}
			eps = append(eps, ep)
		}
		out[name] = eps
	}
	return out
}

type endpoint struct{ ip, pod string }

func (r *renderer) endpointSlice(service string, eps []endpoint) *EndpointSlice {
	addressType := discoveryv1.AddressTypeIPv4
	if len(eps) > 0 && net.ParseIP(eps[0].ip).To4() == nil {
		addressType = discoveryv1.AddressTypeIPv6
	}
	meta := r.meta(service, ComponentRedis, nil)
	meta.Labels[labelServiceName] = service
	meta.Labels[labelSliceManagedBy] = sliceManagedBy
	out := &EndpointSlice{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice",
		Metadata: meta, AddressType: addressType,
		Ports: []discoveryv1.EndpointPort{{Name: ptr("redis"), Port: ptr(r.port()),
			Protocol: ptr(corev1.ProtocolTCP)}},
	}
	for _, ep := range eps {
		e := discoveryv1.Endpoint{Addresses: []string{ep.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)}}
		if ep.pod != "" {
			e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: r.namespace(), Name: ep.pod}
		}
		out.Endpoints = append(out.Endpoints, e)
	}
	return out
}
