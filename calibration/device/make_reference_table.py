"""Merges our attention and whole-decode timings with torch_reference.py's into two markdown tables.

    python3 make_reference_table.py ENGINE.json ATTENTION.json REFERENCE.json > table.md

ENGINE.json: `joules engine bench --suite issue5 --json` (its "decode b=.. ctx=.." rows); ATTENTION.json:
`joules engine bench --suite attention --json` ("attention prefill BxN" / "attention decode b=B ctx=C" rows);
REFERENCE.json: torch_reference.py. Any of them may be missing or unreadable: an HTML comment says so and the tables
show what exists ("-" where a side has no figure).
"""
import json, math, sys


def load(path, what):
    """(dict or None, comment or None)"""
    try:
        with open(path) as f:
            d = json.load(f)
        if not isinstance(d, dict):
            raise ValueError("top level is %s, not an object" % type(d).__name__)
        return d, None
    except Exception as e:
        return None, "<!-- %s (%s) unavailable: %s -->" % (what, path, ("%s: %s" % (type(e).__name__, e)).replace("--", "- -"))


def num(x):
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def rows_by_label(d):
    out = {}
    if not d:
        return out
    res = d.get("results")
    for r in res if isinstance(res, list) else []:
        if isinstance(r, dict) and isinstance(r.get("label"), str):
            out.setdefault(r["label"], r)
    return out


def labels_in_order(*dicts, keep=lambda label: True):
    seen, order = set(), []
    for d in dicts:
        for label in d:
            if label not in seen and keep(label):
                seen.add(label)
                order.append(label)
    return order


def ms(s):
    s = num(s)
    if s is None:
        return "-"
    m = s * 1e3
    return "%.4f" % m if m < 1 else "%.3f" % m if m < 10 else "%.2f" % m


def ratio(torch_s, ours_s):
    t, o = num(torch_s), num(ours_s)
    return "%.2fx" % (t / o) if t is not None and o not in (None, 0) else "-"


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def torch_choice(ref_row):
    """(name of the best torch variant or why there is none, its median seconds or None, the best dict)"""
    if ref_row is None:
        return "-", None, None
    best = ref_row.get("best")
    if isinstance(best, dict) and num(best.get("median_s")) is not None:
        name = str(best.get("impl", "?"))
        if best.get("gqa") == "expanded":
            name += " (K/V expanded)"
        return name, best["median_s"], best
    if ref_row.get("skipped"):
        return "skipped: %s" % ref_row["skipped"], None, None
    errors = [i.get("error") for i in ref_row.get("impls") or [] if isinstance(i, dict) and i.get("error")]
    if errors and all(str(e).startswith("skipped") for e in errors):
        return "skipped: budget", None, None
    why = ref_row.get("error") or (errors[0] if errors else "no result")
    why = str(why)
    return "failed: " + (why if len(why) <= 80 else why[:77] + "..."), None, None


def rate(row, prefill):
    """TFLOP/s (prefill) or GB/s (decode) as a string."""
    if not row:
        return "-"
    if prefill:
        v = num(row.get("tflops"))
        return "%.1f TFLOP/s" % v if v is not None else "-"
    v = num(row.get("gbps"))
    return "%.0f GB/s" % v if v is not None else "-"


