package hooks

import (
	"fmt"
	"net"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types.
const (
	ConditionReady       = "Ready"
	ConditionAvailable   = "Available"
	ConditionProgressing = "Progressing"
	ConditionDegraded    = "Degraded"
	ConditionSpecValid   = "SpecValid"
)

// maxLastActions is how many healer actions the status shows.
const maxLastActions = 5

// status computes the status from what is observed; missing lists the desired children not
// observed yet (children returns it). Conditions keep their lastTransitionTime
// while their status does not flip, so that an unchanged world gives an unchanged status (a
// status that changes on every sync makes Metacontroller loop).
func (st *syncState) status(missing []string) RedisFailoverStatus {
	rf := st.rf
	s := RedisFailoverStatus{
		Redis:    &CountStatus{Replicas: rf.Spec.Redis.Replicas},
		Sentinel: &CountStatus{Replicas: rf.Spec.Sentinel.Replicas},
		Connection: &ConnectionStatus{
			MasterName: rf.Spec.Sentinel.MasterName,
			Master:     st.serviceAddress(masterName(rf.Name), rf.Spec.Redis.Port),
			Replicas:   st.serviceAddress(replicasName(rf.Name), rf.Spec.Redis.Port),
		},
	}
	s.Failover = failoverStatus(rf)
	if !sentinelsEnabled(rf) {
		s.Sentinel.Replicas = 0
	} else {
		s.Connection.Sentinel = st.serviceAddress(sentinelName(rf.Name), SentinelPort)
	}
	redisPods, sentinelPods := st.redisPods, st.sentinelPods
	s.Redis.Ready = countReady(redisPods)
	s.Sentinel.Ready = countReady(sentinelPods)
	if st.obs.Known() {
		s.Redis.InSync = ptr(st.obs.inSync())
		s.Sentinel.Agreeing = ptr(st.obs.agreeing())
		if m := st.obs.Master; m != nil {
			s.Master = &MasterStatus{Pod: m.Pod, IP: m.IP}
		}
		s.LastActions = st.lastActions()
	}
	conds := []metav1.Condition{
		st.ready(s), st.available(s), st.progressing(missing), st.degraded(s, redisPods, sentinelPods), st.specValid(),
	}
	s.Conditions = stampConditions(conds, st.req.Parent.Status.Conditions, st.clock, st.req.Parent.Generation)
	return s
}

// lastActions are the newest healer actions for the status. The CRD requires a time on each; a
// record without one gets the report's time rather than failing the whole status write.
func (st *syncState) lastActions() []ActionRecord {
	for _, a := range st.obs.LastActions[:min(len(st.obs.LastActions), maxLastActions)] {
		if a.Time.IsZero() {
			st.reportTime() // the response depends on the report's time
		}
	}
	return recentActions(st.obs.LastActions, st.obs.Time)
}

// recentActions are the newest maxLastActions of a report made at t; an action without a time
// gets t, to the second.
func recentActions(actions []ActionRecord, t time.Time) []ActionRecord {
	n := min(len(actions), maxLastActions)
	out := append([]ActionRecord(nil), actions[:n]...)
	for i := range out {
		if out[i].Time.IsZero() {
			out[i].Time = metav1.NewTime(t.UTC().Truncate(time.Second))
		}
	}
	return out
}

// reportTime is the report's time, to the second. Every read of it goes through here, so that
// SyncDetailed can tell whether the response depends on it (see SyncResult.ReportTimeRead).
func (st *syncState) reportTime() metav1.Time {
	st.reportTimeRead = true
	return metav1.NewTime(st.obs.Time.UTC().Truncate(time.Second))
}

func (st *syncState) serviceAddress(service string, port int32) string {
	return serviceAddress(service, st.rf.Namespace, port)
}

// serviceAddress is the in-cluster address of a Service's port.
func serviceAddress(service, namespace string, port int32) string {
	return net.JoinHostPort(service+"."+namespace+".svc", fmt.Sprint(port))
}

func countReady(pods []PodRef) int32 {
	var n int32
	for _, p := range pods {
		if p.Ready && !p.Terminating {
			n++
		}
	}
	return n
}

func cond(t string, ok bool, reason, message string) metav1.Condition {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: status, Reason: reason, Message: message}
}

