#!/usr/bin/env bash
# Builds kubeflow/Dockerfile's `textrnn` target with podman, with no Docker engine and no registry, and prints
# the image's name (localhost/textrnn:KEY) on stdout. The base image is a Debian 13 rootfs with python3 made by
# mmdebstrap (localhost/textrnn-base:trixie, built once). KEY hashes the lock, the Dockerfile and the package's
# files: an existing image of that key is reused at once, and a rebuild after a code change reuses podman's
# cached dependency layers (only the lock and the Dockerfile rebuild those).
#
#   IMAGE=$(scripts/image.sh)      # then: scripts/podman.sh run --rm $IMAGE python -c 'import textrnn'
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PODMAN="$REPO/scripts/podman.sh"
BASE_IMAGE="localhost/textrnn-base:trixie"
# shellcheck source=env.sh
source "$REPO/scripts/env.sh"  # debian_mirror
say() { printf '[textrnn image] %s\n' "$*" >&2; }
"$PODMAN" --version >/dev/null

if ! "$PODMAN" image exists "$BASE_IMAGE"; then
  command -v mmdebstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; }
  rootfs="$(mktemp -d)"
  trap 'rm -rf "$rootfs"' EXIT
  say "building the base image $BASE_IMAGE: Debian 13 with python3, from $(debian_mirror) (about a minute, once)"
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
    trixie "$rootfs/rootfs.tar" "deb $(debian_mirror) trixie main"
  "$PODMAN" import --quiet "$rootfs/rootfs.tar" "$BASE_IMAGE" >/dev/null
fi

cd "$REPO"
key="$( (sha256sum requirements.lock kubeflow/Dockerfile kubeflow/Dockerfile.dockerignore setup.py pyproject.toml
        find textrnn pipeline components preprocessing models kubeflow -name '*.py' -type f -print0 \
          | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
image="localhost/textrnn:$key"
if "$PODMAN" image exists "$image"; then
  say "reusing $image"
else
  say "building $image from kubeflow/Dockerfile (the first build downloads the lock's packages: minutes)"
  start=$SECONDS
  # The host's CA bundle is mounted for the build's pip and apt only (a proxy's CA, where there is one); it
  # does not end up in the image.
  "$PODMAN" build --quiet --format docker --network host \
    --volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    --ignorefile kubeflow/Dockerfile.dockerignore -f kubeflow/Dockerfile --target textrnn \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$image" . >/dev/null
  say "built $image in $((SECONDS - start)) s, $("$PODMAN" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.2f GB", $1 / 1e9}')"
  # Earlier builds' tags (the build cache's intermediate layers stay, so that the next build reuses them).
  "$PODMAN" images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/textrnn:' | grep -vx "$image" \
    | xargs -r "$PODMAN" rmi >/dev/null 2>&1 || true
fi
echo "$image"
