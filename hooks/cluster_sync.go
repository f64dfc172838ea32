package hooks

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
)

// ClusterSyncRequest is the body of a sync hook call for a RedisCluster (the CompositeController
// redhook-cluster, path /sync-cluster).
type ClusterSyncRequest struct {
	Controller json.RawMessage `json:"controller,omitempty"`
	Parent     RedisCluster    `json:"parent"`
	Children   Objects         `json:"children,omitempty"`
	Related    Objects         `json:"related,omitempty"`
	Finalizing bool            `json:"finalizing,omitempty"`

	// ParentError is set by DecodeClusterSyncRequest when a field of the parent has a value of
	// the wrong type; SyncCluster then keeps every child as it is and reports the error.
	ParentError error `json:"-"`
}

// ClusterSyncResponse is the answer to a RedisCluster sync.
type ClusterSyncResponse = HookResponse[RedisClusterStatus]

// DecodeClusterSyncRequest decodes a RedisCluster sync request in one pass, as DecodeSyncRequest.
func DecodeClusterSyncRequest(b []byte) (ClusterSyncRequest, error) {
	var r ClusterSyncRequest
	parentErr, err := decodeHookRequest(b, &r)
	if err != nil {
		return ClusterSyncRequest{}, err
	}
	r.ParentError = parentErr
	if r.Parent.Name == "" {
		return ClusterSyncRequest{}, errors.New("request has no parent with a name")
	}
	return r, nil
}

// ClusterCustomizeRequest is the body of a customize hook call for a RedisCluster.
type ClusterCustomizeRequest struct {
	Controller json.RawMessage `json:"controller,omitempty"`
	Parent     RedisCluster    `json:"parent"`
}

// CustomizeCluster names the related objects of a RedisCluster: its pods and, with auth, its
// password Secret. As Customize, it depends on the spec only and names the parent's namespace.
func CustomizeCluster(req *ClusterCustomizeRequest) CustomizeResponse {
	rc := &req.Parent
	rules := []RelatedResourceRule{{APIVersion: "v1", Resource: "pods", Namespace: rc.Namespace,
		LabelSelector: &LabelSelector{MatchLabels: ClusterSelectorLabels(rc.Name)}}}
	if name := rc.Spec.Auth.SecretPath; name != "" {
		rules = append(rules, RelatedResourceRule{APIVersion: "v1", Resource: "secrets",
			Namespace: rc.Namespace, Names: []string{name}})
	}
	return CustomizeResponse{RelatedResources: rules}
}

// SyncCluster computes the desired children and the status of one RedisCluster from a sync
// request and the healer's latest ClusterReport. It is pure, as Sync: the same arguments give
// the same response.
//
// Children are rendered from scratch on every call, and Metacontroller deletes what a response
// leaves out. So: an invalid spec or a missing password Secret returns the observed children as
// they were last applied; an unknown report keeps the observed children and creates only the
// missing ones; a shard that a scale-in removes is kept as observed until the report says it
// holds no slot and its nodes are forgotten (ClusterShardReport.Forgotten).
func SyncCluster(req *ClusterSyncRequest, obs ClusterReport) ClusterSyncResponse {
	return newClusterState(req, obs).response()
}

// SyncClusterWithTopology is SyncCluster plus the healer's ClusterTopology of the same request.
// ok is false while the children are held: the topology then carries only the pods.
func SyncClusterWithTopology(req *ClusterSyncRequest, obs ClusterReport) (ClusterSyncResponse, ClusterTopology, bool) {
	st := newClusterState(req, obs)
	resp := st.response()
	topo, ok := st.topology()
	return resp, topo, ok
}

// clusterState is what one SyncCluster call derives from its request before rendering.
type clusterState struct {
	req         *ClusterSyncRequest
	rc          *RedisCluster // defaulted
	obs         ClusterReport
	specErrors  FieldErrors
	authProblem string
	password    Secret
	r           *clusterRenderer // nil while holding
	// pods are the related pods of this RedisCluster, by shard then ordinal.
	pods []clusterPod
	// sts are the observed StatefulSets of the shards, by index; leaving are the indices of the
	// observed shards at or above numberOfMaster, in order.
	sts     map[int]*workload
	leaving []int
	// storageChanged: the spec's PVC template differs from a shard StatefulSet's.
	storageChanged bool
}

// clusterPod is a related pod of a RedisCluster and its shard (-1: no readable shard label).
type clusterPod struct {
	shard int
	PodRef
}

func newClusterState(req *ClusterSyncRequest, obs ClusterReport) *clusterState {
	st := &clusterState{req: req, obs: obs}
	if req.ParentError != nil {
		st.specErrors = FieldErrors{decodeError(req.ParentError)}
	} else {
		st.specErrors = ValidateCluster(&req.Parent)
	}
	st.rc = req.Parent.WithDefaults()
	st.observeShards()
	if len(st.specErrors) > 0 {
		return st
	}
	st.password, st.authProblem = secretPassword(req.Related, st.rc.Namespace, st.rc.Spec.Auth.SecretPath)
	if st.authProblem != "" {
		return st
	}
	st.r = st.renderer()
	return st
}

