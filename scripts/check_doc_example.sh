#!/usr/bin/env bash
# docs/extending.md quotes tests/test_extending_example.cpp between its two markers; this check
# (ctest: docs_extending_example) fails when the quote and the compiled file differ.
set -euo pipefail
cd "$(dirname "$0")/.."
extract() { sed -n '/^\/\/ ---- extending.md example begin$/,/^\/\/ ---- extending.md example end$/p' "$1"; }
code=$(extract tests/test_extending_example.cpp)
doc=$(extract docs/extending.md)
[ -n "$code" ] || { echo "check_doc_example: no example markers in tests/test_extending_example.cpp"; exit 1; }
if [ "$code" != "$doc" ]; then
  echo "check_doc_example: docs/extending.md's example differs from tests/test_extending_example.cpp:"
  diff <(echo "$code") <(echo "$doc") || true
  exit 1
fi
echo "check_doc_example: OK ($(echo "$code" | wc -l) lines)"
