package rediscluster

import (
	"fmt"
	"strings"
)

// Action is one write the healer sends: to which pod, and why. Actions hold no secret.
type Action interface {
	// On is the pod the command goes to (the source, for MoveSlots).
	On() string
	// Kind names the action type, for logs and metrics.
	Kind() string
	Reason() string
	String() string
}

// Meet is CLUSTER MEET IP Port, sent to Pod: Pod and the node at IP:Port get to know each other,
// and gossip spreads the rest.
type Meet struct {
	Pod  string
	Peer string // the pod at IP:Port
	IP   string
	Port int
	Why  string
}

// AddSlots is CLUSTER ADDSLOTSRANGE on Pod (a master that holds none of them).
type AddSlots struct {
	Pod   string
	Slots []SlotRange
	Why   string
}

// Replicate is CLUSTER REPLICATE MasterID on Pod.
type Replicate struct {
	Pod, MasterPod, MasterID string
	Why                      string
}

// MoveSlots moves Slots from the master Source to the master Target, one slot at a time
// (SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE of the keys in batches,
// SETSLOT NODE on target, source and every master). Resume: the slots were half-migrated
// (importing or migrating markers): they are finished, keys already moved stay where they are.
type MoveSlots struct {
	Source, SourceID string
	Target, TargetID string
	Slots            []int
	Resume           bool
	Why              string
}

// Forget is CLUSTER FORGET NodeID on Pod.
type Forget struct {
	Pod, NodeID string
	Why         string
}

// Reset is CLUSTER RESET SOFT on a drained leaving node that every active node forgot: it
// forgets the cluster in turn, so that it never gossips its way back in while its pod lingers.
type Reset struct {
	Pod string
	Why string
}

// Failover is CLUSTER FAILOVER on the replica Pod of MasterPod (a planned switch: the replica
// waits for its master's offset, then takes over the slots).
type Failover struct {
	Pod, MasterPod string
	Why            string
}

func (a Meet) On() string      { return a.Pod }
func (a AddSlots) On() string  { return a.Pod }
func (a Replicate) On() string { return a.Pod }
func (a MoveSlots) On() string { return a.Source }
func (a Forget) On() string    { return a.Pod }
func (a Failover) On() string  { return a.Pod }
func (a Reset) On() string     { return a.Pod }

func (Meet) Kind() string      { return "meet" }
func (AddSlots) Kind() string  { return "addslots" }
func (Replicate) Kind() string { return "replicate" }
func (MoveSlots) Kind() string { return "moveslots" }
func (Forget) Kind() string    { return "forget" }
func (Failover) Kind() string  { return "failover" }
func (Reset) Kind() string     { return "reset" }

func (a Meet) Reason() string      { return a.Why }
func (a AddSlots) Reason() string  { return a.Why }
func (a Replicate) Reason() string { return a.Why }
func (a MoveSlots) Reason() string { return a.Why }
func (a Forget) Reason() string    { return a.Why }
func (a Failover) Reason() string  { return a.Why }
func (a Reset) Reason() string     { return a.Why }

func (a Meet) String() string {
	return fmt.Sprintf("%s: CLUSTER MEET %s %d (%s)", a.Pod, a.IP, a.Port, a.Peer)
}
func (a AddSlots) String() string {
	return fmt.Sprintf("%s: CLUSTER ADDSLOTSRANGE %s", a.Pod, rangeArgs(a.Slots))
}
func (a Replicate) String() string {
	return fmt.Sprintf("%s: CLUSTER REPLICATE %s (%s)", a.Pod, a.MasterID, a.MasterPod)
}
func (a MoveSlots) String() string {
	verb := "move"
	if a.Resume {
		verb = "finish moving"
	}
	return fmt.Sprintf("%s %d slots %s from %s to %s", verb, len(a.Slots), FormatRanges(Ranges(a.Slots)), a.Source, a.Target)
}
func (a Reset) String() string  { return a.Pod + ": CLUSTER RESET SOFT" }
func (a Forget) String() string { return fmt.Sprintf("%s: CLUSTER FORGET %s", a.Pod, a.NodeID) }
func (a Failover) String() string {
	return fmt.Sprintf("%s: CLUSTER FAILOVER (master %s)", a.Pod, a.MasterPod)
}

func rangeArgs(rs []SlotRange) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d %d", r.Start, r.End)
	}
	return b.String()
}
