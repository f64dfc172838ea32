package hooks

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// status computes a RedisCluster's status: the healer's view (cluster state, slots, shards) when
// it has reported, and the RedisFailover's five conditions, stamped the same way.
func (st *clusterState) status(missing []string) RedisClusterStatus {
	rc := st.rc
	s := RedisClusterStatus{Connection: serviceAddress(ClusterClientName(rc.Name), rc.Namespace, DefaultRedisPort)}
	if st.obs.Known() {
		s.ClusterState = st.obs.ClusterState
		s.SlotsAssigned, s.SlotsMigrating = st.obs.SlotsAssigned, st.obs.SlotsMigrating
		for _, sh := range st.obs.Shards {
			s.Shards = append(s.Shards, ClusterShardStatus{Index: int32(sh.Index), Master: sh.Master,
				Replicas: append([]string(nil), sh.Replicas...), Slots: sh.Slots})
		}
		sort.Slice(s.Shards, func(i, j int) bool { return s.Shards[i].Index < s.Shards[j].Index })
		s.LastActions = recentActions(st.obs.LastActions, st.obs.Time)
	}
	conds := []metav1.Condition{st.ready(), st.available(), st.progressing(missing), st.degraded(),
		specValidCondition(st.specErrors)}
	s.Conditions = stampConditions(conds, st.req.Parent.Status.Conditions,
		func() metav1.Time { return syncClock(st.obs.Time, &st.req.Parent.ObjectMeta) }, st.req.Parent.Generation)
	return s
}

// ready: the cluster state is ok, every slot is served, and every desired shard has a master
// holding slots and replicationFactor replicas.
func (st *clusterState) ready() metav1.Condition {
	if !st.obs.Known() {
		return unknownFor(ConditionReady, ClusterKind)
	}
	o, rc := &st.obs, st.rc
	if o.ClusterState == "" {
		return cond(ConditionReady, false, "NoClusterState", "No node has answered the healer yet; it meets "+
			"the nodes and assigns the slots once they answer."+st.errorSuffix())
	}
	if o.ClusterState != ClusterStateOK {
		return cond(ConditionReady, false, "ClusterStateFail", fmt.Sprintf(
			"cluster_state is %q; the healer is assigning slots and joining nodes.%s", o.ClusterState, st.errorSuffix()))
	}
	if o.SlotsAssigned < ClusterSlots {
		return cond(ConditionReady, false, "SlotsUnassigned", fmt.Sprintf(
			"%d of %d slots are served.%s", o.SlotsAssigned, ClusterSlots, st.errorSuffix()))
	}
	// The desired shape; with an invalid spec, the reported shards (the children are held).
	shards, factor := int(rc.Spec.NumberOfMaster), rc.replicationFactor()
	if len(st.specErrors) > 0 {
		shards, factor = len(o.Shards), 0
	}
	var problems []string
	for k := range shards {
		sh := o.shard(k)
		switch {
		case sh == nil || sh.Master == "":
			problems = append(problems, fmt.Sprintf("shard %d has no master", k))
		case sh.Slots == 0:
			problems = append(problems, fmt.Sprintf("shard %d holds no slot", k))
		case int32(len(sh.Replicas)) < factor:
			problems = append(problems, fmt.Sprintf("shard %d has %d of %d replicas", k, len(sh.Replicas), factor))
		}
	}
	if len(problems) > 0 {
		return cond(ConditionReady, false, "ShardsIncomplete", strings.Join(problems, "; ")+
			"; the healer is completing them."+st.errorSuffix())
	}
	if len(st.specErrors) > 0 {
		return cond(ConditionReady, true, "Ready", fmt.Sprintf(
			"The %d reported shards each have a master holding slots; all %d slots served.", shards, ClusterSlots))
	}
	return cond(ConditionReady, true, "Ready", fmt.Sprintf(
		"%d shards, each a master holding slots and its replicas (replicationFactor %d); all %d slots served.",
		shards, factor, ClusterSlots))
}

