// Package hooks is redhook's pure core: the RedisFailover API types, their defaulting and
// validation, and the Metacontroller hooks — Sync renders every child and the status from the
// parent, the observed children, the related pods and Secret, and the healer's report (HealerReport);
// Customize names the related objects; NewTopology extracts what the healer needs.
//
// The second kind, RedisCluster (redhook.io/v1alpha1, a sharded Redis Cluster), lives in the
// cluster_*.go files and reuses the RedisFailover's helpers: SyncCluster renders one StatefulSet
// and PodDisruptionBudget per shard from the healer's ClusterReport, CustomizeCluster names its
// related objects, SyncClusterWithTopology also returns its ClusterTopology. Its goldens are in
// testdata/sync-cluster. controller-gen takes the group and version below for both kinds; the
// Makefile renames them in the RedisCluster CRD.
//
// Everything here is a deterministic function of its arguments: no I/O, no clock, no
// randomness, no logging, no context. The same request gives byte-identical output, which is
// what the golden tests in testdata/sync pin down.
//
// The rule that shapes Sync: Metacontroller deletes every observed child that a response leaves
// out. So when the spec is invalid, the auth Secret is missing or the healer has not reported
// yet, Sync returns the observed children as they were last applied and says why in the status;
// it never answers with a partial list. SyncCluster follows the same rule, and keeps a shard that
// a scale-in removes until the healer reports it empty and forgotten.
//
// +kubebuilder:object:generate=false
// +groupName=databases.spotahome.com
// +versionName=v1
package hooks
