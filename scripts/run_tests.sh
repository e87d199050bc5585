#!/usr/bin/env bash
# The test suite (benchmarks excluded), in the same environment as the main job. Extra arguments go to pytest.
# It runs one pytest worker per core (pytest-xdist), each test module on one worker (tests/conftest.py groups
# them); pass -n 0 to run in one process.
# It builds (or reuses) the pipeline's container image for the tests marked `image`, unless the arguments
# deselect them (-m "not slow" or -m "not image"); building it needs podman, installed here when missing.
# Debian's chromium, which the page tests drive headless (tests/browser.py), is installed here once too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
ensure_venv
ensure_scan_venv
ensure_serving_venv
ensure_chromium
case " $* " in
  *"not slow"* | *"not image"*) ;;
  *)
    TEXTRNN_TEST_IMAGE="$(scripts/image.sh)" || die "building the container image failed (see above)."
    export TEXTRNN_TEST_IMAGE
    start_container_engine ;;
esac
textrnn_env python -m pytest tests -n auto --dist loadgroup --no-loadscope-reorder "$@"
