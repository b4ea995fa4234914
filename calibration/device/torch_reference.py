"""Best-effort fastest PyTorch reference for `joules engine bench --suite attention` and the decode rows of `--suite issue5`.

Section "attention": F.scaled_dot_product_attention alone, Llama-3.1-8B geometry (32 query heads, 8 KV heads, head_dim
128, bf16, scale 1/sqrt(128)), once per SDPA backend (FLASH_ATTENTION, CUDNN_ATTENTION, EFFICIENT_ATTENTION, each forced
with torch.nn.attention.sdpa_kernel), native GQA (enable_gqa=True) or, where a backend refuses that, K/V expanded to 32
heads outside the timed region. Each call is replayed from a CUDA graph of R back-to-back calls (R chosen so a replay
takes about 2 ms; R = 1 for the long prefills), so small decode shapes are not timed as Python launch overhead; the
engine times its attention kernels from CUDA graphs too.

Section "decode": a whole one-token decode step of transformers' LlamaForCausalLM (random bf16 weights, SDPA, built as
torch_compare.py builds it): (1) a StaticCache holding random K/V of length ctx, the step at cache_position=ctx captured
into one CUDA graph and replayed (each replay writes position ctx again, so the context stays fixed); (2) eager with a
DynamicCache exactly as torch_compare.py; (3) if the budget allows, torch.compile(model.forward, mode="reduce-overhead")
of the static-cache step.

Timing: CUDA events, median and min of --iters after --warmup. Everything is inside try/except: an error is recorded in
the JSON and the run goes on; after --budget-s seconds the remaining shapes are marked "skipped: budget". The JSON is
rewritten (temporary file + os.replace) after every shape, so a run killed by a time-out still leaves its results.
"""
import argparse, gc, json, math, os, statistics, subprocess, sys, time, traceback, warnings

T0 = time.time()

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--out", required=True, help="JSON file to write")
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--warmup", type=int, default=5)
ap.add_argument("--budget-s", type=float, default=240.0, help="wall-clock budget of the whole run, seconds")
ap.add_argument("--sections", default="attention,decode", help="comma list of: attention, decode")
args = ap.parse_args()
args.iters = max(1, args.iters)
args.warmup = max(0, args.warmup)

PREFILL_SHAPES = [(1, 2048), (1, 8192), (1, 32768), (8, 2048)]                        # (batch, tokens)
DECODE_ATTN_SHAPES = [(1, 1024), (64, 1024), (128, 1024), (256, 512), (64, 4096), (8, 32768)]  # (batch, context)
DECODE_SHAPES = [(1, 1024), (16, 1024), (64, 1024), (128, 1024), (256, 512)]           # (batch, context)
HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128
COMPILE_LIMIT_S = 120.0

STATE = {
    "script": "torch_reference.py",
    "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0)),
    "args": {"iters": args.iters, "warmup": args.warmup, "budget_s": args.budget_s, "sections": args.sections},
    "torch": None, "transformers": None, "cuda": None, "cudnn": None, "gpu": None, "gpu_uuid": None,
    "complete": False, "section_errors": {}, "results": [],
}


def log(*a):
    print(*a, flush=True)


def err(e):
    s = f"{type(e).__name__}: {e}".strip()
    return s if len(s) <= 1500 else s[:1500] + " ..."


def remaining():
    return args.budget_s - (time.time() - T0)


