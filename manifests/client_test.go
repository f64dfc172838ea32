package manifests_test

// A small REST client for the test API server: discovery (kind → resource), server-side
// apply, create, get, list, delete and status updates, with plain net/http and the admin token.
// The redhook module deliberately does not depend on client-go.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

type kubeClient struct {
	server string
	token  string
	http   *http.Client

	mu        sync.Mutex
	resources map[schema.GroupVersionKind]apiResource
}

// apiResource is what discovery says of a kind.
type apiResource struct {
	name       string // plural
	namespaced bool
}

func newKubeClient(server, token string, tlsConfig *tls.Config) *kubeClient {
	return &kubeClient{server: server, token: token, http: newHTTPClient(tlsConfig),
		resources: map[schema.GroupVersionKind]apiResource{}}
}

// apiError is a non-2xx answer of the API server, with its Status.
type apiError struct {
	code   int
	status metav1.Status
	body   string
}

func (e *apiError) Error() string {
	if e.status.Message != "" {
		return fmt.Sprintf("%d %s: %s", e.code, e.status.Reason, e.status.Message)
	}
	return fmt.Sprintf("%d: %s", e.code, e.body)
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.code == http.StatusNotFound
}

// do sends one request; body is JSON unless contentType says otherwise.
func (c *kubeClient) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte) ([]byte, error) {
	u := c.server + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &apiError{code: resp.StatusCode, body: string(b)}
		_ = json.Unmarshal(b, &ae.status) // best effort: the raw body is kept
		return nil, ae
	}
	return b, nil
}

func (c *kubeClient) ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", nil, "", nil)
	return err
}

// resource maps a kind to its resource through discovery; a miss re-reads discovery, so a kind
// of a CRD installed a moment ago is found once the API server serves it.
func (c *kubeClient) resource(ctx context.Context, gvk schema.GroupVersionKind) (apiResource, error) {
	c.mu.Lock()
	r, ok := c.resources[gvk]
	c.mu.Unlock()
	if ok {
		return r, nil
	}
	path := "/apis/" + gvk.Group + "/" + gvk.Version
	if gvk.Group == "" {
		path = "/api/" + gvk.Version
	}
	b, err := c.do(ctx, http.MethodGet, path, nil, "", nil)
	if err != nil {
		return apiResource{}, fmt.Errorf("discovery of %s: %w", gvk.GroupVersion(), err)
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(b, &list); err != nil {
		return apiResource{}, fmt.Errorf("discovery of %s: %w", gvk.GroupVersion(), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, res := range list.APIResources {
		if strings.Contains(res.Name, "/") {
			continue // subresource
		}
		c.resources[gvk.GroupVersion().WithKind(res.Kind)] = apiResource{name: res.Name, namespaced: res.Namespaced}
	}
	r, ok = c.resources[gvk]
	if !ok {
		return apiResource{}, fmt.Errorf("the API server serves no kind %s", gvk)
	}
	return r, nil
}

// kindFor maps an apiVersion and a resource (plural) to a kind, through discovery.
func (c *kubeClient) kindFor(ctx context.Context, apiVersion, resource string) (schema.GroupVersionKind, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	path := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	b, err := c.do(ctx, http.MethodGet, path, nil, "", nil)
	if err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("discovery of %s: %w", apiVersion, err)
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(b, &list); err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("discovery of %s: %w", apiVersion, err)
	}
	for _, r := range list.APIResources {
		if r.Name == resource {
			return gv.WithKind(r.Kind), nil
		}
	}
	return schema.GroupVersionKind{}, fmt.Errorf("the API server serves no resource %s in %s", resource, apiVersion)
}

// path is the URL path of a collection (name == "") or of one object.
func (c *kubeClient) path(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (string, error) {
	r, err := c.resource(ctx, gvk)
	if err != nil {
		return "", err
	}
	p := "/apis/" + gvk.Group + "/" + gvk.Version
	if gvk.Group == "" {
		p = "/api/" + gvk.Version
	}
	if r.namespaced {
		if namespace == "" {
			return "", fmt.Errorf("%s %q is namespaced: no namespace given", gvk.Kind, name)
		}
		p += "/namespaces/" + namespace
	}
	p += "/" + r.name
	if name != "" {
		p += "/" + name
	}
	return p, nil
}

// applyOptions are the query parameters of a server-side apply.
type applyOptions struct {
	manager string
	dryRun  bool
}

// apply server-side applies obj (force: the test owns what it applies) with strict field
// validation: an unknown or duplicate field is an error, not a silently dropped value.
func (c *kubeClient) apply(ctx context.Context, obj *unstructured.Unstructured, o applyOptions) (*unstructured.Unstructured, error) {
	p, err := c.path(ctx, obj.GroupVersionKind(), obj.GetNamespace(), obj.GetName())
	if err != nil {
		return nil, err
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", describe(obj), err)
	}
	q := url.Values{"fieldManager": {o.manager}, "force": {"true"}, "fieldValidation": {"Strict"}}
	if o.dryRun {
		q.Set("dryRun", "All")
	}
	b, err := c.do(ctx, http.MethodPatch, p, q, "application/apply-patch+yaml", body)
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", describe(obj), err)
	}
	return decodeObject(b)
}

// create creates obj, strictly validated; dryRun asks the server to validate and not store.
func (c *kubeClient) create(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	return c.write(ctx, http.MethodPost, obj, "", "create", dryRun)
}

func (c *kubeClient) get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	p, err := c.path(ctx, gvk, namespace, name)
	if err != nil {
		return nil, err
	}
	b, err := c.do(ctx, http.MethodGet, p, nil, "", nil)
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	return decodeObject(b)
}

// list lists the objects of a kind in namespace ("" for all), optionally by label selector.
// Items get their apiVersion and kind, which list answers leave out.
func (c *kubeClient) list(ctx context.Context, gvk schema.GroupVersionKind, namespace, selector string) ([]*unstructured.Unstructured, error) {
	p, err := c.path(ctx, gvk, namespace, "")
	if err != nil {
		return nil, err
	}
	var q url.Values
	if selector != "" {
		q = url.Values{"labelSelector": {selector}}
	}
	b, err := c.do(ctx, http.MethodGet, p, q, "", nil)
	if err != nil {
		return nil, fmt.Errorf("list %s in %q: %w", gvk.Kind, namespace, err)
	}
	var l struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("list %s: %w", gvk.Kind, err)
	}
	out := make([]*unstructured.Unstructured, len(l.Items))
	for i, item := range l.Items {
		out[i] = &unstructured.Unstructured{Object: item}
		out[i].SetGroupVersionKind(gvk)
	}
	return out, nil
}

