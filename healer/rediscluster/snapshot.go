package rediscluster

import "time"

// Snapshot is what every pod of one cluster answered in one pass, in the order of
// Topology.Nodes.
type Snapshot struct {
	Time  time.Time
	Nodes []NodeState
}

// NodeState is what one pod answered: CLUSTER MYID, CLUSTER NODES, CLUSTER INFO, INFO
// replication and DBSIZE, or why it did not.
type NodeState struct {
	Node Node
	// Err is why the pod could not be read; "" when it answered.
	Err  string
	ID   string
	View []ClusterNode
	Info ClusterInfo
	Repl Replication
	Keys int64
}

// Reachable tells whether the pod answered.
func (n NodeState) Reachable() bool { return n.Err == "" && n.ID != "" }

// Self is the node's own line of its view.
func (n NodeState) Self() (ClusterNode, bool) {
	for _, c := range n.View {
		if c.Myself {
			return c, true
		}
	}
	return ClusterNode{}, false
}

// Knows is the line of id in the node's view; handshake lines (whose IDs are temporary) do not
// count.
func (n NodeState) Knows(id string) (ClusterNode, bool) {
	for _, c := range n.View {
		if c.ID == id && !c.Handshake {
			return c, true
		}
	}
	return ClusterNode{}, false
}

// handshakeTo tells whether the node has a handshake under way with ip:port.
func (n NodeState) handshakeTo(ip string, port int) bool {
	for _, c := range n.View {
		if c.Handshake && c.IP == ip && c.Port == port {
			return true
		}
	}
	return false
}

// ownSlots are the slots the node claims in its own view.
func (n NodeState) ownSlots() int {
	self, _ := n.Self()
	return SlotCount(self.Slots)
}

// isMaster: the node says it is a master.
func (n NodeState) isMaster() bool {
	self, ok := n.Self()
	return ok && self.Master
}
