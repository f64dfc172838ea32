package hooks

import (
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sentinel-less mode (spec.sentinel.enabled: false): no sentinels; the healer detects the
// master's failure from its replicas' testimony and promotes a replica itself. What keeps a
// partition from making two writable masters is fencing: the master accepts writes only while a
// replica acknowledged its stream within min-replicas-max-lag seconds, and the healer promotes
// only once every other redis pod has lost its link to the master for long enough that the
// master, if it still runs, is fenced (docs/healer.md, "Sentinel-less mode").

// Detection timeout bounds (spec.sentinel.detectionTimeoutSeconds).
const (
	DefaultDetectionTimeout = 5
	MinDetectionTimeout     = 5
	MaxDetectionTimeout     = 60
)

// Status values of status.failover.
const (
	ModeSentinelless = "Sentinelless"
	DecidedByRedhook = "redhook"
)

// Fencing is the timing of sentinel-less mode, all in seconds, derived from the detection
// timeout T. The healer promotes only when every replica reports its link to the master down
// for at least DownSince; a replica declares the link down after ReplTimeout without data
// (the master pings every second). Worst cases, with Redis' whole-second clocks:
//   - the master refuses writes at most MaxLag + 2 s after the last replica acknowledgement it
//     received (lag in whole seconds, good-replica count refreshed every second);
//   - a replica declares the link down more than ReplTimeout s after the last data it received,
//     itself at most 1 s before the partition (the master's ping period); its reported
//     master_link_down_since_seconds reaches DownSince more than DownSince − 1 s later.
//
// So a promotion comes more than ReplTimeout + DownSince − 2 s after the partition, and the
// master is fenced by MaxLag + 2 s after it: ReplTimeout + DownSince = MaxLag + 4 keeps the
// promotion after the fence. With T = ReplTimeout + DownSince − 1, MaxLag = T − 3: 2 s at the
// default 5 s (replicas acknowledge every second), which is why T is at least 5.
type Fencing struct {
	MaxLag, ReplTimeout, DownSince int32
}

// FencingFor is the fencing of detection timeout seconds (the default when 0).
func FencingFor(timeout int32) Fencing {
	if timeout <= 0 {
		timeout = DefaultDetectionTimeout
	}
	const downSince = 3
	return Fencing{MaxLag: timeout - 3, ReplTimeout: timeout + 1 - downSince, DownSince: downSince}
}

// fencingKeys are the redis options sentinel-less mode sets; customConfig may not.
var fencingKeys = []string{"min-replicas-to-write", "min-replicas-max-lag", "repl-timeout", "repl-ping-replica-period"}

// redisDefaults are Redis' own values of fencingKeys: what the healer restores when a
// RedisFailover goes back to Sentinel mode.
var redisDefaults = map[string]string{
	"min-replicas-to-write": "0", "min-replicas-max-lag": "10", "repl-timeout": "60", "repl-ping-replica-period": "10",
}

// SentinellessConfig is the redis configuration of sentinel-less mode at detection timeout
// seconds, rendered in redis.conf and applied live by the healer.
func SentinellessConfig(timeout int32) []ConfigEntry {
	f := FencingFor(timeout)
	return []ConfigEntry{
		{Key: "min-replicas-to-write", Value: "1"},
		{Key: "min-replicas-max-lag", Value: strconv.Itoa(int(f.MaxLag))},
		{Key: "repl-timeout", Value: strconv.Itoa(int(f.ReplTimeout))},
		{Key: "repl-ping-replica-period", Value: "1"},
	}
}

// SentinelModeConfig is the redis configuration of Sentinel mode when customConfig sets none of
// the fencing keys: Redis' own values, which lift the fencing of a RedisFailover that leaves
// sentinel-less mode.
func SentinelModeConfig() []ConfigEntry {
	out := make([]ConfigEntry, 0, len(fencingKeys))
	for _, k := range fencingKeys {
		out = append(out, ConfigEntry{Key: k, Value: redisDefaults[k]})
	}
	return out
}

// SentinelsEnabled tells whether sentinels run for rf: spec.sentinel.enabled (absent: true),
// and not while bootstrapping without allowSentinels.
func SentinelsEnabled(rf *RedisFailover) bool { return sentinelsEnabled(rf) }

// sentinelEnabled is spec.sentinel.enabled: absent means true.
func sentinelEnabled(rf *RedisFailover) bool {
	return rf.Spec.Sentinel.Enabled == nil || *rf.Spec.Sentinel.Enabled
}

// sentinelless tells whether the healer decides failovers: sentinels disabled and not
// bootstrapping (rule 10 follows the external node and fails over nothing).
func sentinelless(rf *RedisFailover) bool {
	return !sentinelEnabled(rf) && rf.Spec.BootstrapNode == nil
}

// detectionTimeout is spec.sentinel.detectionTimeoutSeconds, defaulted.
func detectionTimeout(rf *RedisFailover) int32 {
	if t := rf.Spec.Sentinel.DetectionTimeoutSeconds; t > 0 {
		return t
	}
	return DefaultDetectionTimeout
}

// modeConfig is the mode's share of the healer's live configuration: the fencing in
// sentinel-less mode; in Sentinel mode Redis' defaults of the fencing keys, so that a switch back
// from sentinel-less mode unfences the running master at once (a pod reads the defaults from
// redis.conf only when it restarts). Keys the user sets in customConfig or
// customConfigUnchecked are the user's.
func modeConfig(rf *RedisFailover) []ConfigEntry {
	if rf.Spec.BootstrapNode != nil {
		return nil
	}
	own := map[string]bool{}
	for _, lines := range [][]string{rf.Spec.Redis.CustomConfig, rf.Spec.Redis.CustomConfigUnchecked} {
		for _, e := range configEntries(lines) {
			own[e.Key] = true
		}
	}
	out := SentinelModeConfig()
	if sentinelless(rf) {
		out = SentinellessConfig(detectionTimeout(rf))
	}
	kept := out[:0]
	for _, e := range out {
		if !own[e.Key] && !own[legacyName(e.Key)] { // min-slaves-to-write sets min-replicas-to-write
			kept = append(kept, e)
		}
	}
	return kept
}

// failoverStatus is status.failover: set in sentinel-less mode only, so that the status of a
// RedisFailover in Sentinel or bootstrap mode stays what it was (status.connection.sentinel
// names the sentinels in Sentinel mode; bootstrap mode fails over nothing).
func failoverStatus(rf *RedisFailover) *FailoverStatus {
	if !sentinelless(rf) {
		return nil
	}
	return &FailoverStatus{Mode: ModeSentinelless, DecidedBy: DecidedByRedhook,
		DetectionTimeoutSeconds: detectionTimeout(rf)}
}

// availableSentinelless: the fenced master takes writes only while a replica follows it.
func (st *syncState) availableSentinelless(s RedisFailoverStatus, m *MasterStatus) metav1.Condition {
	if *s.Redis.InSync == 0 {
		return cond(ConditionAvailable, false, "Fenced", fmt.Sprintf(
			"Master %s (%s) refuses writes until a replica follows it (min-replicas-to-write 1, sentinel-less mode).", m.Pod, m.IP))
	}
	return cond(ConditionAvailable, true, "MasterAvailable", fmt.Sprintf(
		"Master %s (%s) is writable with %d replicas in sync; redhook fails over (sentinel-less mode).", m.Pod, m.IP, *s.Redis.InSync))
}

// validateSentinelless checks what sentinel-less mode needs of the rest of the spec.
func validateSentinelless(e *errs, rf *RedisFailover) {
	s := &rf.Spec
	if t := s.Sentinel.DetectionTimeoutSeconds; t != 0 && (t < MinDetectionTimeout || t > MaxDetectionTimeout) {
		e.add("spec.sentinel.detectionTimeoutSeconds", "%d: must be %d to %d (the fencing lag is the timeout − 3 s)",
			t, MinDetectionTimeout, MaxDetectionTimeout)
	}
	if sentinelEnabled(rf) {
		return
	}
	if b := s.BootstrapNode; b != nil && b.AllowSentinels {
		e.add("spec.bootstrapNode.allowSentinels", "sentinels are disabled (spec.sentinel.enabled: false)")
	}
	if n := s.Redis.Replicas; n == 1 {
		e.add("spec.redis.replicas", "1: sentinel-less mode needs at least 2 (a master accepts writes only while a replica follows it)")
	}
	for _, field := range []struct {
		path  string
		lines []string
	}{{"spec.redis.customConfig", s.Redis.CustomConfig}, {"spec.redis.customConfigUnchecked", s.Redis.CustomConfigUnchecked}} {
		for i, line := range field.lines {
			k, _ := splitConfig(line)
			for _, f := range fencingKeys {
				if k == f || k == legacyName(f) {
					e.add(fmt.Sprintf("%s[%d]", field.path, i), "%q is managed by redhook in sentinel-less mode (spec.sentinel.enabled: false): it fences the master", k)
				}
			}
		}
	}
}

// legacyName is the pre-5.0 alias of a fencing option (min-slaves-…), which Redis still reads.
func legacyName(key string) string {
	switch key {
	case "min-replicas-to-write":
		return "min-slaves-to-write"
	case "min-replicas-max-lag":
		return "min-slaves-max-lag"
	case "repl-ping-replica-period":
		return "repl-ping-slave-period"
	}
	return key
}
