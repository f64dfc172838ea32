package hooks

import (
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// clusterRenderer holds what every child renderer of a RedisCluster needs. It is built once per
// sync, only when the spec is valid and the password Secret (if any) exists.
type clusterRenderer struct {
	rc   *RedisCluster // defaulted
	auth bool
	// shards are the desired shards 0..numberOfMaster-1, each with its rollout.
	shards []clusterShard
	// kept are the observed children of the shards a scale-in removes that the healer has not
	// released yet (see ClusterShardReport.Forgotten): returned as they were last applied.
	kept []keptChild
}

// clusterShard is one desired shard: its StatefulSet's replicas and partition (rollout.go's
// plan, per shard), and what of its observed StatefulSet cannot change.
type clusterShard struct {
	index          int
	rollout        redisRollout
	observedPolicy string
	observedClaims []ClaimTemplate // nil: no StatefulSet observed
}

// keptChild is an observed child returned as it was last applied.
type keptChild struct {
	cid childID
	raw json.RawMessage
}

func (k keptChild) id() childID { return k.cid }

// MarshalJSON returns the child as it was last applied.
func (k keptChild) MarshalJSON() ([]byte, error) { return k.raw, nil }

func (r *clusterRenderer) name() string      { return r.rc.Name }
func (r *clusterRenderer) namespace() string { return r.rc.Namespace }

// labels are the labels of every child: the parent's, then redhook's (which win on a clash).
func (r *clusterRenderer) labels(extra map[string]string) map[string]string {
	return merged(r.rc.Labels, ClusterSelectorLabels(r.name()),
		map[string]string{LabelManagedBy: managedBy}, extra)
}

func (r *clusterRenderer) meta(name string, extra, annotations map[string]string) ObjectMeta {
	return ObjectMeta{Name: name, Namespace: r.namespace(), Labels: r.labels(extra), Annotations: merged(annotations)}
}

// children renders every child, in a fixed order: the ConfigMap, the Services, then each shard's
// StatefulSet and PodDisruptionBudget, then the kept children of leaving shards.
func (r *clusterRenderer) children() []identified {
	out := []identified{r.configMap(), r.nodesService(), r.clientService()}
	for i := range r.shards {
		out = append(out, r.statefulSet(&r.shards[i]), r.shardPDB(r.shards[i].index))
	}
	for _, k := range r.kept {
		out = append(out, k)
	}
	return out
}

// configMap holds redis.conf. It never holds a secret: the password reaches redis-server as
// arguments of the start command, from the pod environment (clusterStart).
func (r *clusterRenderer) configMap() *ConfigMap {
	return &ConfigMap{APIVersion: "v1", Kind: "ConfigMap",
		Metadata: r.meta(ClusterClientName(r.name()), nil, nil),
		Data:     map[string]string{redisConfFile: r.redisConf()}}
}

func (r *clusterRenderer) redisConf() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# redis.conf of RedisCluster %s/%s, rendered by redhook: edits here are overwritten.\n",
		r.namespace(), r.name())
	b.WriteString("# Set spec.customConfig instead; it is rendered below.\n")
	fmt.Fprintf(&b, "port %d\n", DefaultRedisPort)
	fmt.Fprintf(&b, "bind %s\n", anyAddress)
	if !r.auth {
		// Protected mode refuses clients from other pods when no password is set.
		b.WriteString("protected-mode no\n")
	}
	fmt.Fprintf(&b, "dir %s\n", dataDir)
	b.WriteString("tcp-keepalive 60\n")
	b.WriteString("cluster-enabled yes\n")
	b.WriteString("# On the data volume: a node restarted on its volume keeps its node ID, slots and peers.\n")
	fmt.Fprintf(&b, "cluster-config-file %s/nodes.conf\n", dataDir)
	fmt.Fprintf(&b, "cluster-node-timeout %d\n", DefaultNodeTimeout)
	b.WriteString("# cluster-announce-ip (the pod IP) and, with auth, requirepass and masterauth are\n")
	b.WriteString("# passed by the start command: they are not known here, or secret.\n")
	if c := r.rc.Spec.CustomConfig; len(c) > 0 {
		b.WriteString("# spec.customConfig\n")
		for _, line := range c {
			b.WriteString(strings.TrimSpace(line) + "\n")
		}
	}
	return b.String()
}

