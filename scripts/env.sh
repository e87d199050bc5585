#!/usr/bin/env bash
# Prepares and enters the environment textrnn runs in; sourced by run_main.sh and run_tests.sh.
#
# The packages come from requirements.lock (every package pinned, with hashes) for Python 3.13 with
# glibc >= 2.39 (what the TFX 1.21 wheels need). Natively where the machine has both (Debian 13); otherwise
# inside a cached Debian 13 userland made with mmdebstrap and entered with bwrap. Everything heavy lives in $TEXTRNN_CACHE
# (default ~/.cache/textrnn), so a fresh clone reuses it; every step is skipped when already done.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${TEXTRNN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/textrnn}"
ROOTFS="$CACHE/debian13"
PIP_CACHE="$CACHE/pip"
REQS="$REPO/requirements.lock"
REQS_KEY="$(sha256sum "$REQS" | cut -c1-12)"

say() { printf '[textrnn env] %s\n' "$*" >&2; }
die() { printf '[textrnn env] error: %s\n' "$*" >&2; exit 1; }

# Native only with what the lock was made for: glibc >= 2.39 and Python 3.13.
native_ok() {
  local v
  v="$(ldd --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+$' || true)"
  [ -n "$v" ] && [ "$(printf '%s\n2.39\n' "$v" | sort -V | head -n1)" = "2.39" ] \
    && [ "$(python3 -c 'import sys; print(sys.version_info[:2] == (3, 13))' 2>/dev/null)" = True ]
}

# The Debian mirror for the userland: the host's own when the host is Debian, Debian's archive otherwise (an
# Ubuntu or other derivative's archive has no Debian 13). HOST_ROOT lets tests point it at sample files.
debian_mirror() {
  local root="${HOST_ROOT:-}" uri=""
  if grep -qx 'ID=debian' "$root/etc/os-release" 2>/dev/null; then
    if [ -f "$root/etc/apt/sources.list.d/debian.sources" ]; then
      uri="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$root/etc/apt/sources.list.d/debian.sources")"
    fi
    if [ -z "$uri" ] && [ -f "$root/etc/apt/sources.list" ]; then
      uri="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' "$root/etc/apt/sources.list")"
    fi
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

ensure_host_tools() {
  command -v mmdebstrap >/dev/null && command -v bwrap >/dev/null && return
  [ -x "$(command -v apt-get)" ] || die "no glibc >= 2.39 with Python 3.13 here, and no apt-get: install mmdebstrap and bubblewrap, or use a machine with both (Debian 13)."
  [ "$(id -u)" = 0 ] || die "no glibc >= 2.39 with Python 3.13 here: run 'sudo apt-get install mmdebstrap bubblewrap' once, then rerun."
  say "installing mmdebstrap and bubblewrap from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap bubblewrap >/dev/null \
    || die "could not install mmdebstrap and bubblewrap with apt-get."
}

ensure_rootfs() {
  [ -f "$ROOTFS/.textrnn-ready" ] && return
  local mirror tmp
  mirror="$(debian_mirror)"
  tmp="$ROOTFS.partial"
  rm -rf "$tmp"
  mkdir -p "$CACHE"
  say "building a Debian 13 userland in $ROOTFS from $mirror (about a minute, once)"
  mmdebstrap --quiet --variant=apt \
    --include=python3,python3-venv,python3-pip,python3-dev,g++,ca-certificates,git \
    trixie "$tmp" "deb $mirror trixie main" || die "mmdebstrap failed (see above)."
  touch "$tmp/.textrnn-ready"
  rm -rf "$ROOTFS" && mv "$tmp" "$ROOTFS"
}

