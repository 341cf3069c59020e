// The pod's main container, as a process of this machine: the harness re-executes itself in
// a private mount namespace (CLONE_NEWNS) and PID namespace (CLONE_NEWPID), builds a root (a fresh host directory) in which
// /tmp, /run (so /var/run/argo), /dev and every other top-level directory the template's paths
// name are the pod's own, the rest are the host's directories bind-mounted, chroots into it and runs Argo's own argoexec
// "emissary" command with the container's command line, exactly as the pod's main container
// would: the emissary runs the user's command, captures stdout where Argo asks, and saves
// output parameters and artifacts under /var/run/argo for the wait side to report.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/argoproj/argo-workflows/v4/cmd/argoexec/commands"
	"github.com/argoproj/argo-workflows/v4/util"
	"github.com/argoproj/argo-workflows/v4/util/errors"
)

const podProcessCommand = "__pod-process"

// podProcessSpec is what the parent hands to the namespaced child.
type podProcessSpec struct {
	RootDir         string   `json:"rootDir"`         // empty host directory that becomes the pod's "/"
	TerminationLog  string   `json:"terminationLog"`  // host file behind /dev/termination-log
	WorkingDir      string   `json:"workingDir"`      // container workingDir
	ArgoexecArgs    []string `json:"argoexecArgs"`    // argv of argoexec after its program name
	OwnTopLevelDirs []string `json:"ownTopLevelDirs"` // top-level directories that are not the host's
}

// devNodes are the device files a container runtime provides in /dev.
var devNodes = []string{"null", "zero", "full", "random", "urandom", "tty"}

func podProcessMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "argo-harness: internal command needs one spec file")
		return 2
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "argo-harness: "+err.Error())
		return 2
	}
	var spec podProcessSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		fmt.Fprintln(os.Stderr, "argo-harness: "+err.Error())
		return 2
	}
	if err := enterPodRoot(spec); err != nil {
		fmt.Fprintln(os.Stderr, "argo-harness: pod filesystem: "+err.Error())
		return 2
	}
	return runArgoexec(spec.ArgoexecArgs)
}

// runArgoexec is argoexec's main function (cmd/argoexec/main.go) run in this process.
func runArgoexec(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	root := commands.NewRootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		if exitError, ok := err.(errors.Exited); ok {
			if exitError.ExitCode() >= 0 {
				return exitError.ExitCode()
			}
			return 137
		}
		util.WriteTerminateMessage(err.Error())
		println(err.Error())
		return 64
	}
	return 0
}

// enterPodRoot builds the pod's root from host directories plus the pod's own, then chroots.
func enterPodRoot(spec podProcessSpec) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := spec.RootDir
	own := map[string]bool{"tmp": true, "run": true, "dev": true, "proc": true}
	for _, d := range spec.OwnTopLevelDirs {
		own[d] = true
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		target := filepath.Join(root, name)
		if own[name] {
			continue
		}
		info, err := os.Lstat("/" + name)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink("/" + name)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		case info.IsDir():
			if err := os.Mkdir(target, 0o755); err != nil {
				return err
			}
			if err := syscall.Mount("/"+name, target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
				return fmt.Errorf("bind /%s: %w", name, err)
			}
		}
	}
	for name := range own {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := buildDev(filepath.Join(root, "dev"), spec.TerminationLog); err != nil {
		return err
	}
	// This process is PID 1 of the pod's own PID namespace: /proc shows the pod's processes,
	// and when the container's first process ends, the kernel ends the rest, as in a pod.
	if err := syscall.Mount("proc", filepath.Join(root, "proc"), "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := syscall.Chroot(root); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	dir := spec.WorkingDir
	if dir == "" {
		dir = "/"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chdir(dir)
}

// buildDev gives the pod a /dev of its own: a tmpfs with the usual device nodes bound from
// the host, /dev/shm, /dev/pts, the fd links, and the termination log file.
func buildDev(dev, terminationLog string) error {
	if err := syscall.Mount("tmpfs", dev, "tmpfs", syscall.MS_NOSUID, "mode=755"); err != nil {
		return fmt.Errorf("tmpfs /dev: %w", err)
	}
	for _, n := range devNodes {
		target := filepath.Join(dev, n)
		if err := os.WriteFile(target, nil, 0o666); err != nil {
			return err
		}
		if err := syscall.Mount("/dev/"+n, target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", n, err)
		}
	}
	for _, d := range []string{"shm", "pts"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			return err
		}
	}
	if err := syscall.Mount("tmpfs", filepath.Join(dev, "shm"), "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("tmpfs /dev/shm: %w", err)
	}
	for name, link := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(link, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	logFile := filepath.Join(dev, "termination-log")
	if err := os.WriteFile(logFile, nil, 0o666); err != nil {
		return err
	}
	return syscall.Mount(terminationLog, logFile, "", syscall.MS_BIND, "")
}
