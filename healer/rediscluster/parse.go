package rediscluster

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ClusterNode is one line of CLUSTER NODES: one node as the node asked sees it.
type ClusterNode struct {
	ID      string
	IP      string // "" for a node without address (noaddr, or ":0")
	Port    int
	BusPort int
	// Flags, as listed.
	Myself, Master, Replica, Fail, PFail, Handshake, NoAddr bool
	// MasterID is the node it replicates; "" for a master.
	MasterID  string
	Epoch     int64
	Connected bool
	Slots     []SlotRange
	// Migrating: slot → node ID it is being moved to ([slot->-id], shown on the source's own
	// line); Importing: slot → node ID it is being moved from ([slot-<-id], on the target's).
	Migrating, Importing map[int]string
}

// SlotRange is the slots Start..End, both included.
type SlotRange struct{ Start, End int }

func (r SlotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

// Len is the number of slots in r.
func (r SlotRange) Len() int { return r.End - r.Start + 1 }

// SlotCount counts the slots of ranges.
func SlotCount(ranges []SlotRange) int {
	n := 0
	for _, r := range ranges {
		n += r.Len()
	}
	return n
}

// Ranges packs sorted or unsorted slots into ranges.
func Ranges(slots []int) []SlotRange {
	s := append([]int(nil), slots...)
	sort.Ints(s)
	var out []SlotRange
	for _, x := range s {
		if n := len(out); n > 0 && out[n-1].End+1 == x {
			out[n-1].End = x
			continue
		} else if n > 0 && out[n-1].End == x {
			continue
		}
		out = append(out, SlotRange{x, x})
	}
	return out
}

// Expand lists the slots of ranges in order.
func Expand(ranges []SlotRange) []int {
	var out []int
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			out = append(out, s)
		}
	}
	return out
}

// FormatRanges writes ranges as "0-5460,5461".
func FormatRanges(ranges []SlotRange) string {
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// ParseClusterNodes reads the reply of CLUSTER NODES (Redis 7.0: "<id> <ip:port@cport[,hostname]>
// <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot>...").
func ParseClusterNodes(text string) ([]ClusterNode, error) {
	text = verbatim(text)
	var out []ClusterNode
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("cluster nodes: short line %q", line)
		}
		n := ClusterNode{ID: f[0], Connected: f[7] == "connected"}
		addr, _, _ := strings.Cut(f[1], ",")
		hostport, bus, _ := strings.Cut(addr, "@")
		i := strings.LastIndexByte(hostport, ':')
		if i < 0 {
			return nil, fmt.Errorf("cluster nodes: address %q", f[1])
		}
		n.IP = hostport[:i]
		n.Port, _ = strconv.Atoi(hostport[i+1:])
		n.BusPort, _ = strconv.Atoi(bus)
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "myself":
				n.Myself = true
			case "master":
				n.Master = true
			case "slave":
				n.Replica = true
			case "fail":
				n.Fail = true
			case "fail?":
				n.PFail = true
			case "handshake":
				n.Handshake = true
			case "noaddr":
				n.NoAddr = true
			}
		}
		if n.NoAddr || n.Port == 0 {
			n.IP = ""
		}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		n.Epoch, _ = strconv.ParseInt(f[6], 10, 64)
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") {
				body := strings.Trim(s, "[]")
				if a, b, ok := strings.Cut(body, "->-"); ok {
					slot, err := strconv.Atoi(a)
					if err != nil {
						return nil, fmt.Errorf("cluster nodes: slot %q", s)
					}
					if n.Migrating == nil {
						n.Migrating = map[int]string{}
					}
					n.Migrating[slot] = b
				} else if a, b, ok := strings.Cut(body, "-<-"); ok {
					slot, err := strconv.Atoi(a)
					if err != nil {
						return nil, fmt.Errorf("cluster nodes: slot %q", s)
					}
					if n.Importing == nil {
						n.Importing = map[int]string{}
					}
					n.Importing[slot] = b
				}
				continue
			}
			a, b, isRange := strings.Cut(s, "-")
			start, err := strconv.Atoi(a)
			end := start
			if err == nil && isRange {
				end, err = strconv.Atoi(b)
			}
			if err != nil || start < 0 || end >= NumSlots || end < start {
				return nil, fmt.Errorf("cluster nodes: slot %q", s)
			}
			n.Slots = append(n.Slots, SlotRange{start, end})
		}
		out = append(out, n)
	}
	return out, nil
}

// ClusterInfo is what the healer reads of CLUSTER INFO.
type ClusterInfo struct {
	State         string // "ok" or "fail"
	SlotsAssigned int
	KnownNodes    int
	CurrentEpoch  int64
}

// ParseInfoFields reads "key:value" lines (CLUSTER INFO, INFO sections).
func ParseInfoFields(text string) map[string]string {
	text = verbatim(text)
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// ParseClusterInfo reads the reply of CLUSTER INFO.
func ParseClusterInfo(text string) (ClusterInfo, error) {
	f := ParseInfoFields(text)
	st, ok := f["cluster_state"]
	if !ok {
		return ClusterInfo{}, fmt.Errorf("cluster info: no cluster_state")
	}
	i := ClusterInfo{State: st}
	i.SlotsAssigned, _ = strconv.Atoi(f["cluster_slots_assigned"])
	i.KnownNodes, _ = strconv.Atoi(f["cluster_known_nodes"])
	i.CurrentEpoch, _ = strconv.ParseInt(f["cluster_current_epoch"], 10, 64)
	return i, nil
}

// Replication is what the healer reads of INFO replication.
type Replication struct {
	Role string // "master" or "slave"
	// Offset is master_repl_offset for a master, slave_repl_offset for a replica.
	Offset int64
	// LinkUp: master_link_status:up (replicas only).
	LinkUp bool
}

// ParseReplication reads the reply of INFO replication.
func ParseReplication(text string) (Replication, error) {
	f := ParseInfoFields(text)
	r := Replication{Role: f["role"], LinkUp: f["master_link_status"] == "up"}
	if r.Role == "" {
		return r, fmt.Errorf("info replication: no role")
	}
	key := "master_repl_offset"
	if r.Role == "slave" {
		key = "slave_repl_offset"
	}
	r.Offset, _ = strconv.ParseInt(f[key], 10, 64)
	return r, nil
}

// verbatim strips the format of a RESP3 verbatim string ("txt:"), as Redis 7 answers CLUSTER
// NODES, CLUSTER INFO and INFO to a RESP3 client.
func verbatim(text string) string {
	if len(text) >= 4 && text[3] == ':' && (text[:3] == "txt" || text[:3] == "mkd") {
		return text[4:]
	}
	return text
}
