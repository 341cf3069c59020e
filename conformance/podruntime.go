// podRuntime is the harness's ContainerRuntimeExecutor for Argo's executor (the wait side):
// it reads what Argo's emissary saved under the pod's /var/run/argo, as Argo's own emissary
// runtime (workflow/executor/emissary) does inside a pod, and waits for or kills the process.
package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	argoerrs "github.com/argoproj/argo-workflows/v4/errors"
	"github.com/argoproj/argo-workflows/v4/workflow/common"
)

type podRuntime struct {
	pod  *podFS
	pgid int
	done chan struct{}
}

func (r *podRuntime) varRunArgo(elem ...string) string {
	p, _ := r.pod.hostPath(common.VarRunArgoPath)
	return filepath.Join(append([]string{p}, elem...)...)
}

// GetFileContents reads a saved output parameter, with the emissary's error on a missing file.
func (r *podRuntime) GetFileContents(_ string, sourcePath string) (string, error) {
	data, err := os.ReadFile(r.varRunArgo("outputs", "parameters", filepath.Clean(sourcePath)))
	if err != nil {
		if pe, ok := err.(*os.PathError); ok {
			pe.Path = filepath.Clean(filepath.Join(common.VarRunArgoPath, "outputs", "parameters", sourcePath))
		}
	}
	return string(data), err
}

// CopyFile copies the tgz the emissary made of an output artifact.
func (r *podRuntime) CopyFile(_ context.Context, _ string, sourcePath string, destPath string, _ int) error {
	rel := strings.TrimSuffix(sourcePath, "/") + ".tgz"
	src, err := os.Open(r.varRunArgo("outputs", "artifacts", filepath.Clean(rel)))
	if err != nil {
		if os.IsNotExist(err) {
			inPod := filepath.Join(common.VarRunArgoPath, "outputs", "artifacts", rel)
			return argoerrs.New(argoerrs.CodeNotFound, "open "+inPod+": no such file or directory")
		}
		return err
	}
	defer src.Close()
	dst, err := os.Create(destPath)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		return err
	}
	return dst.Close()
}

// GetOutputStream opens the stdout (or combined output) the emissary captured.
func (r *podRuntime) GetOutputStream(_ context.Context, containerName string, combinedOutput bool) (io.ReadCloser, error) {
	name := "stdout"
	if combinedOutput {
		name = "combined"
	}
	return os.Open(r.varRunArgo("ctr", containerName, name))
}

// Wait waits for the main container's process.
func (r *podRuntime) Wait(ctx context.Context, _ []string) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill sends SIGTERM to the main container, then SIGKILL after the grace period.
func (r *podRuntime) Kill(ctx context.Context, _ []string, grace time.Duration) error {
	_ = syscall.Kill(-r.pgid, syscall.SIGTERM)
	select {
	case <-r.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-r.pgid, syscall.SIGKILL)
	case <-ctx.Done():
	}
	return nil
}
