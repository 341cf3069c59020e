#!/usr/bin/env bash
# Builds the harness against the Argo module pinned in go.mod/go.sum, downloaded from the Go
# module proxy into the module cache and never copied into this repository.
#   conformance/build.sh OUT_DIR
# Go refuses -overlay for files inside the module cache, so OUT_DIR gets a build module whose
# go.mod replaces the Argo module by a symbolic link to its (checksum-verified) directory in the
# module cache; our two small Go files are then added to Argo's controller and executor
# packages with `go build -overlay`, and the full CRDs of the module are copied next to the
# binary for the API server's schema and CEL checks. Argo's repository links
# workflow/executor/osspecific/signal_linux.go to signal_darwin.go with a symbolic link, which
# Go module zips leave out; the overlay puts the module's own signal_darwin.go back in its place,
# as the link does in the repository Argo builds argoexec from.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
cd "$here"
module=github.com/argoproj/argo-workflows/v4
go mod download "$module"
version="$(go list -m -f '{{.Version}}' "$module")"
argo_cache_dir="$(go list -m -f '{{.Dir}}' "$module")"
work="$out/harness-$version"
rm -rf "$work" && mkdir -p "$work"
ln -s "$argo_cache_dir" "$work/argo"
cp go.sum "$work/go.sum"
cp ./*.go "$work/"
{ cat go.mod; echo; echo "replace $module => ./argo"; } > "$work/go.mod"
crds="crds-$version"
rm -rf "${out:?}/$crds" && mkdir -p "$out/$crds"
cp "$argo_cache_dir"/manifests/base/crds/full/argoproj.io_*.yaml "$out/$crds/"
chmod u+w "$out/$crds"/*.yaml
cat > "$work/overlay.json" <<JSON
{"Replace": {
  "$work/argo/workflow/controller/zz_flowpack_harness.go": "$here/overlay/controller/zz_flowpack_harness.go",
  "$work/argo/workflow/executor/zz_flowpack_harness.go": "$here/overlay/executor/zz_flowpack_harness.go",
  "$work/argo/workflow/executor/osspecific/signal_linux.go": "$argo_cache_dir/workflow/executor/osspecific/signal_darwin.go"
}}
JSON
cd "$work"
go build -trimpath -overlay overlay.json \
  -ldflags "-X main.argoVersion=$version -X main.crdSubdir=$crds" \
  -o "$out/argo-harness" .
echo "built $out/argo-harness (Argo $version)"
