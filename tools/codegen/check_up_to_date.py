#!/usr/bin/env python3
"""Fails when the committed generated code differs from what the generator makes now.

Usage: check_up_to_date.py REPO_DIR SPEC_DIR. Exits 77 (CTest: skipped) when SPEC_DIR is absent.
"""
import filecmp
import os
import subprocess
import sys
import tempfile

repo, spec = sys.argv[1], sys.argv[2]
if not os.path.isdir(os.path.join(spec, "messages")):
    print(f"no protocol spec at {spec}: skipped")
    sys.exit(77)
committed = os.path.join(repo, "src", "protocol", "generated")
committed_test = os.path.join(repo, "src", "protocol", "tests", "generated_roundtrip_test.cpp")
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "generated")
    test = os.path.join(tmp, "generated_roundtrip_test.cpp")
    subprocess.run([sys.executable, os.path.join(repo, "tools", "codegen", "generate.py"), "--spec", spec,
                    "--out", out, "--test-out", test], check=True)
    cmp = filecmp.dircmp(committed, out)
    problems = cmp.left_only + cmp.right_only + cmp.diff_files
    # dircmp compares shallowly by stat first; compare contents for certainty.
    for name in cmp.common_files:
        if not filecmp.cmp(os.path.join(committed, name), os.path.join(out, name), shallow=False):
            problems.append(name)
    if not filecmp.cmp(committed_test, test, shallow=False):
        problems.append("tests/generated_roundtrip_test.cpp")
    if problems:
        print("generated code is out of date; rerun tools/codegen/generate.py. Differs:", sorted(set(problems)))
        sys.exit(1)
print(f"{len(cmp.common_files)} generated files up to date")
