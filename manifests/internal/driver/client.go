package driver

// A small REST client for a test API server: discovery (kind → resource), server-side
// apply, create, get, list, watch, delete and status updates, with plain net/http and a bearer
// token. The redhook module deliberately does not depend on client-go.

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
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

type Client struct {
	Server string
	Token  string
	HTTP   *http.Client

	mu        sync.Mutex
	resources map[schema.GroupVersionKind]APIResource
}

// APIResource is what discovery says of a kind.
type APIResource struct {
	Name       string // plural
	Namespaced bool
}

func NewClient(server, token string, tlsConfig *tls.Config) *Client {
	return &Client{Server: server, Token: token, HTTP: NewHTTPClient(tlsConfig),
		resources: map[schema.GroupVersionKind]APIResource{}}
}

// APIError is a non-2xx answer of the API server, with its Status.
type APIError struct {
	Code   int
	Status metav1.Status
	Body   string
}

func (e *APIError) Error() string {
	if e.Status.Message != "" {
		return fmt.Sprintf("%d %s: %s", e.Code, e.Status.Reason, e.Status.Message)
	}
	return fmt.Sprintf("%d: %s", e.Code, e.Body)
}

func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == http.StatusNotFound
}

// do sends one request; body is JSON unless contentType says otherwise.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte) ([]byte, error) {
	u := c.Server + path
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
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		ae := &APIError{Code: resp.StatusCode, Body: string(b)}
		_ = json.Unmarshal(b, &ae.Status) // best effort: the raw body is kept
		return nil, ae
	}
	return b, nil
}

func (c *Client) Ready(ctx context.Context) error {
	_, err := c.Do(ctx, http.MethodGet, "/readyz", nil, "", nil)
	return err
}

