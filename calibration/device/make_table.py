"""Merges `joules engine bench --suite issue5 --json` and torch_compare.py output into the markdown table of calibration/engine/."""
import json, sys

ours = json.load(open(sys.argv[1]))
try:
    torch = {r["label"]: r for r in json.load(open(sys.argv[2]))["results"]}
except Exception as e:  # the table still shows our side and the roofline
    print(f"<!-- PyTorch results unavailable: {e} -->")
    torch = {}
print(f"GPU: {ours['gpu']}; model {ours['model']} tp={ours['tp']}; measured roofline: bf16 GEMM "
      f"{ours['gemm_flops_per_s'] / 1e12:.0f} TFLOP/s, copy bandwidth {ours['copy_bytes_per_s'] / 1e12:.2f} TB/s (read+write).")
print()
print("| shape | Joules ms | PyTorch ms | PyTorch / Joules | roofline ms | Joules % of roofline | tokens/s | TFLOP/s | GB/s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in ours["results"]:
    t = torch.get(r["label"])
    tm = f"{t['median_s'] * 1e3:.2f}" if t else "-"
    ratio = f"{t['median_s'] / r['median_s']:.2f}x" if t else "-"
    roof = r.get("roofline_s")
    print(f"| {r['label']} | {r['median_s'] * 1e3:.2f} | {tm} | {ratio} | {roof * 1e3:.2f} | {roof / r['median_s']:.0%} | "
          f"{r['tokens_per_s']:.0f} | {r['tflops']:.1f} | {r['gbps']:.0f} |")
