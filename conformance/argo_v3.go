//go:build argo_v3

// The calls into Argo whose signatures differ between Argo versions, for Argo v3 (see
// argo_v4.go). Import paths name /v4: conformance/build.sh rewrites them for a /v3 build.
// v3 logs through logrus's standard logger, and its executor calls take no context.
package main

import (
	"context"
	"io"
	"time"

	log "github.com/sirupsen/logrus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	argoprojv1 "github.com/argoproj/argo-workflows/v4/pkg/client/clientset/versioned/typed/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/workflow/artifacts/raw"
	"github.com/argoproj/argo-workflows/v4/workflow/executor"
)

// v3Runtime is the podRuntime with v3's CopyFile, which takes no context.
type v3Runtime struct{ *podRuntime }

func (r v3Runtime) CopyFile(containerName, sourcePath, destPath string, compressionLevel int) error {
	return r.podRuntime.CopyFile(context.Background(), containerName, sourcePath, destPath, compressionLevel)
}

var _ executor.ContainerRuntimeExecutor = v3Runtime{}

// argoLogContext points logrus's standard logger, which v3 logs through, at w: info and above
// as JSON lines (verbose), or errors only as text.
func argoLogContext(w io.Writer, verbose bool) context.Context {
	log.SetOutput(w)
	if verbose {
		log.SetLevel(log.InfoLevel)
		log.SetFormatter(&log.JSONFormatter{})
	} else {
		log.SetLevel(log.ErrorLevel)
		log.SetFormatter(&log.TextFormatter{})
	}
	return context.Background()
}

// newExecutor is Argo's executor.NewExecutor over the harness's container runtime.
func newExecutor(_ context.Context, kube kubernetes.Interface, taskResults argoprojv1.WorkflowTaskResultInterface, restClient rest.Interface, podName string, podUID types.UID, workflow string, workflowUID types.UID, nodeID, namespace string, rt *podRuntime, tmpl wfv1.Template, includeScriptOutput bool, deadline time.Time, patchTick, progressTick time.Duration) executor.WorkflowExecutor {
	return executor.NewExecutor(kube, taskResults, restClient, podName, podUID, workflow, workflowUID, nodeID, namespace, v3Runtime{rt}, tmpl, includeScriptOutput, deadline, patchTick, progressTick)
}

func addError(_ context.Context, we *executor.WorkflowExecutor, err error) { we.AddError(err) }

// loadRaw is Argo's raw artifact driver's Load.
func loadRaw(_ context.Context, art *wfv1.Artifact, path string) error {
	return (&raw.ArtifactDriver{}).Load(art, path)
}