// clusterStart is the redis container's start command. redis-server reads arguments after the
// file as configuration lines that win over it: the pod IP, known only in the pod, becomes
// cluster-announce-ip (the address the node gives its peers and clients in MOVED replies), and
// the password from the user's Secret requirepass and masterauth, so that no ConfigMap, child
// Secret or file holds it. redis-server replaces its command line (its process title) as it
// starts; REDISCLI_AUTH is in the environment for redis-cli anyway.
//
// A node without nodes.conf on its volume is a new node, and it may take the address of a master
// that just died (a pod recreated on an emptyDir, given the same IP): the dead master's replica
// still replicates that address, and would resynchronise from the new, empty node and lose the
// shard's data before Redis Cluster promotes it. So a new node waits 2 × cluster-node-timeout
// before it listens: by then the others have flagged the dead master failed and its replica has
// been promoted. The healer then forgets the dead node and makes the new one a replica.
func (r *clusterRenderer) clusterStart() string {
	wait := (2*clusterNodeTimeout(r.rc) + 999) / 1000
	return fmt.Sprintf(`set --
if [ -n "${REDISCLI_AUTH:-}" ]; then set -- --requirepass "$REDISCLI_AUTH" --masterauth "$REDISCLI_AUTH"; fi
if [ ! -e %[1]s/nodes.conf ]; then
  echo "no %[1]s/nodes.conf: a new node; waiting %[2]d s (2 x cluster-node-timeout) before listening, so that a dead master at this address is failed over first"
  sleep %[2]d
fi
exec redis-server %[3]s/%[4]s --cluster-announce-ip "$POD_IP" "$@"
`, dataDir, wait, redisConfigDir, redisConfFile)
}

// clusterPreStop is the redis container's preStop hook: a master hands its slots over to one of
// its replicas before it stops. CLUSTER FAILOVER, sent to the replica, is Redis Cluster's manual
// failover: the master pauses its clients, the replica catches up with its offset, takes over the
// slots and the master becomes its replica, so no acknowledged write is lost and clients follow
// the MOVED replies at once instead of waiting for cluster-node-timeout. The hook waits for the
// switch at most until the grace period minus 5 s (left for the shutdown), and asks again each
// time Redis abandons the manual failover (5 s without winning the election); a replica, or a
// master without an online replica, stops as it is.
func (r *clusterRenderer) clusterPreStop() string {
	wait := max(r.rc.Spec.TerminationGracePeriod-5, 0)
	return fmt.Sprintf(`# preStop of a Redis Cluster node, rendered by redhook.
host="${REDIS_HOST:-127.0.0.1}"
port="${REDIS_PORT:-%[1]d}"
t=""
if command -v timeout >/dev/null 2>&1; then t="timeout 2"; fi
info=$($t redis-cli -h "$host" -p "$port" info replication 2>/dev/null)
case $info in *role:master*) ;; *) exit 0 ;; esac
online() { printf '%%s\n' "$1" | sed -n 's/^slave[0-9]*:ip=\([^,]*\),port=\([0-9]*\),state=online.*/\1 \2/p' | head -n 1; }
replica=$(online "$info")
# A replica still in its first full sync (Redis delays a diskless one by repl-diskless-sync-delay)
# is not online yet: wait for it, at most 10 s.
tries=50
while [ -z "$replica" ] && [ "$tries" -gt 0 ]; do
  case $info in *connected_slaves:0*) break ;; esac
  sleep 0.2
  tries=$((tries - 1))
  info=$($t redis-cli -h "$host" -p "$port" info replication 2>/dev/null)
  replica=$(online "$info")
done
if [ -z "$replica" ]; then echo "a master without an online replica: no hand-over"; exit 0; fi
set -- $replica
end=$(($(date +%%s) + %[2]d))
while [ "$(date +%%s)" -lt "$end" ]; do
  echo "master: CLUSTER FAILOVER on the replica $1:$2"
  $t redis-cli -h "$1" -p "$2" cluster failover
  # Redis abandons a manual failover that has not won its election within 5 s (a master that
  # did not know the replica yet, a lost vote): ask again after 6 s.
  again=$(($(date +%%s) + 6))
  while [ "$(date +%%s)" -lt "$again" ] && [ "$(date +%%s)" -lt "$end" ]; do
    case $($t redis-cli -h "$host" -p "$port" info replication 2>/dev/null) in
    *role:slave*) echo "handed over to $1:$2"; exit 0 ;;
    esac
    sleep 0.2
  done
done
echo "no hand-over within %[2]d s"
`, DefaultRedisPort, wait)
}

// clusterReady is the cluster pods' readiness probe (see container).
const clusterReady = `info=$(redis-cli -h "${REDIS_HOST:-127.0.0.1}" -p "$REDIS_PORT" info replication | tr -d '\r') || exit 1
case $info in *role:master*) exit 0 ;; esac
case $info in *master_link_status:up*) ;; *) exit 1 ;; esac
case $info in *master_sync_in_progress:1*) exit 1 ;; esac
exit 0`

// statefulSet renders shard sh: 1 + replicationFactor pods, the healer makes one of them the
// shard's master and the others its replicas.
func (r *clusterRenderer) statefulSet(sh *clusterShard) *StatefulSet {
	s := &r.rc.Spec
	name := ClusterShardName(r.name(), sh.index)
	shard := map[string]string{LabelShard: fmt.Sprint(sh.index)}
	policy := appsv1.ParallelPodManagement // the healer decides roles: no pod needs another first
	if sh.observedPolicy != "" {
		policy = appsv1.PodManagementPolicyType(sh.observedPolicy) // immutable once created
	}
	claims := sh.observedClaims // immutable once created
	if claims == nil {
		claims = storageClaims(&s.Storage)
	}
	return &StatefulSet{APIVersion: "apps/v1", Kind: "StatefulSet",
		Metadata: r.meta(name, shard, nil),
		Spec: StatefulSetSpec{
			Replicas:            ptr(sh.rollout.replicas),
			Selector:            &metav1.LabelSelector{MatchLabels: ClusterShardLabels(r.name(), sh.index)},
			ServiceName:         ClusterNodesName(r.name()),
			PodManagementPolicy: policy,
			// As the RedisFailover's: the shard's master and the pods below it wait on the current
			// revision until the healer has failed the master over to an updated replica.
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(sh.rollout.partition)}},
			PersistentVolumeClaimRetentionPolicy: claimRetention(&s.Storage),
			Template: PodTemplate{
				Metadata: TemplateMeta{Labels: r.labels(shard), Annotations: merged(s.PodAnnotations)},
				Spec:     r.podSpec(sh.index),
			},
			VolumeClaimTemplates: claims,
		}}
}

