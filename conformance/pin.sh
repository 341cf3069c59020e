#!/usr/bin/env bash
# Pins one more Argo version for the harness: writes go.VERSION.mod and go.VERSION.sum here
# (the default version is pinned by go.mod/go.sum), resolved by `go mod tidy` from the Go module
# proxy. Kubernetes' apiextensions-apiserver and apiserver (the harness's CRD checks) are pinned
# at the Kubernetes version that Argo version itself requires.
#   conformance/pin.sh v3.7.3
# build.sh needs build tags for the version too (see argo_v4.go); `make argo-harness` then
# builds every pinned version.
set -euo pipefail
version="$1"
here="$(cd "$(dirname "$0")" && pwd)"
module="github.com/argoproj/argo-workflows/${version%%.*}"
case "$version" in
  v4.*) tags="" ;;
  v3.7.*) tags="argo_v3" ;;
  v3.6.*) tags="argo_v3,argo_v3_6" ;;
  *) echo "pin.sh: the harness has no build tags for Argo $version (see argo_v4.go)" >&2; exit 2 ;;
esac
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$here"
rewrite() { sed "s#github\.com/argoproj/argo-workflows/v4\([/\"]\)#$module\1#g" "$1" > "$2"; }
# Only the files this version builds (go mod tidy reads every file whatever its build tags).
for dir in . overlay/controller overlay/executor; do
  mkdir -p "$scratch/$dir"
  for f in $(go list -e -tags "$tags" -f '{{join .GoFiles " "}}' "./$dir"); do
    rewrite "$dir/$f" "$scratch/$dir/$f"
  done
done
go_version="$(sed -n 's/^go //p' go.mod)"
argo_dir="$(cd "$scratch" && printf 'module x\n\ngo %s\n' "$go_version" > go.mod &&
  go mod download -json "$module@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
k8s="$(sed -n 's#^\tk8s.io/apimachinery \(v[^ ]*\).*#\1#p' "$argo_dir/go.mod")"
cd "$scratch"
cat > go.mod <<EOF
module flowpack/conformance

go $go_version

require (
	$module $version
	k8s.io/apiextensions-apiserver $k8s
	k8s.io/apiserver $k8s
)
EOF
go mod tidy
cp go.mod "$here/go.$version.mod"
cp go.sum "$here/go.$version.sum"
echo "pinned Argo $version (Kubernetes libraries $k8s): conformance/go.$version.mod, conformance/go.$version.sum"
