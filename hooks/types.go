package hooks

import (
	"encoding/json"
	"reflect"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group, version and kind of the parent resource. They are spotahome's, so that existing
// manifests keep working unchanged.
const (
	Group      = "databases.spotahome.com"
	Version    = "v1"
	Kind       = "RedisFailover"
	APIVersion = Group + "/" + Version
)

// RedisFailover is the parent resource: Redis with Sentinel, master, replicas and automatic
// failover. The spec is a superset of spotahome/redis-operator's v1 spec.
//
// +kubebuilder:object:root=true
// +kubebuilder:object:generate=true
// +kubebuilder:resource:shortName=rf,path=redisfailovers,scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.redis.replicas,statuspath=.status.redis.replicas
// +kubebuilder:printcolumn:name="REDIS",type=integer,JSONPath=`.status.redis.replicas`
// +kubebuilder:printcolumn:name="SENTINELS",type=integer,JSONPath=`.status.sentinel.replicas`
// +kubebuilder:printcolumn:name="MASTER",type=string,JSONPath=`.status.master.pod`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 48",message="metadata.name: at most 48 characters, so that child names such as rfr-readiness-NAME fit in 63"
type RedisFailover struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RedisFailoverSpec   `json:"spec,omitempty"`
	Status RedisFailoverStatus `json:"status,omitempty"`
}

// RedisFailoverSpec is the desired state. Field names, types and defaults follow spotahome's v1.
// +kubebuilder:object:generate=true
type RedisFailoverSpec struct {
	Redis    RedisSettings    `json:"redis,omitempty"`
	Sentinel SentinelSettings `json:"sentinel,omitempty"`
	Auth     AuthSettings     `json:"auth,omitempty"`
	// LabelWhitelist holds regular expressions; only parent label keys matching one of them
	// propagate to the children. Empty: every parent label propagates.
	LabelWhitelist []string `json:"labelWhitelist,omitempty"`
	// BootstrapNode makes every redis replicate an external node (a migration source).
	BootstrapNode *BootstrapSettings `json:"bootstrapNode,omitempty"`
}

// AuthSettings names the Secret that holds the password (key "password").
// +kubebuilder:object:generate=true
type AuthSettings struct {
	SecretPath string `json:"secretPath,omitempty"`
	// Sentinel makes the sentinels require the password too (requirepass in sentinel.conf);
	// Sentinel-aware clients must then send it to the sentinels. Off by default, as in
	// spotahome, whose sentinels require none: clients configured for spotahome keep working.
	// The sentinels always authenticate to redis (auth-pass). Requires secretPath.
	Sentinel bool `json:"sentinel,omitempty"`
}

// BootstrapSettings names the external node that every redis replicates while bootstrapping.
//
// +kubebuilder:validation:XValidation:rule="has(self.host) && size(self.host) > 0",message="spec.bootstrapNode.host: must be set when bootstrapNode is set"
// +kubebuilder:validation:XValidation:rule="!has(self.host) || !self.host.matches('^(127[.][0-9.]+|169[.]254[.][0-9.]+|0[.]0[.]0[.]0|224[.]0[.]0[.][0-9]+|::1?|[fF][eE][89aAbB][0-9a-fA-F]:[0-9a-fA-F:.]*)$')",message="spec.bootstrapNode.host: a loopback, link-local or unspecified address is not a bootstrap node: in a pod it is the pod itself or not routable, and the API server refuses it in the master EndpointSlice"
// +kubebuilder:object:generate=true
type BootstrapSettings struct {
	// Host is an IP address or a DNS name, not a loopback, link-local or unspecified address.
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host,omitempty"`
	// Port is a string in spotahome's API, but its examples also give a number (port: 6379);
	// both are accepted. Default "6379".
	Port           BootstrapPort `json:"port,omitempty"`
	AllowSentinels bool          `json:"allowSentinels,omitempty"`
}

