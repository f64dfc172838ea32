package hooks

import (
	"encoding/json"
	"errors"
	"strings"
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

	// ParentError is set by DecodeSyncRequest when a field of the parent has a value of the
	// wrong type; Sync then keeps every child as it is and reports the error.
	ParentError error `json:"-"`
}

// DecodeSyncRequest decodes a sync request in one pass. A parent whose spec has a value of the
// wrong type does not fail the decoding: a bad spec must not turn into an HTTP error loop, it must
// be reported in the status. ParentError is then set and the rest of the request is decoded.
func DecodeSyncRequest(b []byte) (SyncRequest, error) {
	var r SyncRequest
	parentErr, err := decodeHookRequest(b, &r)
	if err != nil {
		return SyncRequest{}, err
	}
	r.ParentError = parentErr
	if r.Parent.Name == "" {
		return SyncRequest{}, errors.New("request has no parent with a name")
	}
	return r, nil
}

// decodeHookRequest decodes a sync request of any parent kind into v. A value of the wrong type
// under "parent." is returned as parentErr, not err: the rest of the request is decoded.
func decodeHookRequest(b []byte, v any) (parentErr, err error) {
	err = json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && strings.HasPrefix(te.Field, "parent."):
		return err, nil
	case err != nil:
		return nil, err
	}
	return nil, nil
}

// HookResponse is the answer to a sync hook call, for a parent whose status is S. Every observed
// child missing from Children is deleted by Metacontroller; Status replaces the parent's status.
type HookResponse[S any] struct {
	Status             S       `json:"status"`
	Children           []any   `json:"children"`
	ResyncAfterSeconds float64 `json:"resyncAfterSeconds,omitempty"`
}

// SyncResponse is the answer to a RedisFailover sync.
type SyncResponse = HookResponse[RedisFailoverStatus]

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
