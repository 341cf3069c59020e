// The kubelet's part: every pod Argo's controller creates in the fake clientset is run for real.
// The init container's work (input artifacts, the script file, the template for the emissary)
// is done here; the main container is Argo's emissary in a namespaced child (podprocess.go);
// the wait container's work is Argo's own executor (workflow/executor) reporting through
// WorkflowTaskResults; finally the pod gets the status a kubelet would give it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	apiv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/workflow/common"
	"github.com/argoproj/argo-workflows/v4/workflow/controller"
	"github.com/argoproj/argo-workflows/v4/workflow/executor"
)

// podEnvDefaults is the environment the image gives: the host is the image, so PATH is the
// harness's own (where the host's python3 and its packages are found).
func podEnvDefaults() map[string]string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return map[string]string{"PATH": path, "LANG": "C.UTF-8", "HOME": "/root"}
}

// kubelet runs the pods of one workflow.
type kubelet struct {
	h       *controller.HarnessController
	ns      string
	wf      *wfv1.Workflow
	store   artifactStore
	dir     string
	exe     string
	mu      sync.Mutex
	started map[string]bool
	running int
	events  chan struct{}
	saved   map[string]string // store key -> store path of output artifacts
	procs   map[string]*podRuntime
}

func newKubelet(h *controller.HarnessController, wf *wfv1.Workflow, store artifactStore, dir string) (*kubelet, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &kubelet{h: h, ns: wf.Namespace, wf: wf, store: store, dir: dir, exe: exe,
		started: map[string]bool{}, events: make(chan struct{}, 1024), saved: map[string]string{}, procs: map[string]*podRuntime{}}, nil
}

// startNewPods starts every pod not started yet; it returns how many it started.
func (k *kubelet) startNewPods(ctx context.Context) (int, error) {
	pods, err := k.h.Kube.CoreV1().Pods(k.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range pods.Items {
		pod := pods.Items[i].DeepCopy()
		k.mu.Lock()
		seen := k.started[pod.Name]
		k.started[pod.Name] = true
		if !seen {
			k.running++
		}
		k.mu.Unlock()
		if seen || pod.Status.Phase == apiv1.PodSucceeded || pod.Status.Phase == apiv1.PodFailed {
			if !seen {
				k.finished()
			}
			continue
		}
		n++
		go k.runPod(ctx, pod)
	}
	return n, nil
}

func (k *kubelet) finished() {
	k.mu.Lock()
	k.running--
	k.mu.Unlock()
	k.notify()
}

func (k *kubelet) notify() {
	select {
	case k.events <- struct{}{}:
	default:
	}
}

// runningPods is how many pods are executing now.
func (k *kubelet) runningPods() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.running
}

// killAll stops every pod still running (the controller terminates them when a workflow ends).
func (k *kubelet) killAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, rt := range k.procs {
		_ = syscall.Kill(-rt.pgid, syscall.SIGKILL)
	}
}

// podOutcome is what the containers ended with.
type podOutcome struct {
	initErr          error
	mainExit         int
	mainMessage      string
	waitErr          error
	waitMessage      string
	deadlineExceeded bool
}

func (k *kubelet) runPod(ctx context.Context, pod *apiv1.Pod) {
	defer k.finished()
	started := metav1.Now()
	k.setPodStatus(ctx, pod, runningStatus(pod, started))
	out := k.execute(ctx, pod)
	k.setPodStatus(ctx, pod, finalStatus(pod, started, out))
}

