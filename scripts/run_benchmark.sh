#!/usr/bin/env bash
# Runs one benchmark (benchmarks/NAME.py) in the textrnn environment: scripts/run_benchmark.sh accuracy [ARGS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
name="${1:?usage: scripts/run_benchmark.sh NAME [ARGS], NAME one of: $(ls benchmarks | sed -n 's/\.py$//p' | grep -v __init__ | tr '\n' ' ')}"
shift
use_shared_mirror
textrnn_env python -m "benchmarks.$name" "$@"
