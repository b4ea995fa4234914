"""PyTorch reference timings for issue 5: transformers' LlamaForCausalLM (Llama-3.1-8B shapes, random bf16 weights,
SDPA attention, no download), eager mode, timed with CUDA events (median after warm-up), on the same shapes as
`joules engine bench --suite issue5`. Writes JSON."""
import argparse, json, statistics, sys, time
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--iters", type=int, default=10)
ap.add_argument("--warmup", type=int, default=3)
args = ap.parse_args()

cfg = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=8, head_dim=128, vocab_size=128256, rope_theta=500000.0, rms_norm_eps=1e-5,
                  max_position_embeddings=8192, tie_word_embeddings=False)
torch.manual_seed(0)
torch.set_default_dtype(torch.bfloat16)
with torch.device("cuda"):
    try:
        model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa", dtype=torch.bfloat16)
    except TypeError:
        model = LlamaForCausalLM._from_config(cfg, attn_implementation="sdpa", torch_dtype=torch.bfloat16)
model.eval()
print("torch", torch.__version__, "transformers", transformers.__version__, "attn", model.config._attn_implementation,
      "params %.2fB" % (sum(p.numel() for p in model.parameters()) / 1e9), torch.cuda.get_device_name(), flush=True)


def timed(fn, setup=None):
    times = []
    for i in range(args.warmup + args.iters):
        if setup: setup()
        torch.cuda.synchronize()
        a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        if i >= args.warmup: times.append(a.elapsed_time(b) / 1e3)
    return statistics.median(times), min(times)


results = []
gen = torch.Generator(device="cuda").manual_seed(1)
with torch.inference_mode():
    for b, n in [(1, 512), (1, 2048), (4, 1024), (16, 512)]:
        ids = torch.randint(0, cfg.vocab_size, (b, n), device="cuda", generator=gen)
        med, mn = timed(lambda: model(input_ids=ids, use_cache=True, logits_to_keep=1))
        results.append({"label": f"prefill {b}x{n}", "median_s": med, "min_s": mn})
        print(results[-1], flush=True)
    from transformers import DynamicCache
    for b, ctx in [(1, 1024), (16, 1024), (64, 1024), (128, 1024), (256, 512)]:
        try:
            cache = DynamicCache(config=cfg)
        except TypeError:
            cache = DynamicCache()
        for layer in range(cfg.num_hidden_layers):
            k = torch.randn(b, cfg.num_key_value_heads, ctx, 128, device="cuda", dtype=torch.bfloat16, generator=gen)
            v = torch.randn(b, cfg.num_key_value_heads, ctx, 128, device="cuda", dtype=torch.bfloat16, generator=gen)
            cache.update(k, v, layer)
        ids = torch.randint(0, cfg.vocab_size, (b, 1), device="cuda", generator=gen)
        pos = torch.full((b, 1), ctx, device="cuda", dtype=torch.long)
        cpos = torch.tensor([ctx], device="cuda", dtype=torch.long)
        # Each step appends one token; cropping back keeps every timed step at the same context (outside the timed region).
        med, mn = timed(lambda: model(input_ids=ids, past_key_values=cache, position_ids=pos, cache_position=cpos, use_cache=True),
                        setup=lambda: cache.crop(ctx))
        results.append({"label": f"decode b={b} ctx={ctx}", "median_s": med, "min_s": mn})
        print(results[-1], flush=True)
        del cache
        torch.cuda.empty_cache()

json.dump({"torch": torch.__version__, "transformers": transformers.__version__, "gpu": torch.cuda.get_device_name(),
           "results": results}, open(args.out, "w"), indent=1)