def clean(x):
    """JSON-safe copy: NaN/inf become strings, unknown objects their str()."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    return str(x)


def save():
    """Rewrites the JSON atomically (temporary file in the same folder, then os.replace)."""
    try:
        STATE["elapsed_s"] = round(time.time() - T0, 3)
        full = os.path.abspath(args.out)
        d = os.path.dirname(full)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, ".%s.%d.tmp" % (os.path.basename(full), os.getpid()))
        with open(tmp, "w") as f:
            json.dump(clean(STATE), f, indent=1, default=str, allow_nan=False)
        os.replace(tmp, full)
    except Exception as e:  # never let writing the results kill the run
        log("!! could not write", args.out, err(e))


def finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def pick_best(entry):
    ok = [i for i in entry.get("impls", []) if finite(i.get("median_s"))]
    if not ok:
        entry["best"] = None
        return None
    b = min(ok, key=lambda i: i["median_s"])
    entry["best"] = {"impl": b["impl"], "median_s": b["median_s"], "min_s": b.get("min_s"), "gqa": b.get("gqa")}
    return b


def free_memory():
    try:
        gc.collect()
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    except Exception as e:
        log("!! free_memory:", err(e))


# ---------------------------------------------------------------------------------------------------------- set-up
try:
    import torch
    STATE["torch"] = torch.__version__
    STATE["cuda"] = getattr(torch.version, "cuda", None)
except Exception as e:
    STATE["section_errors"]["import torch"] = err(e)
    save()
    log("!! cannot import torch:", err(e))
    sys.exit(2)
try:
    import transformers
    STATE["transformers"] = transformers.__version__
except Exception as e:
    STATE["section_errors"]["import transformers"] = err(e)
if not torch.cuda.is_available():
    STATE["section_errors"]["cuda"] = "torch.cuda.is_available() is False"
    save()
    log("!! no CUDA device")
    sys.exit(2)
try:
    STATE["gpu"] = torch.cuda.get_device_name(0)
except Exception as e:
    STATE["section_errors"]["gpu name"] = err(e)
try:
    STATE["cudnn"] = torch.backends.cudnn.version()
except Exception:
    pass


def gpu_uuid():
    """NVML form (GPU-xxxxxxxx-...), as the engine's gpu_uuids; from torch if it has it, else nvidia-smi."""
    try:
        u = getattr(torch.cuda.get_device_properties(0), "uuid", None)
        if u is not None:
            s = str(u).strip()
            if s:
                return (s if s.startswith(("GPU-", "MIG-")) else "GPU-" + s), "torch"
    except Exception as e:
        log("!! uuid from torch:", err(e))
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30).stdout
        rows = [[c.strip() for c in line.split(",")] for line in out.splitlines() if "," in line]
        vis = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
        for idx, uuid in rows:
            if vis and (vis == idx or vis == uuid):
                return uuid, "nvidia-smi (CUDA_VISIBLE_DEVICES)"
        if rows:
            return rows[0][1], "nvidia-smi (first GPU)"
    except Exception as e:
        log("!! uuid from nvidia-smi:", err(e))
    return None, None


STATE["gpu_uuid"], STATE["gpu_uuid_source"] = gpu_uuid()
log("torch", STATE["torch"], "cuda", STATE["cuda"], "cudnn", STATE["cudnn"], "transformers", STATE["transformers"],
    "gpu", STATE["gpu"], STATE["gpu_uuid"], "budget %.0f s" % args.budget_s)
save()


def time_fn(fn, warmup=None, iters=None, setup=None):
    """Median and min seconds of fn() between two CUDA events, after warm-up (setup() runs before each, untimed)."""
    warmup = args.warmup if warmup is None else warmup
    iters = args.iters if iters is None else iters
    times = []
    for i in range(warmup + iters):
        if setup is not None:
            setup()
        torch.cuda.synchronize()
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        if i >= warmup:
            times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times), min(times)