// BootstrapPort is a port given as a JSON string ("6379", spotahome's type) or number (6379, as
// spotahome's bootstrapping-with-port example writes it). It is kept and written as a string.
//
// +kubebuilder:validation:XIntOrString
// +kubebuilder:validation:Type=""
// +kubebuilder:validation:Pattern=`^[0-9]{1,5}$`
type BootstrapPort string

// UnmarshalJSON accepts a string or an integer.
func (p *BootstrapPort) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = BootstrapPort(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*p = BootstrapPort(strconv.FormatInt(n, 10))
		return nil
	}
	// json adds the field path to an UnmarshalTypeError, so Sync reports it as a spec error.
	return &json.UnmarshalTypeError{Value: "value " + string(b), Type: reflect.TypeOf(*p)}
}

// RedisCommandRename renders one `rename-command FROM TO` line; an empty To disables FROM.
// +kubebuilder:object:generate=true
type RedisCommandRename struct {
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_|.-]+$`
	From string `json:"from,omitempty"`
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_|.-]*$`
	To string `json:"to,omitempty"`
}

// RedisStorage selects the data volume: a PVC template when persistentVolumeClaim is set, else
// emptyDir (default: an emptyDir with no limits).
// +kubebuilder:object:generate=true
type RedisStorage struct {
	KeepAfterDeletion     bool                           `json:"keepAfterDeletion,omitempty"`
	EmptyDir              *corev1.EmptyDirVolumeSource   `json:"emptyDir,omitempty"`
	PersistentVolumeClaim *EmbeddedPersistentVolumeClaim `json:"persistentVolumeClaim,omitempty"`
}

// EmbeddedPersistentVolumeClaim is a PVC template: only name, labels and annotations of its
// metadata are used.
// +kubebuilder:object:generate=true
type EmbeddedPersistentVolumeClaim struct {
	metav1.TypeMeta        `json:",inline"`
	EmbeddedObjectMetadata `json:"metadata,omitempty"`
	Spec                   corev1.PersistentVolumeClaimSpec `json:"spec,omitempty"`
	// Status is accepted for compatibility with spotahome manifests and ignored.
	Status *corev1.PersistentVolumeClaimStatus `json:"status,omitempty"`
}

