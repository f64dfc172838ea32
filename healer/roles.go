package healer

import "github.com/redhook/redhook/hooks"

// Role names as Redis writes them in INFO replication and ROLE.
const (
	roleMaster  = hooks.RoleMaster
	roleReplica = hooks.RoleReplica
)
