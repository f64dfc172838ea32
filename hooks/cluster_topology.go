package hooks

// ClusterTopology is what the Redis Cluster healer needs to converge one RedisCluster: the pods
// by shard, the desired shape, the password and the desired configuration. SyncClusterWithTopology
// builds it from the same request as the response, as SyncWithTopology does Topology.
type ClusterTopology struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Port is the client port of every node; BusPort the cluster bus port (Port + 10000).
	Port    int32 `json:"port"`
	BusPort int32 `json:"busPort"`
	// NumberOfMaster and ReplicationFactor are the desired shape: shards 0..NumberOfMaster-1,
	// each with one master and ReplicationFactor replicas, on the pods of its StatefulSet.
	NumberOfMaster    int32 `json:"numberOfMaster"`
	ReplicationFactor int32 `json:"replicationFactor"`
	// LeavingShards are the shards at or above NumberOfMaster that still exist (a scale-in): the
	// healer moves their slots to the others and forgets their nodes, then reports them
	// Forgotten, and the next sync deletes them.
	LeavingShards []int `json:"leavingShards,omitempty"`
	// Nodes are the pods that exist, by shard and ordinal.
	Nodes []ClusterNodeRef `json:"nodes"`
	// Password is the password of every node (requirepass and masterauth); empty without auth.
	Password Secret `json:"password"`
	// RedisConfig is spec.customConfig as key/value pairs, to apply with CONFIG SET.
	RedisConfig []ConfigEntry `json:"redisConfig,omitempty"`
	// NodeTimeout is cluster-node-timeout in milliseconds, as rendered or set in customConfig.
	NodeTimeout int64 `json:"nodeTimeoutMilliseconds"`
	// Held: the spec is invalid or its password Secret is missing, and the children are held as
	// they are. Only Namespace, Name and Nodes are set; the healer goes on with the other fields
	// of the last topology that was not held.
	Held bool `json:"held,omitempty"`
}

// Key identifies the RedisCluster: namespace/name.
func (t ClusterTopology) Key() string { return t.Namespace + "/" + t.Name }

// ClusterNodeRef is one pod of a RedisCluster as Kubernetes reports it.
type ClusterNodeRef struct {
	Pod string `json:"pod"`
	IP  string `json:"ip,omitempty"`
	// Shard is the pod's StatefulSet (label redhook.io/shard); Ordinal its ordinal in it.
	Shard       int  `json:"shard"`
	Ordinal     int  `json:"ordinal"`
	Ready       bool `json:"ready,omitempty"`
	Terminating bool `json:"terminating,omitempty"`
	// Updated: the pod runs its StatefulSet's update revision (true when either is unknown).
	// While a shard's master is not Updated, the shard's partition holds it: the healer fails it
	// over to an Updated replica (CLUSTER FAILOVER) so that the rollout goes on.
	Updated bool `json:"updated,omitempty"`
}

func (st *clusterState) topology() (ClusterTopology, bool) {
	rc := st.rc
	t := ClusterTopology{Namespace: rc.Namespace, Name: rc.Name, Nodes: make([]ClusterNodeRef, 0, len(st.pods))}
	for _, p := range st.pods {
		t.Nodes = append(t.Nodes, ClusterNodeRef{Pod: p.Name, IP: p.IP, Shard: p.shard, Ordinal: p.Ordinal,
			Ready: p.Ready, Terminating: p.Terminating, Updated: !p.Outdated})
	}
	if st.holding() {
		t.Held = true
		return t, false
	}
	t.Port, t.BusPort = DefaultRedisPort, DefaultRedisPort+ClusterBusShift
	t.NumberOfMaster, t.ReplicationFactor = rc.Spec.NumberOfMaster, rc.replicationFactor()
	t.LeavingShards = append([]int(nil), st.leaving...)
	t.Password = st.password
	t.RedisConfig = configEntries(rc.Spec.CustomConfig)
	t.NodeTimeout = clusterNodeTimeout(rc)
	return t, true
}
