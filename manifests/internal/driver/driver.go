// Package driver does, for redhook's tests, what Metacontroller does for a CompositeController
// with v2 hooks: customize → gather the related objects → gather the owned children → sync →
// apply the desired children (server-side apply as field manager "metacontroller", with the
// controller-uid label and the controller ownerReference Metacontroller adds) → delete the owned
// children that were not returned → write the status through the status subresource (with
// observedGeneration). Controller runs it continuously, triggered by watches and resyncs.
//
// Only tests import this package (manifests and manifests/e2e); it is internal so that nothing
// else can. See docs/architecture.md ("The wire protocol and its traps") and hooks/wire.go.
package driver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/hooks"
)

// MetacontrollerManager is the field manager of what Metacontroller (or this driver) writes.
const MetacontrollerManager = "metacontroller"

// LastAppliedAnnotation is where Metacontroller keeps the desired object it last applied.
const LastAppliedAnnotation = "metacontroller.k8s.io/last-applied-configuration"

// The parent kinds: RedisFailover (CompositeController redhook) and RedisCluster
// (redhook-cluster).
var (
	RedisFailover = schema.GroupVersionKind{Group: "databases.spotahome.com", Version: "v1", Kind: "RedisFailover"}
	RedisCluster  = schema.GroupVersionKind{Group: "redhook.io", Version: "v1alpha1", Kind: "RedisCluster"}
)

// WireKey is Kind.apiVersion, the key of the children and related maps.
func WireKey(gvk schema.GroupVersionKind) string {
	av, kind := gvk.ToAPIVersionAndKind()
	return kind + "." + av
}

// Hook is where the hooks are called: Base + the path of each hook of the CompositeController
// (/customize and /sync for RedisFailovers, /customize-cluster and /sync-cluster for
// RedisClusters).
type Hook struct {
	Base string
	HTTP *http.Client
}

// Driver runs sync passes of the parents of one CompositeController (RedisFailovers or
// RedisClusters) against a hook server.
type Driver struct {
	Client     *Client
	Hook       Hook
	Controller map[string]any            // the CompositeController object
	ChildTypes []schema.GroupVersionKind // its childResources
	Logf       func(format string, args ...any)
	// SkipSettled leaves out the apply of a child whose desired form is the one whose last apply
	// changed nothing, while its stored resourceVersion is still that apply's: as Metacontroller,
	// whose 3-way merge writes only what differs, a pass then costs no request for it. Every
	// desired form is applied at least twice (the second apply proves the first one settled it),
	// so a child the API server keeps changing is applied on every pass still. Off, every pass
	// applies every child (the steady-state tests count what those applies change).
	SkipSettled bool

	mu      sync.Mutex
	settled map[string]settledChild // by child id, see SkipSettled
}

// settledChild is a child's desired form (JSON) whose apply left its resourceVersion unchanged.
type settledChild struct {
	desired         []byte
	resourceVersion string
}

// ChildTypesOf maps a CompositeController's childResources to kinds, through discovery.
func ChildTypesOf(ctx context.Context, c *Client, controller *unstructured.Unstructured) ([]schema.GroupVersionKind, error) {
	resources, _, err := unstructured.NestedSlice(controller.Object, "spec", "childResources")
	if err != nil {
		return nil, err
	}
	var out []schema.GroupVersionKind
	for _, r := range resources {
		m, _ := r.(map[string]any)
		av, _ := m["apiVersion"].(string)
		res, _ := m["resource"].(string)
		gvk, err := c.KindFor(ctx, av, res)
		if err != nil {
			return nil, fmt.Errorf("childResources of %s: %w", controller.GetName(), err)
		}
		out = append(out, gvk)
	}
	return out, nil
}

// PassResult is what one pass did.
type PassResult struct {
	Desired  []string // Kind/name of the children the hook returned
	Applied  []string // children whose resourceVersion the apply changed (or created)
	Skipped  []string // children not applied: settled (Driver.SkipSettled)
	Deleted  []string
	ParentRV string // after the status write
	Status   map[string]any
	// Rejected are the children the API server refused: a renderer bug, never worked around.
	Rejected []error
	// ResyncAfterSeconds is what the hook asked for.
	ResyncAfterSeconds float64
}

