package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/redhook/redhook/hooks"
)

// Local overrides. These are the only differences between a pod and a local process; they go in
// a separate file, local.conf, next to the rendered configuration:
//   - bind, bind-source-addr, replica-announce-ip / sentinel announce-ip: the pod's own
//     127.0.x.y address. A process bound to 127.0.x.y still connects from 127.0.0.1 unless told;
//     sentinels would then see each other as one address and never fail over.
//   - pidfile, logfile (and a sentinel's dir): files in the pod's directory.
// Volume mounts become directories: /data → POD/data, /redis-auth → POD/redis-auth,
// /redis-readiness → POD/redis-readiness, /redis-shutdown → POD/redis-shutdown, sentinel's
// writable /redis → POD/writable. Cluster.Stop runs the preStop script before SIGTERM.

// mountPath matches a volume mount path of the redis pod as a whole path element.
var mountPath = regexp.MustCompile(`(^|[\s"'=])(/redis-auth|/redis-readiness|/redis-shutdown|/data)(/|[\s"']|$)`)

// mapMounts rewrites the pod paths in s to the pod's directories, as volume mounts would.
func mapMounts(s, dir string) string {
	return mountPath.ReplaceAllStringFunc(s, func(m string) string {
		sub := mountPath.FindStringSubmatch(m)
		return sub[1] + filepath.Join(dir, strings.TrimPrefix(sub[2], "/")) + sub[3]
	})
}

// writeFiles writes what a pod's volumes would hold, and local.conf. It runs before every start
// of the process: like a ConfigMap mount, the rendered files are the source of truth (Sentinel's
// CONFIG REWRITE after a failover does not survive a restart, as with a read-only mount).
func (c *Cluster) writeFiles(p *Pod) error {
	rf := c.parent.Name
	files := map[string][]byte{}
	var local []string
	add := func(path string, data []byte) { files[filepath.Join(p.dir, path)] = data }
	if c.password != "" {
		name := "redis.conf"
		if p.component == hooks.ComponentSentinel {
			name = "sentinel.conf"
		}
		auth, err := c.childData("Secret", hooks.AuthName(rf), name)
		if err != nil {
			return err
		}
		add("redis-auth/"+name, auth)
	}
	own := []string{
		"# redhook local: the settings that differ from pod " + p.name + "; everything else is rendered.",
		"bind " + p.ip,
		"bind-source-addr " + p.ip,
		"pidfile " + filepath.Join(p.dir, "process.pid"),
		`logfile ""`,
	}
	switch p.component {
	case hooks.ComponentRedis:
		conf, err := c.childData("ConfigMap", hooks.RedisName(rf), "redis.conf")
		if err != nil {
			return err
		}
		ready, err := c.childData("ConfigMap", hooks.ReadinessName(rf), "ready.sh")
		if err != nil {
			return err
		}
		add("config/redis.conf", []byte(mapMounts(string(conf), p.dir)))
		add("redis-readiness/ready.sh", ready)
		// The rendered preStop script; a user's own shutdownConfigMap is not a child.
		if shutdown, err := c.childData("ConfigMap", hooks.ShutdownName(rf), "shutdown.sh"); err == nil {
			add("redis-shutdown/shutdown.sh", shutdown)
		}
		local = append([]string{"include " + filepath.Join(p.dir, "config", "redis.conf")}, own...)
		local = append(local, "replica-announce-ip "+p.ip)
	case hooks.ComponentSentinel:
		conf, err := c.childData("ConfigMap", hooks.SentinelName(rf), "sentinel.conf")
		if err != nil {
			return err
		}
		add("config/sentinel.conf", conf)
		local = append(own, "dir "+filepath.Join(p.dir, "data"), "sentinel announce-ip "+p.ip)
	}
	add("local.conf", []byte(strings.Join(local, "\n")+"\n"))
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	if p.component == hooks.ComponentSentinel {
		return c.copySentinelConf(p)
	}
	return nil
}

