"""Regenerates every fixture: runs each tests/reference/fixture_*.py with --out DIR.
Needs python3-torch (Debian); fixture_odometry.py needs only NumPy (scripts/test.sh runs it alone
where torch is missing). The committed fixtures let the C++ tests run without either."""
import argparse
import glob
import os
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures"))
ap.add_argument("--full", action="store_true", help="full-size model fixture (slower)")
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
for script in sorted(glob.glob(os.path.join(here, "fixture_*.py"))):
    cmd = [sys.executable, script, "--out", args.out] + (["--full"] if args.full else [])
    print("==", " ".join(os.path.relpath(c) if c.endswith(".py") else c for c in cmd), flush=True)
    subprocess.run(cmd, check=True)