func (k *kubelet) execute(ctx context.Context, pod *apiv1.Pod) podOutcome {
	tmpl, err := k.podTemplate(ctx, pod)
	if err != nil {
		return podOutcome{initErr: err}
	}
	mainCtr := findContainer(pod.Spec.Containers, common.MainContainerName)
	if mainCtr == nil || len(mainCtr.Command) < 2 {
		return podOutcome{initErr: fmt.Errorf("the harness runs container and script templates only (pod %s has no emissary main container)", pod.Name)}
	}
	fs, err := newPodFS(filepath.Join(k.dir, pod.Name), tmpl, mainCtr)
	if err != nil {
		return podOutcome{initErr: err}
	}
	if err := k.initContainer(ctx, tmpl, fs); err != nil {
		return podOutcome{initErr: err}
	}
	env := containerEnv(mainCtr, pod.Name)
	includeScriptOutput := env[common.EnvVarIncludeScriptOutput] == "true"
	var deadline time.Time
	if d, err := time.Parse(time.RFC3339, env[common.EnvVarDeadline]); err == nil {
		deadline = d
	}
	rt := &podRuntime{pod: fs, done: make(chan struct{})}
	wfName := pod.Labels[common.LabelKeyWorkflow]
	we := newExecutor(ctx, k.h.Kube, k.h.WF.ArgoprojV1alpha1().WorkflowTaskResults(k.ns), nil,
		pod.Name, pod.UID, wfName, k.wf.UID, env[common.EnvVarNodeID], k.ns, rt, *tmpl, includeScriptOutput, deadline, 0, 0)
	we.InitializeOutput(ctx)

	out := podOutcome{}
	out.mainExit, out.mainMessage, out.deadlineExceeded, out.waitMessage = k.runMain(ctx, pod, mainCtr, env, fs, rt, deadline)
	if err := we.CaptureScriptResult(ctx); err != nil {
		addError(ctx, &we, err)
	}
	if err := we.SaveParameters(ctx); err != nil {
		addError(ctx, &we, err)
	}
	saved, err := saveOutputArtifacts(ctx, &we.Template, rt, k.store)
	if err != nil {
		addError(ctx, &we, err)
	}
	arts := make([]wfv1.Artifact, 0, len(saved))
	k.mu.Lock()
	for _, s := range saved {
		arts = append(arts, s.Artifact)
		if key, err := s.Artifact.GetKey(); err == nil {
			k.saved[key] = s.StorePath
		}
	}
	k.mu.Unlock()
	if err := we.ReportOutputs(ctx, arts); err != nil {
		addError(ctx, &we, err)
	}
	we.FinalizeOutput(ctx)
	out.waitErr = we.HasError()
	k.awaitTaskResult(ctx, env[common.EnvVarNodeID])
	return out
}

// podTemplate is the template the init container reads (ARGO_TEMPLATE, maybe offloaded).
func (k *kubelet) podTemplate(ctx context.Context, pod *apiv1.Pod) (*wfv1.Template, error) {
	for _, c := range pod.Spec.InitContainers {
		for _, e := range c.Env {
			if e.Name != common.EnvVarTemplate {
				continue
			}
			value := e.Value
			if value == common.EnvVarTemplateOffloaded {
				cm, err := k.h.Kube.CoreV1().ConfigMaps(k.ns).Get(ctx, pod.Name, metav1.GetOptions{})
				if err != nil {
					return nil, err
				}
				value = cm.Data[common.EnvVarTemplate]
			}
			var tmpl wfv1.Template
			if err := json.Unmarshal([]byte(value), &tmpl); err != nil {
				return nil, err
			}
			return &tmpl, nil
		}
	}
	return nil, fmt.Errorf("pod %s has no %s", pod.Name, common.EnvVarTemplate)
}

// initContainer does what Argo's init container does: the template for the emissary,
// input artifacts, the script source.
func (k *kubelet) initContainer(ctx context.Context, tmpl *wfv1.Template, fs *podFS) error {
	tmplPath, err := fs.hostPath(common.VarRunArgoPath + "/template")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(tmplPath), 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(tmpl)
	if err != nil {
		return err
	}
	if err := os.WriteFile(tmplPath, data, 0o444); err != nil {
		return err
	}
	if err := loadInputArtifacts(ctx, tmpl, fs, k.store); err != nil {
		return err
	}
	if tmpl.GetType() == wfv1.TemplateTypeScript {
		scriptPath, err := fs.hostPath(common.ExecutorScriptSourcePath)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(scriptPath), 0o755); err != nil {
			return err
		}
		return os.WriteFile(scriptPath, []byte(tmpl.Script.Source), 0o755)
	}
	return nil
}

