//go:build argo_v3

package executor

import "context"

// HarnessIsTarball is Argo's isTarball (v3's takes no context).
func HarnessIsTarball(_ context.Context, filePath string) (bool, error) {
	return isTarball(filePath)
}
