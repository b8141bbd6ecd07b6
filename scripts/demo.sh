#!/usr/bin/env bash
# Sets everything up and runs the main job: `sfm demo` (synthetic data, training, evaluation,
# a report folder). Extra arguments go to `sfm demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
exec build/sfm demo "$@"
