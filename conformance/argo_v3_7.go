//go:build argo_v3 && !argo_v3_6

// Argo v3.7's validation signatures (a defaults argument, no context) and the node's
// TaskResultSynced flag; see argo_v4.go.
package main

import (
	"context"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/workflow/templateresolution"
	"github.com/argoproj/argo-workflows/v4/workflow/validate"
)

func validateWorkflow(_ context.Context, wt templateresolution.WorkflowTemplateNamespacedGetter, cwt templateresolution.ClusterWorkflowTemplateGetter, wf *wfv1.Workflow) error {
	return validate.ValidateWorkflow(wt, cwt, wf, nil, validate.ValidateOpts{})
}

func validateWorkflowTemplate(_ context.Context, wt templateresolution.WorkflowTemplateNamespacedGetter, cwt templateresolution.ClusterWorkflowTemplateGetter, t *wfv1.WorkflowTemplate) error {
	return validate.ValidateWorkflowTemplate(wt, cwt, t, nil, validate.ValidateOpts{})
}

func validateClusterWorkflowTemplate(_ context.Context, wt templateresolution.WorkflowTemplateNamespacedGetter, cwt templateresolution.ClusterWorkflowTemplateGetter, t *wfv1.ClusterWorkflowTemplate) error {
	return validate.ValidateClusterWorkflowTemplate(wt, cwt, t, nil, validate.ValidateOpts{})
}

func validateCronWorkflow(ctx context.Context, wt templateresolution.WorkflowTemplateNamespacedGetter, cwt templateresolution.ClusterWorkflowTemplateGetter, c *wfv1.CronWorkflow) error {
	return validate.ValidateCronWorkflow(ctx, wt, cwt, c, nil)
}

// taskResultSynced is the node's TaskResultSynced flag.
func taskResultSynced(n wfv1.NodeStatus) bool {
	return n.TaskResultSynced != nil && *n.TaskResultSynced
}