func unknown(t string) metav1.Condition { return unknownFor(t, Kind) }

// unknownFor is a condition of type t of a parent of kind kind the healer has not reported on.
func unknownFor(t, kind string) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionUnknown, Reason: "HealerNotReported",
		Message: "The healer has not reported on this " + kind + " yet (redhook started moments ago); " +
			"existing children are kept as they are until it does."}
}

// ready: a master is known, every replica is in sync with it and every sentinel monitors it.
func (st *syncState) ready(s RedisFailoverStatus) metav1.Condition {
	if !st.obs.Known() {
		return unknown(ConditionReady)
	}
	rf := st.rf
	if st.obs.FailoverInProgress {
		msg := "Sentinel is failing over; the healer observes until the failover ends."
		if !sentinelsEnabled(rf) {
			msg = "The healer lost the master and fails over once every other pod confirms it lost it too, within the detection timeout."
		}
		return cond(ConditionReady, false, "FailoverInProgress", msg)
	}
	if b := rf.Spec.BootstrapNode; b != nil {
		linked := st.bootstrapLinked()
		if linked < rf.Spec.Redis.Replicas {
			return cond(ConditionReady, false, "Bootstrapping", fmt.Sprintf(
				"%d of %d redis pods replicate the bootstrap node %s with a healthy link.",
				linked, rf.Spec.Redis.Replicas, net.JoinHostPort(b.Host, string(b.Port))))
		}
		return cond(ConditionReady, true, "Bootstrapped", fmt.Sprintf(
			"Every redis pod replicates the bootstrap node %s.", net.JoinHostPort(b.Host, string(b.Port))))
	}
	m := st.obs.Master
	if m == nil {
		return cond(ConditionReady, false, "NoMaster", "No master: the healer is electing the pod "+
			"with the most data and pointing the others at it."+st.errorSuffix())
	}
	if want := rf.Spec.Redis.Replicas - 1; *s.Redis.InSync < want {
		return cond(ConditionReady, false, "ReplicasNotInSync", fmt.Sprintf(
			"%d of %d replicas are in sync with master %s (%s); the healer is attaching the others.",
			*s.Redis.InSync, want, m.Pod, m.IP))
	}
	if want := rf.Spec.Sentinel.Replicas; sentinelsEnabled(rf) && *s.Sentinel.Agreeing < want {
		return cond(ConditionReady, false, "SentinelsDisagree", fmt.Sprintf(
			"%d of %d sentinels monitor master %s (%s); the healer is re-pointing the others.",
			*s.Sentinel.Agreeing, want, m.Pod, m.IP))
	}
	if sentinelless(rf) {
		return cond(ConditionReady, true, "Ready", fmt.Sprintf(
			"Master %s (%s) with %d replicas in sync; redhook fails over (sentinel-less mode).", m.Pod, m.IP, *s.Redis.InSync))
	}
	return cond(ConditionReady, true, "Ready", fmt.Sprintf(
		"Master %s (%s) with %d replicas in sync and %d sentinels agreeing.",
		m.Pod, m.IP, *s.Redis.InSync, *s.Sentinel.Agreeing))
}

// bootstrapLinked counts the redis pods replicating the bootstrap node with a healthy link.
func (st *syncState) bootstrapLinked() int32 {
	ext := &MasterStatus{IP: st.rf.Spec.BootstrapNode.Host}
	var n int32
	for _, r := range st.obs.Redis {
		if r.InSync(ext) {
			n++
		}
	}
	return n
}

