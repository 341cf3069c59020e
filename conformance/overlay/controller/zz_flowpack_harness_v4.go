//go:build !argo_v3

// Argo v4's signatures for the calls of zz_flowpack_harness.go that differ between Argo
// versions (zz_flowpack_harness_v3.go holds v3's; conformance/build.sh sets the build tag).
package controller

import (
	"context"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/workflow/metrics"
	"github.com/argoproj/argo-workflows/v4/workflow/util"
)

func (m harnessEventRecorderManager) Get(_ context.Context, _ string) record.EventRecorder {
	return m.recorder
}

func harnessTestMetrics(ctx context.Context) (*metrics.Metrics, error) {
	m, _, err := metrics.CreateDefaultTestMetrics(ctx)
	return m, err
}

func (wfc *WorkflowController) harnessWorkflowInformer(ctx context.Context, client dynamic.Interface) cache.SharedIndexInformer {
	return util.NewWorkflowInformer(ctx, client, "", 0, wfc.tweakListRequestListOptions, wfc.tweakWatchRequestListOptions, indexers)
}

func (wfc *WorkflowController) harnessTaskResultInformer(ctx context.Context) cache.SharedIndexInformer {
	return wfc.newWorkflowTaskResultInformer(ctx)
}

func (wfc *WorkflowController) harnessConfigMapInformer(ctx context.Context) cache.SharedIndexInformer {
	return wfc.newConfigMapInformer(ctx)
}

func harnessOperationCtx(ctx context.Context, wf *wfv1.Workflow, wfc *WorkflowController) *wfOperationCtx {
	return newWorkflowOperationCtx(ctx, wf, wfc)
}
