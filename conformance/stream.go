// "run FILE --stream": the run as the Argo Server sees it, for a test double of the server
// (tests/argo_double.py). While Argo's controller drives the workflow, every change of the
// Workflow object is printed as one JSON line, and the server's workflow actions arrive on
// stdin, one JSON line each, applied with the same functions Argo's workflow server calls
// (server/workflow/workflow_server.go): stop and terminate patch spec.shutdown
// (util.StopWorkflow/TerminateWorkflow), suspend and resume (util.SuspendWorkflow/
// ResumeWorkflow), retry (util.FormulateRetryWorkflow, then the pods it names are deleted and
// the workflow updated), resubmit (util.FormulateResubmitWorkflow; the new Workflow is
// answered for the caller to create). The process keeps serving after the workflow completes
// (a retry may follow) until stdin closes; then the run record is printed as in "run".
//
// Lines printed: {"event":"started","podDir":DIR} (DIR/<pod name>/main.log is each pod's main
// container log), {"event":"workflow","workflow":{...}} on every change, and for each command
// {"event":"reply","id":ID,"ok":true,"workflow":{...}} or {..."ok":false,"code":HTTP,"error":MSG}.
//
// Kept version-neutral: it uses only Argo API that v3.6, v3.7 and v4 share (the workflow/util
// functions above, ShutdownStrategy, the errors package's ArgoError), plus the harness's own
// kubelet, drive loop helpers and HarnessController.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	apiv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	argoerrs "github.com/argoproj/argo-workflows/v4/errors"
	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/workflow/common"
	"github.com/argoproj/argo-workflows/v4/workflow/controller"
	hydratorfake "github.com/argoproj/argo-workflows/v4/workflow/hydrator/fake"
	"github.com/argoproj/argo-workflows/v4/workflow/util"
)

// streamCommand is one line of stdin: a workflow action as the Argo Server's API takes it.
type streamCommand struct {
	ID                int      `json:"id"`
	Op                string   `json:"op"` // stop, terminate, suspend, resume, retry, resubmit
	Message           string   `json:"message,omitempty"`
	NodeFieldSelector string   `json:"nodeFieldSelector,omitempty"`
	RestartSuccessful bool     `json:"restartSuccessful,omitempty"`
	Memoized          bool     `json:"memoized,omitempty"`
	Parameters        []string `json:"parameters,omitempty"`
}

// streamLine is one line of stdout.
type streamLine struct {
	Event    string         `json:"event"`
	PodDir   string         `json:"podDir,omitempty"`
	ID       *int           `json:"id,omitempty"`
	OK       *bool          `json:"ok,omitempty"`
	Code     int            `json:"code,omitempty"`
	Error    string         `json:"error,omitempty"`
	Workflow *wfv1.Workflow `json:"workflow,omitempty"`
}

var stdoutMu sync.Mutex

func printLine(l streamLine) {
	data, err := json.Marshal(l)
	if err != nil {
		data, _ = json.Marshal(streamLine{Event: "error", Error: err.Error()})
	}
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	_, _ = os.Stdout.Write(append(data, '\n'))
}

// readCommands delivers stdin's commands; the channel closes when stdin does.
func readCommands() <-chan streamCommand {
	out := make(chan streamCommand)
	go func() {
		defer close(out)
		scanner := bufio.NewScanner(os.Stdin)
		scanner.Buffer(make([]byte, 1<<16), 1<<24)
		for scanner.Scan() {
			var c streamCommand
			if err := json.Unmarshal(scanner.Bytes(), &c); err != nil {
				printLine(streamLine{Event: "error", Error: "unreadable command: " + err.Error()})
				continue
			}
			out <- c
		}
	}()
	return out
}