// Changed says whether the pass created, updated or deleted a child.
func (r PassResult) Changed() bool { return len(r.Applied) > 0 || len(r.Deleted) > 0 }

// SyncResponse is what the sync hook answers (redhook's own wire types are in hooks/wire.go).
type SyncResponse struct {
	Status             map[string]any   `json:"status"`
	Children           []map[string]any `json:"children"`
	ResyncAfterSeconds float64          `json:"resyncAfterSeconds"`
}

// Sync calls the customize and sync hooks for a stored RedisFailover as Metacontroller does:
// the parent, its observed children (keyed by WireKey, then namespace/name) and the related
// objects customize asks for. It writes nothing: Pass applies what it answers.
func (d *Driver) Sync(ctx context.Context, namespace, name string) (parent *unstructured.Unstructured,
	observed map[string]map[string]*unstructured.Unstructured, resp SyncResponse, err error) {
	kind, err := d.parentKind(ctx)
	if err != nil {
		return nil, nil, resp, err
	}
	parent, err = d.Client.Get(ctx, kind, namespace, name)
	if err != nil {
		return nil, nil, resp, err
	}
	var custom hooks.CustomizeResponse
	if err := d.post(ctx, d.hookPath("customize"), map[string]any{"controller": d.Controller, "parent": parent.Object}, &custom); err != nil {
		return nil, nil, resp, err
	}
	related, err := d.related(ctx, custom.RelatedResources)
	if err != nil {
		return nil, nil, resp, err
	}
	observed, err = d.Children(ctx, parent)
	if err != nil {
		return nil, nil, resp, err
	}
	children := map[string]map[string]any{}
	for key, objs := range observed {
		children[key] = map[string]any{}
		for k, o := range objs {
			children[key][k] = o.Object
		}
	}
	if err := d.post(ctx, d.hookPath("sync"), map[string]any{"controller": d.Controller, "parent": parent.Object,
		"children": children, "related": related, "finalizing": false}, &resp); err != nil {
		return nil, nil, resp, err
	}
	return parent, observed, resp, nil
}

// parentKind is the kind of the CompositeController's parentResource, through discovery.
func (d *Driver) parentKind(ctx context.Context) (schema.GroupVersionKind, error) {
	av, _, _ := unstructured.NestedString(d.Controller, "spec", "parentResource", "apiVersion")
	res, _, _ := unstructured.NestedString(d.Controller, "spec", "parentResource", "resource")
	kind, err := d.Client.KindFor(ctx, av, res)
	if err != nil {
		return kind, fmt.Errorf("parentResource: %w", err)
	}
	return kind, nil
}

// hookPath is the webhook path of the CompositeController's hook (sync or customize).
func (d *Driver) hookPath(hook string) string {
	if p, _, _ := unstructured.NestedString(d.Controller, "spec", "hooks", hook, "webhook", "path"); p != "" {
		return p
	}
	return "/" + hook
}