def capture_graph(fn, reps=1, side_warmup=3):
    """CUDA graph of `reps` calls of fn, after warm-up calls on a side stream as the torch.cuda.graph docs ask."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(side_warmup):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    out = None
    with torch.cuda.graph(g):
        for _ in range(reps):
            out = fn()
    torch.cuda.synchronize()
    return g, out


# ------------------------------------------------------------------------------------------------------- attention
def attention_section():
    import torch.nn.functional as F
    try:
        from torch.nn.attention import sdpa_kernel, SDPBackend
    except Exception as e:
        raise RuntimeError("torch.nn.attention.sdpa_kernel/SDPBackend unavailable: " + err(e))
    backends = [(name, getattr(SDPBackend, name, None)) for name in ("FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION")]
    scale = 1.0 / math.sqrt(HEAD_DIM)
    groups = HEADS // KV_HEADS
    shapes = [("prefill", b, n) for b, n in PREFILL_SHAPES] + [("decode", b, c) for b, c in DECODE_ATTN_SHAPES]

    def one_backend(impl, be, q, k, v, causal):
        """Times one backend: native GQA first, K/V expanded to all query heads if the backend refuses it."""
        errors = []
        for gqa in ("native", "expanded"):
            kk = vv = None
            try:
                if gqa == "native":
                    kk, vv, kw = k, v, {"enable_gqa": True}
                else:
                    kk = k.repeat_interleave(groups, dim=1)  # outside the timed region
                    vv = v.repeat_interleave(groups, dim=1)
                    kw = {}

                def fn():
                    return F.scaled_dot_product_attention(q, kk, vv, is_causal=causal, scale=scale, **kw)

                with sdpa_kernel([be]):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        try:
                            out = fn()
                            torch.cuda.synchronize()
                        except Exception as e:
                            why = "; ".join(str(w.message) for w in caught[:4])
                            raise RuntimeError(str(e) + (" [warnings: " + why + "]" if why else ""))
                    est = time_fn(fn, warmup=1, iters=3)[0]
                    reps = max(1, min(32, int(math.ceil(2e-3 / max(est, 1e-7)))))
                    try:
                        g, _ = capture_graph(fn, reps, side_warmup=2)
                        med, mn = time_fn(g.replay)
                        impl["timing"] = "cuda-graph x%d" % reps
                        del g
                    except Exception as e:
                        impl["graph_error"] = err(e)
                        torch.cuda.synchronize()

                        def loop():
                            for _ in range(reps):
                                fn()
                        med, mn = time_fn(loop)
                        impl["timing"] = "eager loop x%d" % reps
                impl.update(median_s=med / reps, min_s=mn / reps, gqa=gqa, error=None)
                if errors:
                    impl["native_error"] = errors[0]
                return out
            except Exception as e:
                errors.append("%s: %s" % (gqa, err(e)))
                try:
                    torch.cuda.synchronize()
                except Exception:
                    pass
            finally:
                if gqa == "expanded":
                    del kk, vv
        impl["error"] = " | ".join(errors)
        return None

    for kind, b, n in shapes:
        label = f"attention prefill {b}x{n}" if kind == "prefill" else f"attention decode b={b} ctx={n}"
        entry = {"label": label, "section": "attention", "kind": kind, "batch": b,
                 ("tokens" if kind == "prefill" else "context"): n, "best": None, "impls": []}
        STATE["results"].append(entry)
        if remaining() <= 0:
            entry["skipped"] = "budget"
            entry["error"] = "skipped: budget"
            save()
            log(label, "skipped: budget")
            continue
        q = k = v = ref = None
        try:
            gen = torch.Generator(device="cuda").manual_seed(1000 + b * 7 + n)
            nq = n if kind == "prefill" else 1
            q = torch.randn(b, HEADS, nq, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=gen)
            k = torch.randn(b, KV_HEADS, n, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=gen)
            v = torch.randn(b, KV_HEADS, n, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=gen)
            causal = kind == "prefill"
            if kind == "prefill":
                work = 4.0 * b * HEADS * HEAD_DIM * n * (n + 1) / 2  # causal FLOPs
                entry["flops"] = work
            else:
                work = 2.0 * b * KV_HEADS * n * HEAD_DIM * 2  # bytes of K and V read
                entry["bytes"] = work
            for name, be in backends:
                impl = {"impl": name, "median_s": None, "min_s": None, "gqa": None, "error": None}
                entry["impls"].append(impl)
                if remaining() <= 0:
                    impl["error"] = "skipped: budget"
                    continue
                if be is None:
                    impl["error"] = "SDPBackend.%s does not exist in this torch" % name
                    continue
                try:
                    out = one_backend(impl, be, q, k, v, causal)
                    if out is not None:
                        try:
                            if ref is None:
                                ref = out
                                impl["max_abs_diff_vs_first"] = 0.0
                            else:
                                impl["max_abs_diff_vs_first"] = (out.float() - ref.float()).abs().max().item()
                        except Exception as e:
                            impl["diff_error"] = err(e)
                    del out
                except Exception as e:
                    impl["error"] = err(e)
                if finite(impl.get("median_s")):
                    if kind == "prefill":
                        impl["tflops"] = work / impl["median_s"] / 1e12
                    else:
                        impl["gbps"] = work / impl["median_s"] / 1e9
                log("  %-34s %-20s %s" % (label, name, ("%.4f ms (%s, %s)" % (impl["median_s"] * 1e3, impl.get("gqa"), impl.get("timing")))
                                          if finite(impl.get("median_s")) else impl.get("error")))
            best = pick_best(entry)
            if best is not None:
                if kind == "prefill":
                    entry["tflops"] = work / best["median_s"] / 1e12
                else:
                    entry["gbps"] = work / best["median_s"] / 1e9
        except Exception as e:
            entry["error"] = err(e)
            log("!!", label, err(e))
        finally:
            q = k = v = ref = None
            free_memory()
            save()
        bb = entry.get("best")
        log(label, "best:", ("%s %.4f ms" % (bb["impl"], bb["median_s"] * 1e3)) if bb else None,
            ("%.1f TFLOP/s" % entry["tflops"]) if "tflops" in entry else ("%.0f GB/s" % entry["gbps"]) if "gbps" in entry else "")


# ---------------------------------------------------------------------------------------------------------- decode
def decode_section():
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, head_dim=128, vocab_size=128256, rope_theta=500000.0, rms_norm_eps=1e-5,
                      max_position_embeddings=8192, tie_word_embeddings=False)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    entries = []
    for b, ctx in DECODE_SHAPES:
        e = {"label": f"decode b={b} ctx={ctx}", "section": "decode", "batch": b, "context": ctx,
             "max_cache_len": ctx + 8, "best": None, "impls": []}
        entries.append(e)
        STATE["results"].append(e)
    if remaining() <= 0:  # not even the model build
        for e in entries:
            e["skipped"] = "budget"
            e["error"] = "skipped: budget"
        save()
        log("decode: skipped: budget")
        return
    try:
        t = time.time()
        with torch.device("cuda"):
            try:
                model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa", dtype=torch.bfloat16)
            except TypeError:
                model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa", torch_dtype=torch.bfloat16)
        model.eval()
        STATE["decode_model"] = {"attn_implementation": getattr(model.config, "_attn_implementation", None),
                                 "params": sum(p.numel() for p in model.parameters()), "build_s": time.time() - t}
        log("decode model built:", STATE["decode_model"])
    except Exception as e:
        for en in entries:
            en["error"] = "model build failed: " + err(e)
        raise
    save()
    L = cfg.num_hidden_layers

    try:
        from transformers import StaticCache
    except Exception:
        try:
            from transformers.cache_utils import StaticCache
        except Exception as e:
            StaticCache = None
            STATE["section_errors"]["StaticCache import"] = err(e)
    from transformers import DynamicCache

    def layer_tensors(cache):
        layers = getattr(cache, "layers", None)
        if layers:
            return [(getattr(l, "keys", None), getattr(l, "values", None)) for l in layers]
        kc, vc = getattr(cache, "key_cache", None), getattr(cache, "value_cache", None)
        if kc is not None and vc is not None:
            return list(zip(kc, vc))
        return []

    def static_cache(b, ctx, gen, info):
        """A StaticCache of max_cache_len ctx+8 for batch b holding random K/V at positions 0..ctx-1."""
        if StaticCache is None:
            raise RuntimeError("transformers.StaticCache unavailable")
        Lc = ctx + 8
        ctors = [
            ("StaticCache(config, max_batch_size, max_cache_len, device, dtype)",
             lambda: StaticCache(config=cfg, max_batch_size=b, max_cache_len=Lc, device="cuda", dtype=torch.bfloat16)),
            ("StaticCache(config, max_cache_len)", lambda: StaticCache(config=cfg, max_cache_len=Lc)),
            ("StaticCache(config, batch_size, max_cache_len, device, dtype)",
             lambda: StaticCache(config=cfg, batch_size=b, max_cache_len=Lc, device="cuda", dtype=torch.bfloat16)),
            ("StaticCache(config, max_batch_size, max_cache_len)",
             lambda: StaticCache(config=cfg, max_batch_size=b, max_cache_len=Lc)),
        ]
        tries = []
        for name, make in ctors:
            try:
                make()  # does this transformers take these keywords at all?
            except Exception as e:
                tries.append("%s: %s" % (name, err(e)))
                free_memory()
                continue
            for fill in ("update", "prefill-forward"):
                cache = None
                try:
                    cache = make()
                    if fill == "update":  # random K/V written through the cache's own update (allocates lazily)
                        cpos = torch.arange(ctx, device="cuda", dtype=torch.long)
                        for i in range(L):
                            k = torch.randn(b, KV_HEADS, ctx, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=gen)
                            v = torch.randn(b, KV_HEADS, ctx, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=gen)
                            cache.update(k, v, i, {"cache_position": cpos})
                            del k, v
                    else:  # one prefill forward of ctx random tokens, outside timing
                        ids = torch.randint(0, cfg.vocab_size, (b, ctx), device="cuda", generator=gen)
                        try:
                            model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1,
                                  cache_position=torch.arange(ctx, device="cuda", dtype=torch.long))
                        except TypeError:
                            model(input_ids=ids, past_key_values=cache, use_cache=True)
                        del ids
                    torch.cuda.synchronize()
                    lt = layer_tensors(cache)
                    want = (b, KV_HEADS, Lc, HEAD_DIM)
                    shapes = {tuple(kt.shape) if kt is not None else None for kt, _ in lt}
                    if len(lt) != L or shapes != {want}:
                        raise RuntimeError("cache layers %d, shapes %s, expected %d x %s" % (len(lt), sorted(map(str, shapes)), L, want))
                    info.update(cache_ctor=name, fill=fill)
                    if tries:
                        info["cache_attempts"] = tries
                    return cache
                except Exception as e:
                    tries.append("%s / %s: %s" % (name, fill, err(e)))
                    cache = None
                    free_memory()
        info["cache_attempts"] = tries
        raise RuntimeError("no StaticCache variant worked: " + " | ".join(tries))

    def step_inputs(b, ctx, gen):
        ids = torch.randint(0, cfg.vocab_size, (b, 1), device="cuda", generator=gen)
        pos = torch.full((b, 1), ctx, device="cuda", dtype=torch.long)
        cpos = torch.tensor([ctx], device="cuda", dtype=torch.long)
        return ids, pos, cpos

    def additive_mask(b, ctx):
        m = torch.full((b, 1, 1, ctx + 8), torch.finfo(torch.bfloat16).min, device="cuda", dtype=torch.bfloat16)
        m[..., : ctx + 1] = 0
        return m

    def graph_mode(b, ctx, impl):
        gen = torch.Generator(device="cuda").manual_seed(1 + b * 31 + ctx)
        cache = static_cache(b, ctx, gen, impl)
        ids, pos, cpos = step_inputs(b, ctx, gen)
        # "none": transformers builds (or, for one query token without padding, skips) the mask itself; then SDPA may
        # attend all max_cache_len slots (the 7 unused ones hold zeros). "4d": an explicit additive mask of ctx+1 keys.
        variants = [("none", dict(cache_position=cpos)),
                    ("4d additive, ctx+1 keys", dict(cache_position=cpos, attention_mask=additive_mask(b, ctx))),
                    ("none, no cache_position", dict())]
        attempts = []
        for mask_name, extra in variants:
            g = out = None
            try:
                def fn():
                    return model(input_ids=ids, past_key_values=cache, position_ids=pos, use_cache=True, **extra)
                g, out = capture_graph(fn, 1, side_warmup=3)
                g.replay()
                torch.cuda.synchronize()
                logits = out.logits if hasattr(out, "logits") else out[0]
                impl["logits_finite"] = bool(torch.isfinite(logits).all().item())
                try:  # the graph computes what the eager step computes
                    impl["graph_vs_eager_max_abs_diff"] = (fn().logits.float() - logits.float()).abs().max().item()
                except Exception as e:
                    impl["graph_vs_eager_error"] = err(e)
                med, mn = time_fn(g.replay)
                impl.update(median_s=med, min_s=mn, error=None, attention_mask=mask_name)
                if attempts:
                    impl["attempts"] = attempts
                return
            except Exception as e:
                attempts.append("%s: %s" % (mask_name, err(e)))
                try:
                    torch.cuda.synchronize()
                except Exception:
                    pass
            finally:
                del g, out
        impl["attempts"] = attempts
        raise RuntimeError("CUDA graph capture failed for every variant: " + " | ".join(attempts))

    def eager_mode(b, ctx, impl):  # exactly as torch_compare.py
        gen = torch.Generator(device="cuda").manual_seed(1 + b * 31 + ctx)
        try:
            cache = DynamicCache(config=cfg)
        except TypeError:
            cache = DynamicCache()
        for layer in range(L):
            k = torch.randn(b, KV_HEADS, ctx, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=gen)
            v = torch.randn(b, KV_HEADS, ctx, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=gen)
            cache.update(k, v, layer)
            del k, v
        ids, pos, cpos = step_inputs(b, ctx, gen)
        med, mn = time_fn(lambda: model(input_ids=ids, past_key_values=cache, position_ids=pos, cache_position=cpos, use_cache=True),
                          setup=lambda: cache.crop(ctx))
        impl.update(median_s=med, min_s=mn, error=None)
        del cache

    compiled = {"fn": None, "disabled": None, "last_s": None}

    def compile_mode(b, ctx, impl):
        gen = torch.Generator(device="cuda").manual_seed(1 + b * 31 + ctx)
        cache = static_cache(b, ctx, gen, impl)
        ids, pos, cpos = step_inputs(b, ctx, gen)
        if compiled["fn"] is None:
            compiled["fn"] = torch.compile(model.forward, mode="reduce-overhead", fullgraph=False)
        cf = compiled["fn"]
        mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)

        def fn():
            if mark is not None:
                mark()
            return cf(input_ids=ids, past_key_values=cache, position_ids=pos, cache_position=cpos, use_cache=True)
        t = time.time()
        try:
            for _ in range(3):  # compilation, then the CUDA-graph warm-up and recording of cudagraph trees
                fn()
            torch.cuda.synchronize()
        finally:
            impl["compile_s"] = time.time() - t
            compiled["last_s"] = impl["compile_s"]
        if impl["compile_s"] > COMPILE_LIMIT_S:
            compiled["disabled"] = "previous compile took %.0f s (> %.0f s)" % (impl["compile_s"], COMPILE_LIMIT_S)
        med, mn = time_fn(fn)
        impl.update(median_s=med, min_s=mn, error=None)
        del cache

    def run_mode(entry, name, body):
        impl = {"impl": name, "median_s": None, "min_s": None, "gqa": None, "error": None}
        entry["impls"].append(impl)
        if remaining() <= 0:
            impl["error"] = "skipped: budget"
            return impl
        t = time.time()
        try:
            with torch.inference_mode():
                body(entry["batch"], entry["context"], impl)
        except Exception as e:
            impl["error"] = err(e)
            if "out of memory" in str(e).lower():
                impl["error"] += " (CUDA OOM)"
        finally:
            impl["wall_s"] = time.time() - t
            free_memory()
            pick_best(entry)
            save()
        log("  %-24s %-30s %s" % (entry["label"], name, ("%.3f ms" % (impl["median_s"] * 1e3)) if finite(impl.get("median_s"))
                                  else impl.get("error")))
        return impl

    # Pass 1: the CUDA graph of the static-cache step and the eager DynamicCache step, every shape.
    for entry in entries:
        if remaining() <= 0:
            entry["skipped"] = "budget"
            entry["error"] = "skipped: budget"
            save()
            log(entry["label"], "skipped: budget")
            continue
        run_mode(entry, "cuda-graph (StaticCache)", graph_mode)
        run_mode(entry, "eager", eager_mode)

    # Pass 2: torch.compile reduce-overhead, as far as the budget goes (a compile cannot be interrupted, so it starts
    # only with room for it; after one compile over COMPILE_LIMIT_S or one failure, the others are skipped).
    for entry in entries:
        if entry.get("skipped"):
            continue
        name = "torch.compile reduce-overhead"
        need = 130.0 if compiled["last_s"] is None else max(30.0, 1.5 * compiled["last_s"])
        if compiled["disabled"]:
            entry["impls"].append({"impl": name, "median_s": None, "min_s": None, "gqa": None,
                                   "error": "skipped: " + compiled["disabled"]})
            save()
            continue
        if remaining() < need:
            entry["impls"].append({"impl": name, "median_s": None, "min_s": None, "gqa": None,
                                   "error": "skipped: budget (%.0f s left, %.0f s wanted for compiling)" % (max(0.0, remaining()), need)})
            save()
            continue
        impl = run_mode(entry, name, compile_mode)
        if impl.get("error") and not compiled["disabled"]:
            compiled["disabled"] = "previous compile failed"
    for entry in entries:
        b = pick_best(entry)
        log(entry["label"], "best:", ("%s %.3f ms" % (b["impl"], b["median_s"] * 1e3)) if b else None)
    del model
    free_memory()


# ------------------------------------------------------------------------------------------------------------ main
SECTIONS = {"attention": attention_section, "decode": decode_section}
for sec in [s.strip() for s in args.sections.split(",") if s.strip()]:
    if sec not in SECTIONS:
        STATE["section_errors"][sec] = "unknown section (known: %s)" % ", ".join(SECTIONS)
        save()
        continue
    log("== section", sec, "(%.0f s of budget left)" % remaining())
    try:
        SECTIONS[sec]()
    except Exception as e:
        STATE["section_errors"][sec] = err(e)
        log("!! section", sec, "failed:", err(e))
        traceback.print_exc()
        sys.stdout.flush()
    finally:
        free_memory()
        save()

STATE["complete"] = True
save()
log("wrote", args.out, "in %.0f s" % (time.time() - T0))