// streamDrive is drive's streaming form: it operates the workflow while reconciliation is
// needed, prints each change, applies commands, and returns when stdin closes (or, while the
// workflow runs, when it gets stuck or --timeout passes).
func streamDrive(ctx context.Context, h *controller.HarnessController, k *kubelet, wf *wfv1.Workflow, opts runOptions) (*wfv1.Workflow, string) {
	deleteCollectionOfTaskResults(h)
	printLine(streamLine{Event: "started", PodDir: k.dir})
	commands := readCommands()
	start, lastProgress := time.Now(), time.Now()
	lastPrint, lastShown := "", ""
	terminating := map[string]bool{}
	for {
		current, err := h.WF.ArgoprojV1alpha1().Workflows(wf.Namespace).Get(ctx, wf.Name, metav1.GetOptions{})
		if err != nil {
			return wf, "the workflow disappeared: " + err.Error()
		}
		wf = current
		active := controller.ReconciliationNeeded(wf)
		if active {
			wf = h.Operate(ctx, wf)
		}
		started, err := k.startNewPods(ctx)
		if err != nil {
			return wf, err.Error()
		}
		terminateShutDownPods(ctx, k, wf, terminating)
		if shown, err := json.Marshal(wf); err == nil && string(shown) != lastShown {
			lastShown = string(shown)
			printLine(streamLine{Event: "workflow", Workflow: wf})
		}
		print := fingerprint(wf)
		if !active || print != lastPrint || started > 0 || k.runningPods() > 0 || waitingOnPurpose(wf) || suspended(wf) {
			lastPrint, lastProgress = print, time.Now()
		}
		if active && time.Since(lastProgress) > opts.stuckAfter {
			return wf, fmt.Sprintf("no progress for %s (Argo's controller keeps requeueing the workflow)", opts.stuckAfter)
		}
		if active && time.Since(start) > opts.timeout {
			return wf, fmt.Sprintf("the workflow did not complete within --timeout %s", opts.timeout)
		}
		select {
		case c, open := <-commands:
			if !open {
				return wf, ""
			}
			applyCommand(ctx, h, k, wf, c)
			start, lastProgress = time.Now(), time.Now()
		case <-k.events:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// deleteCollectionOfTaskResults makes the fake clientset delete WorkflowTaskResults by label
// selector, as the API server does when the operator's deleteTaskResults runs on a completed
// workflow (the fake's object tracker implements no delete-collection, so the results would
// stay, and a retried node would get its failed attempt's outputs from them).
func deleteCollectionOfTaskResults(h *controller.HarnessController) {
	gvr := wfv1.SchemeGroupVersion.WithResource("workflowtaskresults")
	gvk := wfv1.SchemeGroupVersion.WithKind("WorkflowTaskResult")
	h.WF.PrependReactor("delete-collection", "workflowtaskresults", func(action k8stesting.Action) (bool, runtime.Object, error) {
		dc, ok := action.(k8stesting.DeleteCollectionAction)
		if !ok {
			return false, nil, nil
		}
		selector := dc.GetListRestrictions().Labels
		listed, err := h.WF.Tracker().List(gvr, gvk, action.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		results, ok := listed.(*wfv1.WorkflowTaskResultList)
		if !ok {
			return true, nil, fmt.Errorf("unexpected list type %T", listed)
		}
		for _, r := range results.Items {
			if selector == nil || selector.Matches(labels.Set(r.Labels)) {
				if err := h.WF.Tracker().Delete(gvr, r.Namespace, r.Name); err != nil {
					return true, nil, err
				}
			}
		}
		return true, nil, nil
	})
}

// suspended is true while the workflow or one of its suspend nodes waits for a resume.
func suspended(wf *wfv1.Workflow) bool {
	if wf.Spec.Suspend != nil && *wf.Spec.Suspend {
		return true
	}
	for _, n := range wf.Status.Nodes {
		if n.IsActiveSuspendNode() {
			return true
		}
	}
	return false
}

// terminateShutDownPods does the pod-cleanup worker's "terminateContainers" for a workflow
// being shut down (the harness runs no cleanup workers): Argo's applyExecutionControl queues
// every pending or running pod that the shutdown strategy does not let run (exit-handler pods
// survive Stop); its containers get SIGTERM, and SIGKILL after the grace period.
func terminateShutDownPods(ctx context.Context, k *kubelet, wf *wfv1.Workflow, done map[string]bool) {
	strategy := wf.Spec.Shutdown
	if !strategy.Enabled() {
		return
	}
	pods, err := k.h.Kube.CoreV1().Pods(k.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, pod := range pods.Items {
		_, onExit := pod.Labels[common.LabelKeyOnExit]
		if done[pod.Name] || strategy.ShouldExecute(onExit) {
			continue
		}
		k.mu.Lock()
		rt := k.procs[pod.Name]
		k.mu.Unlock()
		if rt == nil {
			continue
		}
		done[pod.Name] = true
		grace := 30 * time.Second
		if s := pod.Spec.TerminationGracePeriodSeconds; s != nil {
			grace = time.Duration(*s) * time.Second
		}
		go func() { _ = rt.Kill(ctx, nil, grace) }()
	}
}

// applyCommand does what the Argo Server does for one workflow action and prints the reply.
func applyCommand(ctx context.Context, h *controller.HarnessController, k *kubelet, wf *wfv1.Workflow, c streamCommand) {
	wfIf := h.WF.ArgoprojV1alpha1().Workflows(wf.Namespace)
	var err error
	var answer *wfv1.Workflow
	switch c.Op {
	case "stop":
		err = util.StopWorkflow(ctx, wfIf, hydratorfake.Noop, wf.Name, c.NodeFieldSelector, c.Message)
	case "terminate":
		err = util.TerminateWorkflow(ctx, wfIf, wf.Name)
	case "suspend":
		err = util.SuspendWorkflow(ctx, wfIf, wf.Name)
	case "resume":
		err = util.ResumeWorkflow(ctx, wfIf, hydratorfake.Noop, wf.Name, c.NodeFieldSelector)
	case "retry":
		err = retryWorkflow(ctx, h, k, wf, c)
	case "resubmit":
		answer, err = util.FormulateResubmitWorkflow(ctx, wf.DeepCopy(), c.Memoized, c.Parameters)
	default:
		err = argoerrs.Errorf(argoerrs.CodeBadRequest, "unknown workflow action %q", c.Op)
	}
	id := c.ID
	ok := err == nil
	if err != nil {
		printLine(streamLine{Event: "reply", ID: &id, OK: &ok, Code: httpCode(err), Error: err.Error()})
		return
	}
	if answer == nil {
		if answer, err = wfIf.Get(ctx, wf.Name, metav1.GetOptions{}); err != nil {
			ok = false
			printLine(streamLine{Event: "reply", ID: &id, OK: &ok, Code: 500, Error: err.Error()})
			return
		}
	}
	printLine(streamLine{Event: "reply", ID: &id, OK: &ok, Workflow: answer})
}

// retryWorkflow is the Argo Server's RetryWorkflow: the retried workflow as Argo formulates it,
// the pods it names deleted (the kubelet forgets them, so their new incarnations run), the
// workflow updated.
func retryWorkflow(ctx context.Context, h *controller.HarnessController, k *kubelet, wf *wfv1.Workflow, c streamCommand) error {
	retried, podsToDelete, err := util.FormulateRetryWorkflow(ctx, wf.DeepCopy(), c.RestartSuccessful, c.NodeFieldSelector, c.Parameters)
	if err != nil {
		return err
	}
	for _, name := range podsToDelete {
		k.mu.Lock()
		rt := k.procs[name]
		k.mu.Unlock()
		if rt != nil {
			_ = rt.Kill(ctx, nil, 0)
			<-rt.done
		}
		awaitPodReported(ctx, h, wf.Namespace, name)
		if err := h.Kube.CoreV1().Pods(wf.Namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
			return err
		}
		_ = h.PodInformerStore().Delete(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: wf.Namespace, Name: name}})
		k.mu.Lock()
		delete(k.started, name)
		k.mu.Unlock()
		_ = os.RemoveAll(filepath.Join(k.dir, name)) // a new pod starts with its own empty directories
	}
	_, err = h.WF.ArgoprojV1alpha1().Workflows(wf.Namespace).Update(ctx, retried, metav1.UpdateOptions{})
	return err
}

// awaitPodReported waits (at most a minute) until the kubelet has given the pod its final
// phase, its last write to the pod: a pod stopped by a shutdown is still in its wait
// container's work when the controller already marked its node failed, and a pod of the same
// name created by the retry must not get the old one's status.
func awaitPodReported(ctx context.Context, h *controller.HarnessController, ns, name string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		pod, err := h.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || pod.Status.Phase == apiv1.PodSucceeded || pod.Status.Phase == apiv1.PodFailed {
			return
		}
	}
}

func isNotFound(err error) bool {
	var argoerr argoerrs.ArgoError
	if errors.As(err, &argoerr) {
		return argoerr.Code() == argoerrs.CodeNotFound
	}
	type statusError interface{ Status() metav1.Status }
	var se statusError
	return errors.As(err, &se) && se.Status().Code == 404
}

// httpCode is the HTTP status the Argo Server answers an error with (server/utils ToStatusError:
// an Argo error's own code, else Internal).
func httpCode(err error) int {
	var argoerr argoerrs.ArgoError
	if errors.As(err, &argoerr) {
		return argoerr.HTTPCode()
	}
	type statusError interface{ Status() metav1.Status }
	var se statusError
	if errors.As(err, &se) && se.Status().Code != 0 {
		return int(se.Status().Code)
	}
	return 500
}
