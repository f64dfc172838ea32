//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/manifests/internal/driver"
)

// storageClass is the cluster's default StorageClass: statically provisioned hostPath volumes
// in the state directory (pvCount of pvSize), bound when a pod uses the claim.
const (
	storageClass = "e2e-hostpath"
	pvCount      = 30
	pvSize       = "5Gi"
)

var podGVK = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

func execCommand(ctx context.Context, bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, bin, args...)
}

// goBinary is the go command that runs the tests: `go test` puts its GOROOT/bin first in PATH.
func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

func (c *cluster) storage(ctx context.Context) error {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: %s
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
`, storageClass)
	for i := range pvCount {
		dir := filepath.Join(c.dir, "pv", fmt.Sprintf("pv%02d", i))
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return err
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: PersistentVolume
metadata: {name: e2e-pv%02d}
spec:
  storageClassName: %s
  capacity: {storage: %s}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: %q, type: Directory}
`, i, storageClass, pvSize, dir)
	}
	path := filepath.Join(c.dir, "storage.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	_, err := c.kubectl(ctx, "apply", "-f", path)
	return err
}

// installRedhook installs redhook as its kustomize manifests do (the image overridden to the
// one the harness built), waits until it is available, and starts the Metacontroller stand-in,
// which calls it through its Service's cluster IP, as Metacontroller in the cluster would.
func (c *cluster) installRedhook(ctx context.Context) error {
	root := repoRoot()
	// Metacontroller's CRD: the kustomization installs a CompositeController.
	if _, err := c.kubectl(ctx, "apply", "--server-side", "-f",
		filepath.Join(root, "manifests", "testdata", "compositecontroller-crd.yaml")); err != nil {
		return err
	}
	if err := waitFor(ctx, nil, func() error {
		_, err := c.kubectl(ctx, "get", "compositecontrollers")
		return err
	}); err != nil {
		return err
	}
	name, tag, _ := strings.Cut(redhookImage, ":")
	overlay := filepath.Join(c.dir, "kustomize")
	if err := os.MkdirAll(overlay, 0o755); err != nil {
		return err
	}
	// kustomize reads resources relative to the kustomization: a link to manifests/.
	if err := os.Symlink(filepath.Join(root, "manifests"), filepath.Join(overlay, "manifests")); err != nil && !os.IsExist(err) {
		return err
	}
	kust := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [manifests]
images:
  - {name: "redhook", newName: %q, newTag: %q}
`, name, tag)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		return err
	}
	if out, err := c.kubectl(ctx, "apply", "--server-side", "-k", overlay); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	if _, err := c.kubectl(ctx, "-n", "redhook-system", "rollout", "status", "deployment/redhook", "--timeout=120s"); err != nil {
		out, _ := c.kubectl(ctx, "-n", "redhook-system", "describe", "pods")
		return fmt.Errorf("%w\n%s", err, out)
	}
	var err error
	if c.controller, err = c.startDriver(ctx, "redhook"); err != nil {
		return err
	}
	c.clusterController, err = c.startDriver(ctx, "redhook-cluster")
	return err
}

// startDriver starts the Metacontroller stand-in of the CompositeController name (its parent
// kind, child kinds and hook from that object), logging to logs/metacontroller-NAME.log; stop
// stops them all.
func (c *cluster) startDriver(ctx context.Context, name string) (*driver.Controller, error) {
	cc, err := c.client.Get(ctx, schema.GroupVersionKind{Group: "metacontroller.k8s.io", Version: "v1alpha1",
		Kind: "CompositeController"}, "", name)
	if err != nil {
		return nil, err
	}
	childTypes, err := driver.ChildTypesOf(ctx, c.client, cc)
	if err != nil {
		return nil, err
	}
	// The hook's address, from the CompositeController: service name, namespace and port.
	svc, _, _ := unstructured.NestedMap(cc.Object, "spec", "hooks", "sync", "webhook", "service")
	svcObj, err := c.client.Get(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Service"},
		fmt.Sprint(svc["namespace"]), fmt.Sprint(svc["name"]))
	if err != nil {
		return nil, err
	}
	ip, _, _ := unstructured.NestedString(svcObj.Object, "spec", "clusterIP")
	port := fmt.Sprint(svc["port"])
	resync, _, _ := unstructured.NestedInt64(cc.Object, "spec", "resyncPeriodSeconds")
	hc := driver.NewHTTPClient(nil)
	hc.Timeout = 10 * time.Second // the hooks' timeout in the CompositeController
	logf, err := os.Create(filepath.Join(c.dir, "logs", "metacontroller-"+name+".log"))
	if err != nil {
		return nil, err
	}
	d := &driver.Driver{Client: c.client, Hook: driver.Hook{Base: "http://" + net.JoinHostPort(ip, port), HTTP: hc},
		Controller: cc.Object, ChildTypes: childTypes, SkipSettled: true,
		Logf: func(format string, args ...any) {
			fmt.Fprintf(logf, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
		}}
	ctrl := &driver.Controller{Driver: d, Resync: time.Duration(resync) * time.Second,
		Watch: []schema.GroupVersionKind{podGVK},
		OnPass: func(ns, name string, r driver.PassResult, err error) {
			for _, rej := range r.Rejected {
				select {
				case c.rejected <- fmt.Errorf("%s/%s: %w", ns, name, rej):
				default:
				}
			}
		}}
	dctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.stopDrivers = append(c.stopDrivers, func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		defer logf.Close()
		ctrl.Run(dctx)
	}()
	return ctrl, nil
}
