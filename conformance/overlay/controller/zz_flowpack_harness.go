// Code added to Argo's controller package at build time (go build -overlay) by flowpack's
// conformance harness. It builds a WorkflowController over fake Kubernetes clients the same
// way Argo's own controller unit tests do (controller_test.go newController) and exposes the
// operator, so the harness drives Argo's unmodified operator code from outside the package.
// The few calls whose signatures differ between Argo versions are in zz_flowpack_harness_v*.go.
package controller

import (
	"context"
	"time"

	"github.com/argoproj/pkg/sync"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/argoproj/argo-workflows/v4/config"
	"github.com/argoproj/argo-workflows/v4/persist/sqldb"
	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	fakewfclientset "github.com/argoproj/argo-workflows/v4/pkg/client/clientset/versioned/fake"
	"github.com/argoproj/argo-workflows/v4/pkg/client/clientset/versioned/scheme"
	wfextv "github.com/argoproj/argo-workflows/v4/pkg/client/informers/externalversions"
	"github.com/argoproj/argo-workflows/v4/workflow/artifactrepositories"
	controllercache "github.com/argoproj/argo-workflows/v4/workflow/controller/cache"
	"github.com/argoproj/argo-workflows/v4/workflow/controller/entrypoint"
	"github.com/argoproj/argo-workflows/v4/workflow/controller/estimation"
	"github.com/argoproj/argo-workflows/v4/workflow/controller/pod"
	"github.com/argoproj/argo-workflows/v4/workflow/events"
	hydratorfake "github.com/argoproj/argo-workflows/v4/workflow/hydrator/fake"
)

// HarnessController is a WorkflowController over fake clientsets, plus the clientsets.
type HarnessController struct {
	WFC  *WorkflowController
	Kube *fake.Clientset
	WF   *fakewfclientset.Clientset
}

type harnessEventRecorderManager struct{ recorder *record.FakeRecorder }

var _ events.EventRecorderManager = harnessEventRecorderManager{}

// NewHarnessController mirrors controller_test.go newController with a real default
// artifact repository taken from cfg.ArtifactRepository.
func NewHarnessController(ctx context.Context, cfg config.Config, namespace string, objects ...runtime.Object) (*HarnessController, error) {
	wfclientset := fakewfclientset.NewSimpleClientset(objects...)
	dynamicClient := dynamicfake.NewSimpleDynamicClient(scheme.Scheme, objects...)
	informerFactory := wfextv.NewSharedInformerFactory(wfclientset, 0)
	kube := fake.NewSimpleClientset()
	wfc := &WorkflowController{
		Config:                    cfg,
		namespace:                 namespace,
		cliExecutorLogFormat:      "text",
		kubeclientset:             kube,
		dynamicInterface:          dynamicClient,
		wfclientset:               wfclientset,
		workflowKeyLock:           sync.NewKeyLock(),
		wfArchive:                 sqldb.NullWorkflowArchive,
		hydrator:                  hydratorfake.Noop,
		estimatorFactory:          estimation.DummyEstimatorFactory,
		eventRecorderManager:      harnessEventRecorderManager{recorder: record.NewFakeRecorder(1 << 16)},
		archiveLabelSelector:      labels.Everything(),
		cacheFactory:              controllercache.NewCacheFactory(kube, namespace),
		progressPatchTickDuration: 0,
		progressFileTickDuration:  0,
		maxStackDepth:             maxAllowedStackDepth,
	}
	wfc.artifactRepositories = artifactrepositories.New(kube, namespace, &wfc.Config.ArtifactRepository)
	var err error
	wfc.metrics, err = harnessTestMetrics(ctx)
	if err != nil {
		return nil, err
	}
	wfc.entrypoint = entrypoint.New(kube, wfc.Config.Images)
	wfc.wfQueue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	wfc.throttler = wfc.newThrottler()
	wfc.rateLimiter = wfc.newRateLimiter()

	wfc.wfInformer = wfc.harnessWorkflowInformer(ctx, dynamicClient)
	wfc.wfTaskSetInformer = informerFactory.Argoproj().V1alpha1().WorkflowTaskSets()
	wfc.artGCTaskInformer = informerFactory.Argoproj().V1alpha1().WorkflowArtifactGCTasks()
	wfc.taskResultInformer = wfc.harnessTaskResultInformer(ctx)
	wfc.wftmplInformer = informerFactory.Argoproj().V1alpha1().WorkflowTemplates()
	_ = wfc.addWorkflowInformerHandlers(ctx)
	wfc.PodController = pod.NewController(ctx, &wfc.Config, wfc.restConfig, "", wfc.kubeclientset, wfc.wfInformer, wfc.metrics, wfc.enqueueWfFromPodLabel)
	wfc.configMapInformer = wfc.harnessConfigMapInformer(ctx)
	wfc.createSynchronizationManager(ctx)
	if err := wfc.initManagers(ctx); err != nil {
		return nil, err
	}
	go wfc.wfInformer.Run(ctx.Done())
	go wfc.wftmplInformer.Informer().Run(ctx.Done())
	go wfc.PodController.Run(ctx, 0)
	go wfc.wfTaskSetInformer.Informer().Run(ctx.Done())
	go wfc.artGCTaskInformer.Informer().Run(ctx.Done())
	go wfc.taskResultInformer.Run(ctx.Done())
	wfc.cwftmplInformer = informerFactory.Argoproj().V1alpha1().ClusterWorkflowTemplates()
	go wfc.cwftmplInformer.Informer().Run(ctx.Done())
	go wfc.configMapInformer.Run(ctx.Done())
	for _, c := range []cache.SharedIndexInformer{
		wfc.wfInformer,
		wfc.wftmplInformer.Informer(),
		wfc.PodController.TestingPodInformer(),
		wfc.cwftmplInformer.Informer(),
		wfc.wfTaskSetInformer.Informer(),
		wfc.artGCTaskInformer.Informer(),
		wfc.taskResultInformer,
		wfc.configMapInformer,
	} {
		for !c.HasSynced() {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return &HarnessController{WFC: wfc, Kube: kube, WF: wfclientset}, nil
}

// Operate runs Argo's operator once on wf (as processNextItem does) and returns the
// workflow as the operator left it; the operator also persists it to the fake clientset.
func (h *HarnessController) Operate(ctx context.Context, wf *wfv1.Workflow) *wfv1.Workflow {
	woc := harnessOperationCtx(ctx, wf, h.WFC)
	woc.operate(ctx)
	return woc.wf
}

// ReconciliationNeeded is the controller's own test of whether a workflow needs operating.
func ReconciliationNeeded(wf *wfv1.Workflow) bool { return reconciliationNeeded(wf) }

// PodInformerStore is the pod informer's store the operator reads pods from.
func (h *HarnessController) PodInformerStore() cache.Store {
	return h.WFC.PodController.TestingPodInformer().GetStore()
}

// TaskResultIndexer is the informer index the operator reads WorkflowTaskResults from.
func (h *HarnessController) TaskResultIndexer() cache.Indexer {
	return h.WFC.taskResultInformer.GetIndexer()
}
