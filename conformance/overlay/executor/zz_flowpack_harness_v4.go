//go:build !argo_v3

package executor

import "context"

// HarnessIsTarball is Argo's isTarball.
func HarnessIsTarball(ctx context.Context, filePath string) (bool, error) {
	return isTarball(ctx, filePath)
}
