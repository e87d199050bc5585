#!/usr/bin/env bash
# The main job: the whole pipeline on the full dataset, ending in a pushed model and a summary.
# Extra arguments go to `textrnn run` (e.g. --epochs 3). Installs what is missing first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
use_shared_mirror
export TEXTRNN_OUTPUT="${TEXTRNN_OUTPUT:-$REPO/textrnn_output}"
textrnn_env textrnn run "$@"
