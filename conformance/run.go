// The "run" command: the manifest is submitted to Argo's own workflow controller (built over
// fake clients, overlay/controller), whose operator is called whenever something happened,
// as the controller's workers are; the pods it creates run for real (kubelet.go). The run ends
// when the controller marks the workflow completed, or as Stuck when nothing changes for
// --stuck-after seconds (Argo requeueing forever) or when --timeout passes.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	apiv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/argoproj/argo-workflows/v4/config"
	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	cmdutil "github.com/argoproj/argo-workflows/v4/util/cmd"
	"github.com/argoproj/argo-workflows/v4/workflow/controller"
)

// runOptions are the flags of "run".
type runOptions struct {
	file       string
	store      string
	timeout    time.Duration
	stuckAfter time.Duration
	logFile    string
	keep       bool
	stream     bool // --stream: print every change and take the server's actions on stdin (stream.go)
}

func parseRunArgs(args []string) (runOptions, error) {
	o := runOptions{timeout: 300 * time.Second, stuckAfter: 5 * time.Second}
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		switch a {
		case "--store":
			o.store, err = value()
		case "--log":
			o.logFile, err = value()
		case "--keep":
			o.keep = true
		case "--stream":
			o.stream = true
		case "--timeout", "--stuck-after":
			if v, err = value(); err == nil {
				var secs float64
				secs, err = strconv.ParseFloat(v, 64)
				if err == nil && secs <= 0 {
					err = fmt.Errorf("%s must be positive", a)
				}
				d := time.Duration(secs * float64(time.Second))
				if a == "--timeout" {
					o.timeout = d
				} else {
					o.stuckAfter = d
				}
			}
		default:
			if strings.HasPrefix(a, "--") || o.file != "" {
				return o, fmt.Errorf("unexpected argument %q", a)
			}
			o.file = a
		}
		if err != nil {
			return o, err
		}
	}
	if o.file == "" {
		return o, fmt.Errorf("run needs a manifest file")
	}
	return o, nil
}

func cmdRun(args []string) int {
	opts, err := parseRunArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "argo-harness: "+err.Error()+"\n"+usage)
		return 2
	}
	rec, err := runWorkflow(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "argo-harness: "+err.Error())
		return 2
	}
	out, _ := json.Marshal(rec)
	fmt.Println(string(out))
	if rec.Phase == phaseRefused {
		return 1
	}
	return 0
}

func runWorkflow(opts runOptions) (runRecord, error) {
	docs, err := readManifests(opts.file)
	if err != nil {
		return runRecord{}, err
	}
	var wf *wfv1.Workflow
	var objects []runtime.Object
	for _, d := range docs {
		switch o := d.Object.(type) {
		case *wfv1.Workflow:
			if wf == nil {
				wf = o.DeepCopy()
			}
		case *wfv1.WorkflowTemplate:
			t := o.DeepCopy()
			if t.Namespace == "" {
				t.Namespace = defaultNamespace
			}
			objects = append(objects, t)
		case *wfv1.ClusterWorkflowTemplate:
			objects = append(objects, o.DeepCopy())
		}
	}
	if wf == nil {
		return runRecord{}, fmt.Errorf("%s holds no Workflow", opts.file)
	}
	crds, err := loadCRDs()
	if err != nil {
		return runRecord{}, err
	}
	for _, r := range validateAll(quietContext(), crds, docs) {
		if !r.OK {
			return runRecord{ArgoVersion: argoVersion, Name: r.Name, Phase: phaseRefused, Message: r.Message, Nodes: []runNode{}}, nil
		}
	}
	if err := checkHostLayout(); err != nil {
		return runRecord{}, err
	}
	logs, err := newLogRing(opts.logFile)
	if err != nil {
		return runRecord{}, err
	}
	defer logs.close()
	ctx, cancel := context.WithCancel(argoLogContext(logs, true))
	defer cancel()

	cmdutil.SetGLogLevel(0) // as the workflow-controller command does at start
	// Argo's own switch: the operator writes each update back to its informer instead of
	// sleeping a second after it (operator.go persistUpdates).
	if err := os.Setenv("INFORMER_WRITE_BACK", "true"); err != nil {
		return runRecord{}, err
	}
	cfg := config.Config{ArtifactRepository: wfv1.ArtifactRepository{S3: &wfv1.S3ArtifactRepository{
		S3Bucket: wfv1.S3Bucket{Bucket: "argo-harness-store", Endpoint: "argo-harness-store.invalid"}}}}
	h, err := controller.NewHarnessController(ctx, cfg, defaultNamespace, objects...)
	if err != nil {
		return runRecord{}, err
	}
	apiServerPodDefaults(h)
	if wf.Namespace == "" {
		wf.Namespace = defaultNamespace
	}
	if wf.Name == "" {
		wf.Name = wf.GenerateName + randomSuffix()
	}
	wf.UID = types.UID("harness-" + randomSuffix())
	created, err := h.WF.ArgoprojV1alpha1().Workflows(wf.Namespace).Create(ctx, wf, metav1.CreateOptions{})
	if err != nil {
		return runRecord{}, err
	}
	runDir, err := os.MkdirTemp("", "argo-harness-run-")
	if err != nil {
		return runRecord{}, err
	}
	if !opts.keep {
		defer os.RemoveAll(runDir)
	}
	k, err := newKubelet(h, created, artifactStore{dir: opts.store}, runDir)
	if err != nil {
		return runRecord{}, err
	}
	driveRun := drive
	if opts.stream {
		driveRun = streamDrive
	}
	final, stuckReason := driveRun(ctx, h, k, created, opts)
	k.killAll()
	rec := buildRecord(final, k.savedArtifacts())
	rec.LastLog = logs.lastProblem()
	if stuckReason != "" {
		rec.Phase = phaseStuck
		rec.Message = stuckReason
		if final.Status.Message != "" {
			rec.Message += "; workflow message: " + final.Status.Message
		}
		if rec.LastLog != "" {
			rec.Message += "; controller's last complaint: " + rec.LastLog
		}
	}
	return rec, nil
}