# Runs "$@" in the userland with the repo's parent (so ../shared stays reachable) at its own path.
in_userland() {
  local parent
  parent="$(dirname "$REPO")"
  mkdir -p "$PIP_CACHE"
  local -a binds=(--bind "$ROOTFS" / --proc /proc --dev /dev --bind /tmp /tmp
    --ro-bind /etc/resolv.conf /etc/resolv.conf --ro-bind-try /etc/hosts /etc/hosts
    --ro-bind /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
    --bind "$PIP_CACHE" /root/.cache/pip --bind "$parent" "$parent")
  # /etc/hosts: the machine's own name resolves as outside (Beam's portable runner hands it to its workers).
  # Output and mirror directories outside the repo's parent are bound too.
  local d
  for d in ${TEXTRNN_EXTRA_BINDS:-}; do binds+=(--bind "$d" "$d"); done
  bwrap "${binds[@]}" --unsetenv PIP_FIND_LINKS --unsetenv PYTHONPATH --unsetenv VIRTUAL_ENV --setenv HOME /root --setenv PATH "$VENV/bin:/usr/bin:/bin" \
    --chdir "$PWD" --die-with-parent "$@"
}

run_env() {
  if native_ok; then
    "$@"
  else
    in_userland "$@"
  fi
}

# Installs LOCK (hashes checked) into a new virtualenv VENV, as run_env sees it (ROOT is its path here), unless
# done; then removes the virtualenvs of earlier versions of the lock beside it (3-4 GB each for the main one).
install_locked_venv() {
  local venv="$1" root="$2" lock="$3" what="$4" name
  [ -f "$root/.textrnn-ready" ] && return
  say "installing $what into $root from $(basename "$lock"), hashes checked (once)"
  run_env bash -c "rm -rf '$venv' && python3 -m venv '$venv' \
    && '$venv/bin/pip' install -q --require-hashes --no-deps -r '$lock'" \
    || die "installing $what failed (see above)."
  touch "$root/.textrnn-ready"
  name="$(basename "$root")"
  find "$(dirname "$root")" -maxdepth 1 -name "${name%-*}-*" ! -path "$root" -exec rm -rf {} +
}

ensure_venv() {
  VENV_ROOT="$CACHE/venv-$REQS_KEY"
  if native_ok; then
    VENV="$VENV_ROOT"
  else
    ensure_host_tools
    ensure_rootfs
    VENV="/opt/venv-$REQS_KEY"
    VENV_ROOT="$ROOTFS$VENV"
  fi
  install_locked_venv "$VENV" "$VENV_ROOT" "$REQS" "the TFX 1.21 stack (3-5 minutes)"
  # The editable install points the venv at this checkout; redone when the checkout, setup.py or pyproject.toml changes.
  local stamp
  stamp="$REPO $(cat "$REPO/setup.py" "$REPO/pyproject.toml" | sha256sum | cut -c1-12)"
  if [ "$(cat "$VENV_ROOT/.textrnn-checkout" 2>/dev/null)" != "$stamp" ]; then
    run_env "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$REPO" >/dev/null \
      || die "installing textrnn itself failed (see above)."
    echo "$stamp" > "$VENV_ROOT/.textrnn-checkout"
  fi
}

# A tool's virtualenv beside the main one, from requirements-NAME.lock: its path (as run_env sees it) in
# SIDE_VENV. Used for the tools whose pins conflict with TFX's, or that must be another TensorFlow release.
ensure_side_venv() {
  local name="$1" what="$2" key root
  key="$(sha256sum "$REPO/requirements-$name.lock" | cut -c1-12)"
  if native_ok; then SIDE_VENV="$CACHE/$name-venv-$key"; root="$SIDE_VENV"
  else SIDE_VENV="/opt/$name-venv-$key"; root="$ROOTFS$SIDE_VENV"; fi
  install_locked_venv "$SIDE_VENV" "$root" "$REPO/requirements-$name.lock" "$what"
}

# The scanners of the deployment test (checkov, hadolint); their folder is exported as TEXTRNN_SCAN_BIN.
ensure_scan_venv() {
  ensure_side_venv scan "checkov and hadolint"
  export TEXTRNN_SCAN_BIN="$SIDE_VENV/bin"
}

# The TensorFlow the manifests' TF Serving image is built from (not the TFX stack's); its python is exported as
# TEXTRNN_SERVING_PYTHON.
ensure_serving_venv() {
  ensure_side_venv serving "TensorFlow 2.20 of the TF Serving image"
  export TEXTRNN_SERVING_PYTHON="$SIDE_VENV/bin/python"
}