// available: a writable master exists and a quorum of sentinels agrees on it.
func (st *syncState) available(s RedisFailoverStatus) metav1.Condition {
	if !st.obs.Known() {
		return unknown(ConditionAvailable)
	}
	rf := st.rf
	if b := rf.Spec.BootstrapNode; b != nil {
		return cond(ConditionAvailable, true, "Bootstrapping", fmt.Sprintf(
			"Writes go to the bootstrap node %s until spec.bootstrapNode is removed.", net.JoinHostPort(b.Host, string(b.Port))))
	}
	m := st.obs.Master
	if m == nil {
		return cond(ConditionAvailable, false, "NoMaster", "No writable master."+st.errorSuffix())
	}
	if sentinelless(rf) {
		return st.availableSentinelless(s, m)
	}
	if q := quorum(rf.Spec.Sentinel.Replicas); *s.Sentinel.Agreeing < q {
		return cond(ConditionAvailable, false, "NoSentinelQuorum", fmt.Sprintf(
			"Master %s (%s) is writable but only %d sentinels monitor it (quorum %d): no automatic failover.",
			m.Pod, m.IP, *s.Sentinel.Agreeing, q))
	}
	return cond(ConditionAvailable, true, "MasterAvailable", fmt.Sprintf(
		"Master %s (%s) is writable; %d sentinels monitor it (quorum %d).", m.Pod, m.IP, *s.Sentinel.Agreeing,
		quorum(rf.Spec.Sentinel.Replicas)))
}

// progressing: children being created, rolled out or scaled.
func (st *syncState) progressing(missing []string) metav1.Condition {
	if st.holding() {
		return heldCondition()
	}
	if len(missing) > 0 {
		return cond(ConditionProgressing, true, "Creating", "Creating "+strings.Join(missing, ", ")+".")
	}
	rf := st.rf
	var msgs []string
	if st.sts != nil {
		msgs = append(msgs, rollout("StatefulSet", redisName(rf.Name), st.sts, rf.Spec.Redis.Replicas, true)...)
		msgs = append(msgs, st.r.rollout.waiting(st.redisPods, st.obs, rf.Spec.Redis.Replicas)...)
	}
	if sentinelsEnabled(rf) && st.dep != nil {
		msgs = append(msgs, rollout("Deployment", sentinelName(rf.Name), st.dep, rf.Spec.Sentinel.Replicas, false)...)
	}
	if len(msgs) > 0 {
		return cond(ConditionProgressing, true, "RollingOut", strings.Join(msgs, " "))
	}
	return cond(ConditionProgressing, false, "RolledOut", "Every child is created and rolled out.")
}

// heldCondition is Progressing while the observed children are returned unchanged.
func heldCondition() metav1.Condition {
	return cond(ConditionProgressing, false, "ChildrenHeld",
		"Children are kept as they were last applied until the problem in SpecValid or Degraded is fixed.")
}

// rollout says what remains to do for an observed StatefulSet or Deployment: scaling to the
// desired count, or pods not yet updated and ready.
func rollout(kind, name string, w *workload, desired int32, statefulSet bool) []string {
	have := int32(1)
	if w.Spec.Replicas != nil {
		have = *w.Spec.Replicas
	}
	if have != desired {
		return []string{fmt.Sprintf("Scaling %s %s from %d to %d pods.", kind, name, have, desired)}
	}
	if w.rolledOut(statefulSet) {
		return nil
	}
	return []string{fmt.Sprintf("%s %s: %d of %d pods updated, %d ready.", kind, name, w.Status.UpdatedReplicas,
		have, w.Status.ReadyReplicas)}
}

// degraded: something is wrong at run time; the message says what and what happens about it.
func (st *syncState) degraded(s RedisFailoverStatus, redisPods, sentinelPods []PodRef) metav1.Condition {
	var reasons, msgs []string
	add := func(reason, msg string) { reasons = append(reasons, reason); msgs = append(msgs, msg) }
	if st.authProblem != "" {
		add("AuthSecretMissing", st.authProblem+"; children are kept as they are until it exists.")
	}
	if st.storageChanged {
		add("StorageChangeNotApplied", "spec.redis.storage.persistentVolumeClaim differs from the "+
			"StatefulSet's volumeClaimTemplates, which Kubernetes cannot change; the existing claims are kept "+
			"(recreate the StatefulSet with --cascade=orphan to apply it).")
	}
	if st.obs.Known() {
		if ms := st.obs.masters(); len(ms) > 1 {
			add("SplitBrain", splitBrainMessage(ms, st.obs.Master))
		}
		if len(st.obs.Errors) > 0 {
			add("HealerErrors", "Healer: "+strings.Join(st.obs.Errors, "; ")+".")
		}
	}
	if nr := notReady(redisPods); nr != "" {
		add("RedisPodsNotReady", "Redis pods not ready: "+nr+".")
	}
	if nr := notReady(sentinelPods); nr != "" {
		add("SentinelPodsNotReady", "Sentinel pods not ready: "+nr+".")
	}
	if len(reasons) == 0 {
		return cond(ConditionDegraded, false, "Healthy", "Nothing is wrong.")
	}
	return cond(ConditionDegraded, true, reasons[0], strings.Join(msgs, " "))
}