// resource maps a kind to its resource through discovery; a miss re-reads discovery, so a kind
// of a CRD installed a moment ago is found once the API server serves it.
func (c *Client) Resource(ctx context.Context, gvk schema.GroupVersionKind) (APIResource, error) {
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
	b, err := c.Do(ctx, http.MethodGet, path, nil, "", nil)
	if err != nil {
		return APIResource{}, fmt.Errorf("discovery of %s: %w", gvk.GroupVersion(), err)
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(b, &list); err != nil {
		return APIResource{}, fmt.Errorf("discovery of %s: %w", gvk.GroupVersion(), err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, res := range list.APIResources {
		if strings.Contains(res.Name, "/") {
			continue // subresource
		}
		c.resources[gvk.GroupVersion().WithKind(res.Kind)] = APIResource{Name: res.Name, Namespaced: res.Namespaced}
	}
	r, ok = c.resources[gvk]
	if !ok {
		return APIResource{}, fmt.Errorf("the API server serves no kind %s", gvk)
	}
	return r, nil
}

// kindFor maps an apiVersion and a resource (plural) to a kind, through discovery.
func (c *Client) KindFor(ctx context.Context, apiVersion, resource string) (schema.GroupVersionKind, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionKind{}, err
	}
	path := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	b, err := c.Do(ctx, http.MethodGet, path, nil, "", nil)
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

// Path is the URL path of a collection (name == ""; namespace "" for all namespaces) or of one object.
func (c *Client) Path(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (string, error) {
	r, err := c.Resource(ctx, gvk)
	if err != nil {
		return "", err
	}
	p := "/apis/" + gvk.Group + "/" + gvk.Version
	if gvk.Group == "" {
		p = "/api/" + gvk.Version
	}
	if r.Namespaced {
		switch {
		case namespace != "":
			p += "/namespaces/" + namespace
		case name != "":
			return "", fmt.Errorf("%s %q is namespaced: no namespace given", gvk.Kind, name)
		}
		// A collection without a namespace: every namespace (list, watch).
	}
	p += "/" + r.Name
	if name != "" {
		p += "/" + name
	}
	return p, nil
}

// ApplyOptions are the query parameters of a server-side apply.
type ApplyOptions struct {
	Manager string
	DryRun  bool
}

// apply server-side applies obj (force: the test owns what it applies) with strict field
// validation: an unknown or duplicate field is an error, not a silently dropped value.
func (c *Client) Apply(ctx context.Context, obj *unstructured.Unstructured, o ApplyOptions) (*unstructured.Unstructured, error) {
	p, err := c.Path(ctx, obj.GroupVersionKind(), obj.GetNamespace(), obj.GetName())
	if err != nil {
		return nil, err
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", Describe(obj), err)
	}
	q := url.Values{"fieldManager": {o.Manager}, "force": {"true"}, "fieldValidation": {"Strict"}}
	if o.DryRun {
		q.Set("dryRun", "All")
	}
	b, err := c.Do(ctx, http.MethodPatch, p, q, "application/apply-patch+yaml", body)
	if err != nil {
		return nil, fmt.Errorf("apply %s: %w", Describe(obj), err)
	}
	return DecodeObject(b)
}

// create creates obj, strictly validated; dryRun asks the server to validate and not store.
func (c *Client) Create(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	return c.Write(ctx, http.MethodPost, obj, "", "create", dryRun)
}

func (c *Client) Get(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) (*unstructured.Unstructured, error) {
	p, err := c.Path(ctx, gvk, namespace, name)
	if err != nil {
		return nil, err
	}
	b, err := c.Do(ctx, http.MethodGet, p, nil, "", nil)
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	return DecodeObject(b)
}

// list lists the objects of a kind in namespace ("" for all), optionally by label selector.
// Items get their apiVersion and kind, which list answers leave out.
func (c *Client) List(ctx context.Context, gvk schema.GroupVersionKind, namespace, selector string) ([]*unstructured.Unstructured, error) {
	p, err := c.Path(ctx, gvk, namespace, "")
	if err != nil {
		return nil, err
	}
	var q url.Values
	if selector != "" {
		q = url.Values{"labelSelector": {selector}}
	}
	b, err := c.Do(ctx, http.MethodGet, p, q, "", nil)
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
func (c *Client) Delete(ctx context.Context, gvk schema.GroupVersionKind, namespace, name string) error {
	p, err := c.Path(ctx, gvk, namespace, name)
	if err != nil {
		return err
	}
	body := []byte(`{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}`)
	if _, err := c.Do(ctx, http.MethodDelete, p, nil, "", body); err != nil {
		return fmt.Errorf("delete %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	return nil
}

// updateStatus replaces obj's status through the status subresource.
func (c *Client) UpdateStatus(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return c.PutStatus(ctx, obj, false)
}

// putStatus replaces obj's status; dryRun asks the server to validate and not store.
func (c *Client) PutStatus(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	return c.Write(ctx, http.MethodPut, obj, "/status", "update status of", dryRun)
}

// write sends obj with method to its collection (POST) or to itself plus sub (PUT), strictly
// validated; dryRun asks the server to validate and not store. verb names the call in errors.
func (c *Client) Write(ctx context.Context, method string, obj *unstructured.Unstructured, sub, verb string, dryRun bool) (*unstructured.Unstructured, error) {
	name := obj.GetName()
	if method == http.MethodPost {
		name = ""
	}
	p, err := c.Path(ctx, obj.GroupVersionKind(), obj.GetNamespace(), name)
	if err != nil {
		return nil, err
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", Describe(obj), err)
	}
	q := url.Values{"fieldValidation": {"Strict"}}
	if dryRun {
		q.Set("dryRun", "All")
	}
	b, err := c.Do(ctx, method, p+sub, q, "", body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", verb, Describe(obj), err)
	}
	return DecodeObject(b)
}

func DecodeObject(b []byte) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	return u, nil
}

// Describe names an object in messages: Kind namespace/name.
func Describe(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetKind() + " " + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
}

// DecodeYAML splits a multi-document YAML (or JSON) stream into objects; empty documents are
// skipped.
func DecodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
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
		obj, err := DecodeObject(j)
		if err != nil {
			return nil, fmt.Errorf("YAML document %d: %w", len(out)+1, err)
		}
		out = append(out, obj)
	}
}

// NewHTTPClient is the HTTP client of the API client and of hook calls: never a proxy (test
// servers are on loopback or inside the test's network namespace).
func NewHTTPClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:           nil,
			TLSClientConfig: tlsConfig,
			MaxIdleConns:    16,
			IdleConnTimeout: 30 * time.Second,
		},
	}
}

// WatchEvent is one event of a watch stream.
type WatchEvent struct {
	Type   string                     `json:"type"` // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
	Object *unstructured.Unstructured `json:"object"`
}

// Watch streams the events of a kind in namespace ("" for all) to fn until the stream ends,
// ctx ends or fn returns false. It starts with an ADDED event per existing object.
func (c *Client) Watch(ctx context.Context, gvk schema.GroupVersionKind, namespace string, fn func(WatchEvent) bool) error {
	p, err := c.Path(ctx, gvk, namespace, "")
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Server+p+"?watch=true", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	// A watch outlives the client's request timeout: a client of its own, same transport.
	hc := &http.Client{Transport: c.HTTP.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("watch %s: %w", gvk.Kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("watch %s: %s: %s", gvk.Kind, resp.Status, b)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var raw struct {
			Type   string         `json:"type"`
			Object map[string]any `json:"object"`
		}
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch %s: %w", gvk.Kind, err)
		}
		if !fn(WatchEvent{Type: raw.Type, Object: &unstructured.Unstructured{Object: raw.Object}}) {
			return nil
		}
	}
}