// available: the cluster accepts commands (cluster_state ok: every slot is served by a master
// that a majority of masters sees).
func (st *clusterState) available() metav1.Condition {
	if !st.obs.Known() {
		return unknownFor(ConditionAvailable, ClusterKind)
	}
	if st.obs.ClusterState == "" {
		return cond(ConditionAvailable, false, "NoClusterState", "No node has answered the healer yet.")
	}
	if st.obs.ClusterState != ClusterStateOK {
		return cond(ConditionAvailable, false, "ClusterStateFail", fmt.Sprintf(
			"cluster_state is %q: the nodes refuse commands.", st.obs.ClusterState))
	}
	return cond(ConditionAvailable, true, "ClusterStateOK", "cluster_state is ok: every slot is served.")
}

// progressing: children being created, shards rolled out, scaled or drained, slots migrating.
func (st *clusterState) progressing(missing []string) metav1.Condition {
	if st.holding() {
		return heldCondition()
	}
	if len(missing) > 0 {
		return cond(ConditionProgressing, true, "Creating", "Creating "+strings.Join(missing, ", ")+".")
	}
	rc := st.rc
	want := 1 + rc.replicationFactor()
	var msgs []string
	for _, sh := range st.r.shards {
		name := ClusterShardName(rc.Name, sh.index)
		if w := st.sts[sh.index]; w != nil {
			msgs = append(msgs, rollout("StatefulSet", name, w, want, true)...)
		}
		var master HealerReport
		if s := st.obs.shard(sh.index); s != nil && s.Master != "" {
			master = HealerReport{Time: st.obs.Time, Master: &MasterStatus{Pod: s.Master}}
		}
		msgs = append(msgs, sh.rollout.waiting(st.shardPods(sh.index), master, want)...)
	}
	for _, k := range st.leaving {
		if !st.obs.released(k) {
			slots := "an unknown number of"
			if s := st.obs.shard(k); s != nil {
				slots = fmt.Sprint(s.Slots)
			}
			msgs = append(msgs, fmt.Sprintf("Shard %d (StatefulSet %s) is leaving: it holds %s slots; it is kept until "+
				"the healer has moved them and forgotten its nodes.", k, ClusterShardName(rc.Name, k), slots))
		}
	}
	if n := st.obs.SlotsMigrating; n > 0 {
		msgs = append(msgs, fmt.Sprintf("%d slots are migrating.", n))
	}
	if len(msgs) > 0 {
		return cond(ConditionProgressing, true, "RollingOut", strings.Join(msgs, " "))
	}
	return cond(ConditionProgressing, false, "RolledOut", "Every child is created and rolled out.")
}

// degraded: something is wrong at run time; the message says what and what happens about it.
func (st *clusterState) degraded() metav1.Condition {
	var reasons, msgs []string
	add := func(reason, msg string) { reasons = append(reasons, reason); msgs = append(msgs, msg) }
	if st.authProblem != "" {
		add("AuthSecretMissing", st.authProblem+"; children are kept as they are until it exists.")
	}
	if st.storageChanged {
		add("StorageChangeNotApplied", "spec.storage.persistentVolumeClaim differs from the shard "+
			"StatefulSets' volumeClaimTemplates, which Kubernetes cannot change; the existing claims are kept.")
	}
	if st.obs.Known() {
		// A node that answers says fail; no answer at all (no pod yet, none reachable) is the
		// pods' business below, as a RedisFailover without pods is not Degraded either.
		if st.obs.ClusterState == ClusterStateFail {
			add("ClusterStateFail", "cluster_state is fail: some slot is not served.")
		}
		if len(st.obs.Errors) > 0 {
			add("HealerErrors", "Healer: "+strings.Join(st.obs.Errors, "; ")+".")
		}
	}
	pods := make([]PodRef, len(st.pods))
	for i, p := range st.pods {
		pods[i] = p.PodRef
	}
	if nr := notReady(pods); nr != "" {
		add("RedisPodsNotReady", "Redis pods not ready: "+nr+".")
	}
	if len(reasons) == 0 {
		return cond(ConditionDegraded, false, "Healthy", "Nothing is wrong.")
	}
	return cond(ConditionDegraded, true, reasons[0], strings.Join(msgs, " "))
}

func (st *clusterState) errorSuffix() string { return healerErrorSuffix(st.obs.Errors) }
