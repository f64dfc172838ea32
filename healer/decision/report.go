package decision

import (
	"github.com/redhook/redhook/hooks"
)

// Report turns a snapshot into the report that hooks.Sync reads: the master (the pod that
// the sentinels, or without their agreement the healer, hold as master and that answers
// role:master), each pod as seen, the recent actions (newest first) and the problems of the
// pass. It is pure.
func Report(t hooks.Topology, o Snapshot, actions []hooks.ActionRecord, errs []string) hooks.HealerReport {
	r := hooks.HealerReport{Time: o.Time, Master: reportMaster(t, o), LastActions: actions}
	v := newView(t, o)
	// Sentinel-less mode: the healer's own failover is under way while it waits for the
	// detection time; the master moves within seconds, so the sync asks to be called again soon.
	r.FailoverInProgress = v.failoverInProgress() || t.Sentinelless && v.elect().detecting
	for i := range o.Redis {
		n := &o.Redis[i]
		ro := hooks.RedisReport{Pod: n.Pod.Name, IP: n.Pod.IP, Reachable: n.Reachable()}
		if n.Reachable() {
			ro.Role = n.Info.Role
			ro.MasterHost, ro.MasterPort = n.Info.MasterHost, n.Info.MasterPort
			ro.LinkUp, ro.Syncing = n.Info.LinkUp, n.Info.Syncing
			ro.Offset, ro.ConnectedReplicas = n.Info.Offset, n.Info.ConnectedReplicas
		} else {
			r.Errors = append(r.Errors, n.Pod.Name+": "+n.Err)
		}
		if n.ConfigErr != "" {
			r.Errors = append(r.Errors, n.Pod.Name+": "+n.ConfigErr)
		}
		r.Redis = append(r.Redis, ro)
	}
	for i := range o.Sentinels {
		s := &o.Sentinels[i]
		so := hooks.SentinelReport{Pod: s.Pod.Name, IP: s.Pod.IP, Reachable: s.Reachable()}
		if s.Reachable() && s.Master != nil {
			so.MasterIP = s.Master.IP
		}
		if !s.Reachable() {
			r.Errors = append(r.Errors, s.Pod.Name+": "+s.Err)
		}
		r.Sentinels = append(r.Sentinels, so)
	}
	r.Errors = append(r.Errors, errs...)
	return r
}

// reportMaster is the master the healer stands by: the replica a Sentinel failover promoted
// (sentinelPromoted), else the elected one, answering role:master.
func reportMaster(t hooks.Topology, o Snapshot) *hooks.MasterStatus {
	if t.Bootstrap != nil {
		return nil // the master is outside the RedisFailover
	}
	v := newView(t, o)
	if n := v.sentinelPromoted(); n != nil {
		return &hooks.MasterStatus{Pod: n.Pod.Name, IP: n.Pod.IP}
	}
	e := v.elect()
	if h := e.held; h != nil && e.hold != "" {
		return &hooks.MasterStatus{Pod: h.Pod.Name, IP: h.Pod.IP}
	}
	if e.master == nil && e.failover == nil {
		if n := v.newestConfigMaster(); n != nil {
			return &hooks.MasterStatus{Pod: n.Pod.Name, IP: n.Pod.IP}
		}
	}
	if e.master == nil || e.promote || e.failover != nil || e.master.Info.Role != hooks.RoleMaster {
		return nil
	}
	return &hooks.MasterStatus{Pod: e.master.Pod.Name, IP: e.master.Pod.IP}
}

// sentinelPromoted is the replica that the failovers in progress promoted, from the promotion
// on (failover-state wait_promotion: Sentinel sent it REPLICAOF NO ONE; reconf_slaves or
// update_config: Sentinel has read it as master) and while it answers role:master; nil when no
// failover is that far, or two promoted different nodes (failoverStalled). Until the failover
// ends, which takes seconds (Sentinel waits for every other replica to follow, reading each
// every second), the sentinels still name the old master: by then gone after its preStop
// hand-over or a kill, so the election finds no master, and the master Service would lead
// nowhere meanwhile although the new master already takes writes. wait_promotion counts too:
// Sentinel reads the promoted replica only once a second, and each change of the master
// EndpointSlice costs a kube-proxy sync, at most one a second past a burst of two: a report
// that names no master, then the new one, can keep clients off the new master for a second
// more. Sentinel gives up a failover in wait_promotion only when it cannot read the replica as
// master for failover-timeout; the replica, which the healer reads as master, stays master then,
// unless the old master answers as master again: Sentinel converts the replica back, and the
// writes the master Service led to it are lost. redhook's redis pods restart as replicas of a
// placeholder, never as master, so that takes a master that was cut off, not restarted, for
// failover-timeout while Sentinel could read neither.
func (v *view) sentinelPromoted() *RedisNode {
	var promoted *RedisNode
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if !s.Reachable() || s.Master == nil || !s.Master.FailoverInProgress() {
			continue
		}
		if st := s.Master.FailoverState; st != "wait_promotion" && st != "reconf_slaves" && st != "update_config" {
			continue
		}
		n := v.promotedBy(s)
		if n == nil || !n.Reachable() || n.Info.Role != hooks.RoleMaster || promoted != nil && promoted != n {
			return nil
		}
		promoted = n
	}
	return promoted
}

// newestConfigMaster is, for when the election finds no master, the master of the newest
// Sentinel configuration while some sentinels still name an older one: a failover that has just
// ended on its leader, which announces it to the other sentinels within a hello period (up to
// 2 s). Meanwhile a majority may still name the old master, gone after its preStop hand-over or
// a kill, and the election would find no master: the master EndpointSlice would be emptied, then
// set again, two kube-proxy syncs where one does. The node must be one of ours and answer
// role:master; nil otherwise, or when every sentinel names the same configuration.
func (v *view) newestConfigMaster() *RedisNode {
	var newest *SentinelMaster
	older := false
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if !s.Reachable() || s.Master == nil {
			continue
		}
		switch {
		case newest == nil:
			newest = s.Master
		case s.Master.ConfigEpoch > newest.ConfigEpoch:
			newest, older = s.Master, true
		case s.Master.ConfigEpoch < newest.ConfigEpoch:
			older = true
		case s.Master.IP != newest.IP || s.Master.Port != newest.Port:
			return nil // two masters in one epoch: no configuration is the newest
		}
	}
	if !older {
		return nil
	}
	n := v.pod(newest.IP, newest.Port)
	if n == nil || !n.Reachable() || n.Info.Role != hooks.RoleMaster {
		return nil
	}
	return n
}