// runMain runs the main container and enforces the pod's activeDeadlineSeconds (the kubelet)
// and ARGO_DEADLINE (the wait container's deadline monitor).
func (k *kubelet) runMain(ctx context.Context, pod *apiv1.Pod, mainCtr *apiv1.Container, env map[string]string, fs *podFS, rt *podRuntime, deadline time.Time) (exit int, message string, podDeadline bool, waitMessage string) {
	termLog := filepath.Join(fs.dir, "termination-log")
	if err := os.WriteFile(termLog, nil, 0o666); err != nil {
		return 1, err.Error(), false, ""
	}
	spec := podProcessSpec{
		RootDir:         fs.root(),
		TerminationLog:  termLog,
		WorkingDir:      mainCtr.WorkingDir,
		ArgoexecArgs:    append(append([]string{}, mainCtr.Command[1:]...), mainCtr.Args...),
		OwnTopLevelDirs: fs.ownDirs(),
	}
	specPath := filepath.Join(fs.dir, "spec.json")
	data, _ := json.Marshal(spec)
	if err := os.WriteFile(specPath, data, 0o600); err != nil {
		return 1, err.Error(), false, ""
	}
	podLog, err := newPodLog(fs.dir)
	if err != nil {
		return 1, err.Error(), false, ""
	}
	defer podLog.Close()
	cmd := exec.Command(k.exe, podProcessCommand, specPath)
	cmd.Stdout, cmd.Stderr = podLog, podLog // one pipe for both; Wait returns once all of it is in main.log
	cmd.WaitDelay = podLogDrain
	cmd.Env = envList(env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 1, err.Error(), false, ""
	}
	rt.pgid = cmd.Process.Pid
	k.mu.Lock()
	k.procs[pod.Name] = rt
	k.mu.Unlock()
	var mu sync.Mutex
	if s := pod.Spec.ActiveDeadlineSeconds; s != nil {
		t := time.AfterFunc(time.Duration(*s)*time.Second, func() {
			mu.Lock()
			podDeadline = true
			mu.Unlock()
			_ = syscall.Kill(-rt.pgid, syscall.SIGKILL)
		})
		defer t.Stop()
	}
	if !deadline.IsZero() {
		t := time.AfterFunc(time.Until(deadline), func() {
			mu.Lock()
			waitMessage = "Step exceeded its deadline"
			mu.Unlock()
			_ = rt.Kill(ctx, nil, executor.GetTerminationGracePeriodDuration())
		})
		defer t.Stop()
	}
	err = cmd.Wait()
	close(rt.done)
	k.mu.Lock()
	delete(k.procs, pod.Name)
	k.mu.Unlock()
	exit = 0
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) { // ErrWaitDelay: it exited 0, its output cut at podLogDrain
		exit = 137
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 0 {
			exit = ee.ExitCode()
		}
	}
	msg, _ := os.ReadFile(termLog)
	mu.Lock()
	defer mu.Unlock()
	return exit, string(msg), podDeadline, waitMessage
}

