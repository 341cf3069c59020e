//go:build argo_v3_6

package executor

import "time"

// GetTerminationGracePeriodDuration is the name v3.7 and later give Argo's
// getTerminationGracePeriodDuration (the executor's grace period before SIGKILL).
func GetTerminationGracePeriodDuration() time.Duration { return getTerminationGracePeriodDuration() }
