"""Self-check of make_reference_table.py on fake inputs (plain python3, no torch, no pytest): exits non-zero on failure.

    python3 calibration/device/test_make_reference_table.py
"""
import json, os, re, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "make_reference_table.py")
failures = []


def check(cond, what, text=""):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
        if text:
            print(text)


def run(*paths):
    p = subprocess.run([sys.executable, SCRIPT, *paths], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def row(text, label):
    """The table line that starts with `| label |`, or None."""
    for line in text.splitlines():
        if line.startswith("| %s |" % label):
            return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
    return None


ENGINE = {
    "model": "llama-3.1-8b", "tp": 1, "gpu": "NVIDIA H200", "gpu_uuids": ["GPU-11111111-2222-3333-4444-555555555555"],
    "gemm_flops_per_s": 783e12, "copy_bytes_per_s": 4.16e12,
    "results": [
        {"label": "prefill 1x512", "median_s": 0.0138, "min_s": 0.012, "tokens_per_s": 37000, "tflops": 520.0, "gbps": 1383,
         "roofline_s": 0.0092},
        {"label": "decode b=1 ctx=1024", "median_s": 0.005, "min_s": 0.0049, "tokens_per_s": 200, "tflops": 3.0, "gbps": 2800,
         "roofline_s": 0.004},
        {"label": "decode b=64 ctx=1024", "median_s": 0.010, "min_s": 0.0098, "tokens_per_s": 6400, "tflops": 90.0, "gbps": 2100,
         "roofline_s": 0.006},
        {"label": "decode b=256 ctx=512", "median_s": 0.020, "min_s": 0.019, "tokens_per_s": 12800, "tflops": 200.0, "gbps": 1800,
         "roofline_s": None},
    ],
}
ATTENTION = {
    "model": "llama-3.1-8b", "tp": 1, "gpu": "NVIDIA H200", "gpu_uuids": ["GPU-11111111-2222-3333-4444-555555555555"],
    "results": [
        {"label": "attention prefill 1x2048", "median_s": 0.0004, "min_s": 0.0004, "tflops": 200.0, "gbps": 100.0},
        {"label": "attention decode b=64 ctx=1024", "median_s": 0.00005, "min_s": 0.00005, "tflops": 1.0, "gbps": 2684.0},
    ],
}
REFERENCE = {
    "torch": "2.11.0+cu130", "transformers": "5.17.0", "gpu": "NVIDIA H200",
    "gpu_uuid": "GPU-11111111-2222-3333-4444-555555555555", "complete": True, "section_errors": {},
    "results": [
        {"label": "attention prefill 1x2048", "section": "attention", "tflops": 400.0,
         "best": {"impl": "FLASH_ATTENTION", "median_s": 0.0002, "min_s": 0.0002, "gqa": "native"},
         "impls": [{"impl": "FLASH_ATTENTION", "median_s": 0.0002, "min_s": 0.0002, "gqa": "native", "error": None},
                   {"impl": "CUDNN_ATTENTION", "median_s": None, "min_s": None, "gqa": None, "error": "RuntimeError: no"}]},
        {"label": "attention decode b=64 ctx=1024", "section": "attention", "gbps": 1342.0,
         "best": {"impl": "EFFICIENT_ATTENTION", "median_s": 0.0001, "min_s": 0.0001, "gqa": "expanded"}, "impls": []},
        {"label": "attention decode b=8 ctx=32768", "section": "attention", "best": None, "impls": [], "skipped": "budget"},
        {"label": "decode b=1 ctx=1024", "section": "decode",
         "best": {"impl": "cuda-graph (StaticCache)", "median_s": 0.010, "min_s": 0.0099},
         "impls": [{"impl": "cuda-graph (StaticCache)", "median_s": 0.010, "min_s": 0.0099, "gqa": None, "error": None},
                   {"impl": "eager", "median_s": 0.020, "min_s": 0.019, "gqa": None, "error": None}]},
        {"label": "decode b=64 ctx=1024", "section": "decode", "best": None,
         "impls": [{"impl": "cuda-graph (StaticCache)", "median_s": None, "min_s": None, "gqa": None, "error": "RuntimeError: capture | broke"}]},
        {"label": "decode b=16 ctx=1024", "section": "decode",
         "best": {"impl": "torch.compile reduce-overhead", "median_s": 0.012, "min_s": 0.011}, "impls": []},
    ],
}

with tempfile.TemporaryDirectory() as d:
    paths = {}
    for name, data in (("engine", ENGINE), ("attention", ATTENTION), ("reference", REFERENCE)):
        paths[name] = os.path.join(d, name + ".json")
        with open(paths[name], "w") as f:
            json.dump(data, f)
    missing = os.path.join(d, "nope.json")
    garbage = os.path.join(d, "garbage.json")
    with open(garbage, "w") as f:
        f.write("{not json")

    # 1. all three inputs
    rc, out, errout = run(paths["engine"], paths["attention"], paths["reference"])
    check(rc == 0, "exit 0 with all inputs (got %d: %s)" % (rc, errout))
    check("### Attention" in out and "### Whole decode step" in out, "both table headings", out)
    r = row(out, "attention prefill 1x2048")
    check(r == ["attention prefill 1x2048", "0.4000", "FLASH_ATTENTION", "0.2000", "0.50x", "200.0 TFLOP/s", "400.0 TFLOP/s"],
          "attention prefill row: %s" % r, out)
    r = row(out, "attention decode b=64 ctx=1024")
    check(r is not None and r[2] == "EFFICIENT_ATTENTION (K/V expanded)" and r[4] == "2.00x" and r[5] == "2684 GB/s"
          and r[6] == "1342 GB/s", "attention decode row: %s" % r, out)
    r = row(out, "attention decode b=8 ctx=32768")
    check(r is not None and r[1] == "-" and r[2] == "skipped: budget" and r[3] == "-", "torch-only skipped row: %s" % r, out)
    r = row(out, "decode b=1 ctx=1024")
    check(r == ["decode b=1 ctx=1024", "5.000", "cuda-graph (StaticCache)", "10.00", "2.00x", "4.000", "80%"],
          "decode b=1 row: %s" % r, out)
    r = row(out, "decode b=64 ctx=1024")
    check(r is not None and r[1] == "10.00" and r[2].startswith("failed: RuntimeError: capture \\| broke") and r[3] == "-"
          and r[4] == "-" and r[6] == "60%", "decode row with failed torch: %s" % r, out)
    r = row(out, "decode b=256 ctx=512")
    check(r is not None and r[3] == "-" and r[5] == "-" and r[6] == "-", "decode row, no torch, no roofline: %s" % r, out)
    r = row(out, "decode b=16 ctx=1024")
    check(r is not None and r[1] == "-" and r[2] == "torch.compile reduce-overhead" and r[3] == "12.00", "torch-only decode row: %s" % r, out)
    check(row(out, "prefill 1x512") is None, "issue5 prefill rows stay out of these tables", out)
    check("Same GPU for both: yes" in out, "same-GPU line", out)

    # 2. the attention file missing, the reference unreadable
    rc, out, errout = run(paths["engine"], missing, garbage)
    check(rc == 0, "exit 0 with missing inputs (got %d: %s)" % (rc, errout))
    check("<!-- engine attention bench (%s) unavailable" % missing in out, "comment for the missing attention file", out)
    check("<!-- PyTorch reference (%s) unavailable" % garbage in out, "comment for the unreadable reference", out)
    r = row(out, "decode b=1 ctx=1024")
    check(r is not None and r[1] == "5.000" and r[2] == "-" and r[6] == "80%", "decode rows from the engine alone: %s" % r, out)
    check("(no attention results)" in out, "empty attention table says so", out)

    # 3. nothing readable at all
    rc, out, errout = run(missing, missing, missing)
    check(rc == 0, "exit 0 with no inputs (got %d: %s)" % (rc, errout))
    check(out.count("unavailable") == 3 and "(no decode results)" in out, "three comments and empty tables", out)

    # 4. a reference cut short (time-out): rows it has, a note that it did not finish
    cut = dict(REFERENCE, complete=False, results=REFERENCE["results"][:1], section_errors={"decode": "RuntimeError: x"})
    with open(paths["reference"], "w") as f:
        json.dump(cut, f)
    rc, out, errout = run(paths["engine"], paths["attention"], paths["reference"])
    check(rc == 0 and "did not finish" in out and "section decode failed" in out, "unfinished reference noted", out)
    r = row(out, "attention decode b=64 ctx=1024")
    check(r is not None and r[1] == "0.0500" and r[3] == "-", "engine-only attention row: %s" % r, out)

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("make_reference_table.py: all checks passed")
