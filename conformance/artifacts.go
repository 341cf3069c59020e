// Artifacts between pods and the --store directory, which stands in for the S3 bucket of the
// controller's default artifact repository: an object's key is its path below the store.
// Loading follows Argo's init container (executor.loadArtifacts) and saving follows the wait
// container (executor.SaveArtifacts/stageArchiveFile/saveArtifactFromFile); the tarball
// detection, extraction and file modes are Argo's own functions.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	argoerrs "github.com/argoproj/argo-workflows/v4/errors"
	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/workflow/executor"
)

// artifactStore is the --store directory.
type artifactStore struct{ dir string }

// objectPath is where the object with this key lives; keys never leave the store.
func (s artifactStore) objectPath(key string) (string, error) {
	if s.dir == "" {
		return "", fmt.Errorf("artifact key %q needs the harness's --store DIR", key)
	}
	clean := path.Clean("/" + key)
	if clean == "/" || strings.Contains(key, "\x00") {
		return "", fmt.Errorf("invalid artifact key %q", key)
	}
	return filepath.Join(s.dir, filepath.FromSlash(clean)), nil
}

// load copies the object (a file, or a directory for a key prefix) to dest.
func (s artifactStore) load(key, dest string) error {
	src, err := s.objectPath(key)
	if err != nil {
		return err
	}
	if _, err := os.Stat(src); os.IsNotExist(err) {
		return argoerrs.New(argoerrs.CodeNotFound, fmt.Sprintf("The specified key does not exist: %s", key))
	}
	return copyTree(src, dest)
}

// save copies a file or directory into the store under key.
func (s artifactStore) save(src, key string) (string, error) {
	dest, err := s.objectPath(key)
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(dest); err != nil {
		return "", err
	}
	return dest, copyTree(src, dest)
}

func copyTree(src, dest string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if info.IsDir() {
		return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			target := filepath.Join(dest, rel)
			if fi.IsDir() {
				return os.MkdirAll(target, 0o755)
			}
			return copyFile(p, target, fi.Mode().Perm())
		})
	}
	return copyFile(src, dest, info.Mode().Perm())
}

