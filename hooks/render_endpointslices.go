package hooks

import (
	"net"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// masterEndpointSlice points the master Service at the master of the healer's report; with no
// master, at nothing (a refused connection beats a write to the wrong node). In bootstrap mode
// it points at the external node when that is an IP address.
func (r *renderer) masterEndpointSlice() *EndpointSlice {
	var eps []endpoint
	if m := r.obs.Master; m != nil {
		eps = append(eps, endpoint{ip: m.IP, pod: m.Pod})
	} else if b := r.rf.Spec.BootstrapNode; b != nil && net.ParseIP(b.Host) != nil {
		eps = append(eps, endpoint{ip: b.Host})
	}
	return r.endpointSlice(masterName(r.name()), eps)
}

// replicasEndpointSlice points the replicas Service at the replicas in sync with the master.
func (r *renderer) replicasEndpointSlice() *EndpointSlice {
	var eps []endpoint
	for _, n := range r.obs.Redis {
		if n.InSync(r.obs.Master) {
			eps = append(eps, endpoint{ip: n.IP, pod: n.Pod})
		}
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].pod < eps[j].pod })
	return r.endpointSlice(replicasName(r.name()), eps)
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