// Pass runs one sync of a parent, as Metacontroller would after a watch event. The
// error is about the pass as a whole (the hook failed, a delete or the status write failed);
// rejected children are in the result.
func (d *Driver) Pass(ctx context.Context, namespace, name string) (PassResult, error) {
	var res PassResult
	start := time.Now()
	cl := d.Client
	parent, observed, resp, err := d.Sync(ctx, namespace, name)
	if err != nil {
		return res, err
	}
	if resp.Children == nil {
		return res, errors.New("a sync response without children deletes every child")
	}
	if resp.Status == nil {
		return res, errors.New("a sync response without status wipes the status")
	}
	res.ResyncAfterSeconds = resp.ResyncAfterSeconds

	desired := map[string]bool{}
	for _, child := range resp.Children {
		obj := &unstructured.Unstructured{Object: child}
		if !containsGVK(d.ChildTypes, obj.GroupVersionKind()) {
			return res, fmt.Errorf("%s is not a declared child type: Metacontroller refuses the response", Describe(obj))
		}
		id := WireKey(obj.GroupVersionKind()) + " " + namespace + "/" + obj.GetName()
		if desired[id] {
			return res, fmt.Errorf("child %s returned twice", id)
		}
		desired[id] = true
		res.Desired = append(res.Desired, obj.GetKind()+"/"+obj.GetName())
		before := observed[WireKey(obj.GroupVersionKind())][namespace+"/"+obj.GetName()]
		decorated, err := Decorate(obj, parent)
		if err != nil {
			return res, err
		}
		form, err := json.Marshal(decorated.Object)
		if err != nil {
			return res, err
		}
		if d.isSettled(id, form, before) {
			res.Skipped = append(res.Skipped, obj.GetKind()+"/"+obj.GetName())
			continue
		}
		after, err := cl.Apply(ctx, decorated, ApplyOptions{Manager: MetacontrollerManager})
		if err != nil {
			res.Rejected = append(res.Rejected, fmt.Errorf("the API server rejects a child redhook returned: %w", err))
			continue
		}
		changed := before == nil || before.GetResourceVersion() != after.GetResourceVersion()
		if changed {
			res.Applied = append(res.Applied, obj.GetKind()+"/"+obj.GetName())
		}
		d.noteApplied(id, form, after, changed)
	}
	for key, objs := range observed {
		for nsName, o := range objs {
			if desired[key+" "+nsName] {
				continue
			}
			if err := cl.Delete(ctx, o.GroupVersionKind(), o.GetNamespace(), o.GetName()); err != nil && !IsNotFound(err) {
				return res, err
			}
			res.Deleted = append(res.Deleted, o.GetKind()+"/"+o.GetName())
		}
	}

	// The status replaces .status; Metacontroller adds observedGeneration, and writes only a
	// status that differs from the stored one.
	status := resp.Status
	status["observedGeneration"] = parent.GetGeneration()
	old, _, _ := unstructured.NestedMap(parent.Object, "status")
	updated := parent
	if !sameJSON(old, status) {
		parent.Object["status"] = status
		updated, err = cl.UpdateStatus(ctx, parent)
		if err != nil {
			return res, fmt.Errorf("the API server rejects the status redhook returned: %w", err)
		}
	}
	res.ParentRV = updated.GetResourceVersion()
	res.Status, _, _ = unstructured.NestedMap(updated.Object, "status")
	sort.Strings(res.Applied)
	sort.Strings(res.Skipped)
	sort.Strings(res.Deleted)
	if d.Logf != nil {
		d.Logf("pass %s/%s in %v: %d children (%d settled), applied %v, deleted %v, resyncAfter %vs, conditions %s", namespace, name,
			time.Since(start).Round(time.Millisecond), len(res.Desired), len(res.Skipped), res.Applied, res.Deleted,
			resp.ResyncAfterSeconds, ConditionSummary(updated))
	}
	return res, nil
}

// isSettled says whether the apply of child id in its desired form can be left out (see
// SkipSettled): its last apply in that form changed nothing, and the stored object (before) is
// still at the resourceVersion that apply left.
func (d *Driver) isSettled(id string, form []byte, before *unstructured.Unstructured) bool {
	if !d.SkipSettled || before == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.settled[id]
	return ok && bytes.Equal(s.desired, form) && s.resourceVersion == before.GetResourceVersion()
}

// noteApplied records the apply of child id in form: settled when it changed nothing.
func (d *Driver) noteApplied(id string, form []byte, after *unstructured.Unstructured, changed bool) {
	if !d.SkipSettled {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled == nil {
		d.settled = map[string]settledChild{}
	}
	if changed {
		delete(d.settled, id)
		return
	}
	d.settled[id] = settledChild{desired: form, resourceVersion: after.GetResourceVersion()}
}

func containsGVK(list []schema.GroupVersionKind, gvk schema.GroupVersionKind) bool {
	for _, g := range list {
		if g == gvk {
			return true
		}
	}
	return false
}

// sameJSON compares two JSON-like values after a round trip (int64 vs float64).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

// ConditionSummary is "Type=Status(Reason) ..." for logs.
func ConditionSummary(obj *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	var parts []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		parts = append(parts, fmt.Sprintf("%v=%v(%v)", m["type"], m["status"], m["reason"]))
	}
	return strings.Join(parts, " ")
}