// EmbeddedObjectMetadata is the part of ObjectMeta a template may set.
// +kubebuilder:object:generate=true
type EmbeddedObjectMetadata struct {
	Name        string            `json:"name,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Exporter is a metrics sidecar (redis_exporter for redis, a sentinel exporter for sentinels).
// +kubebuilder:object:generate=true
type Exporter struct {
	Enabled                  bool                    `json:"enabled,omitempty"`
	Image                    string                  `json:"image,omitempty"`
	ImagePullPolicy          corev1.PullPolicy       `json:"imagePullPolicy,omitempty"`
	ContainerSecurityContext *corev1.SecurityContext `json:"containerSecurityContext,omitempty"`
	Args                     []string                `json:"args,omitempty"`
	Env                      []corev1.EnvVar         `json:"env,omitempty"`
	// Resources: unset gets spotahome's defaults (requests 10m CPU, 50Mi; limits 1 CPU, 100Mi);
	// {} means none. A pointer, as in spotahome, to tell the two apart.
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// PodSettings are the pod-level fields that redis and sentinel share.
// +kubebuilder:object:generate=true
type PodSettings struct {
	Image string `json:"image,omitempty"`
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// Replicas: 0 means the default (3), as in spotahome.
	// +kubebuilder:validation:Minimum=0
	Replicas  int32                       `json:"replicas,omitempty"`
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// CustomConfig holds "option value" lines, one line each.
	// +kubebuilder:validation:items:Pattern=`^[ \t]*[A-Za-z][A-Za-z0-9_-]*[ \t]+[^\r\n]*[^ \t\r\n][^\r\n]*$`
	CustomConfig              []string                          `json:"customConfig,omitempty"`
	Command                   []string                          `json:"command,omitempty"`
	StartupConfigMap          string                            `json:"startupConfigMap,omitempty"`
	InitContainers            []corev1.Container                `json:"initContainers,omitempty"`
	ExtraContainers           []corev1.Container                `json:"extraContainers,omitempty"`
	Exporter                  Exporter                          `json:"exporter,omitempty"`
	Affinity                  *corev1.Affinity                  `json:"affinity,omitempty"`
	SecurityContext           *corev1.PodSecurityContext        `json:"securityContext,omitempty"`
	ContainerSecurityContext  *corev1.SecurityContext           `json:"containerSecurityContext,omitempty"`
	ImagePullSecrets          []corev1.LocalObjectReference     `json:"imagePullSecrets,omitempty"`
	Tolerations               []corev1.Toleration               `json:"tolerations,omitempty"`
	NodeSelector              map[string]string                 `json:"nodeSelector,omitempty"`
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	PodAnnotations            map[string]string                 `json:"podAnnotations,omitempty"`
	ServiceAnnotations        map[string]string                 `json:"serviceAnnotations,omitempty"`
	HostNetwork               bool                              `json:"hostNetwork,omitempty"`
	// EnableServiceLinks sets the pods' enableServiceLinks (default true, the Kubernetes default
	// and so spotahome's): the kubelet passes every Service of the namespace as environment
	// variables, such as RFS_NAME_SERVICE_HOST that spotahome's custom shutdown example uses.
	// false keeps large namespaces from filling the environment.
	EnableServiceLinks *bool `json:"enableServiceLinks,omitempty"`
	// +kubebuilder:validation:Enum=ClusterFirst;ClusterFirstWithHostNet;Default;None
	DNSPolicy                  corev1.DNSPolicy     `json:"dnsPolicy,omitempty"`
	PriorityClassName          string               `json:"priorityClassName,omitempty"`
	ServiceAccountName         string               `json:"serviceAccountName,omitempty"`
	ExtraVolumes               []corev1.Volume      `json:"extraVolumes,omitempty"`
	ExtraVolumeMounts          []corev1.VolumeMount `json:"extraVolumeMounts,omitempty"`
	CustomLivenessProbe        *corev1.Probe        `json:"customLivenessProbe,omitempty"`
	CustomReadinessProbe       *corev1.Probe        `json:"customReadinessProbe,omitempty"`
	CustomStartupProbe         *corev1.Probe        `json:"customStartupProbe,omitempty"`
	DisablePodDisruptionBudget bool                 `json:"disablePodDisruptionBudget,omitempty"`
}

// RedisSettings configures the redis StatefulSet.
// +kubebuilder:object:generate=true
type RedisSettings struct {
	PodSettings `json:",inline"`

	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	Port                 int32                `json:"port,omitempty"`
	CustomCommandRenames []RedisCommandRename `json:"customCommandRenames,omitempty"`
	// CustomConfigUnchecked holds "option value" lines rendered into redis.conf after
	// customConfig without checking the option against Redis 7.0's table (options of newer
	// Redis versions, modules). They are not applied live: a pod reads them when it starts.
	// +kubebuilder:validation:items:Pattern=`^[ \t]*[A-Za-z][A-Za-z0-9_-]*[ \t]+[^\r\n]*[^ \t\r\n][^\r\n]*$`
	CustomConfigUnchecked []string     `json:"customConfigUnchecked,omitempty"`
	ShutdownConfigMap     string       `json:"shutdownConfigMap,omitempty"`
	Storage               RedisStorage `json:"storage,omitempty"`
	// TerminationGracePeriod in seconds (default 30). The shutdown script waits at most
	// grace − 5 s for a failover, leaving time to SAVE.
	// +kubebuilder:validation:Minimum=0
	TerminationGracePeriod int64 `json:"terminationGracePeriod,omitempty"`
}

// SentinelSettings configures the sentinel Deployment.
// +kubebuilder:object:generate=true
type SentinelSettings struct {
	PodSettings `json:",inline"`

	// Enabled: false runs redis without Sentinel (sentinel-less mode, as spotahome's maintained
	// fork): no sentinel children are rendered, and redhook's healer detects the master's failure
	// and promotes a replica itself, the master fenced with min-replicas-to-write 1
	// (docs/healer.md, "Sentinel-less mode"). Absent or true: Sentinel decides failovers. A
	// pointer so that absent means true.
	Enabled *bool `json:"enabled,omitempty"`
	// DetectionTimeoutSeconds is, in sentinel-less mode, how long the master's replicas must have
	// lost their link to it before the healer fails over (a master that is killed, refusing
	// connections, is failed over at once). Default 5; the fencing settings follow from it.
	// Sentinel mode ignores it: down-after-milliseconds in customConfig is Sentinel's own.
	// +kubebuilder:validation:Minimum=5
	// +kubebuilder:validation:Maximum=60
	DetectionTimeoutSeconds int32 `json:"detectionTimeoutSeconds,omitempty"`

	ConfigCopy SentinelConfigCopy `json:"configCopy,omitempty"`
	// MasterName is the Sentinel master group name (redhook addition). Default "mymaster".
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]+$`
	MasterName string `json:"masterName,omitempty"`
}

