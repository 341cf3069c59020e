//go:build argo_v3

// Argo v3's signatures for the calls of zz_flowpack_harness.go that differ between Argo
// versions (no context argument: v3 logs through logrus, not through the context).
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

func (m harnessEventRecorderManager) Get(_ string) record.EventRecorder { return m.recorder }

func harnessTestMetrics(_ context.Context) (*metrics.Metrics, error) {
	m, _, err := metrics.CreateDefaultTestMetrics()
	return m, err
}

func (wfc *WorkflowController) harnessWorkflowInformer(_ context.Context, client dynamic.Interface) cache.SharedIndexInformer {
	return util.NewWorkflowInformer(client, "", 0, wfc.tweakListRequestListOptions, wfc.tweakWatchRequestListOptions, indexers)
}

func (wfc *WorkflowController) harnessTaskResultInformer(_ context.Context) cache.SharedIndexInformer {
	return wfc.newWorkflowTaskResultInformer()
}

func (wfc *WorkflowController) harnessConfigMapInformer(_ context.Context) cache.SharedIndexInformer {
	return wfc.newConfigMapInformer()
}

func harnessOperationCtx(_ context.Context, wf *wfv1.Workflow, wfc *WorkflowController) *wfOperationCtx {
	return newWorkflowOperationCtx(wf, wfc)
}
