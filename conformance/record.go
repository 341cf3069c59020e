// The JSON run record printed by "run": the workflow's phase and message and every node of
// Argo's own status, plus where the store holds output artifacts.
package main

import (
	"sort"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
)

// Phases the harness adds to Argo's: the manifest was refused at submission, or the
// controller stopped making progress (or the --timeout passed) before the workflow completed.
const (
	phaseRefused = "Refused"
	phaseStuck   = "Stuck"
)

// runNode is one node of the workflow's status.
type runNode struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	DisplayName  string        `json:"displayName"`
	Type         string        `json:"type"`
	TemplateName string        `json:"templateName,omitempty"`
	Phase        string        `json:"phase"`
	Message      string        `json:"message,omitempty"`
	BoundaryID   string        `json:"boundaryID,omitempty"`
	Children     []string      `json:"children,omitempty"`
	Inputs       *wfv1.Inputs  `json:"inputs,omitempty"`
	Outputs      *wfv1.Outputs `json:"outputs,omitempty"`
	ExitCode     *string       `json:"exitCode,omitempty"`
	// Set when the node is memoized: whether the controller found its outputs in the cache.
	MemoizationStatus *wfv1.MemoizationStatus `json:"memoizationStatus,omitempty"`
	StartedAt         string                  `json:"startedAt,omitempty"`
	FinishedAt        string                  `json:"finishedAt,omitempty"`
}

// runRecord is the whole answer of "run".
type runRecord struct {
	ArgoVersion string            `json:"argoVersion"`
	Name        string            `json:"name"`
	Phase       string            `json:"phase"`
	Message     string            `json:"message,omitempty"`
	LastLog     string            `json:"lastLog,omitempty"`
	Outputs     *wfv1.Outputs     `json:"outputs,omitempty"`
	Nodes       []runNode         `json:"nodes"`
	Artifacts   map[string]string `json:"artifacts"`
}

func buildRecord(wf *wfv1.Workflow, saved map[string]string) runRecord {
	rec := runRecord{ArgoVersion: argoVersion, Name: wf.Name, Phase: string(wf.Status.Phase),
		Message: wf.Status.Message, Outputs: wf.Status.Outputs, Nodes: []runNode{}, Artifacts: saved}
	for _, n := range wf.Status.Nodes {
		node := runNode{ID: n.ID, Name: n.Name, DisplayName: n.DisplayName, Type: string(n.Type),
			TemplateName: n.TemplateName, Phase: string(n.Phase), Message: n.Message, BoundaryID: n.BoundaryID,
			Children: n.Children, Inputs: n.Inputs, Outputs: n.Outputs, MemoizationStatus: n.MemoizationStatus}
		if n.TemplateRef != nil && node.TemplateName == "" {
			node.TemplateName = n.TemplateRef.Name + "/" + n.TemplateRef.Template
		}
		if n.Outputs != nil {
			node.ExitCode = n.Outputs.ExitCode
		}
		if !n.StartedAt.IsZero() {
			node.StartedAt = n.StartedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		if !n.FinishedAt.IsZero() {
			node.FinishedAt = n.FinishedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		rec.Nodes = append(rec.Nodes, node)
	}
	sort.Slice(rec.Nodes, func(i, j int) bool { return strings.Compare(rec.Nodes[i].Name, rec.Nodes[j].Name) < 0 })
	return rec
}
