package hooks

import (
	"encoding/json"
	"sort"
	"strings"
)

// What Sync reads from the observed children.

// lastAppliedAnnotation is where Metacontroller keeps the desired object it last applied.
const lastAppliedAnnotation = "metacontroller.k8s.io/last-applied-configuration"

// serverSetMetadata are metadata fields the API server or Metacontroller set; a held child
// without a last-applied annotation is returned without them.
var serverSetMetadata = []string{"uid", "resourceVersion", "generation", "creationTimestamp",
	"deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink", "ownerReferences"}

// heldChild is an observed child as it was last applied.
type heldChild struct {
	id  childID
	obj json.RawMessage
}

// held returns every observed child as it was last applied (its last-applied annotation), or
// else as observed without status and server-set metadata, sorted by kind and name. Returning
// these changes nothing and deletes nothing.
func held(children Objects) []heldChild {
	var out []heldChild
	for key, objs := range children {
		for nsName, raw := range objs {
			name := nsName[strings.IndexByte(nsName, '/')+1:]
			out = append(out, heldChild{id: childID{key, name}, obj: asLastApplied(raw)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].id.key != out[j].id.key {
			return out[i].id.key < out[j].id.key
		}
		return out[i].id.name < out[j].id.name
	})
	return out
}

func asLastApplied(raw json.RawMessage) json.RawMessage {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return raw // not an object: nothing better to return than what was observed
	}
	meta, _ := obj["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	if last, ok := annotations[lastAppliedAnnotation].(string); ok && json.Valid([]byte(last)) {
		var probe map[string]any
		if json.Unmarshal([]byte(last), &probe) == nil && probe["kind"] != nil {
			return json.RawMessage(last)
		}
	}
	delete(obj, "status")
	for _, k := range serverSetMetadata {
		delete(meta, k)
	}
	if annotations != nil {
		delete(annotations, lastAppliedAnnotation)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return b
}

// observedObject decodes the observed child key/namespace/name into v; false when absent or
// unreadable.
func observedObject(children Objects, key, namespace, name string, v any) bool {
	raw, ok := children[key][namespace+"/"+name]
	return ok && json.Unmarshal(raw, v) == nil
}

// workload is the part of an observed StatefulSet or Deployment that the status reads.
type workload struct {
	Metadata struct {
		Generation int64 `json:"generation"`
	} `json:"metadata"`
	Spec struct {
		Replicas             *int32          `json:"replicas"`
		PodManagementPolicy  string          `json:"podManagementPolicy"`
		VolumeClaimTemplates []ClaimTemplate `json:"volumeClaimTemplates"`
		UpdateStrategy       struct {
			RollingUpdate *struct {
				Partition *int32 `json:"partition"`
			} `json:"rollingUpdate"`
		} `json:"updateStrategy"`
	} `json:"spec"`
	Status struct {
		ObservedGeneration int64  `json:"observedGeneration"`
		Replicas           int32  `json:"replicas"`
		ReadyReplicas      int32  `json:"readyReplicas"`
		UpdatedReplicas    int32  `json:"updatedReplicas"`
		CurrentRevision    string `json:"currentRevision"`
		UpdateRevision     string `json:"updateRevision"`
	} `json:"status"`
}

// observedWorkload decodes an observed StatefulSet or Deployment; nil when absent or unreadable.
func observedWorkload(children Objects, key, namespace, name string) *workload {
	var w workload
	if !observedObject(children, key, namespace, name, &w) {
		return nil
	}
	return &w
}

// rolledOut tells whether the controller has caught up with the spec and every pod runs it.
func (w *workload) rolledOut(statefulSet bool) bool {
	want := int32(1)
	if w.Spec.Replicas != nil {
		want = *w.Spec.Replicas
	}
	s := &w.Status
	done := s.ObservedGeneration >= w.Metadata.Generation && s.UpdatedReplicas == want &&
		s.ReadyReplicas == want && s.Replicas == want
	if statefulSet && s.UpdateRevision != "" {
		done = done && s.CurrentRevision == s.UpdateRevision
	}
	return done
}

// observedSentinelMaster returns the master address in the observed sentinel.conf.
func observedSentinelMaster(children Objects, namespace, rf, master string) string {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if !observedObject(children, KeyConfigMap, namespace, sentinelName(rf), &cm) {
		return ""
	}
	for _, line := range strings.Split(cm.Data[sentinelConfFile], "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "sentinel" && f[1] == "monitor" && f[2] == master {
			return f[3]
		}
	}
	return ""
}