func splitBrainMessage(masters []RedisReport, kept *MasterStatus) string {
	parts := make([]string, len(masters))
	for i, m := range masters {
		parts[i] = fmt.Sprintf("%s (%s, offset %d)", m.Pod, m.IP, m.Offset)
	}
	msg := "Several pods are masters: " + strings.Join(parts, ", ") + "."
	if kept != nil {
		msg += fmt.Sprintf(" The healer keeps %s and demotes the others; writes the others took since "+
			"the split are lost.", kept.Pod)
	}
	return msg
}

// notReady names the existing pods that are not ready (pods not created yet are Progressing's).
func notReady(pods []PodRef) string {
	var names []string
	for _, p := range pods {
		if !p.Ready || p.Terminating {
			names = append(names, p.Name)
		}
	}
	return strings.Join(names, ", ")
}

func (st *syncState) specValid() metav1.Condition { return specValidCondition(st.specErrors) }

// specValidCondition says whether a spec is valid, and else every problem with its field path.
func specValidCondition(specErrors FieldErrors) metav1.Condition {
	if len(specErrors) == 0 {
		return cond(ConditionSpecValid, true, "Valid", "The spec is valid.")
	}
	lines := make([]string, len(specErrors))
	for i, e := range specErrors {
		lines[i] = e.Error()
	}
	return cond(ConditionSpecValid, false, "Invalid", "Children are kept as they were last applied "+
		"until the spec is fixed: "+strings.Join(lines, "; ")+".")
}

// errorSuffix appends the healer's errors to a message.
func (st *syncState) errorSuffix() string { return healerErrorSuffix(st.obs.Errors) }

// healerErrorSuffix is the sentence a condition message ends with when the healer has errors.
func healerErrorSuffix(errors []string) string {
	if len(errors) == 0 {
		return ""
	}
	return " Healer: " + strings.Join(errors, "; ") + "."
}

// clock is the time a condition that flips now is stamped with. It comes from the inputs, never
// from a clock: the healer's report time, else the newest time the parent carries.
func (st *syncState) clock() metav1.Time {
	if st.obs.Known() {
		return st.reportTime()
	}
	return syncClock(time.Time{}, &st.req.Parent.ObjectMeta)
}

// syncClock is clock for a report made at report (zero: unknown) and a parent's metadata p.
func syncClock(report time.Time, p *metav1.ObjectMeta) metav1.Time {
	if !report.IsZero() {
		return metav1.NewTime(report.UTC().Truncate(time.Second))
	}
	t := p.CreationTimestamp
	for _, f := range p.ManagedFields {
		if f.Time != nil && f.Time.After(t.Time) {
			t = *f.Time
		}
	}
	return metav1.NewTime(t.UTC().Truncate(time.Second))
}

// stampConditions sets lastTransitionTime and observedGeneration: carried over from the previous
// condition of the same type when its status did not flip, else now(), called only then.
func stampConditions(conds, previous []metav1.Condition, now func() metav1.Time, generation int64) []metav1.Condition {
	prev := make(map[string]metav1.Condition, len(previous))
	for _, c := range previous {
		prev[c.Type] = c
	}
	for i := range conds {
		c := &conds[i]
		c.ObservedGeneration = generation
		if p, ok := prev[c.Type]; ok && p.Status == c.Status && !p.LastTransitionTime.IsZero() {
			c.LastTransitionTime = p.LastTransitionTime
		} else {
			c.LastTransitionTime = now()
		}
	}
	return conds
}

func conditionTrue(conds []metav1.Condition, t string) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}
