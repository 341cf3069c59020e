// The Kubernetes API server's half of validation: the CRDs the Argo version's install manifests
// apply (v4: manifests/base/crds/full; v3: manifests/base/crds/minimal; copied next to the binary
// at build time from the Argo module) applied with k8s.io/apiextensions-apiserver's own code, in the order its custom resource
// strategy uses on create: prune and default, object meta, OpenAPI schema (maxItems, enums,
// types), list-type invariants, then the x-kubernetes-validations CEL rules.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/storage/names"
	sigyaml "sigs.k8s.io/yaml"
)

// crdKind is one CRD's schema ready for validation.
type crdKind struct {
	namespaced bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// crdSet maps a kind to its CRD, each read and compiled when first needed.
type crdSet struct {
	dir   string
	kinds map[string]*crdKind
}

var crdFiles = map[string]string{
	"Workflow":                "argoproj.io_workflows.yaml",
	"WorkflowTemplate":        "argoproj.io_workflowtemplates.yaml",
	"ClusterWorkflowTemplate": "argoproj.io_clusterworkflowtemplates.yaml",
	"CronWorkflow":            "argoproj.io_cronworkflows.yaml",
}

// loadCRDs reads the CRDs of this build; nil when the build carries none.
func loadCRDs() (*crdSet, error) {
	if crdSubdir == "" {
		return nil, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(filepath.Dir(exe), crdSubdir)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("the full CRDs of this build are missing (run `make argo-harness`): %w", err)
	}
	return &crdSet{dir: dir, kinds: map[string]*crdKind{}}, nil
}

func (s *crdSet) kind(kind string) (*crdKind, error) {
	if k, ok := s.kinds[kind]; ok {
		return k, nil
	}
	name, ok := crdFiles[kind]
	if !ok {
		return nil, nil
	}
	k, err := loadCRD(filepath.Join(s.dir, name))
	if err != nil {
		return nil, fmt.Errorf("loading the full CRD for %s: %w", kind, err)
	}
	s.kinds[kind] = k
	return k, nil
}

func loadCRD(path string) (*crdKind, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := sigyaml.Unmarshal(data, &crd); err != nil {
		return nil, err
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != "v1alpha1" || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		internal := &apiextensions.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
			return nil, err
		}
		structural, err := structuralschema.NewStructural(internal)
		if err != nil {
			return nil, err
		}
		validator, _, err := apiservervalidation.NewSchemaValidator(internal)
		if err != nil {
			return nil, err
		}
		return &crdKind{
			namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
			structural: structural,
			validator:  validator,
			cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
		}, nil
	}
	return nil, fmt.Errorf("%s has no v1alpha1 schema", path)
}

// validate applies the CRD to the object as the Argo Server sends it to the API server:
// the JSON of Argo's own Go type (so fields Argo's types drop never reach the schema).
func (s *crdSet) validate(ctx context.Context, d manifest) error {
	k, err := s.kind(d.Kind)
	if k == nil || err != nil {
		return err
	}
	js, err := json.Marshal(d.Object)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(js, &u.Object); err != nil {
		return err
	}
	// Decoding (customresource_handler.go schemaCoercingConverter): prune unknown fields,
	// drop nulls the schema does not allow, coerce metadata; then defaulting.
	structuralpruning.Prune(u.Object, k.structural, true)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, k.structural)
	if err := schemaobjectmeta.Coerce(nil, u.Object, k.structural, false, false); err != nil {
		return err
	}
	structuraldefaulting.Default(u.Object, k.structural)
	// BeforeCreate: the namespace of the request, a name generated from generateName.
	if k.namespaced && u.GetNamespace() == "" {
		u.SetNamespace(defaultNamespace)
	}
	if u.GetName() == "" && u.GetGenerateName() != "" {
		u.SetName(names.SimpleNameGenerator.GenerateName(u.GetGenerateName()))
	}

	var errs field.ErrorList
	errs = append(errs, metavalidation.ValidateObjectMetaAccessor(u, k.namespaced, metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u.UnstructuredContent(), k.validator)...)
	errs = append(errs, schemaobjectmeta.Validate(nil, u.Object, k.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, k.structural, u.Object)...)
	if len(errs) == 0 {
		celErrs, _ := k.cel.Validate(ctx, nil, k.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) == 0 {
		return nil
	}
	// The API server's message for a refused create.
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	name := u.GetName()
	if name == "" {
		name = u.GetGenerateName()
	}
	return fmt.Errorf("%s.argoproj.io %q is invalid: %s", strings.ToLower(d.Kind)+"s", name, strings.Join(msgs, ", "))
}
