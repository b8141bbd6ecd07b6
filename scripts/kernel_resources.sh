#!/usr/bin/env bash
# The static resource table of every CUDA kernel, read from an sm_90 compile of kernels/*.cu:
# registers per thread, spill bytes, stack frame, static shared memory (ptxas -v), the block size
# the kernel declares (__launch_bounds__ -> .maxntid in its PTX), and the theoretical occupancy
# on sm_90 that follows (Hopper: 64 warps, 32 blocks, 65,536 registers allocated per warp in
# units of 256, 228 KiB of shared memory with 1 KiB reserved per block). Every kernel launches
# through SFM_LAUNCH with 0 bytes of dynamic shared memory, so static is all there is.
#
#   scripts/kernel_resources.sh [--doc docs/kernels.md] [--json FILE]
#     prints the table (markdown); --doc rewrites it between the markers in that file;
#     exits 1 when a kernel spills (the test command runs it: no kernel may spill).
# Compiles device code only (nvcc -ptx, then ptxas -v): about 30 s of CPU time; needs nvcc.
set -euo pipefail
cd "$(dirname "$0")/.."
DOC="" JSON=""
while [ $# -gt 0 ]; do
  case "$1" in
    --doc) DOC=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    *) echo "usage: scripts/kernel_resources.sh [--doc FILE] [--json FILE]"; exit 2 ;;
  esac
