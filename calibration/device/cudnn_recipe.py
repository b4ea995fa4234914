"""Records how cuDNN's fused attention is built on this machine: runs PyTorch's cuDNN SDPA backend once per case with
cuDNN's backend API log and cudnn-frontend's log on, so the descriptor graph that cuDNN accepted (ops, tensor
dims/strides/types, attributes) can be read back and matched by Joules' own P/Invoke builder. Also copies the cuDNN
headers that the wheel ships (for the enum values) and prints the library's version and location.

Usage (device machine): OUT=dir python3 cudnn_recipe.py
"""
import glob, json, os, shutil, subprocess, sys

out = os.environ.get("OUT", ".")
case = os.environ.get("RECIPE_CASE")
if case is None:
    import torch
    info = {"torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "gpu": torch.cuda.get_device_name(0)}
    import importlib.util
    spec = importlib.util.find_spec("nvidia.cudnn")
    roots = list(spec.submodule_search_locations) if spec else []
    libs = sorted(f for r in roots for f in glob.glob(os.path.join(r, "lib", "libcudnn*.so*")))
    heads = sorted(f for r in roots for f in glob.glob(os.path.join(r, "include", "*.h")))
    info["libs"], info["headers"] = libs, heads
    os.makedirs(os.path.join(out, "headers"), exist_ok=True)
    for h in heads:
        b = os.path.basename(h)
        if b.startswith(("cudnn_graph", "cudnn_backend", "cudnn_version", "cudnn.h")):
            shutil.copy(h, os.path.join(out, "headers", b))
    print(json.dumps(info, indent=1))
    for c in ("dense", "strided", "jagged"):
        env = dict(os.environ, RECIPE_CASE=c, CUDNN_LOGLEVEL_DBG="3", CUDNN_LOGDEST_DBG=os.path.join(out, f"cudnn-{c}.log"),
                   CUDNN_FRONTEND_LOG_INFO="1", CUDNN_FRONTEND_LOG_FILE=os.path.join(out, f"frontend-{c}.log"))
        r = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=240)
        print(f"== case {c}: rc {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    sys.exit(0)

import torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
torch.manual_seed(0)
dt, dev = torch.bfloat16, "cuda"
H, HK, D = 32, 8, 128
with torch.no_grad(), sdpa_kernel([SDPBackend.CUDNN_ATTENTION]):
    if case == "dense":
        q = torch.randn(1, H, 2048, D, device=dev, dtype=dt)
        k = torch.randn(1, HK, 2048, D, device=dev, dtype=dt)
        v = torch.randn(1, HK, 2048, D, device=dev, dtype=dt)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    elif case == "strided":
        # Token-major packed QKV rows, as the Joules engine keeps them: [tokens, (H + 2 HK) * D].
        t = 2048
        qkv = torch.randn(t, (H + 2 * HK) * D, device=dev, dtype=dt)
        q = qkv[:, : H * D].view(1, t, H, D).transpose(1, 2)
        k = qkv[:, H * D:(H + HK) * D].view(1, t, HK, D).transpose(1, 2)
        v = qkv[:, (H + HK) * D:].view(1, t, HK, D).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    else:
        lens = [300, 1024, 77]
        qs = [torch.randn(n, H, D, device=dev, dtype=dt) for n in lens]
        ks = [torch.randn(n, HK, D, device=dev, dtype=dt) for n in lens]
        vs = [torch.randn(n, HK, D, device=dev, dtype=dt) for n in lens]
        nt = lambda xs: torch.nested.nested_tensor(xs, layout=torch.jagged).transpose(1, 2)
        o = F.scaled_dot_product_attention(nt(qs), nt(ks), nt(vs), is_causal=True, enable_gqa=True)
    torch.cuda.synchronize()
    print(case, "ok", tuple(o.shape) if not o.is_nested else "nested")
