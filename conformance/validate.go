// The "validate" command: each manifest goes through the validation Argo's own server runs on
// create (workflow/validate), then, where the build carries them, through the full CRD's
// structural schema and CEL rules as the Kubernetes API server applies them (crd.go).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	fakewfclientset "github.com/argoproj/argo-workflows/v4/pkg/client/clientset/versioned/fake"
	"github.com/argoproj/argo-workflows/v4/workflow/templateresolution"
)

const defaultNamespace = "default"

// validationResult is the verdict on one manifest document.
type validationResult struct {
	Source  string `json:"source"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Stage   string `json:"stage,omitempty"` // "parse", "argo" (Argo's validator) or "crd" (API server schema/CEL)
	Message string `json:"message,omitempty"`
}

func cmdValidate(args []string) int {
	asJSON, serve := false, false
	var files []string
	for _, a := range args {
		switch a {
		case "--json":
			asJSON = true
		case "--serve":
			serve = true
		default:
			files = append(files, a)
		}
	}
	ctx := quietContext()
	crds, err := loadCRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "argo-harness: "+err.Error())
		return 2
	}
	if serve {
		return serveValidate(ctx, crds)
	}
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	var docs []manifest
	var results []validationResult
	for _, f := range files {
		ms, err := readManifests(f)
		if err != nil {
			results = append(results, validationResult{Source: f, Stage: "parse", Message: err.Error()})
			continue
		}
		docs = append(docs, ms...)
	}
	results = append(results, validateAll(ctx, crds, docs)...)
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
		if asJSON {
			line, _ := json.Marshal(r)
			fmt.Println(string(line))
		} else if !r.OK {
			fmt.Printf("%s: %s %q: %s\n", r.Source, r.Kind, r.Name, r.Message)
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// serveValidate reads one JSON value per line on stdin (a manifest or a list of manifests)
// and answers one JSON line {"results": [...]} per request, so callers pay the start once.
func serveValidate(ctx context.Context, crds *crdSet) int {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<30)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		var results []validationResult
		docs, err := parseRequest([]byte(line))
		if err != nil {
			results = []validationResult{{Source: "stdin", Stage: "parse", Message: err.Error()}}
		} else {
			results = validateAll(ctx, crds, docs)
		}
		reply, _ := json.Marshal(map[string]interface{}{"results": results})
		_, _ = out.Write(append(reply, '\n'))
		_ = out.Flush()
	}
	return 0
}

func parseRequest(line []byte) ([]manifest, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(line, &list); err != nil {
		return parseManifests("stdin", line)
	}
	var docs []manifest
	for i, item := range list {
		ms, err := parseManifests(fmt.Sprintf("stdin[%d]", i), item)
		if err != nil {
			return nil, err
		}
		docs = append(docs, ms...)
	}
	return docs, nil
}

// validateAll validates documents together: templates among them resolve each other's templateRef.
func validateAll(ctx context.Context, crds *crdSet, docs []manifest) []validationResult {
	client := fakewfclientset.NewSimpleClientset()
	for _, d := range docs {
		switch o := d.Object.(type) {
		case *wfv1.WorkflowTemplate:
			t := o.DeepCopy()
			if t.Namespace == "" {
				t.Namespace = defaultNamespace
			}
			_, _ = client.ArgoprojV1alpha1().WorkflowTemplates(t.Namespace).Create(ctx, t, metav1.CreateOptions{})
		case *wfv1.ClusterWorkflowTemplate:
			_, _ = client.ArgoprojV1alpha1().ClusterWorkflowTemplates().Create(ctx, o.DeepCopy(), metav1.CreateOptions{})
		}
	}
	wftmplGetter := templateresolution.WrapWorkflowTemplateInterface(client.ArgoprojV1alpha1().WorkflowTemplates(defaultNamespace))
	cwftmplGetter := templateresolution.WrapClusterWorkflowTemplateInterface(client.ArgoprojV1alpha1().ClusterWorkflowTemplates())
	results := make([]validationResult, 0, len(docs))
	for _, d := range docs {
		r := validationResult{Source: d.Source, Kind: d.Kind, Name: d.Name, Stage: "argo"}
		err := validateOne(ctx, wftmplGetter, cwftmplGetter, d)
		if err == nil && crds != nil {
			r.Stage = "crd"
			err = crds.validate(ctx, d)
		}
		if err != nil {
			r.Message = err.Error()
		} else {
			r.OK, r.Stage = true, ""
		}
		results = append(results, r)
	}
	return results
}

// validateOne calls the function the Argo Server calls when the object is created.
func validateOne(ctx context.Context, wftmplGetter templateresolution.WorkflowTemplateNamespacedGetter, cwftmplGetter templateresolution.ClusterWorkflowTemplateGetter, d manifest) error {
	switch o := d.Object.(type) {
	case *wfv1.Workflow:
		wf := o.DeepCopy()
		if wf.Namespace == "" {
			wf.Namespace = defaultNamespace
		}
		return validateWorkflow(ctx, wftmplGetter, cwftmplGetter, wf)
	case *wfv1.WorkflowTemplate:
		return validateWorkflowTemplate(ctx, wftmplGetter, cwftmplGetter, o.DeepCopy())
	case *wfv1.ClusterWorkflowTemplate:
		return validateClusterWorkflowTemplate(ctx, wftmplGetter, cwftmplGetter, o.DeepCopy())
	case *wfv1.CronWorkflow:
		return validateCronWorkflow(ctx, wftmplGetter, cwftmplGetter, o.DeepCopy())
	}
	return fmt.Errorf("unsupported kind %q", d.Kind)
}

// quietContext carries the logger Argo's code requires, writing only errors to stderr.
func quietContext() context.Context {
	return argoLogContext(os.Stderr, false)
}
