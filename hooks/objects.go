package hooks

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The desired children. They reuse the Kubernetes API types for everything below the top level,
// but carry their own metadata and no status: Metacontroller applies exactly what it gets, and a
// desired object has no creationTimestamp and no status to send.

// ObjectMeta is the metadata of a desired object.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// TemplateMeta is the metadata of a pod or claim template.
type TemplateMeta struct {
	Name        string            `json:"name,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Object is a desired child with a spec.
type Object[S any] struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       S          `json:"spec"`
}

// ConfigMap is a desired ConfigMap.
type ConfigMap struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   ObjectMeta        `json:"metadata"`
	Data       map[string]string `json:"data"`
}

// SecretObject is a desired Secret. Data, not stringData: the API server turns stringData into
// data, so a 3-way merge on stringData would see a change on every sync.
type SecretObject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   ObjectMeta        `json:"metadata"`
	Type       corev1.SecretType `json:"type"`
	Data       map[string][]byte `json:"data"`
}

// EndpointSlice is a desired EndpointSlice.
type EndpointSlice struct {
	APIVersion  string                  `json:"apiVersion"`
	Kind        string                  `json:"kind"`
	Metadata    ObjectMeta              `json:"metadata"`
	AddressType discoveryv1.AddressType `json:"addressType"`
	// Endpoints is left out when empty: the API server returns an EndpointSlice without
	// endpoints as "endpoints": null, and a rendered [] differs from it on every sync.
	Endpoints []discoveryv1.Endpoint     `json:"endpoints,omitempty"`
	Ports     []discoveryv1.EndpointPort `json:"ports"`
}

// PodTemplate is a pod template without creationTimestamp.
type PodTemplate struct {
	Metadata TemplateMeta   `json:"metadata"`
	Spec     corev1.PodSpec `json:"spec"`
}

// ClaimTemplate is a PVC template as the API server stores it in a StatefulSet: with apiVersion
// v1, kind PersistentVolumeClaim and status {phase: Pending}, which it fills in. Metacontroller's
// merge replaces the list of claim templates whole (its items have no key it recognises), so a
// template without them differs from the stored one on every sync.
type ClaimTemplate struct {
	APIVersion string                              `json:"apiVersion,omitempty"`
	Kind       string                              `json:"kind,omitempty"`
	Metadata   TemplateMeta                        `json:"metadata"`
	Spec       corev1.PersistentVolumeClaimSpec    `json:"spec"`
	Status     *corev1.PersistentVolumeClaimStatus `json:"status,omitempty"`
}

// StatefulSetSpec holds the StatefulSet fields redhook sets.
type StatefulSetSpec struct {
	Replicas                             *int32                                                  `json:"replicas"`
	Selector                             *metav1.LabelSelector                                   `json:"selector"`
	ServiceName                          string                                                  `json:"serviceName"`
	PodManagementPolicy                  appsv1.PodManagementPolicyType                          `json:"podManagementPolicy,omitempty"`
	UpdateStrategy                       appsv1.StatefulSetUpdateStrategy                        `json:"updateStrategy"`
	PersistentVolumeClaimRetentionPolicy *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`
	Template                             PodTemplate                                             `json:"template"`
	VolumeClaimTemplates                 []ClaimTemplate                                         `json:"volumeClaimTemplates,omitempty"`
}

// DeploymentSpec holds the Deployment fields redhook sets.
type DeploymentSpec struct {
	Replicas *int32                    `json:"replicas"`
	Selector *metav1.LabelSelector     `json:"selector"`
	Strategy appsv1.DeploymentStrategy `json:"strategy"`
	Template PodTemplate               `json:"template"`
}

// The desired child kinds with a spec.
type (
	StatefulSet         = Object[StatefulSetSpec]
	Deployment          = Object[DeploymentSpec]
	Service             = Object[corev1.ServiceSpec]
	PodDisruptionBudget = Object[policyv1.PodDisruptionBudgetSpec]
)

// childID names a child the way Metacontroller's maps do: Kind.apiVersion and name.
type childID struct{ key, name string }

func (o *Object[S]) id() childID    { return childID{o.Kind + "." + o.APIVersion, o.Metadata.Name} }
func (c *ConfigMap) id() childID    { return childID{KeyConfigMap, c.Metadata.Name} }
func (s *SecretObject) id() childID { return childID{KeySecret, s.Metadata.Name} }
func (e *EndpointSlice) id() childID {
	return childID{KeyEndpointSlice, e.Metadata.Name}
}

// String is Kind/name.
func (id childID) String() string {
	kind, _, _ := strings.Cut(id.key, ".")
	return kind + "/" + id.name
}

// identified is what every desired child is.
type identified interface{ id() childID }
