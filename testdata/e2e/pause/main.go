// Command pause is the pod sandbox ("infra") container of the e2e cluster: it holds the pod's
// namespaces, reaps the orphans it inherits as PID 1, and exits 0 on SIGTERM or SIGINT. Built
// static (CGO_ENABLED=0) into an image of one file by the e2e tests.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