// awaitTaskResult waits until the controller's informer sees the completed task result, as it
// would before the pod's phase changes (the wait container reports before it exits).
func (k *kubelet) awaitTaskResult(ctx context.Context, nodeID string) {
	for i := 0; i < 400; i++ {
		obj, ok, _ := k.h.TaskResultIndexer().GetByKey(k.ns + "/" + nodeID)
		if ok {
			if r, is := obj.(*wfv1.WorkflowTaskResult); is && r.Labels[common.LabelKeyReportOutputsCompleted] == "true" {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (k *kubelet) setPodStatus(ctx context.Context, pod *apiv1.Pod, status apiv1.PodStatus) {
	current, err := k.h.Kube.CoreV1().Pods(k.ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return
	}
	current.Status = status
	updated, err := k.h.Kube.CoreV1().Pods(k.ns).UpdateStatus(ctx, current, metav1.UpdateOptions{})
	if err != nil {
		return
	}
	_ = k.h.PodInformerStore().Update(updated)
}

func runningStatus(pod *apiv1.Pod, started metav1.Time) apiv1.PodStatus {
	return apiv1.PodStatus{
		Phase:     apiv1.PodRunning,
		StartTime: &started,
		InitContainerStatuses: []apiv1.ContainerStatus{{Name: common.InitContainerName,
			State: apiv1.ContainerState{Terminated: &apiv1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}},
		ContainerStatuses: []apiv1.ContainerStatus{
			{Name: common.WaitContainerName, Ready: true, State: apiv1.ContainerState{Running: &apiv1.ContainerStateRunning{StartedAt: started}}},
			{Name: common.MainContainerName, Ready: true, State: apiv1.ContainerState{Running: &apiv1.ContainerStateRunning{StartedAt: started}}},
		},
	}
}

func terminated(name string, code int, message string, started, finished metav1.Time) apiv1.ContainerStatus {
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return apiv1.ContainerStatus{Name: name, State: apiv1.ContainerState{Terminated: &apiv1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason, Message: message, StartedAt: started, FinishedAt: finished}}}
}

// finalStatus is the status a kubelet reports once the containers have ended.
func finalStatus(pod *apiv1.Pod, started metav1.Time, out podOutcome) apiv1.PodStatus {
	now := metav1.Now()
	status := apiv1.PodStatus{StartTime: &started}
	if out.initErr != nil {
		status.Phase = apiv1.PodFailed
		status.InitContainerStatuses = []apiv1.ContainerStatus{terminated(common.InitContainerName, 1, out.initErr.Error(), started, now)}
		waiting := apiv1.ContainerState{Waiting: &apiv1.ContainerStateWaiting{Reason: "PodInitializing"}}
		status.ContainerStatuses = []apiv1.ContainerStatus{{Name: common.WaitContainerName, State: waiting}, {Name: common.MainContainerName, State: waiting}}
		return status
	}
	waitExit, waitMessage := 0, out.waitMessage
	if out.waitErr != nil {
		waitExit, waitMessage = 1, out.waitErr.Error()
	}
	status.InitContainerStatuses = []apiv1.ContainerStatus{terminated(common.InitContainerName, 0, "", started, started)}
	status.ContainerStatuses = []apiv1.ContainerStatus{
		terminated(common.WaitContainerName, waitExit, waitMessage, started, now),
		terminated(common.MainContainerName, out.mainExit, out.mainMessage, started, now),
	}
	switch {
	case out.deadlineExceeded:
		status.Phase = apiv1.PodFailed
		status.Reason = "DeadlineExceeded"
		status.Message = "Pod was active on the node longer than the specified deadline"
	case out.mainExit == 0 && waitExit == 0:
		status.Phase = apiv1.PodSucceeded
	default:
		status.Phase = apiv1.PodFailed
	}
	return status
}

func findContainer(ctrs []apiv1.Container, name string) *apiv1.Container {
	for i := range ctrs {
		if ctrs[i].Name == name {
			return &ctrs[i]
		}
	}
	return nil
}

// containerEnv is the main container's environment: the image's defaults, the kubelet's
// HOSTNAME, then the container's own variables (values only; the harness has no Secrets).
func containerEnv(c *apiv1.Container, podName string) map[string]string {
	env := map[string]string{"HOSTNAME": podName}
	for k, v := range podEnvDefaults() {
		env[k] = v
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// savedArtifacts maps each output artifact's key to its path in the store.
func (k *kubelet) savedArtifacts() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]string, len(k.saved))
	for key, p := range k.saved {
		out[key] = p
	}
	return out
}
