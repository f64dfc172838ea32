package local

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redhook/redhook/hooks"
)

// show prints one line per status change, like `kubectl get rf -w`, and the pod table when
// roles, links or sentinel agreement change.
func (c *Cluster) show(s hooks.RedisFailoverStatus, obs hooks.HealerReport) {
	line := statusLine(c.parent.Name, s)
	table := c.podTable(obs)
	c.mu.Lock()
	lineChanged, tableChanged := line != c.shown, table != c.table
	c.shown, c.table = line, table
	c.mu.Unlock()
	if lineChanged {
		fmt.Fprintf(c.out, "%s %s\n", time.Now().Format("15:04:05.000"), line)
	}
	if tableChanged && obs.Known() {
		fmt.Fprint(c.out, table)
	}
}

// statusLine is NAME MASTER READY and the reason of every condition that is not as wished.
func statusLine(name string, s hooks.RedisFailoverStatus) string {
	master := "-"
	if s.Master != nil {
		master = s.Master.Pod + "(" + s.Master.IP + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s master=%s", name, master)
	if s.Redis != nil {
		fmt.Fprintf(&b, " redis=%d/%d", s.Redis.Ready, s.Redis.Replicas)
	}
	if s.Sentinel != nil {
		fmt.Fprintf(&b, " sentinels=%d/%d", s.Sentinel.Ready, s.Sentinel.Replicas)
	}
	for _, cnd := range s.Conditions {
		want := metav1.ConditionTrue
		if cnd.Type == hooks.ConditionDegraded || cnd.Type == hooks.ConditionProgressing {
			want = metav1.ConditionFalse
		}
		fmt.Fprintf(&b, " %s=%s", cnd.Type, cnd.Status)
		if cnd.Status != want {
			fmt.Fprintf(&b, "(%s)", cnd.Reason)
		}
	}
	return b.String()
}

// podTable lists redis pods with role and link, and sentinels with what they monitor.
func (c *Cluster) podTable(obs hooks.HealerReport) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  POD\tADDRESS\tROLE\tMASTER\tLINK\tOFFSET")
	redis := append([]hooks.RedisReport(nil), obs.Redis...)
	sort.Slice(redis, func(i, j int) bool { return redis[i].Pod < redis[j].Pod })
	for _, r := range redis {
		role, link := "down", ""
		if r.Reachable {
			role = map[string]string{hooks.RoleMaster: "master", hooks.RoleReplica: "replica"}[r.Role]
			if r.Role == hooks.RoleReplica {
				link = map[bool]string{true: "up", false: "down"}[r.LinkUp]
				if r.Syncing {
					link = "syncing"
				}
			}
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%d\n", r.Pod, r.IP, role, r.MasterHost, link, r.Offset)
	}
	for _, s := range obs.Sentinels {
		monitors := s.MasterIP
		if !s.Reachable {
			monitors = "(down)"
		}
		agrees := ""
		if s.Agrees(obs.Master) {
			agrees = "agrees"
		}
		fmt.Fprintf(w, "  %s\t%s\tsentinel\t%s\t%s\t\n", s.Pod, s.IP, monitors, agrees)
	}
	w.Flush()
	return b.String()
}
