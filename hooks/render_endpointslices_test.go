package hooks

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// sliceAddrs are the addresses of the rendered EndpointSlice name of resp, in order.
func sliceAddrs(t *testing.T, resp SyncResponse, name string) []string {
	t.Helper()
	var s struct {
		Endpoints []discoveryv1.Endpoint `json:"endpoints"`
	}
	require.True(t, child(t, resp, "EndpointSlice", name, &s), "no EndpointSlice %s", name)
	addrs := []string{}
	for _, e := range s.Endpoints {
		addrs = append(addrs, e.Addresses...)
	}
	return addrs
}

// applySlices stores resp's EndpointSlices in req as observed children: what the API server
// holds once Metacontroller applied them.
func applySlices(t *testing.T, req *SyncRequest, resp SyncResponse) {
	t.Helper()
	for _, ch := range responseChildren(t, resp) {
		if ch.Kind == "EndpointSlice" {
			req.Children[KeyEndpointSlice]["shop/"+ch.Metadata.Name] = json.RawMessage(ch.raw)
		}
	}
}

// editPod changes the observed pod name of req.
func editPod(t *testing.T, req *SyncRequest, name string, edit func(p map[string]any)) {
	t.Helper()
	key := "shop/" + name
	var p map[string]any
	require.NoError(t, json.Unmarshal(req.Related[KeyPod][key], &p))
	edit(p)
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	req.Related[KeyPod][key] = raw
}

// The replicas Service sends reads only to replicas whose pods exist, at the address the healer
// saw, and are not terminating: a report made before a scale-down, a deletion or a restart at a
// new address lists pods that are gone.
func TestReplicasSliceOnlyLivePods(t *testing.T) {
	c := findCase(t, "master-known")
	assert.Equal(t, []string{"10.0.1.11", "10.0.1.12"}, sliceAddrs(t, Sync(&c.req, c.obs), "rfrs-cache"))

	for name, edit := range map[string]func(req *SyncRequest){
		"pod gone": func(req *SyncRequest) { delete(req.Related[KeyPod], "shop/rfr-cache-2") },
		"pod terminating": func(req *SyncRequest) {
			editPod(t, req, "rfr-cache-2", func(p map[string]any) {
				p["metadata"].(map[string]any)["deletionTimestamp"] = "2026-11-30T20:00:00Z"
			})
		},
		"pod at another address": func(req *SyncRequest) {
			editPod(t, req, "rfr-cache-2", func(p map[string]any) { p["status"].(map[string]any)["podIP"] = "10.0.1.99" })
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := findCase(t, "master-known")
			edit(&c.req)
			resp := Sync(&c.req, c.obs)
			assert.Equal(t, []string{"10.0.1.11"}, sliceAddrs(t, resp, "rfrs-cache"))
			assert.Equal(t, []string{"10.0.1.10"}, sliceAddrs(t, resp, "rfrm-cache"))
		})
	}
}

// When the master moves, the master EndpointSlice is the only slice that changes in that sync;
// the replicas slice follows at the next one, which comes within ResyncMasterMoving. Then
// nothing changes.
func TestReplicasSliceFollowsTheMastersMove(t *testing.T) {
	c := findCase(t, "master-known")
	req, obs := c.req, c.obs
	before := sliceAddrs(t, Sync(&req, obs), "rfrs-cache")

	// rfr-cache-1 promoted; the old master and rfr-cache-2 replicate it.
	obs.Master = &MasterStatus{Pod: "rfr-cache-1", IP: "10.0.1.11"}
	obs.Redis = append([]RedisReport(nil), obs.Redis...)
	for i := range obs.Redis {
		n := &obs.Redis[i]
		if n.Pod == "rfr-cache-1" {
			n.Role, n.MasterHost, n.MasterPort, n.LinkUp = RoleMaster, "", 0, false
		} else {
			n.Role, n.MasterHost, n.MasterPort, n.LinkUp = RoleReplica, "10.0.1.11", 6379, true
		}
	}

	moved := Sync(&req, obs)
	assert.Equal(t, []string{"10.0.1.11"}, sliceAddrs(t, moved, "rfrm-cache"))
	assert.Equal(t, before, sliceAddrs(t, moved, "rfrs-cache"), "the replicas slice waits for the next sync")
	assert.InDelta(t, ResyncMasterMoving, moved.ResyncAfterSeconds, 1e-9)

	applySlices(t, &req, moved)
	next := Sync(&req, obs)
	assert.Equal(t, []string{"10.0.1.11"}, sliceAddrs(t, next, "rfrm-cache"))
	assert.Equal(t, []string{"10.0.1.10", "10.0.1.12"}, sliceAddrs(t, next, "rfrs-cache"))

	applySlices(t, &req, next)
	settled := Sync(&req, obs)
	assert.Equal(t, []string{"10.0.1.10", "10.0.1.12"}, sliceAddrs(t, settled, "rfrs-cache"))
	assert.Greater(t, settled.ResyncAfterSeconds, ResyncMasterMoving, "nothing left to follow")
}

// While no master is known (a failover), the replicas slice keeps what it held: one slice change
// fewer for kube-proxy before it programs the new master, and the replicas still serve reads.
// The master slice is emptied, and the next sync does not come sooner for it.
func TestReplicasSliceKeptWithoutMaster(t *testing.T) {
	c := findCase(t, "master-known")
	req, obs := c.req, c.obs
	before := sliceAddrs(t, Sync(&req, obs), "rfrs-cache")
	obs.Master = nil
	obs.FailoverInProgress = false

	lost := Sync(&req, obs)
	assert.Empty(t, sliceAddrs(t, lost, "rfrm-cache"))
	assert.Equal(t, before, sliceAddrs(t, lost, "rfrs-cache"))
	applySlices(t, &req, lost)
	next := Sync(&req, obs)
	assert.Equal(t, before, sliceAddrs(t, next, "rfrs-cache"))
	assert.Greater(t, next.ResyncAfterSeconds, ResyncMasterMoving)

	// Still no master: a replica whose pod is deleted, or that no longer answers, leaves.
	delete(req.Related[KeyPod], "shop/rfr-cache-2")
	assert.Equal(t, []string{"10.0.1.11"}, sliceAddrs(t, Sync(&req, obs), "rfrs-cache"))
	obs.Redis = append([]RedisReport(nil), obs.Redis...)
	for i := range obs.Redis {
		obs.Redis[i].Reachable = false
	}
	assert.Empty(t, sliceAddrs(t, Sync(&req, obs), "rfrs-cache"))
}

// An EndpointSlice without endpoints keeps the observed address type: the API server refuses a
// change of it, and an IPv6 master slice emptied as IPv4 was refused at every sync.
func TestEmptySliceKeepsAddressType(t *testing.T) {
	c := findCase(t, "master-known")
	c.req.Children[KeyEndpointSlice]["shop/rfrm-cache"] = json.RawMessage(`{"apiVersion":"discovery.k8s.io/v1",
		"kind":"EndpointSlice","metadata":{"name":"rfrm-cache","namespace":"shop"},"addressType":"IPv6",
		"endpoints":[{"addresses":["fd00::10"]}],"ports":[{"name":"redis","port":6379,"protocol":"TCP"}]}`)
	c.obs.Master = nil
	var s struct {
		AddressType string `json:"addressType"`
		Endpoints   []any  `json:"endpoints"`
	}
	require.True(t, child(t, Sync(&c.req, c.obs), "EndpointSlice", "rfrm-cache", &s))
	assert.Equal(t, "IPv6", s.AddressType)
	assert.Empty(t, s.Endpoints)
}
