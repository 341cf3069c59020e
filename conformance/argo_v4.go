//go:build !argo_v3

// The calls into Argo whose signatures differ between Argo versions, for Argo v4 (argo_v3*.go
// hold the same functions for v3; conformance/build.sh sets the build tags of each version and
// rewrites the /v4 import paths for a /v3 build). Everything else in the harness is shared.
package main

import (
	"context"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	argoprojv1 "github.com/argoproj/argo-workflows/v4/pkg/client/clientset/versioned/typed/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/util/logging"
	"github.com/argoproj/argo-workflows/v4/workflow/artifacts/raw"
	"github.com/argoproj/argo-workflows/v4/workflow/executor"
	"github.com/argoproj/argo-workflows/v4/workflow/templateresolution"
	"github.com/argoproj/argo-workflows/v4/workflow/validate"
)

var _ executor.ContainerRuntimeExecutor = (*podRuntime)(nil)

// argoLogContext is a context whose Argo logger writes to w: info and above as JSON lines
// (verbose), or errors only as text. v4 takes its logger from the context.
func argoLogContext(w io.Writer, verbose bool) context.Context {
	level, format := logging.Error, logging.Text
	if verbose {
		level, format = logging.Info, logging.JSON
	}
	return logging.WithLogger(context.Background(), logging.NewSlogLoggerCustom(level, format, w))
}

func validateWorkflow(ctx context.Context, wt templateresolution.WorkflowTemplateNamespacedGetter, cwt templateresolution.ClusterWorkflowTemplateGetter, wf *wfv1.Workflow) error {
	return validate.ValidateWorkflow(ctx, wt, cwt, wf, nil, validate.ValidateOpts{})
}

func validateWorkflowTemplate(ctx context.Context, wt templateresolution.WorkflowTemplateNamespacedGetter, cwt templateresolution.ClusterWorkflowTemplateGetter, t *wfv1.WorkflowTemplate) error {
	return validate.ValidateWorkflowTemplate(ctx, wt, cwt, t, nil, validate.ValidateOpts{})
}

func validateClusterWorkflowTemplate(ctx context.Context, wt templateresolution.WorkflowTemplateNamespacedGetter, cwt templateresolution.ClusterWorkflowTemplateGetter, t *wfv1.ClusterWorkflowTemplate) error {
	return validate.ValidateClusterWorkflowTemplate(ctx, wt, cwt, t, nil, validate.ValidateOpts{})
}

func validateCronWorkflow(ctx context.Context, wt templateresolution.WorkflowTemplateNamespacedGetter, cwt templateresolution.ClusterWorkflowTemplateGetter, c *wfv1.CronWorkflow) error {
	return validate.ValidateCronWorkflow(ctx, wt, cwt, c, nil)
}

// newExecutor is Argo's executor.NewExecutor over the harness's container runtime.
func newExecutor(ctx context.Context, kube kubernetes.Interface, taskResults argoprojv1.WorkflowTaskResultInterface, restClient rest.Interface, podName string, podUID types.UID, workflow string, workflowUID types.UID, nodeID, namespace string, rt *podRuntime, tmpl wfv1.Template, includeScriptOutput bool, deadline time.Time, patchTick, progressTick time.Duration) executor.WorkflowExecutor {
	return executor.NewExecutor(ctx, kube, taskResults, restClient, podName, podUID, workflow, workflowUID, nodeID, namespace, rt, tmpl, includeScriptOutput, deadline, patchTick, progressTick)
}

func addError(ctx context.Context, we *executor.WorkflowExecutor, err error) { we.AddError(ctx, err) }

// loadRaw is Argo's raw artifact driver's Load.
func loadRaw(ctx context.Context, art *wfv1.Artifact, path string) error {
	return (&raw.ArtifactDriver{}).Load(ctx, art, path)
}

// taskResultSynced is the node's TaskResultSynced flag.
func taskResultSynced(n wfv1.NodeStatus) bool {
	return n.TaskResultSynced != nil && *n.TaskResultSynced
}
