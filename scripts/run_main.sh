#!/usr/bin/env bash
# The main job: the whole pipeline on the full dataset, ending in a pushed model and a summary.
# Extra arguments go to `textrnn run` (e.g. --epochs 3, --preset default). Installs what is missing first.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
use_shared_mirror
export TEXTRNN_OUTPUT="${TEXTRNN_OUTPUT:-$REPO/textrnn_output}"
# The main job's model: one model of our GloVe recipe, the lowest eval loss in less than twice default's time
# (benchmarks/results/accuracy.md, "Choices made on the eval split"); --preset or TEXTRNN_PRESET choose another.
export TEXTRNN_PRESET="${TEXTRNN_PRESET:-glove-recipe}"
textrnn_env textrnn run "$@"