done
if ! command -v nvcc > /dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
command -v nvcc > /dev/null && command -v ptxas > /dev/null || { echo "SKIPPED: no nvcc/ptxas here"; exit 77; }
W=$(mktemp -d /tmp/sfm_kernel_resources.XXXXXX)
trap 'rm -rf "$W"' EXIT
EIGEN=$( [ -d /usr/include/eigen3 ] && echo /usr/include/eigen3 || echo third_party/eigen3)
# The build's own device flags (CMakeLists.txt): -O3, relaxed constexpr, C++20; cuDNN on, since
# its kernels (none of ours) do not change the table.
for cu in kernels/*.cu; do
  name=$(basename "$cu" .cu)
  [ "$name" = nccl ] && continue  # host code around NCCL's calls: no kernels of ours
  nvcc -ptx -arch=compute_90 -O3 --expt-relaxed-constexpr -std=c++20 -I. -isystem "$EIGEN" \
    -DSFM_WITH_CUDA=1 -DSFM_WITH_CUDNN=1 -DNDEBUG "$cu" -o "$W/$name.ptx" &
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n; done
done
wait
for ptx in "$W"/*.ptx; do
  ptxas -arch=sm_90 -O3 -v "$ptx" -o "${ptx%.ptx}.cubin" 2> "${ptx%.ptx}.ptxas.txt" || { cat "${ptx%.ptx}.ptxas.txt"; exit 1; }
done
python3 - "$W" "$DOC" "$JSON" << 'EOF'
import glob, json, math, os, re, subprocess, sys
work, doc, json_out = sys.argv[1:4]
rows = []
for ptx_path in sorted(glob.glob(os.path.join(work, "*.ptx"))):
    src = os.path.basename(ptx_path)[:-4] + ".cu"
    ptx = open(ptx_path).read()
    maxntid = {}
    for m in re.finditer(r"\.entry\s+(\S+?)\s*\((.*?)\)\s*(.*?)\{", ptx, re.S):
        t = re.search(r"\.maxntid\s+(\d+),\s*(\d+),\s*(\d+)", m.group(3))
        maxntid[m.group(1)] = int(t.group(1)) * int(t.group(2)) * int(t.group(3)) if t else None
    info = open(ptx_path[:-4] + ".ptxas.txt").read()
    for block in re.split(r"(?=ptxas info\s+: Compiling entry function)", info):
        m = re.search(r"Compiling entry function '(\S+)'", block)
        if not m:
            continue
        fn = m.group(1)
        g = lambda pat: int(re.search(pat, block).group(1)) if re.search(pat, block) else 0
        rows.append({"source": src, "mangled": fn, "registers": g(r"Used (\d+) registers"),
                     "spill_stores": g(r"(\d+) bytes spill stores"), "spill_loads": g(r"(\d+) bytes spill loads"),
                     "stack": g(r"(\d+) bytes stack frame"), "smem_static": g(r"(\d+) bytes smem"),
                     "block": maxntid.get(fn)})
# A kernel of a header compiled into several .cu files (conv_kernels.h's helpers) once, with
# every source that compiles it.
unique = {}
for r in rows:
    if r["mangled"] in unique:
        unique[r["mangled"]]["also_in"] += 1
    else:
        unique[r["mangled"]] = dict(r, also_in=0)
rows = list(unique.values())
names = subprocess.run(["c++filt"], input="\n".join(r["mangled"] for r in rows), capture_output=True, text=True).stdout.split("\n")

def strip_params(n):  # drops the trailing, outermost "(...)" parameter list
    n = n.strip()
    if not n.endswith(")"):
        return n
    depth = 0
    for i in range(len(n) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(n[i], 0)
        if depth == 0:
            return n[:i]
    return n

for r, n in zip(rows, names):
    # Short, readable: namespaces and the parameter list dropped, template arguments kept.
    n = re.sub(r"^void ", "", strip_params(n))
    r["kernel"] = re.sub(r"\bsfm::(cuda::)?", "", n).replace("|", "\\|")

def occupancy(regs, smem, threads):
    # sm_90: 64 warps, 32 blocks, 65536 registers (per-warp units of 256), 228 KiB shared (+1 KiB per block)
    warps = math.ceil(threads / 32)
    regs_per_warp = math.ceil(max(regs, 1) * 32 / 256) * 256
    by_regs = (65536 // regs_per_warp) // warps
    by_smem = (228 * 1024) // (math.ceil((smem + 1024) / 128) * 128)
    blocks = min(32, 64 // warps, by_regs, by_smem)
    return blocks * warps / 64, blocks * warps

for r in rows:
    if r["block"]:
        r["occupancy"], r["warps_per_sm"] = occupancy(r["registers"], r["smem_static"], r["block"])
    else:
        r["occupancy"], r["warps_per_sm"] = None, None
rows.sort(key=lambda r: (r["source"], r["kernel"]))
lines = ["| source (+ other .cu files compiling the same kernel) | kernel | registers | spills (bytes st/ld) | stack | static smem | dynamic smem | block (launch bounds) | warps/SM | occupancy |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
for r in rows:
    occ = f"{100 * r['occupancy']:.0f}%" if r["occupancy"] is not None else "n/a (no bounds)"
    where = r["source"] + (f" (+{r['also_in']})" if r["also_in"] else "")
    lines.append(f"| {where} | `{r['kernel']}` | {r['registers']} | {r['spill_stores']}/{r['spill_loads']} | {r['stack']} "
                 f"| {r['smem_static']} | 0 | {r['block'] or '—'} | {r['warps_per_sm'] if r['warps_per_sm'] is not None else '—'} | {occ} |")
table = "\n".join(lines)
spilling = [r for r in rows if r["spill_stores"] or r["spill_loads"]]
summary = (f"{len(rows)} kernels; {len(spilling)} spill; registers {min(r['registers'] for r in rows)}-"
           f"{max(r['registers'] for r in rows)}; no bounds declared: {sum(1 for r in rows if not r['block'])}")
print(table)
print()
print("kernel_resources: " + summary)
if json_out:
    json.dump({"arch": "sm_90", "kernels": rows, "summary": summary}, open(json_out, "w"), indent=1)
if doc:
    text = open(doc).read()
    b, e = "<!-- kernel-resources:begin (scripts/kernel_resources.sh --doc docs/kernels.md) -->", "<!-- kernel-resources:end -->"
    if b not in text or e not in text:
        sys.exit(f"kernel_resources: {doc} has no markers '{b}' ... '{e}'")
    head, rest = text.split(b, 1)
    _, tail = rest.split(e, 1)
    open(doc, "w").write(head + b + "\n" + table + "\n\n" + summary + "\n" + e + tail)
    print(f"kernel_resources: table written to {doc}")
if spilling:
    for r in spilling:
        print(f"kernel_resources: {r['source']}: {r['kernel']} spills {r['spill_stores']} bytes (stores), {r['spill_loads']} (loads)")
    sys.exit(1)
EOF