// drive calls Argo's operator until the controller marks the workflow completed; it returns
// the last workflow and, when it gave up, why.
func drive(ctx context.Context, h *controller.HarnessController, k *kubelet, wf *wfv1.Workflow, opts runOptions) (*wfv1.Workflow, string) {
	start := time.Now()
	lastProgress := start
	lastPrint := ""
	for {
		current, err := h.WF.ArgoprojV1alpha1().Workflows(wf.Namespace).Get(ctx, wf.Name, metav1.GetOptions{})
		if err != nil {
			return wf, "the workflow disappeared: " + err.Error()
		}
		wf = current
		if !controller.ReconciliationNeeded(wf) {
			return wf, ""
		}
		wf = h.Operate(ctx, wf)
		started, err := k.startNewPods(ctx)
		if err != nil {
			return wf, err.Error()
		}
		print := fingerprint(wf)
		if print != lastPrint || started > 0 || k.runningPods() > 0 || waitingOnPurpose(wf) {
			lastPrint, lastProgress = print, time.Now()
		}
		if time.Since(lastProgress) > opts.stuckAfter {
			return wf, fmt.Sprintf("no progress for %s (Argo's controller keeps requeueing the workflow)", opts.stuckAfter)
		}
		if time.Since(start) > opts.timeout {
			return wf, fmt.Sprintf("the workflow did not complete within --timeout %s", opts.timeout)
		}
		select {
		case <-k.events:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fingerprint changes whenever the workflow's status makes progress.
func fingerprint(wf *wfv1.Workflow) string {
	var lines []string
	for id, n := range wf.Status.Nodes {
		outs, _ := json.Marshal(n.Outputs)
		synced := taskResultSynced(n)
		lines = append(lines, fmt.Sprintf("%s|%s|%s|%s|%v", id, n.Phase, n.Message, outs, synced))
	}
	for k, v := range wf.Status.TaskResultsCompletionStatus {
		lines = append(lines, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(lines)
	head := string(wf.Status.Phase) + "|" + wf.Status.Message + "|" + wf.Labels["workflows.argoproj.io/completed"]
	return head + "\n" + strings.Join(lines, "\n")
}

// waitingOnPurpose is true while Argo deliberately waits: a retry backoff, or a suspend
// with a duration.
func waitingOnPurpose(wf *wfv1.Workflow) bool {
	for _, n := range wf.Status.Nodes {
		if n.Fulfilled() {
			continue
		}
		if strings.HasPrefix(n.Message, "Backoff for") {
			return true
		}
	}
	return false
}

// apiServerPodDefaults makes the fake clientset do what the API server does to a pod on
// create: a UID, a creation time, and status phase Pending.
func apiServerPodDefaults(h *controller.HarnessController) {
	h.Kube.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if create, ok := action.(k8stesting.CreateAction); ok {
			if pod, ok := create.GetObject().(*apiv1.Pod); ok {
				pod.UID = types.UID("pod-" + randomSuffix() + randomSuffix())
				pod.CreationTimestamp = metav1.Now()
				pod.Status = apiv1.PodStatus{Phase: apiv1.PodPending}
			}
		}
		return false, nil, nil
	})
}

func randomSuffix() string {
	const letters = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		b[i] = letters[n.Int64()]
	}
	return string(b)
}
