package decision

import (
	"fmt"
	"time"
)

// Refusal is a CONFIG SET that a redis pod answered with an error reply: a value Redis refuses
// at run time (maxclients above the open files limit, which a booting Redis lowers instead), an
// option this Redis cannot change live, or a value it does not know. Sent again on every pass,
// it would be refused again on every pass; the healer keeps its refusals and HoldRefused holds
// such a CONFIG SET back while the report says why.
type Refusal struct {
	Pod string
	// RunID is the pod's run id when it refused: a restarted pod has read redis.conf again.
	RunID      string
	Key, Value string
	// Err is Redis's error reply. It holds no secret: secret options are never sent (options.go)
	// and Redis 7.0 does not echo the value it refuses.
	Err string
	// Time is when the pass that sent it started (Snapshot.Time).
	Time time.Time
}

// RefusalRetry is how long a refusal holds its CONFIG SET back: long enough that a refused
// setting costs a write every few minutes, not every pass; short enough that a refusal that
// depended on the moment (a limit raised since) does not hold forever.
const RefusalRetry = 10 * time.Minute

// NewRefusal is the refusal of a, which the pod answered with the error reply err in the pass
// that read o; ok is false when a is not a CONFIG SET.
func NewRefusal(a Action, o Snapshot, err string) (Refusal, bool) {
	c, ok := a.(ConfigSet)
	if !ok {
		return Refusal{}, false
	}
	return Refusal{Pod: c.Pod, RunID: runIDOf(o, c.Pod), Key: c.Key, Value: c.Value, Err: err, Time: o.Time}, true
}

// HoldRefused drops from acts each CONFIG SET that the same pod refused, with the same value,
// since it last started and less than RefusalRetry before o was read. It returns the actions to
// send, the refusals that still hold (one that no planned action matches any more is forgotten:
// the value now holds, or customConfig changed) and, for each held action, an error for the
// report, with the pod and the option: the status shows what is not applied and why.
func HoldRefused(acts []Action, o Snapshot, refused []Refusal) (send []Action, holding []Refusal, errs []string) {
	runIDs := map[string]string{}
	for _, n := range o.Redis {
		runIDs[n.Pod.Name] = n.Info.RunID
	}
	for _, a := range acts {
		c, ok := a.(ConfigSet)
		if !ok {
			send = append(send, a)
			continue
		}
		held := false
		for _, r := range refused {
			if r.Pod == c.Pod && r.Key == c.Key && r.Value == c.Value && r.RunID == runIDs[c.Pod] &&
				o.Time.Sub(r.Time) < RefusalRetry {
				holding = append(holding, r)
				errs = append(errs, fmt.Sprintf("%s: config set %s %q refused: %s; not sent again until customConfig "+
					"changes, the pod restarts or %v pass", c.Pod, c.Key, c.Value, r.Err, RefusalRetry))
				held = true
				break
			}
		}
		if !held {
			send = append(send, a)
		}
	}
	return send, holding, errs
}