// SentinelConfigCopy configures the init container that copies sentinel.conf to a writable
// volume (Sentinel rewrites its own configuration file).
// +kubebuilder:object:generate=true
type SentinelConfigCopy struct {
	ContainerSecurityContext *corev1.SecurityContext `json:"containerSecurityContext,omitempty"`
}

// RedisFailoverStatus is computed on every sync from what is observed: children, related pods
// and the healer's report. Metacontroller writes observedGeneration.
// +kubebuilder:object:generate=true
type RedisFailoverStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	Master             *MasterStatus      `json:"master,omitempty"`
	Redis              *CountStatus       `json:"redis,omitempty"`
	Sentinel           *CountStatus       `json:"sentinel,omitempty"`
	Connection         *ConnectionStatus  `json:"connection,omitempty"`
	// Failover says, in sentinel-less mode, that redhook decides failovers; absent in Sentinel
	// mode (status.connection.sentinel then names the sentinels) and bootstrap mode.
	Failover *FailoverStatus `json:"failover,omitempty"`
	// LastActions are the healer's most recent actions, newest first.
	LastActions []ActionRecord `json:"lastActions,omitempty"`
}

// FailoverStatus is the failover mode and who decides failovers in it.
// +kubebuilder:object:generate=true
type FailoverStatus struct {
	// Mode is Sentinelless (spec.sentinel.enabled: false).
	Mode string `json:"mode"`
	// DecidedBy is who promotes a replica when the master fails: redhook.
	DecidedBy string `json:"decidedBy"`
	// DetectionTimeoutSeconds is the sentinel-less detection timeout in force.
	DetectionTimeoutSeconds int32 `json:"detectionTimeoutSeconds,omitempty"`
}

// MasterStatus names the current master.
// +kubebuilder:object:generate=true
type MasterStatus struct {
	Pod string `json:"pod,omitempty"`
	IP  string `json:"ip,omitempty"`
}

// CountStatus counts pods. InSync is set for redis, Agreeing for sentinels.
// +kubebuilder:object:generate=true
type CountStatus struct {
	Replicas int32  `json:"replicas"`
	Ready    int32  `json:"ready"`
	InSync   *int32 `json:"inSync,omitempty"`
	Agreeing *int32 `json:"agreeing,omitempty"`
}

// ConnectionStatus tells clients where to connect.
// +kubebuilder:object:generate=true
type ConnectionStatus struct {
	Sentinel   string `json:"sentinel,omitempty"`
	MasterName string `json:"masterName,omitempty"`
	Master     string `json:"master,omitempty"`
	Replicas   string `json:"replicas,omitempty"`
}

// ActionRecord is one healer write and why it was made.
//
// +kubebuilder:object:generate=true
type ActionRecord struct {
	Time   metav1.Time `json:"time"`
	Action string      `json:"action"`
	Reason string      `json:"reason"`
}
