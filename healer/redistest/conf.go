package redistest

import (
	"fmt"
	"strings"
)

// Loopback trap: a process bound to 127.0.x.y still opens its outgoing connections from
// 127.0.0.1 unless told otherwise. Sentinel then sees every peer (replicas connecting to their
// master, sentinels saying hello) as 127.0.0.1, and replicas report themselves to their master
// as 127.0.0.1: with one address for everything, sentinels merge peers and fail over to
// nowhere. So every config below sets bind-source-addr (where outgoing connections come from)
// and the announce address (replica-announce-ip, sentinel announce-ip: what the process says
// its address is) to the process's own address, as a pod's own IP would be.

// RedisConf is the base config of a redis-server on p's address: bind, source and announce
// addresses, p's directory, no persistence (a restart comes back empty, as on an emptyDir),
// diskless full syncs without delay, and auth with p.Password (protected mode off without).
func RedisConf(p *Proc) string {
	var b strings.Builder
	fmt.Fprintf(&b, "port %d\nbind %s\nbind-source-addr %s\nreplica-announce-ip %s\n", p.Port, p.IP, p.IP, p.IP)
	fmt.Fprintf(&b, "dir %q\n", p.Dir)
	b.WriteString("save \"\"\nappendonly no\nrepl-diskless-sync yes\nrepl-diskless-sync-delay 0\n")
	if p.Password != "" {
		fmt.Fprintf(&b, "requirepass %q\nmasterauth %q\n", p.Password, p.Password)
	} else {
		b.WriteString("protected-mode no\n")
	}
	return b.String()
}

// SentinelConf is the base config of a redis-sentinel on p's address, monitoring nothing: bind,
// source and announce addresses, p's directory, and auth with p.Password (protected mode off
// without).
func SentinelConf(p *Proc) string {
	var b strings.Builder
	fmt.Fprintf(&b, "port %d\nbind %s\nbind-source-addr %s\nsentinel announce-ip %s\n", p.Port, p.IP, p.IP, p.IP)
	fmt.Fprintf(&b, "dir %q\n", p.Dir)
	if p.Password != "" {
		fmt.Fprintf(&b, "requirepass %q\nsentinel sentinel-pass %q\n", p.Password, p.Password)
	} else {
		b.WriteString("protected-mode no\n")
	}
	return b.String()
}