func (r *clusterRenderer) podSpec(k int) corev1.PodSpec {
	s := &r.rc.Spec
	spec := podSpec(r.rc.podSettings(), s.TerminationGracePeriod)
	if s.Affinity == nil {
		// The pods of one shard on different nodes when possible: a node lost takes at most one
		// copy of the shard's slots. Pods of different shards may share a node.
		spec.Affinity = defaultAffinity(ClusterShardLabels(r.name(), k))
	}
	spec.Volumes = []corev1.Volume{configMapVolume("redis-config", ClusterClientName(r.name()))}
	if s.Storage.PersistentVolumeClaim == nil {
		spec.Volumes = append(spec.Volumes, emptyDirVolume(DefaultDataVolume, s.Storage.EmptyDir))
	}
	spec.Containers = []corev1.Container{r.container()}
	return spec
}

func (r *clusterRenderer) container() corev1.Container {
	s := &r.rc.Spec
	env := []corev1.EnvVar{{Name: "REDIS_PORT", Value: fmt.Sprint(DefaultRedisPort)}, podIPEnv()}
	if r.auth {
		env = append(env, secretEnv(s.Auth.SecretPath, "REDISCLI_AUTH")...)
	}
	return corev1.Container{
		Name: "redis", Image: s.Image, ImagePullPolicy: s.ImagePullPolicy,
		Command: []string{"sh", "-c", r.clusterStart()},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{"sh", "-c", r.clusterPreStop()}}}},
		Ports: []corev1.ContainerPort{
			{Name: "redis", ContainerPort: DefaultRedisPort, Protocol: corev1.ProtocolTCP},
			{Name: "cluster-bus", ContainerPort: DefaultRedisPort + ClusterBusShift, Protocol: corev1.ProtocolTCP},
		},
		Env:           env,
		LivenessProbe: livenessProbe(nil),
		// Ready: a master that answers, or a replica whose link to its master is up and not in a
		// full sync. A StatefulSet rollout then restarts a shard's next pod (its master last)
		// only once the restarted replica holds the data, so the master's preStop has an online
		// replica to hand over to. Whether the cluster serves every slot is the status's business.
		ReadinessProbe:  shellProbe(clusterReady, 5, 5, 5, 3),
		Resources:       *s.Resources.DeepCopy(),
		SecurityContext: s.ContainerSecurityContext.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "redis-config", MountPath: redisConfigDir, ReadOnly: true},
			{Name: dataVolume(&s.Storage), MountPath: dataDir},
		},
	}
}

// shardPDB lets one pod of shard k be evicted at a time: a drain never takes a shard's master
// and its replica at once, which would leave the shard's slots unserved. Pods of different
// shards may go together, and unhealthy pods always may (pdbObject).
func (r *clusterRenderer) shardPDB(k int) *PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return pdbObject(r.meta(ClusterShardName(r.name(), k), map[string]string{LabelShard: fmt.Sprint(k)}, nil),
		ClusterShardLabels(r.name(), k), policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one})
}

// nodesService is the headless Service of every node of every shard (the StatefulSets'
// serviceName): stable DNS names, published before the nodes are Ready, since a new node must
// be reachable for the healer's CLUSTER MEET before it serves anything.
func (r *clusterRenderer) nodesService() *Service {
	return &Service{APIVersion: "v1", Kind: "Service",
		Metadata: r.meta(ClusterNodesName(r.name()), nil, r.rc.Spec.ServiceAnnotations),
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  ClusterSelectorLabels(r.name()),
			Ports: []corev1.ServicePort{tcpPort("redis", DefaultRedisPort),
				tcpPort("cluster-bus", DefaultRedisPort+ClusterBusShift)},
			PublishNotReadyAddresses: true,
		}}
}

// clientService balances clients over every Ready node: a cluster client connects to any node
// once, reads the slot map and follows MOVED replies from then on.
func (r *clusterRenderer) clientService() *Service {
	return &Service{APIVersion: "v1", Kind: "Service",
		Metadata: r.meta(ClusterClientName(r.name()), nil, r.rc.Spec.ServiceAnnotations),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: ClusterSelectorLabels(r.name()),
			Ports:    []corev1.ServicePort{tcpPort("redis", DefaultRedisPort)},
		}}
}
