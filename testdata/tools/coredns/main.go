// Command coredns is CoreDNS with only the plugins of the e2e cluster's Corefile
// (manifests/e2e, startCoreDNS): bind, errors, kubernetes. A plugin the Corefile gains must
// be imported here and named in directives.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

// directives are the linked plugins in CoreDNS's execution order (its plugin.cfg).
var directives = []string{
	"bind",
	"errors",
	"kubernetes",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
