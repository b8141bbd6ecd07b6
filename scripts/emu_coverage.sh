#!/usr/bin/env bash
# Line coverage of the device code by the emulated test suite (kernels/emu.h), with plain gcov.
#   scripts/emu_coverage.sh [build-dir]      (default build-emu-cov; CPU-only, no GPU needed)
# Builds sfm_emu_tests (tests/test_gpu_emulated.cpp + tests/test_emu_*.cpp) with --coverage
# (-DSFM_EMU_COVERAGE=ON, which also keeps unreferenced inline and static functions, so a
# launcher or kernel no test calls counts as uncovered instead of vanishing), runs its [emu]
# tests once, merges the gcov reports of its translation units and prints, per file, the
# executable lines run / total, the total, and every line not run with a reason:
#   error-path   a line of an SFM_CHECK / fail() / throw that no test triggers
#   entry        the opening / closing / one-line body of an inline function: -fkeep-inline-
#                functions emits an out-of-line copy that nothing calls, while the calls were
#                inlined (at the build type's -O3, kept so that the FMA contraction matches the
#                engine's and the bitwise CPU comparisons hold); gcov charges such lines to the
#                uncalled copy. Listed, and shown as a second figure with them left out.
#   other        anything else (a gap in the tests)
# and, per file, the lines the host never compiles (device-only: the nvcc branches of
# `#if defined(__CUDACC__)` / `__CUDA_ARCH__`, e.g. inline PTX), which only a GPU run covers.
# Scope of the total: kernels/*_kernels.h, kernels/igemm.h, kernels/device_compat.h (the
# device code and its host-compilable launchers). Also shown, outside the total: kernels/emu.h
# (the emulation itself) and engine/math/*.h (per-pixel math shared with the CPU).
# Environment: SFM_EMU_COVERAGE_MIN (default 95): exit 1 when the total is below it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-emu-cov}
BUILD=${BUILD%/}
GEN=()
if command -v ninja >/dev/null; then GEN+=(-G Ninja); fi
if command -v ccache >/dev/null; then GEN+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
t0=$(date +%s)
cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DSFM_CUDA=OFF -DSFM_EMU_COVERAGE=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target sfm_emu_tests
OBJ="$PWD/$BUILD/tests/CMakeFiles/sfm_emu_tests.dir"
find "$OBJ" -name '*.gcda' -delete
t1=$(date +%s)
SFM_EMU_SEED=${SFM_EMU_SEED:-1} "$BUILD/sfm_emu_tests" "[emu]" >"$BUILD/emu_tests.log" 2>&1 || {
  tail -40 "$BUILD/emu_tests.log"
  echo "emu_coverage: the emulated tests failed (log: $BUILD/emu_tests.log)"
  exit 1
}
t2=$(date +%s)
tail -2 "$BUILD/emu_tests.log"
OUTJ="$BUILD/gcov-json"
rm -rf "$OUTJ" && mkdir -p "$OUTJ"
for gcda in "$OBJ"/*.gcda; do
  (cd "$OUTJ" && gcov --json-format --stdout --object-directory "$OBJ" "$gcda" >"$(basename "$gcda").json" 2>/dev/null)
done
python3 - "$OUTJ" "$PWD" "${SFM_EMU_COVERAGE_MIN:-95}" <<'EOF'
import glob, json, os, re, sys
outj, root, minpct = sys.argv[1], sys.argv[2], float(sys.argv[3])
lines = {}  # file -> {line: count}
for f in glob.glob(os.path.join(outj, '*.json')):
    txt = open(f).read().strip()
    for chunk in [c for c in txt.split('\n') if c.strip()]:
        d = json.loads(chunk)
        for fe in d.get('files', []):
            path = os.path.normpath(os.path.join(d.get('current_working_directory', root), fe['file']))
            if not path.startswith(root + '/'):
                continue
            rel = path[len(root) + 1:]
            m = lines.setdefault(rel, {})
            for ln in fe['lines']:
                m[ln['line_number']] = m.get(ln['line_number'], 0) + ln['count']

def in_scope(rel):
    return re.fullmatch(r'kernels/(\w+_kernels\.h|igemm\.h|device_compat\.h)', rel) is not None
def also(rel):
    return rel == 'kernels/emu.h' or re.fullmatch(r'engine/math/\w+\.h', rel) is not None

def device_only(rel):
    # lines in the nvcc-only branches of #if defined(__CUDACC__) / __CUDA_ARCH__ (not compiled here)
    src = open(os.path.join(root, rel)).read().split('\n')
    stack, out = [], []
    for i, s in enumerate(src, 1):
        t = s.strip()
        if t.startswith('#if'):
            dev = ('__CUDACC__' in t or '__CUDA_ARCH__' in t) and '!' not in t
            stack.append(dev)
        elif t.startswith('#else') and stack:
            stack[-1] = False if stack[-1] else stack[-1]
        elif t.startswith('#elif') and stack:
            stack[-1] = False
        elif t.startswith('#endif') and stack:
            stack.pop()
        elif any(stack) and t and not t.startswith('//'):
            out.append(i)
    return out

def reason(rel, n):
    src = open(os.path.join(root, rel)).read().split('\n')
    s = src[n - 1] if n - 1 < len(src) else ''
    t = s.strip()
    ctx = ' '.join(src[max(0, n - 3):n])
    if re.search(r'SFM_CHECK|fail\(|throw|__builtin_trap', s) or re.search(r'SFM_CHECK\([^;]*$', ctx):
        return 'error-path'
    nxt = src[n].strip() if n < len(src) else ''
    if (re.search(r'\)\s*(const)?\s*\{\s*(.*\}\s*)?$', t) and not re.match(r'(if|for|while|switch|else)\b', t)) \
            or re.match(r'^(inline|SFM_DEV|SFM_HD|SFM_GLOBAL|template)\b', t) \
            or t == '}' or (t.startswith('return') and nxt.startswith('}')):
        return 'entry'
    return 'other'

tot_run = tot_all = 0
print('\n== line coverage of the device code by the emulated suite')
print(f'{"file":40s} {"run":>6s} {"lines":>6s} {"%":>7s}  device-only (not compiled on the host)')
for group, sel in (('total', in_scope), ('also', also)):
    if group == 'also':
        print('-- outside the total:')
    for rel in sorted(r for r in lines if sel(r)):
        m = lines[rel]
        run = sum(1 for c in m.values() if c > 0)
        dev = device_only(rel)
        print(f'{rel:40s} {run:6d} {len(m):6d} {100.0 * run / max(1, len(m)):6.1f}%  {len(dev)} lines'
              + (f' ({dev[0]}-{dev[-1]})' if dev else ''))
        if group == 'total':
            tot_run += run
            tot_all += len(m)
pct = 100.0 * tot_run / max(1, tot_all)
print(f'{"TOTAL (kernels/*_kernels.h, igemm.h, device_compat.h)":40s} {tot_run:6d} {tot_all:6d} {pct:6.1f}%')
print('\n== lines not run (in the total), with a reason')
counts = {}
for rel in sorted(r for r in lines if in_scope(r)):
    src = open(os.path.join(root, rel)).read().split('\n')
    for n in sorted(k for k, c in lines[rel].items() if c == 0):
        why = reason(rel, n)
        counts[why] = counts.get(why, 0) + 1
        print(f'{rel}:{n}: [{why}] {src[n - 1].strip()[:110]}')
ent = counts.get('entry', 0)
print('\nnot run by reason: ' + ', '.join(f'{k} {v}' for k, v in sorted(counts.items())))
print(f'TOTAL without the {ent} entry lines: {tot_run}/{tot_all - ent} = {100.0 * tot_run / max(1, tot_all - ent):.1f}%')
sys.exit(0 if pct >= minpct else 1)
EOF
rc=$?
t3=$(date +%s)
echo "== emu_coverage: build $((t1 - t0)) s, tests $((t2 - t1)) s, report $((t3 - t2)) s"
exit $rc