// observeShards reads the related pods and the observed shard StatefulSets.
func (st *clusterState) observeShards() {
	rc := st.rc
	st.pods = clusterPods(st.req.Related, rc.Namespace, rc.Name)
	st.sts = map[int]*workload{}
	seen := map[int]bool{}
	for _, key := range []string{KeyStatefulSet, KeyPDB} {
		for nsName := range st.req.Children[key] {
			if k, ok := shardIndex(rc.Name, strings.TrimPrefix(nsName, rc.Namespace+"/")); ok {
				seen[k] = true
			}
		}
	}
	for k := range seen {
		if w := observedWorkload(st.req.Children, KeyStatefulSet, rc.Namespace, ClusterShardName(rc.Name, k)); w != nil {
			st.sts[k] = w
		}
		if k >= int(rc.Spec.NumberOfMaster) {
			st.leaving = append(st.leaving, k)
		}
	}
	sort.Ints(st.leaving)
	for i := range st.pods {
		p := &st.pods[i]
		rev := ""
		if w := st.sts[p.shard]; w != nil {
			rev = w.Status.UpdateRevision
		}
		p.Outdated = !onRevision(p.PodRef, rev)
	}
}

// shardIndex parses a shard child's name rdc-NAME-k.
func shardIndex(rc, child string) (int, bool) {
	rest, ok := strings.CutPrefix(child, clusterName(rc)+"-")
	if !ok {
		return 0, false
	}
	k, err := strconv.Atoi(rest)
	return k, err == nil && k >= 0 && strconv.Itoa(k) == rest
}

func (st *clusterState) holding() bool { return st.r == nil }

func (st *clusterState) renderer() *clusterRenderer {
	rc := st.rc
	r := &clusterRenderer{rc: rc, auth: st.password.IsSet()}
	want := 1 + rc.replicationFactor()
	for k := range int(rc.Spec.NumberOfMaster) {
		sh := clusterShard{index: k}
		sts := st.sts[k]
		if sts != nil {
			sh.observedPolicy = sts.Spec.PodManagementPolicy
			sh.observedClaims = sts.Spec.VolumeClaimTemplates
			if sh.observedClaims == nil {
				sh.observedClaims = []ClaimTemplate{}
			}
			st.storageChanged = st.storageChanged || claimsDiffer(storageClaims(&rc.Spec.Storage), sh.observedClaims)
		}
		// The RedisFailover's rollout plan, per shard: the report's shard master is the master.
		var shardObs HealerReport
		if s := st.obs.shard(k); st.obs.Known() && s != nil && s.Master != "" {
			shardObs = HealerReport{Time: st.obs.Time, Master: &MasterStatus{Pod: s.Master}}
		}
		sh.rollout = planRollout(want, sts, st.shardPods(k), shardObs, rc.replicationFactor() > 0)
		r.shards = append(r.shards, sh)
	}
	if st.obs.Known() { // an unknown report keeps every observed child anyway (withObserved)
		for _, k := range st.leaving {
			if st.obs.released(k) {
				continue // left out: Metacontroller deletes the shard
			}
			name := ClusterShardName(rc.Name, k)
			for _, key := range []string{KeyStatefulSet, KeyPDB} {
				if raw, ok := st.req.Children[key][rc.Namespace+"/"+name]; ok {
					r.kept = append(r.kept, keptChild{cid: childID{key, name}, raw: asLastApplied(raw)})
				}
			}
		}
	}
	return r
}

// shardPods are the pods of shard k, by ordinal.
func (st *clusterState) shardPods(k int) []PodRef {
	var out []PodRef
	for _, p := range st.pods {
		if p.shard == k {
			out = append(out, p.PodRef)
		}
	}
	return out
}

func (st *clusterState) children() (out []any, missing []string) {
	if st.holding() {
		return heldChildren(st.req.Children), nil
	}
	return withObserved(st.r.children(), st.req.Children, st.rc.Namespace, st.obs.Known())
}

func (st *clusterState) response() ClusterSyncResponse {
	children, missing := st.children()
	resp := ClusterSyncResponse{Children: children, Status: st.status(missing)}
	resp.ResyncAfterSeconds = ResyncUnsettled
	if st.holding() || conditionTrue(resp.Status.Conditions, ConditionReady) &&
		!conditionTrue(resp.Status.Conditions, ConditionProgressing) {
		resp.ResyncAfterSeconds = ResyncSettled
	}
	return resp
}

// clusterPods lists the pods of the RedisCluster among the related pods, ordered by shard and
// ordinal. Pods of another namespace or RedisCluster are ignored even if a rule let them through.
func clusterPods(related Objects, namespace, name string) []clusterPod {
	var out []clusterPod
	for _, raw := range related[KeyPod] {
		var p pod
		if err := json.Unmarshal(raw, &p); err != nil {
			continue // a pod we cannot read is a pod we do not know
		}
		m := &p.Metadata
		if m.Namespace != namespace || m.Labels[LabelName] != ClusterAppName || m.Labels[LabelInstance] != name {
			continue
		}
		cp := clusterPod{shard: -1, PodRef: p.ref()}
		if k, err := strconv.Atoi(m.Labels[LabelShard]); err == nil && k >= 0 {
			cp.shard = k
			if n, err := strconv.Atoi(strings.TrimPrefix(m.Name, ClusterShardName(name, k)+"-")); err == nil {
				cp.Ordinal = n
			}
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.shard != b.shard {
			return a.shard < b.shard
		}
		return a.Ordinal < b.Ordinal || a.Ordinal == b.Ordinal && a.Name < b.Name
	})
	return out
}
