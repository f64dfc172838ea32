// Command redhook is the RedisFailover operator as a Metacontroller webhook: `redhook serve` runs
// the sync and customize hooks, `redhook render` prints the children a RedisFailover would get.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `redhook — Redis with Sentinel on Kubernetes, as a Metacontroller webhook.

Usage:
  redhook serve  [flags]          run the sync/customize hook server (and the healer)
  redhook render -f rf.yaml ...   print the children a RedisFailover gets, as YAML
  redhook local  -f rf.yaml       run a RedisFailover as local redis/sentinel processes
  redhook bench-failover          measure failovers of a local RedisFailover
  redhook bench-scale             measure redhook serve under the syncs of many RedisFailovers
  redhook version                 print the version

Run "redhook COMMAND -h" for the flags of a command.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "bench-failover":
		return benchFailover(args[1:], stdout, stderr)
	case "bench-scale":
		return benchScale(args[1:], stdout, stderr)
	case "local":
		return localCommand(args[1:], os.Stdin, stdout, stderr)
	case "render":
		return render(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "redhook", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "redhook: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
