package hooks

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group, version and kind of the Redis Cluster parent. The group is redhook's own: spotahome has
// no Redis Cluster kind whose manifests would have to keep working. v1alpha1: new, and without
// an end-to-end history yet (docs/redis-cluster.md).
//
// controller-gen takes one group per package, the RedisFailover's; `make manifests` renames the
// group and version of the generated RedisCluster CRD (see the Makefile).
const (
	ClusterGroup      = "redhook.io"
	ClusterVersion    = "v1alpha1"
	ClusterKind       = "RedisCluster"
	ClusterAPIVersion = ClusterGroup + "/" + ClusterVersion
)

// RedisCluster is the parent resource of a sharded Redis Cluster: numberOfMaster shards, each a
// master with replicationFactor replicas, each shard one StatefulSet. The field names follow
// AmadeusITGroup/Redis-Operator's RedisCluster (numberOfMaster, replicationFactor) where they
// fit; the pod fields are the RedisFailover's redis fields, with the same Go types.
//
// +kubebuilder:object:root=true
// +kubebuilder:object:generate=true
// +kubebuilder:resource:shortName=rdc,path=redisclusters,scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="MASTERS",type=integer,JSONPath=`.spec.numberOfMaster`
// +kubebuilder:printcolumn:name="REPLICAS PER MASTER",type=integer,JSONPath=`.spec.replicationFactor`
// +kubebuilder:printcolumn:name="STATE",type=string,JSONPath=`.status.clusterState`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 45",message="metadata.name: at most 45 characters, so that the shard StatefulSets' pod revision labels (rdc-NAME-99-HASH) fit in 63"
type RedisCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec defaults to {}, so that the API server fills in its defaults (numberOfMaster,
	// replicationFactor) in a RedisCluster written without a spec too: it defaults the fields of
	// an object only where the object is present.
	// +kubebuilder:default={}
	Spec   RedisClusterSpec   `json:"spec,omitempty"`
	Status RedisClusterStatus `json:"status,omitempty"`
}

// RedisClusterSpec is the desired state of a Redis Cluster.
// +kubebuilder:object:generate=true
type RedisClusterSpec struct {
	// NumberOfMaster is the number of shards, each with one master (Amadeus' name). Default 3,
	// the least Redis Cluster accepts for a majority of masters to fail a node over.
	// +kubebuilder:validation:Minimum=3
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=3
	NumberOfMaster int32 `json:"numberOfMaster,omitempty"`
	// ReplicationFactor is the number of replicas of each master (Amadeus' name). Default 1. A
	// pointer: 0 (no replica, no failover) is a valid choice and differs from absent.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=5
	// +kubebuilder:default=1
	ReplicationFactor *int32 `json:"replicationFactor,omitempty"`

	Image string `json:"image,omitempty"`
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy           `json:"imagePullPolicy,omitempty"`
	Resources       corev1.ResourceRequirements `json:"resources,omitempty"`
	// Storage is the data volume of every node (nodes.conf lives on it): a PVC template or an
	// emptyDir, as spec.redis.storage of a RedisFailover.
	Storage RedisStorage        `json:"storage,omitempty"`
	Auth    ClusterAuthSettings `json:"auth,omitempty"`
	// CustomConfig holds "option value" lines of Redis 7.0, one line each, rendered into
	// redis.conf after redhook's own; the cluster options redhook manages are refused.
	// +kubebuilder:validation:items:Pattern=`^[ \t]*[A-Za-z][A-Za-z0-9_-]*[ \t]+[^\r\n]*[^ \t\r\n][^\r\n]*$`
	CustomConfig []string `json:"customConfig,omitempty"`

	// The pod fields below are the RedisFailover's (spec.redis), with the same meaning.
	Affinity                  *corev1.Affinity                  `json:"affinity,omitempty"`
	Tolerations               []corev1.Toleration               `json:"tolerations,omitempty"`
	NodeSelector              map[string]string                 `json:"nodeSelector,omitempty"`
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	SecurityContext           *corev1.PodSecurityContext        `json:"securityContext,omitempty"`
	ContainerSecurityContext  *corev1.SecurityContext           `json:"containerSecurityContext,omitempty"`
	ImagePullSecrets          []corev1.LocalObjectReference     `json:"imagePullSecrets,omitempty"`
	PodAnnotations            map[string]string                 `json:"podAnnotations,omitempty"`
	ServiceAnnotations        map[string]string                 `json:"serviceAnnotations,omitempty"`
	PriorityClassName         string                            `json:"priorityClassName,omitempty"`
	ServiceAccountName        string                            `json:"serviceAccountName,omitempty"`
	// TerminationGracePeriod in seconds (default 30).
	// +kubebuilder:validation:Minimum=0
	TerminationGracePeriod int64 `json:"terminationGracePeriod,omitempty"`
}

// ClusterAuthSettings names the Secret that holds the password (key "password"), as
// spec.auth.secretPath of a RedisFailover.
// +kubebuilder:object:generate=true
type ClusterAuthSettings struct {
	SecretPath string `json:"secretPath,omitempty"`
}

// RedisClusterStatus is computed on every sync from the observed children, the related pods and
// the healer's ClusterReport.
// +kubebuilder:object:generate=true
type RedisClusterStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	// ClusterState is cluster_state of CLUSTER INFO as the healer last saw it: "ok" or "fail";
	// absent until the healer has reported.
	ClusterState string `json:"clusterState,omitempty"`
	// SlotsAssigned counts the hash slots (of 16384) served by a master.
	SlotsAssigned int32 `json:"slotsAssigned,omitempty"`
	// SlotsMigrating counts the slots being migrated between shards.
	SlotsMigrating int32 `json:"slotsMigrating,omitempty"`
	// Shards are the shards the healer reported, by index.
	Shards []ClusterShardStatus `json:"shards,omitempty"`
	// Connection is the client Service (any node; clients follow MOVED redirections).
	Connection string `json:"connection,omitempty"`
	// LastActions are the healer's most recent actions, newest first.
	LastActions []ActionRecord `json:"lastActions,omitempty"`
}

// ClusterShardStatus is one shard: its master's and replicas' pods and the slots it holds.
// +kubebuilder:object:generate=true
type ClusterShardStatus struct {
	Index    int32    `json:"index"`
	Master   string   `json:"master,omitempty"`
	Replicas []string `json:"replicas,omitempty"`
	Slots    int32    `json:"slots"`
}
