#!/usr/bin/env bash
# Builds the harness against one Argo version, pinned with all its dependencies by a go.mod and
# its go.sum here, downloaded from the Go module proxy into the module cache and never copied
# into this repository.
#   conformance/build.sh OUT_DIR            the default Argo (go.mod/go.sum): OUT_DIR/argo-harness-VERSION
#                                           and the link OUT_DIR/argo-harness to it
#   conformance/build.sh OUT_DIR VERSION    the Argo of go.VERSION.mod/go.VERSION.sum: OUT_DIR/argo-harness-VERSION
# Go refuses -overlay for files inside the module cache, so OUT_DIR gets a build module whose
# go.mod replaces the Argo module by a symbolic link to its (checksum-verified) directory in the
# module cache; our small Go files in overlay/ are then added to Argo's controller and executor
# packages with `go build -overlay`, and the CRDs the version's own install manifests apply are
# copied next to the binary for the API server's checks: v4 installs its full CRDs (schema and
# CEL rules), v3 its minimal ones (metadata and spec required, the rest unchecked; v3's optional
# full CRDs have flaws of their own: v3.6's refuse numeric withItems and CronWorkflows whose
# status is empty).
# One source serves every version: the Go files name Argo's /v4 import path, which a /v3 build
# rewrites to /v3 in its copies, and the few calls whose signatures differ between versions sit
# in files selected by build tags (argo_v3, argo_v3_6; see argo_v4.go).
# Argo's repository links workflow/executor/osspecific/signal_linux.go (os-specific/ in v3.6)
# to signal_darwin.go with a symbolic link, which Go module zips leave out; the overlay puts the
# module's own signal_darwin.go back in its place, as the link does in the repository Argo
# builds argoexec from.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
requested="${2:-}"
cd "$here"
if [ -z "$requested" ]; then
  modfile=go.mod sumfile=go.sum
else
  modfile="go.$requested.mod" sumfile="go.$requested.sum"
  [ -f "$modfile" ] && [ -f "$sumfile" ] || { echo "build.sh: no $modfile and $sumfile for Argo $requested" >&2; exit 2; }
fi
module="$(grep -Eo 'github\.com/argoproj/argo-workflows/v[0-9]+' "$modfile" | head -n 1)"
go mod download -modfile="$modfile" "$module"
version="$(go list -modfile="$modfile" -m -f '{{.Version}}' "$module")"
argo_cache_dir="$(go list -modfile="$modfile" -m -f '{{.Dir}}' "$module")"
if [ -n "$requested" ] && [ "$requested" != "$version" ]; then
  echo "build.sh: $modfile requires Argo $version, not $requested" >&2; exit 2
fi
case "$version" in
  v4.*) tags="" crd_set=full ;;
  v3.7.*) tags="argo_v3" crd_set=minimal ;;
  v3.6.*) tags="argo_v3,argo_v3_6" crd_set=minimal ;;
  *) echo "build.sh: the harness has no build tags for Argo $version (see argo_v4.go)" >&2; exit 2 ;;
esac

work="$out/harness-$version"
rm -rf "$work" && mkdir -p "$work/overlay"
ln -s "$argo_cache_dir" "$work/argo"
cp "$sumfile" "$work/go.sum"
{ cat "$modfile"; echo; echo "replace $module => ./argo"; } > "$work/go.mod"
# Our sources with Argo's import path as this version spells it (unchanged for v4).
rewrite() { sed "s#github\.com/argoproj/argo-workflows/v4\([/\"]\)#$module\1#g" "$1" > "$2"; }
for f in ./*.go; do rewrite "$f" "$work/$(basename "$f")"; done
entries=()
for f in overlay/*/*.go; do
  pkg="$(basename "$(dirname "$f")")"
  mkdir -p "$work/overlay/$pkg"
  rewrite "$f" "$work/overlay/$pkg/$(basename "$f")"
  entries+=("\"$work/argo/workflow/$pkg/$(basename "$f")\": \"$work/overlay/$pkg/$(basename "$f")\"")
done
for d in osspecific os-specific; do
  if [ -f "$argo_cache_dir/workflow/executor/$d/signal_darwin.go" ]; then
    entries+=("\"$work/argo/workflow/executor/$d/signal_linux.go\": \"$argo_cache_dir/workflow/executor/$d/signal_darwin.go\"")
  fi
done
{ echo '{"Replace": {'; (IFS=,; echo "${entries[*]}"); echo '}}'; } > "$work/overlay.json"

crds="crds-$version"
rm -rf "${out:?}/$crds" && mkdir -p "$out/$crds"
cp "$argo_cache_dir/manifests/base/crds/$crd_set"/argoproj.io_*.yaml "$out/$crds/"
chmod u+w "$out/$crds"/*.yaml

cd "$work"
go build -trimpath -overlay overlay.json -tags "$tags" \
  -ldflags "-X main.argoVersion=$version -X main.crdSubdir=$crds" \
  -o "$out/argo-harness-$version" .
if [ -z "$requested" ]; then
  ln -sfn "argo-harness-$version" "$out/argo-harness"
fi
echo "built $out/argo-harness-$version (Argo $version)"
