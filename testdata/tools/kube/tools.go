//go:build tools

// Package kube pins the Kubernetes binaries the manifests tests run.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
