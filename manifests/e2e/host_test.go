//go:build e2e

package e2e

// What the harness changes on the machine, and how it is undone. Everything else the cluster
// writes is in stateDir(), in the cluster's own network namespace (links, addresses, routes,
// iptables chains, conntrack entries: they go with the namespace) or in its private mount
// namespace (container root filesystems, volumes, sandbox network namespaces: they go with it).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupName is the cgroup every pod's cgroup is created under (kubelet cgroupRoot), in every
// cgroup v1 hierarchy and the unified one.
const cgroupName = "redhook-e2e"

// globalSysctls are the machine-wide settings kubelet rewrites when it starts.
var globalSysctls = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}

// fixedDirs are paths containerd, the CNI plugins and kubelet write to whatever their
// configuration says. The inner process bind-mounts directories of stateDir() over them in its
// private mount namespace; the ones that did not exist are created empty and removed after.
var fixedDirs = []string{"/run/containerd", "/var/lib/cni", "/var/lib/kubelet", "/var/log/pods", "/var/log/containers"}

type host struct {
	dir string
}

func newHost() *host { return &host{dir: stateDir()} }

func (h *host) path(name string) string { return filepath.Join(h.dir, name) }

// prepare creates the state directory, saves the global sysctls, creates the missing fixed
// directories and the cgroup root.
func (h *host) prepare() error {
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return err
	}
	var saved bytes.Buffer
	for _, s := range globalSysctls {
		b, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			return err
		}
		fmt.Fprintf(&saved, "%s %s\n", s, strings.TrimSpace(string(b)))
	}
	if err := os.WriteFile(h.path("sysctl.saved"), saved.Bytes(), 0o600); err != nil {
		return err
	}
	var created []string
	for _, d := range fixedDirs {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		created = append(created, d)
		// Recorded at once: a run killed now still removes it.
		if err := os.WriteFile(h.path("created-dirs"), []byte(strings.Join(created, "\n")+"\n"), 0o600); err != nil {
			return err
		}
	}
	for _, hier := range cgroupHierarchies() {
		dir := filepath.Join(hier, cgroupName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		if filepath.Base(hier) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(hier, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					return fmt.Errorf("cgroup %s: %w", f, err)
				}
			}
		}
	}
	return nil
}

// cgroupHierarchies are the mounted cgroup hierarchies (v1 ones and the unified one).
func cgroupHierarchies() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		i := slices.Index(f, "-")
		if i < 0 || i+1 >= len(f) {
			continue
		}
		if fs := f[i+1]; fs == "cgroup" || fs == "cgroup2" {
			out = append(out, f[4])
		}
	}
	return out
}

// cleanup removes everything a run leaves, also after a killed run: idempotent.
func (h *host) cleanup() error {
	var errs []error
	if err := h.killAll(); err != nil {
		errs = append(errs, err)
	}
	for _, hier := range cgroupHierarchies() {
		if err := removeCgroupTree(filepath.Join(hier, cgroupName)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := unmountUnder(h.dir); err != nil {
		errs = append(errs, err)
	}
	if b, err := os.ReadFile(h.path("sysctl.saved")); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			name, value, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			if err := os.WriteFile("/proc/sys/"+name, []byte(value+"\n"), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restore %s: %w", name, err))
			}
		}
	}
	if b, err := os.ReadFile(h.path("created-dirs")); err == nil {
		for _, d := range strings.Fields(string(b)) {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(h.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// killAll kills, until none is left, every process of the cluster: those in its cgroups (pods),
// those in its network namespace (recorded in stateDir()/netns by the inner process), and those
// whose command line names stateDir() (containerd's shims).
func (h *host) killAll() error {
	netns, _ := os.ReadFile(h.path("netns"))
	want := strings.TrimSpace(string(netns))
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids := map[int]bool{}
		for _, hier := range cgroupHierarchies() {
			_ = filepath.WalkDir(filepath.Join(hier, cgroupName), func(p string, d os.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						pids[pid] = true
					}
				}
				return nil
			})
		}
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			if want != "" {
				if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && l == want {
					pids[pid] = true
				}
			}
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(b, []byte(h.dir+"/")) {
				pids[pid] = true
			}
		}
		delete(pids, os.Getpid())
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of the cluster still alive: %v", keys(pids))
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// removeCgroupTree removes a cgroup and its descendants, deepest first (they must be empty).
func removeCgroupTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		var e error
		for range 50 { // a cgroup whose last process just died may stay busy for a moment
			if e = syscall.Rmdir(dirs[i]); e == nil || errors.Is(e, syscall.ENOENT) {
				e = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if e != nil {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], e))
		}
	}
	return errors.Join(errs...)
}

// unmountUnder unmounts what is mounted under dir in this (the machine's) mount namespace:
// nothing, normally, as the cluster mounts in its private namespace.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			mounts = append(mounts, f[4])
		}
	}
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mounts[i], err))
		}
	}
	return errors.Join(errs...)
}