// copySentinelConf does what the sentinel's init container does, once per pod: the writable
// sentinel.conf is the rendered one plus the auth lines (plus, locally, the include of
// local.conf). A restarted process keeps it, as a restarted container keeps its emptyDir.
func (c *Cluster) copySentinelConf(p *Pod) error {
	path := filepath.Join(p.dir, "writable", "sentinel.conf")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	var b []byte
	for _, part := range []string{"config/sentinel.conf", "redis-auth/sentinel.conf"} {
		d, err := os.ReadFile(filepath.Join(p.dir, part))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		b = append(b, d...)
	}
	b = append(b, []byte("include "+filepath.Join(p.dir, "local.conf")+"\n")...)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// argv is the command line of a pod's process.
func (c *Cluster) argv(p *Pod) []string {
	if p.component == hooks.ComponentSentinel {
		return []string{c.cfg.RedisServer, filepath.Join(p.dir, "writable", "sentinel.conf"), "--sentinel"}
	}
	return []string{c.cfg.RedisServer, filepath.Join(p.dir, "local.conf")}
}

func readinessExec(p *corev1.Probe) []string {
	if p == nil || p.Exec == nil {
		return nil
	}
	return p.Exec.Command
}

// readinessProbe is what probeAll runs for a component: the rendered exec command (nil: ready
// while running) and how many failures in a row make a Ready pod not Ready.
type readinessProbe struct {
	argv             []string
	failureThreshold int32
}

// probeAll runs every pod's rendered readiness probe, as the kubelet would, with the pod's
// address in REDIS_HOST. A pod whose probe is not an exec probe is ready while it runs. As for
// the kubelet, a new process is not Ready until its first success, and a Ready one turns not
// Ready after failureThreshold failures in a row (one slow answer on a loaded machine is no
// outage). A result counts only for the process start it probed: a pod that a rollout replaced
// while its probe ran is not Ready on its previous process's answer.
func (c *Cluster) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	results := make([]bool, len(c.pods()))
	starts := make([]int, len(c.pods()))
	probes := make([]readinessProbe, len(c.pods()))
	for i, p := range c.pods() {
		probes[i] = c.readiness(p.component)
		starts[i] = p.proc.startCount()
		wg.Go(func() { results[i] = c.probe(ctx, p, probes[i].argv) })
	}
	wg.Wait()
	c.mu.Lock()
	for i, p := range c.pods() {
		// running: a pod whose process a rollout holds down while the probe ran is not Ready
		// either, though its start count has not moved yet.
		if p.proc.startCount() != starts[i] || !p.proc.running() || p.probedStart != starts[i] {
			p.ready, p.probeFails = false, 0 // another process than the one last probed
		}
		p.probedStart = starts[i]
		switch {
		case !p.proc.running() || p.proc.startCount() != starts[i]:
		case results[i]:
			p.ready, p.probeFails = true, 0
		default:
			p.probeFails++
			p.ready = p.ready && p.probeFails < probes[i].failureThreshold
		}
	}
	c.mu.Unlock()
}

func (c *Cluster) probe(ctx context.Context, p *Pod, argv []string) bool {
	if p.proc == nil || !p.proc.running() {
		return false
	}
	if len(argv) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.podCommand(ctx, p, argv).Run() == nil
}

// podCommand is a command of a pod's container (a probe, a hook) with the pod's paths and
// environment: REDIS_HOST and POD_IP are the pod's address, SENTINEL_HOST the first sentinel
// (the rfs- Service in a cluster), REDISCLI_AUTH the password.
func (c *Cluster) podCommand(ctx context.Context, p *Pod, argv []string) *exec.Cmd {
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = mapMounts(a, p.dir)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	// A probe or hook is a shell that starts redis-cli: at the end of ctx the whole process group
	// is killed, not only the shell, so that no redis-cli outlives it (a kubelet kills the
	// container's processes with it).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	cmd.Env = append(os.Environ(), "REDIS_HOST="+p.ip, "POD_IP="+p.ip, fmt.Sprintf("REDIS_PORT=%d", p.port))
	if len(c.sentinel) > 0 {
		cmd.Env = append(cmd.Env, "SENTINEL_HOST="+c.sentinel[0].ip)
	}
	if c.password != "" {
		cmd.Env = append(cmd.Env, "REDISCLI_AUTH="+c.password)
	}
	return cmd
}