// delete deletes an object with background propagation, as Metacontroller does.
func (c *kubeClient) delete(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) error {
	p, err := c.path(ctx, gvk, namespace, name)
	if err != nil {
		return err
	}
	body := []byte(`{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}`)
	if _, err := c.do(ctx, http.MethodDelete, p, nil, "", body); err != nil {
		return fmt.Errorf("delete %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	return nil
}

// updateStatus replaces obj's status through the status subresource.
func (c *kubeClient) updateStatus(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return c.putStatus(ctx, obj, false)
}

// putStatus replaces obj's status; dryRun asks the server to validate and not store.
func (c *kubeClient) putStatus(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	return c.write(ctx, http.MethodPut, obj, "/status", "update status of", dryRun)
}

// write sends obj with method to its collection (POST) or to itself plus sub (PUT), strictly
// validated; dryRun asks the server to validate and not store. verb names the call in errors.
func (c *kubeClient) write(ctx context.Context, method string, obj *unstructured.Unstructured, sub, verb string, dryRun bool) (*unstructured.Unstructured, error) {
	name := obj.GetName()
	if method == http.MethodPost {
		name = ""
	}
	p, err := c.path(ctx, obj.GroupVersionKind(), obj.GetNamespace(), name)
	if err != nil {
		return nil, err
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", describe(obj), err)
	}
	q := url.Values{"fieldValidation": {"Strict"}}
	if dryRun {
		q.Set("dryRun", "All")
	}
	b, err := c.do(ctx, method, p+sub, q, "", body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", verb, describe(obj), err)
	}
	return decodeObject(b)
}

func decodeObject(b []byte) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	return u, nil
}

// describe names an object in messages: Kind namespace/name.
func describe(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetKind() + " " + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
}

// decodeYAML splits a multi-document YAML (or JSON) stream into objects; empty documents are
// skipped.
func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split YAML: %w", err)
		}
		j, err := utilyaml.ToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("YAML document %d: %w", len(out)+1, err)
		}
		if len(bytes.TrimSpace(j)) == 0 || string(bytes.TrimSpace(j)) == "null" {
			continue
		}
		obj, err := decodeObject(j)
		if err != nil {
			return nil, fmt.Errorf("YAML document %d: %w", len(out)+1, err)
		}
		out = append(out, obj)
	}
}

// readYAML reads and decodes a YAML file.
func readYAML(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	objs, err := decodeYAML(b)
	require.NoError(t, err, path)
	return objs
}
