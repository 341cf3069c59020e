// A pod's filesystem as seen from the host: a fresh directory whose "root" becomes the pod's
// "/" (podprocess.go). The pod's own top-level directories live inside it, so after the main
// container exits the harness reads what the pod wrote at the same paths the pod used.
package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	apiv1 "k8s.io/api/core/v1"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
)

// hostTopLevelDirs are the host directories a pod needs to run its command (the "image");
// a template path under them is refused rather than written into the host.
var hostTopLevelDirs = map[string]bool{
	"bin": true, "boot": true, "etc": true, "lib": true, "lib32": true, "lib64": true, "libx32": true,
	"proc": true, "sbin": true, "sys": true, "usr": true, "var": true, "dev": true,
}

// alwaysOwnTopLevelDirs are the pod's own in every pod, empty at start: its scratch space and
// Argo's volumes. The other host directories play the part of the image (the host's Python
// with its packages).
var alwaysOwnTopLevelDirs = []string{"tmp", "run", "argo"}

// podFS is one pod's directory on the host.
type podFS struct {
	dir string
	own map[string]bool
}

func newPodFS(dir string, tmpl *wfv1.Template, mainCtr *apiv1.Container) (*podFS, error) {
	p := &podFS{dir: dir, own: map[string]bool{}}
	for _, d := range alwaysOwnTopLevelDirs {
		p.own[d] = true
	}
	var paths []string
	for _, a := range tmpl.Inputs.Artifacts {
		paths = append(paths, a.Path)
	}
	for _, a := range tmpl.Outputs.Artifacts {
		paths = append(paths, a.Path)
	}
	for _, prm := range tmpl.Outputs.Parameters {
		if prm.ValueFrom != nil {
			paths = append(paths, prm.ValueFrom.Path)
		}
	}
	for _, m := range mainCtr.VolumeMounts {
		paths = append(paths, m.MountPath)
	}
	paths = append(paths, mainCtr.WorkingDir)
	for _, p0 := range paths {
		top := topLevel(p0)
		if top == "" || top == "var" && strings.HasPrefix(path.Clean(p0), "/var/run/argo") {
			continue
		}
		if hostTopLevelDirs[top] {
			return nil, fmt.Errorf("the harness keeps a pod's files in directories of its own; %q is under the host's /%s", p0, top)
		}
		p.own[top] = true
	}
	if err := os.MkdirAll(p.root(), 0o755); err != nil {
		return nil, err
	}
	for d := range p.own {
		if err := os.MkdirAll(filepath.Join(p.root(), d), 0o755); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func topLevel(p string) string {
	if !strings.HasPrefix(p, "/") {
		return ""
	}
	return strings.SplitN(strings.TrimPrefix(path.Clean(p), "/"), "/", 2)[0]
}

func (p *podFS) root() string { return filepath.Join(p.dir, "root") }

// ownDirs lists the pod's own top-level directories.
func (p *podFS) ownDirs() []string {
	out := make([]string, 0, len(p.own))
	for d := range p.own {
		out = append(out, d)
	}
	return out
}

// hostPath is where the pod's path lives on the host. /var/run is the host's link to /run,
// so Argo's /var/run/argo volume is the pod's own /run/argo.
func (p *podFS) hostPath(podPath string) (string, error) {
	clean := path.Clean("/" + podPath)
	if strings.HasPrefix(clean+"/", "/var/run/") {
		clean = "/run" + strings.TrimPrefix(clean, "/var/run")
	}
	if !p.own[topLevel(clean)] {
		return "", fmt.Errorf("path %q is not in one of the pod's own directories", podPath)
	}
	return filepath.Join(p.root(), filepath.FromSlash(clean)), nil
}

// checkHostLayout makes sure /var/run is a link to /run, which the pod layout relies on.
func checkHostLayout() error {
	link, err := os.Readlink("/var/run")
	if err != nil || (link != "/run" && link != "../run") {
		return fmt.Errorf("the harness needs /var/run to be a symbolic link to /run (found %q)", link)
	}
	return nil
}
