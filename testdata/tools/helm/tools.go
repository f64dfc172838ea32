//go:build tools

// Package helm pins the helm CLI the manifests tests run.
package helm

import _ "helm.sh/helm/v3/cmd/helm"
