// Reading manifests (JSON or YAML, one or several documents) into Argo's own Go types.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/util/yaml"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
)

// manifest is one document of a file: its kind, raw JSON and the typed object.
type manifest struct {
	Source string
	Kind   string
	Name   string
	JSON   []byte
	Object interface{}
}

// readManifests splits a file into documents and decodes each into Argo's type for its kind.
func readManifests(path string) ([]manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseManifests(path, data)
}

func parseManifests(source string, data []byte) ([]manifest, error) {
	// JSON (one object or a stream of them) is read as JSON: apimachinery's YAML-or-JSON decoder
	// falls back to YAML, which refuses the control characters JSON escapes can carry.
	var decoder interface{ Decode(interface{}) error }
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		decoder = json.NewDecoder(bytes.NewReader(data))
	} else {
		decoder = yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	}
	var out []manifest
	for {
		var raw map[string]interface{}
		if err := decoder.Decode(&raw); err != nil {
			if err == io.EOF {
				break
			}
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if raw == nil {
			continue
		}
		js, err := json.Marshal(raw)
		if err != nil {
			return nil, err
		}
		kind, _ := raw["kind"].(string)
		m := manifest{Source: source, Kind: kind, JSON: js}
		switch kind {
		case "Workflow":
			var wf wfv1.Workflow
			err = decodeStrict(js, &wf)
			m.Object, m.Name = &wf, objectName(wf.Name, wf.GenerateName)
		case "WorkflowTemplate":
			var wt wfv1.WorkflowTemplate
			err = decodeStrict(js, &wt)
			m.Object, m.Name = &wt, objectName(wt.Name, wt.GenerateName)
		case "ClusterWorkflowTemplate":
			var ct wfv1.ClusterWorkflowTemplate
			err = decodeStrict(js, &ct)
			m.Object, m.Name = &ct, objectName(ct.Name, ct.GenerateName)
		case "CronWorkflow":
			var cw wfv1.CronWorkflow
			err = decodeStrict(js, &cw)
			m.Object, m.Name = &cw, objectName(cw.Name, cw.GenerateName)
		default:
			err = fmt.Errorf("kind %q is not one of Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow", kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func objectName(name, generateName string) string {
	if name != "" {
		return name
	}
	return generateName
}

// decodeStrict decodes JSON into Argo's type, refusing fields the type does not have (as
// `argo lint` does by default).
func decodeStrict(js []byte, into interface{}) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}
