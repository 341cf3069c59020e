#!/usr/bin/env bash
# Start the services flowpack's container tests need on a fresh Debian machine, and reuse any that already run.
#
#   * docker.io, mmdebstrap, docker-registry, chromium (apt; `apt-get update` only when the install needs it)
#   * dockerd in the background (log: $FLOWPACK_SERVICES_DIR/dockerd.log); never a second one
#   * a Docker Distribution registry on 127.0.0.1:5000 with its own config (filesystem storage, no auth)
#   * the base image flowpack/python:3.11 built from Debian packages (mmdebstrap | docker import), also tagged
#     python:3.11-slim so that flowpack's default base image name resolves without any registry to pull from
#
# Idempotent, non-interactive, must run as root. Prints how long each step took.
# Exit codes: 0 ready, 1 a service failed to start, 2 not root, 3 apt-get could not install the packages.
set -euo pipefail

STATE_DIR="${FLOWPACK_SERVICES_DIR:-/var/lib/flowpack-services}"
REGISTRY_ADDR="127.0.0.1:5000"
BASE_IMAGE="flowpack/python:3.11"
SLIM_ALIAS="python:3.11-slim"
export DEBIAN_FRONTEND=noninteractive

now_ms() { date +%s%3N; }
T0=$(now_ms)
step_start=$T0
log() { printf '[services] %s\n' "$*"; }
fmt_ms() { printf '%d.%03d s' "$(($1 / 1000))" "$(($1 % 1000))"; }
elapsed() { # print the time taken since the previous call
    local now; now=$(now_ms)
    printf '[services] %-12s %s\n' "$1" "$(fmt_ms $((now - step_start)))"
    step_start=$now
}

if [ "$(id -u)" -ne 0 ]; then
    echo "ci/services.sh: must run as root (it installs packages and starts dockerd)" >&2
    exit 2
fi
mkdir -p "$STATE_DIR"

# ---------------------------------------------------------------- packages
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the run viewer's browser test
command -v tmux >/dev/null 2>&1 || missing+=(tmux)  # the progress display's terminal test
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    # Try the package lists already on the machine first; refresh them only when that fails.
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$STATE_DIR/apt.log" 2>&1; then
        log "apt-get install failed with the current package lists; running apt-get update"
        apt-get update -q >>"$STATE_DIR/apt.log" 2>&1 || true
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$STATE_DIR/apt.log" 2>&1 || {
            tail -n 30 "$STATE_DIR/apt.log" >&2; echo "ci/services.sh: apt-get install ${missing[*]} failed" >&2; exit 3; }
    fi
fi
elapsed "packages"

# ---------------------------------------------------------------- dockerd
wait_for_docker() { # $1 = seconds
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
if ! docker info >/dev/null 2>&1; then
    if pgrep -x dockerd >/dev/null 2>&1; then
        log "dockerd already runs (pid $(pgrep -x dockerd | tr '\n' ' ')) but does not answer yet; waiting for it"
    else
        log "starting dockerd (log: $STATE_DIR/dockerd.log)"
        setsid nohup dockerd >>"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
    fi
    if ! wait_for_docker 60; then
        tail -n 30 "$STATE_DIR/dockerd.log" >&2 || true
        echo "ci/services.sh: dockerd did not answer 'docker info' within 60 s" >&2
        exit 1
    fi
fi
elapsed "dockerd"

# ---------------------------------------------------------------- registry
registry_up() { curl -fsS -o /dev/null --max-time 2 "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }
if ! registry_up; then
    mkdir -p "$STATE_DIR/registry"
    cat >"$STATE_DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
    log "starting docker-registry on $REGISTRY_ADDR (log: $STATE_DIR/registry.log)"
    setsid nohup docker-registry serve "$STATE_DIR/registry.yml" >>"$STATE_DIR/registry.log" 2>&1 </dev/null &
    for ((i = 0; i < 100; i++)); do registry_up && break; sleep 0.1; done
    if ! registry_up; then
        tail -n 30 "$STATE_DIR/registry.log" >&2 || true
        echo "ci/services.sh: registry did not answer GET http://$REGISTRY_ADDR/v2/ within 10 s" >&2
        exit 1
    fi
fi
elapsed "registry"

# ---------------------------------------------------------------- base image
# libstdc++6 is in the official python:3.11-slim (apt needs it) and binary wheels such as numpy's load it. The label
# records the package list, so a base image built from an older list is rebuilt.
BASE_PACKAGES="python3,python3-venv,python-is-python3,ca-certificates,libstdc++6"
base_packages() { docker image inspect --format '{{ index .Config.Labels "org.flowpack.base-packages" }}' "$1" 2>/dev/null; }
if [ "$(base_packages "$BASE_IMAGE")" != "$BASE_PACKAGES" ]; then
    log "building $BASE_IMAGE with mmdebstrap (Debian bookworm: $BASE_PACKAGES)"
    mmdebstrap --quiet --variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --include="$BASE_PACKAGES" bookworm - 2>"$STATE_DIR/mmdebstrap.log" \
    | docker import -c "LABEL org.flowpack.base-packages=$BASE_PACKAGES" \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null \
    || { tail -n 30 "$STATE_DIR/mmdebstrap.log" >&2; echo "ci/services.sh: building $BASE_IMAGE failed" >&2; exit 1; }
fi
if [ "$(docker image inspect --format '{{.Id}}' "$SLIM_ALIAS" 2>/dev/null)" != \
     "$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")" ]; then
    docker tag "$BASE_IMAGE" "$SLIM_ALIAS"
fi
elapsed "base image"

log "ready: dockerd $(docker version --format '{{.Server.Version}}'), registry http://$REGISTRY_ADDR/v2/, $BASE_IMAGE = $SLIM_ALIAS (total $(fmt_ms $(($(now_ms) - T0))))"