// Decorate adds what Metacontroller adds to every desired child: the parent's namespace, the
// controller-uid label (generateSelector), the controller ownerReference and the last-applied
// annotation of its three-way apply.
func Decorate(child *unstructured.Unstructured, parent *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	obj := child.DeepCopy()
	last, err := json.Marshal(child.Object)
	if err != nil {
		return nil, err
	}
	obj.SetNamespace(parent.GetNamespace())
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["controller-uid"] = string(parent.GetUID())
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[LastAppliedAnnotation] = string(last)
	obj.SetAnnotations(ann)
	yes := true
	obj.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{
		"apiVersion": parent.GetAPIVersion(), "kind": parent.GetKind(), "name": parent.GetName(),
		"uid": string(parent.GetUID()), "controller": yes, "blockOwnerDeletion": yes,
	}}
	return obj, nil
}

// Children lists the owned children of every child type: selected by the controller-uid label
// and kept only when their controller ownerReference is the parent.
func (d *Driver) Children(ctx context.Context, parent *unstructured.Unstructured) (map[string]map[string]*unstructured.Unstructured, error) {
	out := map[string]map[string]*unstructured.Unstructured{}
	for _, gvk := range d.ChildTypes {
		objs, err := d.Client.List(ctx, gvk, parent.GetNamespace(), "controller-uid="+string(parent.GetUID()))
		if err != nil {
			return nil, err
		}
		m := map[string]*unstructured.Unstructured{}
		for _, o := range objs {
			for _, ref := range o.GetOwnerReferences() {
				if ref.Controller != nil && *ref.Controller && ref.UID == parent.GetUID() {
					m[o.GetNamespace()+"/"+o.GetName()] = o
				}
			}
		}
		out[WireKey(gvk)] = m
	}
	return out, nil
}

// related gathers the objects the customize rules select: by label selector or by names, in
// the rule's namespace (all namespaces without one, as Metacontroller's v2 hooks do).
func (d *Driver) related(ctx context.Context, rules []hooks.RelatedResourceRule) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	for _, r := range rules {
		gvk, err := d.Client.KindFor(ctx, r.APIVersion, r.Resource)
		if err != nil {
			return nil, fmt.Errorf("customize rule: %w", err)
		}
		m := out[WireKey(gvk)]
		if m == nil {
			m = map[string]any{}
			out[WireKey(gvk)] = m
		}
		var objs []*unstructured.Unstructured
		switch {
		case len(r.Names) > 0:
			for _, name := range r.Names {
				o, err := d.Client.Get(ctx, gvk, r.Namespace, name)
				if IsNotFound(err) {
					continue
				}
				if err != nil {
					return nil, err
				}
				objs = append(objs, o)
			}
		default:
			var sel []string
			if r.LabelSelector != nil {
				for k, v := range r.LabelSelector.MatchLabels {
					sel = append(sel, k+"="+v)
				}
			}
			sort.Strings(sel)
			objs, err = d.Client.List(ctx, gvk, r.Namespace, strings.Join(sel, ","))
			if err != nil {
				return nil, err
			}
		}
		for _, o := range objs {
			m[o.GetNamespace()+"/"+o.GetName()] = o.Object
		}
	}
	return out, nil
}

// post sends a hook request and strictly decodes the answer (v2 hooks: unknown response fields
// are an error).
func (d *Driver) post(ctx context.Context, path string, req any, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Hook.Base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	r, err := d.Hook.HTTP.Do(hr)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, r.Status, b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(resp); err != nil {
		return fmt.Errorf("%s answer: %w: %s", path, err, b)
	}
	return nil
}