def main(argv):
    if len(argv) != 4:
        print("usage: make_reference_table.py ENGINE.json ATTENTION.json REFERENCE.json", file=sys.stderr)
        return 2
    engine, c1 = load(argv[1], "engine bench (issue5)")
    attention, c2 = load(argv[2], "engine attention bench")
    ref, c3 = load(argv[3], "PyTorch reference")
    for c in (c1, c2, c3):
        if c:
            print(c)

    # What ran where.
    lines = []
    if engine or attention:
        e = engine or attention
        lines.append("Joules: %s on %s" % (e.get("model", "?"), e.get("gpu", "?")) +
                     (", measured roofline: bf16 GEMM %.0f TFLOP/s, copy %.2f TB/s (read+write)"
                      % (e["gemm_flops_per_s"] / 1e12, e["copy_bytes_per_s"] / 1e12)
                      if engine and num(engine.get("gemm_flops_per_s")) and num(engine.get("copy_bytes_per_s")) else "") + ".")
    if ref:
        parts = ["%s %s" % (name, ref.get(key)) for name, key in
                 (("PyTorch", "torch"), ("transformers", "transformers"), ("CUDA", "cuda"), ("cuDNN", "cudnn")) if ref.get(key)]
        lines.append("%s on %s%s%s." % (", ".join(parts) or "PyTorch", ref.get("gpu", "?"),
                                         " (%s)" % ref["gpu_uuid"] if ref.get("gpu_uuid") else "",
                                         "" if ref.get("complete") else
                                         "; the reference run did not finish (time-out?): shapes after where it stopped are missing"))
        ours_uuids = set()
        for d in (engine, attention):
            if d and isinstance(d.get("gpu_uuids"), list):
                ours_uuids.update(str(u) for u in d["gpu_uuids"])
        if ours_uuids and ref.get("gpu_uuid"):
            lines.append("Same GPU for both: %s." % ("yes" if ref["gpu_uuid"] in ours_uuids else "NO (different cards)"))
        errs = ref.get("section_errors")
        if isinstance(errs, dict):
            for k, v in errs.items():
                print("<!-- PyTorch reference section %s failed: %s -->" % (k, str(v).replace("--", "- -")))
    for l in lines:
        print(l)
    print()

    att_ours = rows_by_label(attention)
    ref_rows = rows_by_label(ref)
    ref_att = {k: v for k, v in ref_rows.items() if v.get("section") == "attention" or k.startswith("attention ")}
    ref_dec = {k: v for k, v in ref_rows.items() if v.get("section") == "decode" or k.startswith("decode ")}

    print("### Attention (one layer, Llama-3.1-8B geometry: 32 query heads, 8 KV heads, head_dim 128, bf16)")
    print()
    print("| shape | Joules ms | best torch SDPA backend | torch ms | torch / Joules | Joules TFLOP/s or GB/s | torch TFLOP/s or GB/s |")
    print("|---|---:|---|---:|---:|---:|---:|")
    order = labels_in_order(att_ours, ref_att, keep=lambda l: l.startswith("attention "))
    for label in order:
        o, t = att_ours.get(label), ref_att.get(label)
        prefill = label.startswith("attention prefill")
        name, tsec, _ = torch_choice(t)
        osec = o.get("median_s") if o else None
        print("| %s | %s | %s | %s | %s | %s | %s |" % (cell(label), ms(osec), cell(name), ms(tsec), ratio(tsec, osec),
                                                      rate(o, prefill), rate(t, prefill) if tsec is not None else "-"))
    if not order:
        print("| (no attention results) | - | - | - | - | - | - |")
    print()
    print("Prefill: causal FLOPs 4·b·32·128·n(n+1)/2; decode: bytes of K and V read, 2·b·8·ctx·128·2. "
          "torch = F.scaled_dot_product_attention with each backend forced by sdpa_kernel, the fastest shown, replayed from a "
          "CUDA graph of back-to-back calls (torch_reference.py; its JSON has every backend's time and any errors).")
    print()

    dec_ours = rows_by_label(engine)
    print("### Whole decode step (Llama-3.1-8B, one token per sequence)")
    print()
    print("| shape | Joules ms | torch best mode | torch ms | torch / Joules | roofline ms | Joules % of roofline |")
    print("|---|---:|---|---:|---:|---:|---:|")
    order = labels_in_order(dec_ours, ref_dec, keep=lambda l: l.startswith("decode "))
    for label in order:
        o, t = dec_ours.get(label), ref_dec.get(label)
        name, tsec, _ = torch_choice(t)
        osec = o.get("median_s") if o else None
        roof = num(o.get("roofline_s")) if o else None
        share = "%.0f%%" % (100 * roof / osec) if roof is not None and num(osec) else "-"
        print("| %s | %s | %s | %s | %s | %s | %s |" % (cell(label), ms(osec), cell(name), ms(tsec), ratio(tsec, osec), ms(roof), share))
    if not order:
        print("| (no decode results) | - | - | - | - | - | - |")
    print()
    return 0


if __name__ == "__main__":
    try:
        rc = main(sys.argv)
    except Exception as e:  # still leave something readable in the table file
        print("<!-- make_reference_table.py failed: %s: %s -->" % (type(e).__name__, str(e).replace("--", "- -")))
        rc = 1
    sys.exit(rc)
