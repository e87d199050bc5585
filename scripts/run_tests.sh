#!/usr/bin/env bash
# The test suite (benchmarks excluded), in the same environment as the main job. Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
textrnn_env python -m pytest tests "$@"