# Debian's chromium, which the page tests drive headless (tests/browser.py); its path as run_env sees it is
# exported as TEXTRNN_CHROMIUM (bwrap keeps the environment, so it reaches pytest). Installed with apt once:
# into the userland, or natively on a Debian 13 host as root.
ensure_chromium() {
  local path=/usr/bin/chromium
  if native_ok; then
    if [ ! -x "$path" ]; then
      grep -qx 'ID=debian' /etc/os-release 2>/dev/null && [ -x "$(command -v apt-get)" ] \
        || die "the page tests need Debian's chromium at $path: install it (or run on Debian 13, where it is installed here)."
      [ "$(id -u)" = 0 ] || die "the page tests need Debian's chromium: run 'sudo apt-get install chromium' once, then rerun."
      say "installing chromium from Debian's packages (once)"
      apt-get -qq update && DEBIAN_FRONTEND=noninteractive \
        apt-get -qq install -y --no-install-recommends chromium >/dev/null \
        || die "installing chromium failed (see above)."
    fi
  else
    ensure_host_tools
    ensure_rootfs
    if [ ! -x "$ROOTFS$path" ]; then
      say "installing chromium into the userland (once)"
      in_userland bash -c 'apt-get -qq -o APT::Sandbox::User=root update && DEBIAN_FRONTEND=noninteractive \
        apt-get -qq -o APT::Sandbox::User=root install -y --no-install-recommends chromium >/dev/null' \
        || die "installing chromium into the userland failed (see above)."
    fi
  fi
  export TEXTRNN_CHROMIUM="$path"
}

# Runs a command with the venv first on PATH; the fetched dataset is kept in the cache, outside the userland.
textrnn_env() {
  ensure_venv
  export TEXTRNN_DATA_DIR="${TEXTRNN_DATA_DIR:-$CACHE/data}"
  mkdir -p "$TEXTRNN_DATA_DIR"
  case "$TEXTRNN_DATA_DIR" in "$(dirname "$REPO")"/*) ;; *) TEXTRNN_EXTRA_BINDS="${TEXTRNN_EXTRA_BINDS:-} $TEXTRNN_DATA_DIR" ;; esac
  PATH="$VENV/bin:$PATH" run_env env PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" "$@"
}

# Uses the read-only copy of the dataset beside the repository (../shared/data/sarcasm), where there is one,
# as the mirror, unless TEXTRNN_DATA_MIRROR names another.
use_shared_mirror() {
  local shared_copy
  shared_copy="$(dirname "$REPO")/shared/data/sarcasm"
  if [ -z "${TEXTRNN_DATA_MIRROR:-}" ] && [ -d "$shared_copy" ]; then
    export TEXTRNN_DATA_MIRROR="$shared_copy"
  fi
}

# The container engine of the image tests, as TEXTRNN_CONTAINER_ENGINE: scripts/podman.sh where the tests run
# natively; in the userland, its podman-remote driving a podman service on the host (stopped on exit).
start_container_engine() {
  if native_ok; then
    export TEXTRNN_CONTAINER_ENGINE="$REPO/scripts/podman.sh"
    return
  fi
  if [ ! -x "$ROOTFS/usr/bin/podman-remote" ]; then
    say "installing podman-remote into the userland (once)"
    in_userland bash -c 'apt-get -qq -o APT::Sandbox::User=root update && DEBIAN_FRONTEND=noninteractive \
      apt-get -qq -o APT::Sandbox::User=root install -y --no-install-recommends podman-remote >/dev/null' \
      || die "installing podman-remote into the userland failed (see above)."
  fi
  PODMAN_SOCKET="$(mktemp -u /tmp/textrnn-podman-XXXXXX.sock)"
  "$REPO/scripts/podman.sh" system service --time=0 "unix://$PODMAN_SOCKET" &
  PODMAN_SERVICE_PID=$!
  trap 'kill "$PODMAN_SERVICE_PID" 2>/dev/null; rm -f "$PODMAN_SOCKET"' EXIT
  for _ in $(seq 50); do [ -S "$PODMAN_SOCKET" ] && break; sleep 0.2; done
  [ -S "$PODMAN_SOCKET" ] || die "the podman service did not start"
  export TEXTRNN_CONTAINER_ENGINE="podman-remote --url unix://$PODMAN_SOCKET"
}
