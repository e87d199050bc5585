#!/usr/bin/env bash
# podman as this project runs it on machines without a Docker engine: runc with cgroupfs, the settings in
# scripts/containers.conf, and `run` with the host's ulimits. Installs podman and runc from Debian's packages
# when they are missing and this is root. Usage: scripts/podman.sh COMMAND ARGS... (as `podman`).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "[textrnn podman] error: podman and runc are not installed: run 'sudo apt-get install podman runc' once" >&2
    exit 1
  fi
  echo "[textrnn podman] installing podman and runc from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null
fi
export CONTAINERS_CONF="$HERE/containers.conf"
if [ "${1:-}" = run ]; then
  shift
  exec podman --runtime runc --cgroup-manager cgroupfs run --ulimit host "$@"
fi
exec podman --runtime runc --cgroup-manager cgroupfs "$@"
