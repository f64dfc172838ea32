package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Resync delays in seconds: shortest while the master is about to move (the master
// EndpointSlice must follow it: masterMoving), short while replication is unsettled, long when
// everything is ready.
const (
	ResyncMasterMoving = 0.1
	ResyncUnsettled    = 2
	ResyncSettled      = 30
	// ResyncSentinelless is the settled resync of a RedisFailover without sentinels: its
	// failover after a partition changes nothing Metacontroller watches (no pod restarts, no
	// readiness flips inside the cut pod), so only a sync moves the master EndpointSlice. A
	// sync within this long after the healer starts waiting for the detection time gets
	// ResyncMasterMoving (the report says a failover is in progress), and the slice follows the
	// promotion within a tenth of a second.
	ResyncSentinelless = 2
)

// Sync computes the desired children and the status of one RedisFailover from a sync request
// and the healer's latest report. It is pure: the same arguments give the same response.
//
// Every child is rendered from scratch on every call; a child left out is deleted by
// Metacontroller. When the spec is invalid or the auth Secret is missing, the observed children
// are returned as they were last applied; when the healer report is unknown, the observed
// children are kept and only missing ones are created.
func Sync(req *SyncRequest, obs HealerReport) SyncResponse {
	return newSyncState(req, obs).response()
}

// SyncWithTopology is Sync plus the healer's Topology of the same request (see NewTopology),
// computed from one decoding of the request.
func SyncWithTopology(req *SyncRequest, obs HealerReport) (SyncResponse, Topology, bool) {
	r := SyncDetailed(req, obs)
	return r.Response, r.Topology, r.TopologyOK
}

// SyncResult is what SyncDetailed computes.
type SyncResult struct {
	Response   SyncResponse
	Topology   Topology
	TopologyOK bool
	// ReportTimeRead tells whether the computation read the report's Time, beyond whether the
	// report is known: to stamp a condition that flipped, or an action recorded without a
	// time. When false, every report that differs from obs only in a non-zero Time gives the
	// same Response and Topology — a healer pass that saw nothing new changes nothing.
	ReportTimeRead bool
}

// SyncDetailed is SyncWithTopology, and tells which part of the report the result depends on.
func SyncDetailed(req *SyncRequest, obs HealerReport) SyncResult {
	st := newSyncState(req, obs)
	resp := st.response()
	topo, ok := st.topology()
	return SyncResult{Response: resp, Topology: topo, TopologyOK: ok, ReportTimeRead: st.reportTimeRead}
}

func (st *syncState) response() SyncResponse {
	children, missing := st.children()
	resp := SyncResponse{Children: children, Status: st.status(missing)}
	resp.ResyncAfterSeconds = ResyncUnsettled
	// While a rollout or a scale runs (Progressing), the healer's switchover changes nothing
	// Metacontroller watches: only the next sync moves the master EndpointSlice and the partition.
	if st.holding() || conditionTrue(resp.Status.Conditions, ConditionReady) &&
		!conditionTrue(resp.Status.Conditions, ConditionProgressing) {
		resp.ResyncAfterSeconds = ResyncSettled
		if st.r != nil && !sentinelsEnabled(st.rf) {
			resp.ResyncAfterSeconds = ResyncSentinelless
		}
	}
	if st.masterMoving() {
		resp.ResyncAfterSeconds = ResyncMasterMoving
	}
	return resp
}

// masterMoving tells whether the master is about to move or moves now: Sentinel fails over, the
// master's pod is terminating (its preStop hands over), the healer's planned switchover is due,
// or this sync moves the master EndpointSlice (the replicas slice follows at the next one). The
// master EndpointSlice follows the master only at a sync, and a switchover or a promotion changes
// nothing Metacontroller watches: Sync asks for the next sync sooner meanwhile.
func (st *syncState) masterMoving() bool {
	if st.r == nil {
		return false // held: nothing is rendered from the report
	}
	if st.obs.Known() && st.r.masterSliceMoves() {
		return true
	}
	if m := masterPod(st.redisPods, st.obs); st.obs.FailoverInProgress || m != nil && m.Terminating {
		return true
	}
	return st.r.rollout.switchoverDue(st.redisPods, st.obs, st.rf.Spec.Redis.Replicas)
}

// syncState is what one Sync call derives from its request before rendering.
type syncState struct {
	req         *SyncRequest
	rf          *RedisFailover // defaulted
	obs         HealerReport
	specErrors  FieldErrors
	authProblem string
	r           *renderer // nil while holding
	// storageChanged: the spec's PVC template differs from the StatefulSet's, which
	// Kubernetes cannot change.
	storageChanged bool
	// sts and dep are the observed redis StatefulSet and sentinel Deployment; nil when absent.
	sts, dep *workload
	// redisPods and sentinelPods are the related pods of this RedisFailover.
	redisPods, sentinelPods []PodRef
	// reportTimeRead: obs.Time was read (see reportTime).
	reportTimeRead bool
}

func newSyncState(req *SyncRequest, obs HealerReport) *syncState {
	st := &syncState{req: req, obs: obs}
	if req.ParentError != nil {
		st.specErrors = FieldErrors{decodeError(req.ParentError)}
	} else {
		st.specErrors = Validate(&req.Parent)
	}
	st.rf = req.Parent.WithDefaults()
	st.redisPods, st.sentinelPods = podRefs(req.Related, st.rf.Namespace, st.rf.Name)
	st.sts = observedWorkload(req.Children, KeyStatefulSet, st.rf.Namespace, redisName(st.rf.Name))
	markOutdated(st.redisPods, st.sts)
	if len(st.specErrors) > 0 {
		return st
	}
	password, problem := authPassword(st.rf, st.req.Related)
	if problem != "" {
		st.authProblem = problem
		return st
	}
	st.r = st.renderer(password)
	return st
}

// holding tells whether the observed children are returned unchanged.
func (st *syncState) holding() bool { return st.r == nil }

func (st *syncState) renderer(password Secret) *renderer {
	rf := st.rf
	r := &renderer{rf: rf, auth: password.IsSet(), password: password, obs: st.obs,
		sentinelAuth: password.IsSet() && rf.Spec.Auth.Sentinel, redisPods: st.redisPods,
		observedSlices: observedEndpointSlices(st.req.Children, rf.Namespace, masterName(rf.Name), replicasName(rf.Name))}
	for _, expr := range rf.Spec.LabelWhitelist {
		r.whitelist = append(r.whitelist, regexp.MustCompile(expr)) // validated
	}
	switch {
	case st.obs.Master != nil:
		r.sentinelMaster = st.obs.Master.IP
	default:
		r.sentinelMaster = observedSentinelMaster(st.req.Children, rf.Namespace, rf.Name, rf.Spec.Sentinel.MasterName)
	}
	if r.sentinelMaster == "" {
		r.sentinelMaster = placeholder.Host
	}
	st.dep = observedWorkload(st.req.Children, KeyDeployment, rf.Namespace, sentinelName(rf.Name))
	if sts := st.sts; sts != nil {
		r.observedPolicy = sts.Spec.PodManagementPolicy
		r.observedClaims = sts.Spec.VolumeClaimTemplates
		if r.observedClaims == nil {
			r.observedClaims = []ClaimTemplate{}
		}
		st.storageChanged = claimsDiffer(r.desiredClaims(), r.observedClaims)
	}
	r.rollout = planRollout(rf.Spec.Redis.Replicas, st.sts, st.redisPods, st.obs, canSwitchOver(rf, len(st.redisPods)))
	return r
}

// children is the response's child list, and the desired children not observed yet.
func (st *syncState) children() (out []any, missing []string) {
	if st.holding() {
		return heldChildren(st.req.Children), nil
	}
	return withObserved(st.r.children(), st.req.Children, st.rf.Namespace, st.obs.Known())
}

// heldChildren is every observed child as it was last applied: a response that changes nothing.
func heldChildren(children Objects) []any {
	observed := held(children)
	out := make([]any, len(observed))
	for i, h := range observed {
		out[i] = h.obj
	}
	return out
}

// withObserved is the response's child list for the desired children, and those not observed
// yet. While the healer's report is unknown (known false), observed children are kept as they
// were last applied and none is deleted: only missing ones are created.
func withObserved(desired []identified, children Objects, namespace string, known bool) (out []any, missing []string) {
	out = make([]any, 0, len(desired))
	for _, c := range desired {
		id := c.id()
		raw, seen := children[id.key][namespace+"/"+id.name]
		switch {
		case !seen:
			missing = append(missing, id.String())
			out = append(out, c)
		case !known:
			out = append(out, asLastApplied(raw)) // keep what exists until the healer has reported
		default:
			out = append(out, c)
		}
	}
	if !known { // nothing is deleted on an unknown healer report either
		rendered := make(map[childID]bool, len(desired))
		for _, c := range desired {
			rendered[c.id()] = true
		}
		for _, h := range held(children) {
			if !rendered[h.id] {
				out = append(out, h.obj)
			}
		}
	}
	return out, missing
}

// claimsDiffer compares what a user can change in a PVC template: name, size, class, modes. An
// unset class is not compared: the API server fills in the default one.
func claimsDiffer(desired, observed []ClaimTemplate) bool {
	if len(desired) != len(observed) {
		return true
	}
	for i := range desired {
		d, o := desired[i], observed[i]
		if d.Metadata.Name != o.Metadata.Name ||
			fmt.Sprint(d.Spec.AccessModes) != fmt.Sprint(o.Spec.AccessModes) ||
			d.Spec.StorageClassName != nil && !equalPtr(d.Spec.StorageClassName, o.Spec.StorageClassName) ||
			!d.Spec.Resources.Requests.Storage().Equal(*o.Spec.Resources.Requests.Storage()) {
			return true
		}
	}
	return false
}

func equalPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// decodeError turns a JSON type error in the parent into a field error with the spec's path.
func decodeError(err error) FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		path := strings.NewReplacer("parent.", "", "PodSettings.", "", "EmbeddedObjectMetadata.", "").Replace(te.Field)
		return FieldError{Path: path, Message: fmt.Sprintf("a JSON %s where %s is expected", te.Value, te.Type)}
	}
	return FieldError{Path: "spec", Message: "cannot be read: " + err.Error()}
}
