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
// kube-proxy's next sync, up to a second later, with every write failing meanwhile. While no
// master is known, no replica is in sync with one; the slice then keeps those of its replicas
// that still answer as replicas from live pods at their addresses: emptying it during a
// failover would be one more kube-proxy sync for the master's move to wait for.
func (r *renderer) replicasEndpointSlice() *EndpointSlice {
	name := replicasName(r.name())
	observed, seen := r.observedSlices[name]
	switch {
	case seen && r.masterSliceMoves():
		return r.endpointSlice(name, observed.endpoints)
	case seen && r.obs.Master == nil:
		var eps []endpoint
		for _, ep := range observed.endpoints {
			if n := r.replicaReport(ep); n != nil && n.Reachable && n.Role == RoleReplica {
				eps = append(eps, ep)
			}
		}
		return r.endpointSlice(name, eps)
	}
	var eps []endpoint
	for _, n := range r.obs.Redis {
		if n.InSync(r.obs.Master) && r.live(n.Pod, n.IP) {
			eps = append(eps, endpoint{ip: n.IP, pod: n.Pod})
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].pod < eps[j].pod })
	return r.endpointSlice(name, eps)
}

// live tells whether the redis pod exists at ip and is not terminating.
func (r *renderer) live(pod, ip string) bool {
	for _, p := range r.redisPods {
		if p.Name == pod {
			return ip != "" && p.IP == ip && !p.Terminating
		}
	}
	return false
}

// replicaReport is the healer's report of the live pod of an observed endpoint; nil when the pod
// is gone, terminating or elsewhere, or not reported.
func (r *renderer) replicaReport(ep endpoint) *RedisReport {
	if !r.live(ep.pod, ep.ip) {
		return nil
	}
	for i := range r.obs.Redis {
		if n := &r.obs.Redis[i]; n.Pod == ep.pod && n.IP == ep.ip {
			return n
		}
	}
	return nil
}

// masterSliceMoves tells whether the master slice changes in this sync.
func (r *renderer) masterSliceMoves() bool {
	master, ok := r.observedSlices[masterName(r.name())]
	return ok && !slices.Equal(master.endpoints, r.masterEndpoints())
}

// observedSlice is an observed EndpointSlice in the form endpointSlice renders it from.
type observedSlice struct {
	endpoints   []endpoint
	addressType discoveryv1.AddressType
}

// observedEndpointSlices are the observed master and replicas EndpointSlices, by name: their
// address type, and each endpoint's address and the pod of its target. A slice that cannot be
// read is left out.
func observedEndpointSlices(children Objects, namespace string, names ...string) map[string]observedSlice {
	out := map[string]observedSlice{}
	for _, name := range names {
		var slice struct {
			AddressType discoveryv1.AddressType `json:"addressType"`
			Endpoints   []discoveryv1.Endpoint  `json:"endpoints"`
		}
		if !observedObject(children, KeyEndpointSlice, namespace, name, &slice) {
			continue
		}
		o := observedSlice{endpoints: []endpoint{}, addressType: slice.AddressType}
		for _, e := range slice.Endpoints {
			ep := endpoint{}
			if len(e.Addresses) > 0 {
				ep.ip = e.Addresses[0]
			}
			if e.TargetRef != nil {
				ep.pod = e.TargetRef.Name
			}
			o.endpoints = append(o.endpoints, ep)
		}
		out[name] = o
	}
	return out
}

type endpoint struct{ ip, pod string }

// endpointSlice renders an EndpointSlice of service. Its address type follows its first
// endpoint; without endpoints it is the observed slice's (the API server refuses a change of it),
// else the family of the redis pods' addresses.
func (r *renderer) endpointSlice(service string, eps []endpoint) *EndpointSlice {
	addressType := discoveryv1.AddressTypeIPv4
	family := func(ip string) {
		if parsed := net.ParseIP(ip); parsed != nil && parsed.To4() == nil {
			addressType = discoveryv1.AddressTypeIPv6
		}
	}
	switch observed := r.observedSlices[service]; {
	case len(eps) > 0:
		family(eps[0].ip)
	case observed.addressType != "":
		addressType = observed.addressType
	case len(r.redisPods) > 0:
		family(r.redisPods[0].IP)
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
