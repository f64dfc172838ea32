package hooks

import (
	"encoding/json"
	"fmt"
)

// Metacontroller's v2 hook wire format. Metacontroller's own Go module cannot be imported (its
// module path is plain "metacontroller"), so redhook owns these copies. See
// https://metacontroller.github.io/metacontroller/api/compositecontroller.html

// Keys of the children and related maps: Kind.apiVersion.
const (
	KeyConfigMap     = "ConfigMap.v1"
	KeySecret        = "Secret.v1"
	KeyService       = "Service.v1"
	KeyPod           = "Pod.v1"
	KeyEndpointSlice = "EndpointSlice.discovery.k8s.io/v1"
	KeyStatefulSet   = "StatefulSet.apps/v1"
	KeyDeployment    = "Deployment.apps/v1"
	KeyPDB           = "PodDisruptionBudget.policy/v1"
)

// Objects is a children or related map: Kind.apiVersion → namespace/name → object. Objects stay
// raw JSON until a renderer needs one, so a sync only decodes what it reads.
type Objects map[string]map[string]json.RawMessage

// SyncRequest is the body of a sync hook call.
type SyncRequest struct {
	Controller json.RawMessage `json:"controller,omitempty"`
	Parent     RedisFailover   `json:"parent"`
	Children   Objects         `json:"children,omitempty"`
	Related    Objects         `json:"related,omitempty"`
	Finalizing bool            `json:"finalizing,omitempty"`

	// ParentError is set when the parent's spec did not decode (a value of the wrong type).
	// Parent then holds only its metadata and status, and Sync keeps every child as it is.
	ParentError error `json:"-"`
}

// UnmarshalJSON decodes a request whose parent spec may be malformed without failing: a bad
// spec must not turn into an HTTP error loop, it must be reported in the status.
func (r *SyncRequest) UnmarshalJSON(b []byte) error {
	var raw struct {
		Controller json.RawMessage `json:"controller,omitempty"`
		Parent     json.RawMessage `json:"parent"`
		Children   Objects         `json:"children,omitempty"`
		Related    Objects         `json:"related,omitempty"`
		Finalizing bool            `json:"finalizing,omitempty"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*r = SyncRequest{Controller: raw.Controller, Children: raw.Children, Related: raw.Related,
		Finalizing: raw.Finalizing}
	if len(raw.Parent) == 0 || string(raw.Parent) == "null" {
		return fmt.Errorf("request has no parent")
	}
	if err := json.Unmarshal(raw.Parent, &r.Parent); err == nil {
		return nil
	} else {
		r.ParentError = err
	}
	var meta struct {
		APIVersion string              `json:"apiVersion"`
		Kind       string              `json:"kind"`
		Metadata   json.RawMessage     `json:"metadata"`
		Status     RedisFailoverStatus `json:"status"`
	}
	if err := json.Unmarshal(raw.Parent, &meta); err != nil {
		return fmt.Errorf("parent: %w", err)
	}
	r.Parent = RedisFailover{Status: meta.Status}
	r.Parent.APIVersion, r.Parent.Kind = meta.APIVersion, meta.Kind
	if len(meta.Metadata) > 0 {
		if err := json.Unmarshal(meta.Metadata, &r.Parent.ObjectMeta); err != nil {
			return fmt.Errorf("parent metadata: %w", err)
		}
	}
	return nil
}

// SyncResponse is the answer to a sync hook call. Every observed child missing from Children is
// deleted by Metacontroller; Status replaces the parent's status.
type SyncResponse struct {
	Status             RedisFailoverStatus `json:"status"`
	Children           []any               `json:"children"`
	ResyncAfterSeconds float64             `json:"resyncAfterSeconds,omitempty"`
}

// CustomizeRequest is the body of a customize hook call.
type CustomizeRequest struct {
	Controller json.RawMessage `json:"controller,omitempty"`
	Parent     RedisFailover   `json:"parent"`
}

// CustomizeResponse lists the related objects Metacontroller sends with every sync.
type CustomizeResponse struct {
	RelatedResources []RelatedResourceRule `json:"relatedResources"`
}

// RelatedResourceRule selects related objects by label selector or by names.
type RelatedResourceRule struct {
	APIVersion    string         `json:"apiVersion"`
	Resource      string         `json:"resource"`
	Namespace     string         `json:"namespace,omitempty"`
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`
	Names         []string       `json:"names,omitempty"`
}

// LabelSelector is metav1.LabelSelector restricted to matchLabels.
type LabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}