func copyFile(src, dest string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// loadInputArtifacts is the init container: each input artifact lands at its path in the pod.
func loadInputArtifacts(ctx context.Context, tmpl *wfv1.Template, pod *podFS, store artifactStore) error {
	for _, art := range tmpl.Inputs.Artifacts {
		if !art.HasLocationOrKey() {
			if art.Optional {
				continue
			}
			return argoerrs.Errorf(argoerrs.CodeNotFound, "required artifact '%s' not supplied", art.Name)
		}
		if err := art.CleanPath(); err != nil {
			return err
		}
		driverArt := art.DeepCopy()
		if err := driverArt.Relocate(tmpl.ArchiveLocation); err != nil {
			return fmt.Errorf("failed to load artifact '%s': %w", art.Name, err)
		}
		artPath, err := pod.hostPath(art.Path)
		if err != nil {
			return err
		}
		tempArtPath := artPath + ".tmp"
		if err := os.MkdirAll(filepath.Dir(tempArtPath), 0o700); err != nil {
			return fmt.Errorf("failed to create artifact temporary parent directory %s: %w", filepath.Dir(tempArtPath), err)
		}
		switch {
		case driverArt.Raw != nil:
			err = loadRaw(ctx, driverArt, tempArtPath)
		case driverArt.S3 != nil:
			key, kerr := driverArt.GetKey()
			if kerr != nil {
				return kerr
			}
			err = store.load(key, tempArtPath)
		default:
			return argoerrs.Errorf(argoerrs.CodeBadRequest, "Unsupported artifact driver for %s (the harness serves raw and s3 artifacts)", art.Name)
		}
		if err != nil {
			if art.Optional && argoerrs.IsCode(argoerrs.CodeNotFound, err) {
				continue
			}
			return fmt.Errorf("artifact %s failed to load: %w", art.Name, err)
		}
		isTar := false
		switch {
		case art.GetArchive().None != nil:
		case art.GetArchive().Tar != nil:
			isTar = true
		case art.GetArchive().Zip != nil:
			return argoerrs.Errorf(argoerrs.CodeBadRequest, "artifact %s: zip archives are not served by the harness", art.Name)
		default:
			if isTar, err = executor.HarnessIsTarball(ctx, tempArtPath); err != nil {
				return err
			}
		}
		if isTar {
			err = executor.HarnessUntar(tempArtPath, artPath)
			_ = os.Remove(tempArtPath)
		} else {
			err = os.Rename(tempArtPath, artPath)
		}
		if err != nil {
			return err
		}
		if art.Mode != nil {
			if err := executor.HarnessChmod(artPath, *art.Mode, art.RecurseMode); err != nil {
				return err
			}
		}
	}
	return nil
}

// savedArtifact is an output artifact as reported, plus where the store holds it.
type savedArtifact struct {
	Artifact  wfv1.Artifact
	StorePath string
}

// saveOutputArtifacts is the wait container's SaveArtifacts, uploading to the store.
func saveOutputArtifacts(ctx context.Context, tmpl *wfv1.Template, rt *podRuntime, store artifactStore) ([]savedArtifact, error) {
	var saved []savedArtifact
	var aggregate []string
	tempOutArtDir := filepath.Join(rt.pod.dir, "wait", "outputs", "artifacts")
	if err := os.MkdirAll(tempOutArtDir, 0o755); err != nil {
		return nil, err
	}
	for _, a := range tmpl.Outputs.Artifacts {
		art := a.DeepCopy()
		s, ok, err := saveOutputArtifact(ctx, tmpl, rt, store, art, tempOutArtDir)
		if err != nil {
			aggregate = append(aggregate, err.Error())
		}
		if ok {
			saved = append(saved, s)
		}
	}
	if len(aggregate) > 0 {
		return saved, fmt.Errorf("%s; ", strings.Join(aggregate, "; "))
	}
	return saved, nil
}

func saveOutputArtifact(ctx context.Context, tmpl *wfv1.Template, rt *podRuntime, store artifactStore, art *wfv1.Artifact, tempOutArtDir string) (savedArtifact, bool, error) {
	if err := art.CleanPath(); err != nil {
		return savedArtifact{}, false, err
	}
	strategy := art.Archive
	if strategy == nil {
		strategy = &wfv1.ArchiveStrategy{Tar: &wfv1.TarStrategy{}}
	}
	if strategy.Zip != nil {
		return savedArtifact{}, false, fmt.Errorf("artifact %s: zip archives are not served by the harness", art.Name)
	}
	fileName := fmt.Sprintf("%s.tgz", art.Name)
	localArtPath := filepath.Join(tempOutArtDir, fileName)
	if err := rt.CopyFile(ctx, "main", art.Path, localArtPath, 0); err != nil {
		if art.Optional && argoerrs.IsCode(argoerrs.CodeNotFound, err) {
			return savedArtifact{}, false, nil
		}
		return savedArtifact{}, false, err
	}
	if strategy.Tar == nil {
		unarchived := filepath.Join(tempOutArtDir, art.Name)
		if err := executor.HarnessUntar(localArtPath, unarchived); err != nil {
			return savedArtifact{}, false, err
		}
		if err := os.Remove(localArtPath); err != nil {
			return savedArtifact{}, false, argoerrs.InternalWrapError(err)
		}
		fileName = filepath.Base(art.Path)
		info, err := os.Stat(unarchived)
		if err != nil {
			return savedArtifact{}, false, argoerrs.InternalWrapError(err)
		}
		if info.IsDir() {
			localArtPath = unarchived
		} else {
			localArtPath = filepath.Join(tempOutArtDir, fileName)
			if err := os.Rename(unarchived, localArtPath); err != nil {
				return savedArtifact{}, false, argoerrs.InternalWrapError(err)
			}
		}
	}
	if !art.HasKey() {
		key, err := tmpl.ArchiveLocation.GetKey()
		if err != nil {
			return savedArtifact{}, false, err
		}
		loc, err := tmpl.ArchiveLocation.Get()
		if err != nil {
			return savedArtifact{}, false, err
		}
		if err := art.SetType(loc); err != nil {
			return savedArtifact{}, false, err
		}
		if err := art.SetKey(path.Join(key, fileName)); err != nil {
			return savedArtifact{}, false, err
		}
	}
	key, err := art.GetKey()
	if err != nil {
		return savedArtifact{}, false, err
	}
	if art.S3 == nil {
		return savedArtifact{}, false, fmt.Errorf("artifact %s: the harness saves only to the s3 default repository", art.Name)
	}
	dest, err := store.save(localArtPath, key)
	if err != nil {
		return savedArtifact{}, false, err
	}
	return savedArtifact{Artifact: *art, StorePath: dest}, true, nil
}
