//go:build tools

// Package lint pins the staticcheck version make lint runs.
package lint

import _ "honnef.co/go/tools/cmd/staticcheck"
