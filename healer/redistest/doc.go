// Package redistest runs real redis-server and redis-sentinel processes for tests, as
// net/http/httptest runs real HTTP servers: there is no mock of Redis here, every command goes
// to a process started by the test and killed at its end.
//
// It provides:
//   - Require: the one rule for a test that needs Redis (skip when a binary is missing locally,
//     fail in CI);
//   - Subnet: a loopback subnet 127.0.x.0 that no other test uses, in this process or in another
//     `go test` process running at the same time;
//   - Proc: one process on a loopback address and port, with its config and data in the test's
//     temporary directory and its output captured to a log file (start, kill, signal, restart,
//     wipe), and a plain client of it (Do);
//   - Cluster: N redis-server and M redis-sentinel processes of one master name, booted as the
//     rendered configuration boots them (replicas of a placeholder) or already replicated;
//   - Sharded (rediscluster.go): redis-server processes in cluster mode, one group per shard
//     (pods rdc-<name>-<shard>-<ordinal>), booted unformed, with AddShard, RemoveShard, Replace
//     (a fresh node at a new address) and a cluster-aware client;
//   - NewClient and NewSentinelClient: rueidis clients with short timeouts, the second
//     Sentinel-aware, as an application uses;
//   - WaitFor: polling with the last error in the failure;
//   - SyncBuffer and CaptureLog: a goroutine-safe log sink for in-process components (zerolog).
//
// The package knows nothing of the healer's decisions: it starts processes, writes their
// configuration and talks to them. It does not import "testing" (the redhook binary links it
// for its load tools); TB is the part of testing.TB it needs.
//
// What it must never do: talk to anything but loopback addresses, or leave a process behind.
// Every process runs in its own process group, killed whole (a replication or BGSAVE fork
// included) at the end of the test that started it, and dies with the test binary
// (Pdeathsig). Logs are printed when a test fails, and kept whole under $REDHOOK_TEST_LOGS when
// that is set.
package redistest
