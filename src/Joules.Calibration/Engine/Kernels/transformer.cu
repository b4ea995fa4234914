// Kernels of the Joules calibration engine, compiled at run time by NVRTC (no headers: bf16 is handled as raw 16-bit words).
// Layout conventions: activations are row-major [tokens][features]; the paged KV cache of one layer is
// [slot][kv_head][head_dim] with slot = page * page_size + offset, pages listed per sequence in a block table.

typedef unsigned short bf16;
#define INFINITY __int_as_float(0x7f800000)   // NVRTC without headers has no math.h
typedef unsigned int u32;

__device__ __forceinline__ float b2f(bf16 h) { return __uint_as_float(((u32)h) << 16); }
__device__ __forceinline__ bf16 f2b(float f)
{
    u32 u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)0x7fc0;   // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);                             // round to nearest even
    return (bf16)(u >> 16);
}
__device__ __forceinline__ u32 pack2(float lo, float hi) { return (u32)f2b(lo) | ((u32)f2b(hi) << 16); }
__device__ __forceinline__ void unpack8(uint4 v, float* f)
{
    u32 w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) { f[2 * i] = __uint_as_float(w[i] << 16); f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u); }
}

// ---------------------------------------------------------------- random fill (weights, caches, inputs)
__device__ __forceinline__ u32 hash32(unsigned long long i, u32 seed)
{
    unsigned long long x = i * 0x9E3779B97F4A7C15ull + ((unsigned long long)seed << 32 | seed) + 0x632BE59BD9B4E019ull;
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ull; x ^= x >> 27; x *= 0x94D049BB133111EBull; x ^= x >> 31;
    return (u32)x;
}

extern "C" __global__ void fill_uniform(bf16* p, long long n, u32 seed, float scale, float offset)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        float u = (hash32(i, seed) >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f;   // uniform in [-1, 1)
        p[i] = f2b(offset + scale * u);
    }
}

extern "C" __global__ void fill_ids(int* ids, int n, u32 seed, int vocab)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) ids[i] = (int)(hash32(i, seed) % (u32)vocab);
}

// ---------------------------------------------------------------- embedding gather: out[t] = table[ids[t]]
extern "C" __global__ void embed(const int* ids, const bf16* table, bf16* out, int hidden)
{
    int t = blockIdx.x;
    const uint4* src = (const uint4*)(table + (long long)ids[t] * hidden);
    uint4* dst = (uint4*)(out + (long long)t * hidden);
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) dst[i] = src[i];
}

// ---------------------------------------------------------------- RMSNorm of row rows[r] (or r), times weight
extern "C" __global__ void rmsnorm(const bf16* x, const int* rows, const bf16* w, bf16* out, int hidden, float eps)
{
    __shared__ float red[32];
    int r = blockIdx.x;
    int src = rows ? rows[r] : r;
    const uint4* xr = (const uint4*)(x + (long long)src * hidden);
    const uint4* wr = (const uint4*)w;
    uint4* o = (uint4*)(out + (long long)r * hidden);
    float ss = 0.f;
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x)
    {
        float f[8]; unpack8(xr[i], f);
#pragma unroll
        for (int k = 0; k < 8; k++) ss += f[k] * f[k];
    }
    for (int s = 16; s > 0; s >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, s);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x < 32)
    {
        float v = threadIdx.x < blockDim.x / 32 ? red[threadIdx.x] : 0.f;
        for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
        if (threadIdx.x == 0) red[0] = v;
    }
    __syncthreads();
    float inv = rsqrtf(red[0] / hidden + eps);
    for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x)
    {
        float f[8], g[8]; unpack8(xr[i], f); unpack8(wr[i], g);
        o[i] = make_uint4(pack2(f[0] * inv * g[0], f[1] * inv * g[1]), pack2(f[2] * inv * g[2], f[3] * inv * g[3]),
                          pack2(f[4] * inv * g[4], f[5] * inv * g[5]), pack2(f[6] * inv * g[6], f[7] * inv * g[7]));
    }
}

// ---------------------------------------------------------------- QKV bias + rotary embedding + KV-cache write
// One block per token. q and k heads are rotated in place (rotate-half convention of Llama); the rotated K and the V
// of the token are stored in the paged cache at slot tok_slot[t].
extern "C" __global__ void qkv_rope_cache(bf16* qkv, const bf16* bias, const int* tok_pos, const int* tok_slot,
    bf16* kcache, bf16* vcache, int heads, int kvHeads, int headDim, float log2Theta)
{
    extern __shared__ float cs[];   // cos[headDim/2], sin[headDim/2]
    int t = blockIdx.x;
    int half = headDim / 2;
    int width = (heads + 2 * kvHeads) * headDim;
    bf16* row = qkv + (long long)t * width;
    double pos = (double)tok_pos[t];
    for (int i = threadIdx.x; i < half; i += blockDim.x)
    {
        // Angles reach 1e5 rad at long contexts: reduce them in double, where fast-math does not apply.
        double invFreq = exp2(-(double)(2 * i) / headDim * (double)log2Theta);
        double s, c;
        sincos(pos * invFreq, &s, &c);
        cs[i] = (float)c; cs[half + i] = (float)s;
    }
    __syncthreads();
    long long slot = tok_slot[t];
    int pairs = (heads + kvHeads) * half;
    for (int idx = threadIdx.x; idx < pairs; idx += blockDim.x)
    {
        int h = idx / half, i = idx % half;
        int c1 = h * headDim + i, c2 = c1 + half;
        float x1 = b2f(row[c1]), x2 = b2f(row[c2]);
        if (bias) { x1 += b2f(bias[c1]); x2 += b2f(bias[c2]); }
        float c = cs[i], s = cs[half + i];
        bf16 y1 = f2b(x1 * c - x2 * s), y2 = f2b(x2 * c + x1 * s);
        row[c1] = y1; row[c2] = y2;
        if (h >= heads)
        {
            bf16* k = kcache + (slot * kvHeads + (h - heads)) * headDim;
            k[i] = y1; k[i + half] = y2;
        }
    }
    int vbase = (heads + kvHeads) * headDim;
    for (int idx = threadIdx.x; idx < kvHeads * headDim; idx += blockDim.x)
    {
        float v = b2f(row[vbase + idx]);
        if (bias) v += b2f(bias[vbase + idx]);
        bf16 y = f2b(v);
        row[vbase + idx] = y;
        vcache[slot * kvHeads * headDim + idx] = y;
    }
}

// ---------------------------------------------------------------- SwiGLU: out[t][f] = silu(gu[t][f]) * gu[t][F + f]
extern "C" __global__ void silu_mul(const bf16* gu, bf16* out, int tokens, int ffn)
{
    long long n = (long long)tokens * ffn / 8;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        long long t = i / (ffn / 8), j = i % (ffn / 8);
        const uint4* g4 = (const uint4*)(gu + t * 2 * ffn);
        const uint4* u4 = (const uint4*)(gu + t * 2 * ffn + ffn);
        float g[8], u[8], y[8];
        unpack8(g4[j], g); unpack8(u4[j], u);
#pragma unroll
        for (int k = 0; k < 8; k++) y[k] = g[k] / (1.f + __expf(-g[k])) * u[k];
        ((uint4*)out)[i] = make_uint4(pack2(y[0], y[1]), pack2(y[2], y[3]), pack2(y[4], y[5]), pack2(y[6], y[7]));
    }
}

// ---------------------------------------------------------------- skinny GEMM for decode-sized batches (T <= 4 rows of x)
// y[t][n] (+)= sum_k x'[t][k] * W[n][k], W row-major [n][k] as the cuBLASLt path stores it. x' is x as stored (MODE 0),
// RMSNorm(x[rows ? rows[t] : t]) * nw (MODE 1: the norm before QKV, gate/up and the LM head is fused in, so no
// normalised copy is written and read back), or silu(g) * u of a [g | u] row of width 2k (MODE 2: SwiGLU fused into the
// down projection). At a few tokens the product is a pure weight stream: a block of 8 warps owns 4 weight rows, the
// warps split k, and each lane keeps GR x U 16-byte weight loads in flight (read once, not kept in L1), so the whole
// grid streams HBM like a copy; x is tiny and is re-read through L1. Partial dot products meet in shared memory.
__device__ __forceinline__ uint4 ld_stream(const uint4* p)
{
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}

template <int T, int MODE>
__device__ void gemv_impl(const bf16* x, const int* rows, const bf16* nw, float eps, const bf16* w, bf16* y, int n, int k, int accumulate)
{
    const int GR = 4, WARPS = 8, U = 2;   // 8 weight loads in flight per lane
    __shared__ float inv[T];
    __shared__ float red[WARPS][GR * T];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int r0 = blockIdx.x * GR;
    const int k8 = k / 8;
    const long long xstride = MODE == 2 ? 2LL * k : (long long)k;
    const uint4* xr[T];
#pragma unroll
    for (int t = 0; t < T; t++) xr[t] = (const uint4*)(x + (long long)(rows ? rows[t] : t) * xstride);
    if (MODE == 1)
    {
        for (int t = warp; t < T; t += WARPS)
        {
            const uint4* xt = (const uint4*)(x + (long long)(rows ? rows[t] : t) * xstride);
            float ss = 0.f;
            for (int i = lane; i < k8; i += 32)
            {
                float f[8]; unpack8(xt[i], f);
#pragma unroll
                for (int e = 0; e < 8; e++) ss += f[e] * f[e];
            }
#pragma unroll
            for (int s = 16; s > 0; s >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, s);
            if (lane == 0) inv[t] = rsqrtf(ss / k + eps);
        }
        __syncthreads();
    }
    const uint4* wr[GR];
#pragma unroll
    for (int g = 0; g < GR; g++) wr[g] = (const uint4*)(w + (long long)min(r0 + g, n - 1) * k);
    float acc[GR][T];
#pragma unroll
    for (int g = 0; g < GR; g++)
#pragma unroll
        for (int t = 0; t < T; t++) acc[g][t] = 0.f;
    for (int i0 = warp * 32 + lane; i0 < k8; i0 += WARPS * 32 * U)
    {
        uint4 wv[U][GR];
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            int i = i0 + u * WARPS * 32;
#pragma unroll
            for (int g = 0; g < GR; g++) wv[u][g] = i < k8 ? ld_stream(wr[g] + i) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            int i = i0 + u * WARPS * 32;
            if (i >= k8) break;
            float nf[8];
            if (MODE == 1) unpack8(((const uint4*)nw)[i], nf);
#pragma unroll
            for (int t = 0; t < T; t++)
            {
                float xf[8];
                unpack8(xr[t][i], xf);
                if (MODE == 1)
                {
#pragma unroll
                    for (int e = 0; e < 8; e++) xf[e] *= inv[t] * nf[e];
                }
                else if (MODE == 2)
                {
                    float uf[8]; unpack8(xr[t][k8 + i], uf);
#pragma unroll
                    for (int e = 0; e < 8; e++) xf[e] = xf[e] / (1.f + __expf(-xf[e])) * uf[e];
                }
#pragma unroll
                for (int g = 0; g < GR; g++)
                {
                    float wf[8]; unpack8(wv[u][g], wf);
#pragma unroll
                    for (int e = 0; e < 8; e++) acc[g][t] += wf[e] * xf[e];
                }
            }
        }
    }
#pragma unroll
    for (int g = 0; g < GR; g++)
#pragma unroll
        for (int t = 0; t < T; t++)
        {
            float v = acc[g][t];
#pragma unroll
            for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
            if (lane == 0) red[warp][g * T + t] = v;
        }
    __syncthreads();
    for (int j = threadIdx.x; j < GR * T; j += blockDim.x)
    {
        int g = j / T, t = j % T, r = r0 + g;
        if (r >= n) continue;
        float v = 0.f;
#pragma unroll
        for (int ww = 0; ww < WARPS; ww++) v += red[ww][j];
        bf16* dst = y + (long long)t * n + r;
        if (accumulate) v += b2f(*dst);
        *dst = f2b(v);
    }
}

#define GEMV_ARGS const bf16* x, const int* rows, const bf16* nw, float eps, const bf16* w, bf16* y, int n, int k, int accumulate
#define GEMV(t, mode) extern "C" __global__ void __launch_bounds__(256, 2) gemv_t##t##_m##mode(GEMV_ARGS) \
    { gemv_impl<t, mode>(x, rows, nw, eps, w, y, n, k, accumulate); }
#define GEMV_T(t) GEMV(t, 0) GEMV(t, 1) GEMV(t, 2)
GEMV_T(1) GEMV_T(2) GEMV_T(3) GEMV_T(4)

// ---------------------------------------------------------------- greedy sampling: argmax over each logits row
extern "C" __global__ void argmax_rows(const bf16* logits, int vocab, int* out)
{
    __shared__ float bv[32]; __shared__ int bi[32];
    const bf16* row = logits + (long long)blockIdx.x * vocab;
    float best = -3.0e38f; int idx = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
    {
        float v = b2f(row[i]);
        if (v > best) { best = v; idx = i; }
    }
    for (int s = 16; s > 0; s >>= 1)
    {
        float ov = __shfl_xor_sync(0xffffffffu, best, s); int oi = __shfl_xor_sync(0xffffffffu, idx, s);
        if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
    if ((threadIdx.x & 31) == 0) { bv[threadIdx.x >> 5] = best; bi[threadIdx.x >> 5] = idx; }
    __syncthreads();
    if (threadIdx.x < 32)
    {
        int nw = blockDim.x / 32;
        best = threadIdx.x < nw ? bv[threadIdx.x] : -3.0e38f; idx = threadIdx.x < nw ? bi[threadIdx.x] : 0x7fffffff;
        for (int s = 16; s > 0; s >>= 1)
        {
            float ov = __shfl_xor_sync(0xffffffffu, best, s); int oi = __shfl_xor_sync(0xffffffffu, idx, s);
            if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
        }
        if (threadIdx.x == 0) out[blockIdx.x] = idx;
    }
}

// ---------------------------------------------------------------- prefill attention (flash-attention style, tensor cores)
// Block = 4 warps = 64 query rows of one head of one sequence; K/V tiles of 64 keys gathered from the paged cache
// into shared memory; S = QKᵀ and O += PV with mma.sync m16n8k16 (bf16 in, fp32 accumulate); online softmax in registers.
// Queries sit at absolute positions ctx + i and see keys 0..ctx+i (the chunk's own K/V are already in the cache),
// which makes chunked prefill exact.
__device__ __forceinline__ void mma16816(float* c, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ u32 smem_addr(const void* p)
{
    u32 a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}
// 16-byte asynchronous global->shared copy; bytes = 0 writes zeros (keys past the sequence end).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" :: "r"(smem_addr(dst)), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N)); }

// PIPE: K/V tiles are double-buffered in dynamic shared memory and fetched with cp.async, so the next tile's loads
// overlap this tile's matrix work (the default); without PIPE, one buffer in static shared memory and plain loads.
template <int D, bool PIPE>
__device__ void prefill_attention_impl(const bf16* qkv, const bf16* kcache, const bf16* vcache, const int* blockTable,
    int maxPages, int pageSize, const int* tiles, const int* seqStart, const int* seqNew, const int* seqCtx, bf16* out,
    int heads, int kvHeads, float scaleLog2)
{
    const int BK = 64, LD = D + 8;   // +8 bf16 of padding: rows land on different banks
    const int TILE = 64 * (D + 8);
    __shared__ __align__(16) bf16 KsStatic[PIPE ? 8 : 64 * (D + 8)];
    __shared__ __align__(16) bf16 VsStatic[PIPE ? 8 : 64 * (D + 8)];
    extern __shared__ __align__(16) unsigned char dynSmem[];
    bf16* KsBase = PIPE ? (bf16*)dynSmem : KsStatic;
    bf16* VsBase = PIPE ? (bf16*)dynSmem + 2 * TILE : VsStatic;
    int seq = tiles[2 * blockIdx.x], q0 = tiles[2 * blockIdx.x + 1];
    int h = blockIdx.y, kvh = h / (heads / kvHeads);
    int n = seqNew[seq], ctx = seqCtx[seq], start = seqStart[seq];
    int kvLen = ctx + n;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int width = (heads + 2 * kvHeads) * D;
    int r0 = q0 + warp * 16 + g, r1 = r0 + 8;          // chunk-relative rows this thread owns
    bool v0 = r0 < n, v1 = r1 < n;
    int qp0 = ctx + (v0 ? r0 : n - 1), qp1 = ctx + (v1 ? r1 : n - 1);   // absolute positions (clamped for padding rows)

    // Q fragments for the warp's 16 rows, all of D.
    u32 qa[D / 16][4];
    const bf16* q0p = qkv + (long long)(start + r0) * width + h * D;
    const bf16* q1p = qkv + (long long)(start + r1) * width + h * D;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++)
    {
        qa[kk][0] = v0 ? *(const u32*)(q0p + kk * 16 + t * 2) : 0u;
        qa[kk][1] = v1 ? *(const u32*)(q1p + kk * 16 + t * 2) : 0u;
        qa[kk][2] = v0 ? *(const u32*)(q0p + kk * 16 + 8 + t * 2) : 0u;
        qa[kk][3] = v1 ? *(const u32*)(q1p + kk * 16 + 8 + t * 2) : 0u;
    }
    float o[D / 8][4];
#pragma unroll
    for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;

    int kvEnd = min(ctx + q0 + 64, kvLen);
    int tilesK = (kvEnd + BK - 1) / BK;
    const int* pages = blockTable + (long long)seq * maxPages;
    auto issue = [&](int kt, int buf) {
        for (int i = threadIdx.x; i < BK * (D / 8); i += blockDim.x)
        {
            int r = i / (D / 8), c = i % (D / 8);
            int kp = kt * BK + r;
            bool in = kp < kvLen;
            long long off = in ? (((long long)pages[kp / pageSize] * pageSize + kp % pageSize) * kvHeads + kvh) * D : 0;
            cp_async16(KsBase + buf * TILE + r * LD + c * 8, kcache + off + c * 8, in ? 16 : 0);
            cp_async16(VsBase + buf * TILE + r * LD + c * 8, vcache + off + c * 8, in ? 16 : 0);
        }
        cp_async_commit();
    };
    if (PIPE) issue(0, 0);
    for (int kt = 0; kt < tilesK; kt++)
    {
        const bf16* Ks;
        const bf16* Vs;
        if (PIPE)
        {
            // The buffer written next was last read in iteration kt-1, which every warp finished at its closing barrier.
            if (kt + 1 < tilesK) { issue(kt + 1, (kt + 1) & 1); cp_async_wait<1>(); }
            else cp_async_wait<0>();
            __syncthreads();
            Ks = KsBase + (kt & 1) * TILE; Vs = VsBase + (kt & 1) * TILE;
        }
        else
        {
            __syncthreads();
            for (int i = threadIdx.x; i < BK * (D / 8); i += blockDim.x)
            {
                int r = i / (D / 8), c = i % (D / 8);
                int kp = kt * BK + r;
                uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
                if (kp < kvLen)
                {
                    long long slot = (long long)pages[kp / pageSize] * pageSize + kp % pageSize;
                    long long off = (slot * kvHeads + kvh) * D;
                    kv = ((const uint4*)(kcache + off))[c];
                    vv = ((const uint4*)(vcache + off))[c];
                }
                *(uint4*)(KsBase + r * LD + c * 8) = kv;
                *(uint4*)(VsBase + r * LD + c * 8) = vv;
            }
            __syncthreads();
            Ks = KsBase; Vs = VsBase;
        }

        float s[8][4];
#pragma unroll
        for (int j = 0; j < 8; j++)
        {
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
            const bf16* kr = Ks + (j * 8 + g) * LD;
#pragma unroll
            for (int kk = 0; kk < D / 16; kk++)
                mma16816(s[j], qa[kk][0], qa[kk][1], qa[kk][2], qa[kk][3],
                         *(const u32*)(kr + kk * 16 + t * 2), *(const u32*)(kr + kk * 16 + 8 + t * 2));
        }
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int j = 0; j < 8; j++)
        {
            int kp = kt * BK + j * 8 + t * 2;
            s[j][0] = kp <= qp0 ? s[j][0] * scaleLog2 : -INFINITY;
            s[j][1] = kp + 1 <= qp0 ? s[j][1] * scaleLog2 : -INFINITY;
            s[j][2] = kp <= qp1 ? s[j][2] * scaleLog2 : -INFINITY;
            s[j][3] = kp + 1 <= qp1 ? s[j][3] * scaleLog2 : -INFINITY;
            mx0 = fmaxf(mx0, fmaxf(s[j][0], s[j][1]));
            mx1 = fmaxf(mx1, fmaxf(s[j][2], s[j][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1)); mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1)); mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        // A row whose keys in this tile are all masked keeps its running maximum (tile 0 always holds key 0, so mn is finite).
        float a0 = exp2f(m0 - mn0), a1 = exp2f(m1 - mn1);
        m0 = mn0; m1 = mn1;
        float ps0 = 0.f, ps1 = 0.f;
#pragma unroll
        for (int j = 0; j < 8; j++)
        {
            s[j][0] = exp2f(s[j][0] - mn0); s[j][1] = exp2f(s[j][1] - mn0);
            s[j][2] = exp2f(s[j][2] - mn1); s[j][3] = exp2f(s[j][3] - mn1);
            ps0 += s[j][0] + s[j][1]; ps1 += s[j][2] + s[j][3];
        }
        l0 = l0 * a0 + ps0; l1 = l1 * a1 + ps1;
#pragma unroll
        for (int i = 0; i < D / 8; i++) { o[i][0] *= a0; o[i][1] *= a0; o[i][2] *= a1; o[i][3] *= a1; }
#pragma unroll
        for (int kk = 0; kk < 4; kk++)
        {
            // The accumulator layout of two adjacent 8-key score tiles is exactly the A-operand layout of one 16-key step.
            u32 pa0 = pack2(s[2 * kk][0], s[2 * kk][1]), pa1 = pack2(s[2 * kk][2], s[2 * kk][3]);
            u32 pa2 = pack2(s[2 * kk + 1][0], s[2 * kk + 1][1]), pa3 = pack2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
            const bf16* vr0 = Vs + (kk * 16 + t * 2) * LD;
            const bf16* vr8 = Vs + (kk * 16 + 8 + t * 2) * LD;
#pragma unroll
            for (int nd = 0; nd < D / 8; nd++)
            {
                int c = nd * 8 + g;
                u32 b0 = (u32)vr0[c] | ((u32)vr0[LD + c] << 16);
                u32 b1 = (u32)vr8[c] | ((u32)vr8[LD + c] << 16);
                mma16816(o[nd], pa0, pa1, pa2, pa3, b0, b1);
            }
        }
        if (PIPE) __syncthreads();
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1); l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1); l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    float i0 = 1.f / l0, i1 = 1.f / l1;
    int ow = heads * D;
    bf16* o0 = out + (long long)(start + r0) * ow + h * D;
    bf16* o1 = out + (long long)(start + r1) * ow + h * D;
#pragma unroll
    for (int nd = 0; nd < D / 8; nd++)
    {
        if (v0) *(u32*)(o0 + nd * 8 + t * 2) = pack2(o[nd][0] * i0, o[nd][1] * i0);
        if (v1) *(u32*)(o1 + nd * 8 + t * 2) = pack2(o[nd][2] * i1, o[nd][3] * i1);
    }
}

#define PREFILL_ARGS const bf16* qkv, const bf16* kc, const bf16* vc, const int* bt, int maxPages, int pageSize, const int* tiles, \
    const int* seqStart, const int* seqNew, const int* seqCtx, bf16* out, int heads, int kvHeads, float scaleLog2
#define PREFILL_PASS qkv, kc, vc, bt, maxPages, pageSize, tiles, seqStart, seqNew, seqCtx, out, heads, kvHeads, scaleLog2
extern "C" __global__ void __launch_bounds__(128) prefill_attention_d128(PREFILL_ARGS) { prefill_attention_impl<128, false>(PREFILL_PASS); }
extern "C" __global__ void __launch_bounds__(128) prefill_attention_d64(PREFILL_ARGS) { prefill_attention_impl<64, false>(PREFILL_PASS); }
extern "C" __global__ void __launch_bounds__(128) prefill_attention_pipe_d128(PREFILL_ARGS) { prefill_attention_impl<128, true>(PREFILL_PASS); }
extern "C" __global__ void __launch_bounds__(128) prefill_attention_pipe_d64(PREFILL_ARGS) { prefill_attention_impl<64, true>(PREFILL_PASS); }

// ---------------------------------------------------------------- decode attention (split-K, flash-decoding style)
// Grid (decode sequence, kv head, split). A block reads its slice of the sequence's keys once for all the query heads
// that share the kv head (GQA), so K/V bytes are read exactly once per iteration. Partial results (unnormalised output,
// running max and sum, in log2 units) are merged by decode_combine. Each group of D/8 lanes owns one key (16-byte loads).
template <int D>
__device__ void decode_attention_impl(const bf16* qkv, const bf16* kcache, const bf16* vcache, const int* blockTable,
    int maxPages, int pageSize, const int* dseq, const int* seqStart, const int* seqCtx, float* partO, float* partML,
    int splits, int chunk, int heads, int kvHeads, float scaleLog2)
{
    const int LPK = D / 8, KPB = 128 / LPK;    // lanes per key, keys per block pass
    const int GMAX = 8;
    extern __shared__ float sm[];
    int G = heads / kvHeads;
    float* qs = sm;                  // [G][D]
    float* sc = sm + GMAX * D;       // [G][chunk]
    float* acc = sc + GMAX * chunk;  // [G][D]
    int di = blockIdx.x, kvh = blockIdx.y, sp = blockIdx.z;
    int seq = dseq[di];
    int kvLen = seqCtx[seq] + 1;
    int tok = seqStart[seq];
    int width = (heads + 2 * kvHeads) * D;
    int k0 = sp * chunk, k1 = min(k0 + chunk, kvLen);
    for (int i = threadIdx.x; i < G * D; i += blockDim.x)
    {
        qs[i] = b2f(qkv[(long long)tok * width + (kvh * G) * D + i]);
        acc[i] = 0.f;
    }
    __syncthreads();
    int sub = threadIdx.x % LPK, kid = threadIdx.x / LPK;
    const int* pages = blockTable + (long long)seq * maxPages;
    // QK: scores[g][k] in log2 units.
    // The loop bound is block-uniform so that every lane of a warp reaches the shuffles below.
    for (int it = k0; it < k1; it += KPB * 4)
    {
        int kb = it + kid;
        uint4 kv[4];
#pragma unroll
        for (int u = 0; u < 4; u++)
        {
            int kp = kb + u * KPB;
            kv[u] = make_uint4(0, 0, 0, 0);
            if (kp < k1)
            {
                long long slot = (long long)pages[kp / pageSize] * pageSize + kp % pageSize;
                kv[u] = ((const uint4*)(kcache + (slot * kvHeads + kvh) * D))[sub];
            }
        }
#pragma unroll
        for (int u = 0; u < 4; u++)
        {
            float f[8]; unpack8(kv[u], f);
            int kp = kb + u * KPB;
#pragma unroll
            for (int g = 0; g < GMAX; g++)
            {
                if (g >= G) break;
                const float* q = qs + g * D + sub * 8;
                float d = 0.f;
#pragma unroll
                for (int e = 0; e < 8; e++) d += q[e] * f[e];
#pragma unroll
                for (int s = LPK / 2; s > 0; s >>= 1) d += __shfl_xor_sync(0xffffffffu, d, s);
                if (sub == 0 && kp < k1) sc[g * chunk + (kp - k0)] = d * scaleLog2;
            }
        }
    }
    __syncthreads();
    // Softmax statistics per head: warp w handles heads w, w+4.
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int cnt = k1 - k0;
    long long pbase = ((long long)di * heads + kvh * G) * splits + sp;
    for (int g = warp; g < G; g += 4)
    {
        float m = -INFINITY;
        for (int i = lane; i < cnt; i += 32) m = fmaxf(m, sc[g * chunk + i]);
        for (int s = 16; s > 0; s >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, s));
        float l = 0.f;
        for (int i = lane; i < cnt; i += 32) { float p = exp2f(sc[g * chunk + i] - m); sc[g * chunk + i] = p; l += p; }
        for (int s = 16; s > 0; s >>= 1) l += __shfl_xor_sync(0xffffffffu, l, s);
        if (lane == 0) { partML[2 * (pbase + (long long)g * splits)] = m; partML[2 * (pbase + (long long)g * splits) + 1] = l; }
    }
    __syncthreads();
    // PV: each lane accumulates 8 dims for every head over its keys, then the key groups are summed in shared memory.
    float a[GMAX][8];
#pragma unroll
    for (int g = 0; g < GMAX; g++)
#pragma unroll
        for (int e = 0; e < 8; e++) a[g][e] = 0.f;
    for (int it = k0; it < k1; it += KPB * 4)
    {
        int kb = it + kid;
        uint4 vv[4];
#pragma unroll
        for (int u = 0; u < 4; u++)
        {
            int kp = kb + u * KPB;
            vv[u] = make_uint4(0, 0, 0, 0);
            if (kp < k1)
            {
                long long slot = (long long)pages[kp / pageSize] * pageSize + kp % pageSize;
                vv[u] = ((const uint4*)(vcache + (slot * kvHeads + kvh) * D))[sub];
            }
        }
#pragma unroll
        for (int u = 0; u < 4; u++)
        {
            int kp = kb + u * KPB;
            if (kp >= k1) break;
            float f[8]; unpack8(vv[u], f);
#pragma unroll
            for (int g = 0; g < GMAX; g++)
            {
                if (g >= G) break;
                float p = sc[g * chunk + (kp - k0)];
#pragma unroll
                for (int e = 0; e < 8; e++) a[g][e] += p * f[e];
            }
        }
    }
#pragma unroll
    for (int g = 0; g < GMAX; g++)
    {
        if (g >= G) break;
#pragma unroll
        for (int e = 0; e < 8; e++) atomicAdd(&acc[g * D + sub * 8 + e], a[g][e]);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < G * D; i += blockDim.x)
    {
        int g = i / D, d = i % D;
        partO[(pbase + (long long)g * splits) * D + d] = acc[i];
    }
}

#define DECODE_ARGS const bf16* qkv, const bf16* kc, const bf16* vc, const int* bt, int maxPages, int pageSize, const int* dseq, \
    const int* seqStart, const int* seqCtx, float* partO, float* partML, int splits, int chunk, int heads, int kvHeads, float scaleLog2
#define DECODE_PASS qkv, kc, vc, bt, maxPages, pageSize, dseq, seqStart, seqCtx, partO, partML, splits, chunk, heads, kvHeads, scaleLog2
extern "C" __global__ void __launch_bounds__(128) decode_attention_d128(DECODE_ARGS) { decode_attention_impl<128>(DECODE_PASS); }
extern "C" __global__ void __launch_bounds__(128) decode_attention_d64(DECODE_ARGS) { decode_attention_impl<64>(DECODE_PASS); }

// Single-pass variant (the default): each group of D/8 lanes walks its own keys with an online softmax, loading K and V
// of 4 keys at once (8 16-byte loads in flight per lane, no barrier between the QK and PV phases); the 128/(D/8) groups
// of the block are merged with a log-sum-exp reduction in shared memory at the end. G (query heads per kv head) is a
// template parameter so the accumulators are exactly G x 8 registers.
template <int D, int G>
__device__ void decode_attention_v2_impl(const bf16* qkv, const bf16* kcache, const bf16* vcache, const int* blockTable,
    int maxPages, int pageSize, const int* dseq, const int* seqStart, const int* seqCtx, float* partO, float* partML,
    int splits, int chunk, int heads, int kvHeads, float scaleLog2)
{
    const int LPK = D / 8, NG = 128 / LPK, U = 4;
    __shared__ float gm[NG][G], gl[NG][G];
    __shared__ float acc[G][D];
    int di = blockIdx.x, kvh = blockIdx.y, sp = blockIdx.z;
    int seq = dseq[di];
    int kvLen = seqCtx[seq] + 1;
    int tok = seqStart[seq];
    int width = (heads + 2 * kvHeads) * D;
    int k0 = sp * chunk, k1 = min(k0 + chunk, kvLen);
    int sub = threadIdx.x % LPK, grp = threadIdx.x / LPK;
    for (int i = threadIdx.x; i < G * D; i += blockDim.x) (&acc[0][0])[i] = 0.f;
    float q[G][8];
#pragma unroll
    for (int g = 0; g < G; g++)
    {
        uint4 v = ((const uint4*)(qkv + (long long)tok * width + (kvh * G + g) * D))[sub];
        unpack8(v, q[g]);
    }
    float m[G], l[G], a[G][8];
#pragma unroll
    for (int g = 0; g < G; g++) { m[g] = -INFINITY; l[g] = 0.f; for (int e = 0; e < 8; e++) a[g][e] = 0.f; }
    const int* pages = blockTable + (long long)seq * maxPages;
    // Keys are dealt to groups in runs of U so each group's loads are independent; the loop bound is block-uniform.
    for (int it = k0; it < k1; it += NG * U)
    {
        uint4 kv[U], vv[U];
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            int kp = it + grp * U + u;
            kv[u] = make_uint4(0, 0, 0, 0); vv[u] = make_uint4(0, 0, 0, 0);
            if (kp < k1)
            {
                long long off = (((long long)pages[kp / pageSize] * pageSize + kp % pageSize) * kvHeads + kvh) * D;
                kv[u] = ((const uint4*)(kcache + off))[sub];
                vv[u] = ((const uint4*)(vcache + off))[sub];
            }
        }
        float sc[U][G];
#pragma unroll
        for (int u = 0; u < U; u++)
        {
            float f[8]; unpack8(kv[u], f);
            bool valid = it + grp * U + u < k1;
#pragma unroll
            for (int g = 0; g < G; g++)
            {
                float d = 0.f;
#pragma unroll
                for (int e = 0; e < 8; e++) d += q[g][e] * f[e];
#pragma unroll
                for (int s = LPK / 2; s > 0; s >>= 1) d += __shfl_xor_sync(0xffffffffu, d, s);
                sc[u][g] = valid ? d * scaleLog2 : -INFINITY;
            }
        }
#pragma unroll
        for (int g = 0; g < G; g++)
        {
            float mx = m[g];
#pragma unroll
            for (int u = 0; u < U; u++) mx = fmaxf(mx, sc[u][g]);
            if (mx == -INFINITY) continue;           // no valid key yet for this group
            float alpha = exp2f(m[g] - mx);
            m[g] = mx;
            l[g] *= alpha;
#pragma unroll
            for (int e = 0; e < 8; e++) a[g][e] *= alpha;
#pragma unroll
            for (int u = 0; u < U; u++)
            {
                float p = exp2f(sc[u][g] - mx);
                l[g] += p;
                float f[8]; unpack8(vv[u], f);
#pragma unroll
                for (int e = 0; e < 8; e++) a[g][e] += p * f[e];
            }
        }
    }
    if (sub == 0)
#pragma unroll
        for (int g = 0; g < G; g++) { gm[grp][g] = m[g]; gl[grp][g] = l[g]; }
    __syncthreads();
    long long pbase = ((long long)di * heads + kvh * G) * splits + sp;
#pragma unroll
    for (int g = 0; g < G; g++)
    {
        float M = -INFINITY;
        for (int j = 0; j < NG; j++) M = fmaxf(M, gm[j][g]);
        if (M == -INFINITY) continue;                // empty split: l stays 0 and the combine skips it
        float w = m[g] == -INFINITY ? 0.f : exp2f(m[g] - M);
#pragma unroll
        for (int e = 0; e < 8; e++) atomicAdd(&acc[g][sub * 8 + e], a[g][e] * w);
        if (threadIdx.x == 0)
        {
            float L = 0.f;
            for (int j = 0; j < NG; j++) if (gm[j][g] != -INFINITY) L += gl[j][g] * exp2f(gm[j][g] - M);
            partML[2 * (pbase + (long long)g * splits)] = M;
            partML[2 * (pbase + (long long)g * splits) + 1] = L;
        }
    }
    if (threadIdx.x == 0 && k0 >= k1)
        for (int g = 0; g < G; g++) { partML[2 * (pbase + (long long)g * splits)] = -INFINITY; partML[2 * (pbase + (long long)g * splits) + 1] = 0.f; }
    __syncthreads();
    for (int i = threadIdx.x; i < G * D; i += blockDim.x)
        partO[(pbase + (long long)(i / D) * splits) * D + i % D] = (&acc[0][0])[i];
}

#define DECODE_V2(d, g) extern "C" __global__ void __launch_bounds__(128) decode_attention_v2_d##d##_g##g(DECODE_ARGS) \
    { decode_attention_v2_impl<d, g>(DECODE_PASS); }
DECODE_V2(128, 1) DECODE_V2(128, 2) DECODE_V2(128, 4) DECODE_V2(128, 8)
DECODE_V2(64, 1) DECODE_V2(64, 2) DECODE_V2(64, 4) DECODE_V2(64, 8)

// Work-list variant (the default): the keys of every decode sequence are cut into chunks of about the same length
// (host: DecodeWork), and each block takes (chunk, kv head) items from a flat list until none is left, so the cost
// follows the sum of the contexts, not the longest one, and the grid does not depend on them (one CUDA graph serves
// any contexts of a batch size). work = [total chunks, chunkStart[0..decodes]]: decode di owns chunks
// [chunkStart[di], chunkStart[di+1]); its kvLen keys are split evenly over them. Partial rows are (chunk, head).
// One work-list item: item w is chunk cg of the decode whose chunks hold it, for item head kvh; its keys are [k0, k1).
struct DecodeItem { int cg, kvh, seq, tok, k0, k1; };
__device__ __forceinline__ DecodeItem decode_item(int w, int kvHeads, const int* cstart, int decodes, const int* dseq,
    const int* seqStart, const int* seqCtx)
{
    DecodeItem it;
    it.cg = w / kvHeads;
    it.kvh = w - it.cg * kvHeads;
    int lo = 0, hi = decodes - 1;                     // the decode whose chunks hold cg: last di with cstart[di] <= cg
    while (lo < hi) { int mid = (lo + hi + 1) >> 1; if (cstart[mid] <= it.cg) lo = mid; else hi = mid - 1; }
    int j = it.cg - cstart[lo], nch = cstart[lo + 1] - cstart[lo];
    it.seq = dseq[lo];
    int kvLen = seqCtx[it.seq] + 1;
    it.tok = seqStart[it.seq];
    int len = (kvLen + nch - 1) / nch;
    it.k0 = j * len;
    it.k1 = min(it.k0 + len, kvLen);
    return it;
}

template <int D, int G, int U>
__device__ void decode_attention_wl_impl(const bf16* qkv, const bf16* kcache, const bf16* vcache, const int* blockTable,
    int maxPages, int pageSize, const int* dseq, const int* seqStart, const int* seqCtx, const int* work, int decodes,
    float* partO, float* partML, int heads, int kvHeads, int kvShare, float scaleLog2)
{
    // kvHeads counts item heads: each cache kv head is served by kvShare items of G query heads (a group of 8 query
    // heads runs as two items of 4, the second reading the chunk from L2), so kvh / kvShare is the cache's kv head.
    const int LPK = D / 8, NG = 128 / LPK;
    __shared__ float gm[NG][G], gl[NG][G];
    __shared__ float acc[G][D];
    const int chunks = work[0];
    const int* cstart = work + 1;
    const int items = chunks * kvHeads;
    const int cacheKv = kvHeads / kvShare;
    const int width = (heads + 2 * cacheKv) * D;
    const int sub = threadIdx.x % LPK, grp = threadIdx.x / LPK;
    for (int w = blockIdx.x; w < items; w += gridDim.x)
    {
        const DecodeItem it = decode_item(w, kvHeads, cstart, decodes, dseq, seqStart, seqCtx);
        const int cg = it.cg, kvh = it.kvh, seq = it.seq, tok = it.tok, k0 = it.k0, k1 = it.k1;
        for (int i = threadIdx.x; i < G * D; i += blockDim.x) (&acc[0][0])[i] = 0.f;
        float q[G][8];
#pragma unroll
        for (int g = 0; g < G; g++)
        {
            uint4 v = ((const uint4*)(qkv + (long long)tok * width + (kvh * G + g) * D))[sub];
            unpack8(v, q[g]);
        }
        float m[G], l[G], a[G][8];
#pragma unroll
        for (int g = 0; g < G; g++) { m[g] = -INFINITY; l[g] = 0.f; for (int e = 0; e < 8; e++) a[g][e] = 0.f; }
        const int* pages = blockTable + (long long)seq * maxPages;
        for (int it = k0; it < k1; it += NG * U)
        {
            uint4 kv[U], vv[U];
#pragma unroll
            for (int u = 0; u < U; u++)
            {
                int kp = it + grp * U + u;
                kv[u] = make_uint4(0, 0, 0, 0); vv[u] = make_uint4(0, 0, 0, 0);
                if (kp < k1)
                {
                    long long off = (((long long)pages[kp / pageSize] * pageSize + kp % pageSize) * cacheKv + kvh / kvShare) * D;
                    kv[u] = ((const uint4*)(kcache + off))[sub];
                    vv[u] = ((const uint4*)(vcache + off))[sub];
                }
            }
            float sc[U][G];
#pragma unroll
            for (int u = 0; u < U; u++)
            {
                float f[8]; unpack8(kv[u], f);
                bool valid = it + grp * U + u < k1;
#pragma unroll
                for (int g = 0; g < G; g++)
                {
                    float d = 0.f;
#pragma unroll
                    for (int e = 0; e < 8; e++) d += q[g][e] * f[e];
#pragma unroll
                    for (int s = LPK / 2; s > 0; s >>= 1) d += __shfl_xor_sync(0xffffffffu, d, s);
                    sc[u][g] = valid ? d * scaleLog2 : -INFINITY;
                }
            }
#pragma unroll
            for (int g = 0; g < G; g++)
            {
                float mx = m[g];
#pragma unroll
                for (int u = 0; u < U; u++) mx = fmaxf(mx, sc[u][g]);
                if (mx == -INFINITY) continue;
                float alpha = exp2f(m[g] - mx);
                m[g] = mx;
                l[g] *= alpha;
#pragma unroll
                for (int e = 0; e < 8; e++) a[g][e] *= alpha;
#pragma unroll
                for (int u = 0; u < U; u++)
                {
                    float p = exp2f(sc[u][g] - mx);
                    l[g] += p;
                    float f[8]; unpack8(vv[u], f);
#pragma unroll
                    for (int e = 0; e < 8; e++) a[g][e] += p * f[e];
                }
            }
        }
        if (sub == 0)
#pragma unroll
            for (int g = 0; g < G; g++) { gm[grp][g] = m[g]; gl[grp][g] = l[g]; }
        __syncthreads();
        long long pbase = (long long)cg * heads + kvh * G;
#pragma unroll
        for (int g = 0; g < G; g++)
        {
            float M = -INFINITY;
            for (int jj = 0; jj < NG; jj++) M = fmaxf(M, gm[jj][g]);
            float L = 0.f;
            if (M != -INFINITY)
            {
                float wgt = m[g] == -INFINITY ? 0.f : exp2f(m[g] - M);
#pragma unroll
                for (int e = 0; e < 8; e++) atomicAdd(&acc[g][sub * 8 + e], a[g][e] * wgt);
                for (int jj = 0; jj < NG; jj++) if (gm[jj][g] != -INFINITY) L += gl[jj][g] * exp2f(gm[jj][g] - M);
            }
            if (threadIdx.x == 0) { partML[2 * (pbase + g)] = M; partML[2 * (pbase + g) + 1] = L; }
        }
        __syncthreads();
        for (int i = threadIdx.x; i < G * D; i += blockDim.x)
            partO[(pbase + i / D) * D + i % D] = (&acc[0][0])[i];
        __syncthreads();                               // acc and gm are reused by the block's next item
    }
}

#define DECODE_WL_ARGS const bf16* qkv, const bf16* kc, const bf16* vc, const int* bt, int maxPages, int pageSize, const int* dseq, \
    const int* seqStart, const int* seqCtx, const int* work, int decodes, float* partO, float* partML, int heads, int kvHeads, int kvShare, float scaleLog2
#define DECODE_WL_PASS qkv, kc, vc, bt, maxPages, pageSize, dseq, seqStart, seqCtx, work, decodes, partO, partML, heads, kvHeads, kvShare, scaleLog2
// Four blocks per SM (128 registers) for G <= 4, as the v2 kernel gets without asking; G = 8 would spill at that bound.
// U: keys each lane group loads per step. 8 (twice the bytes in flight, 245 registers) measured 20-25 % slower than 4.
#define DECODE_WL(d, g, u, minBlocks) extern "C" __global__ void __launch_bounds__(128, minBlocks) decode_attention_wl_d##d##_g##g##_u##u(DECODE_WL_ARGS) \
    { decode_attention_wl_impl<d, g, u>(DECODE_WL_PASS); }
DECODE_WL(128, 1, 4, 4) DECODE_WL(128, 2, 4, 4) DECODE_WL(128, 4, 4, 4) DECODE_WL(128, 8, 4, 1)
DECODE_WL(64, 1, 4, 4) DECODE_WL(64, 2, 4, 4) DECODE_WL(64, 4, 4, 4) DECODE_WL(64, 8, 4, 1)

// ---------------------------------------------------------------- decode attention on tensor cores (work list)
// The work list's (chunk, kv head) items as above, each item's query heads (up to 8) the rows of mma.sync m16n8k16
// tiles (rows G..15 are zero): S = QKᵀ over 16 keys per warp step, online softmax in registers, O += PV. Each K/V
// byte is read once for all the kv head's query heads, and the per-key work is 2 x D/8 matrix instructions per 16
// keys instead of a shuffle-reduced dot product per key and head, so the step is a K/V stream.
// Layouts, chosen so every lane loads contiguous 16-byte runs and no shuffles build fragments:
// - S: the k (dim) order inside the dot product is free, so lane (g = lane/4, t = lane%4) supplies dims
//   [t·D/4, (t+1)·D/4) of key g (n-tile 0) and key 8+g (n-tile 1): word 2ks and 2ks+1 of that run are its B
//   registers of k-step ks, and the query's same run gives the A registers;
// - PV: the output dims' order is free too: n-tile j, column n is dim n·D/8 + j, so the lane loads dims
//   [g·D/8, (g+1)·D/8) of keys 2t, 2t+1, 2t+8, 2t+9 and pairs keys with a byte permute; the S accumulators of a
//   row are the A fragment of P as they stand (keys 2t, 2t+1 from n-tile 0, 8+2t, 9+2t from n-tile 1).
// Accumulator rows 8..15 are never read: the helper passes zeros for them and drops what comes back.
__device__ __forceinline__ void mma_rows8(float& d0, float& d1, u32 a0, u32 a2, u32 b0, u32 b1)
{
    float x, y;
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%10,%11};\n"
        : "+f"(d0), "+f"(d1), "=f"(x), "=f"(y)
        : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1), "f"(0.f), "f"(0.f));
}

template <int D>
struct DecodeTcStep
{
    uint4 k[2][D / 32];      // keys base + g and base + 8 + g, dims [t·D/4, (t+1)·D/4)
    uint4 v[4][D / 64];      // keys base + 2t, 2t+1, 2t+8, 2t+9, dims [g·D/8, (g+1)·D/8)
};

template <int D>
__device__ __forceinline__ void decode_tc_load(DecodeTcStep<D>& st, const bf16* kcache, const bf16* vcache, const int* pages,
    int pageSize, int cacheKv, int kvHead, int base, int k1, int g, int t)
{
#pragma unroll
    for (int n = 0; n < 2; n++)
    {
        int kp = base + 8 * n + g;
        if (kp < k1)
        {
            long long off = (((long long)pages[kp / pageSize] * pageSize + kp % pageSize) * cacheKv + kvHead) * D + t * (D / 4);
#pragma unroll
            for (int i = 0; i < D / 32; i++) st.k[n][i] = ((const uint4*)(kcache + off))[i];
        }
        else
#pragma unroll
            for (int i = 0; i < D / 32; i++) st.k[n][i] = make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int n = 0; n < 4; n++)
    {
        int kp = base + 2 * t + (n & 1) + 8 * (n >> 1);
        if (kp < k1)
        {
            long long off = (((long long)pages[kp / pageSize] * pageSize + kp % pageSize) * cacheKv + kvHead) * D + g * (D / 8);
#pragma unroll
            for (int i = 0; i < D / 64; i++) st.v[n][i] = ((const uint4*)(vcache + off))[i];
        }
        else
#pragma unroll
            for (int i = 0; i < D / 64; i++) st.v[n][i] = make_uint4(0, 0, 0, 0);
    }
}

__device__ __forceinline__ u32 word_of(const uint4& v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

// One warp step over keys [base, base + 16): scores, online softmax, O += PV. Row g of the tile is query head g.
template <int D>
__device__ __forceinline__ void decode_tc_step(const DecodeTcStep<D>& st, const u32 (&qa)[D / 8], float (&o)[D / 8][2],
    float& m, float& l, int base, int k1, int t, float scaleLog2)
{
    float s[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
#pragma unroll
    for (int ks = 0; ks < D / 16; ks++)
#pragma unroll
        for (int n = 0; n < 2; n++)
            mma_rows8(s[n][0], s[n][1], qa[2 * ks], qa[2 * ks + 1],
                      word_of(st.k[n][(2 * ks) / 4], (2 * ks) % 4), word_of(st.k[n][(2 * ks + 1) / 4], (2 * ks + 1) % 4));
    float mx = -INFINITY;
#pragma unroll
    for (int n = 0; n < 2; n++)
#pragma unroll
        for (int e = 0; e < 2; e++)
        {
            s[n][e] = base + 8 * n + 2 * t + e < k1 ? s[n][e] * scaleLog2 : -INFINITY;
            mx = fmaxf(mx, s[n][e]);
        }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    float mn = fmaxf(m, mx);                       // finite: the step holds at least one key
    float alpha = exp2f(m - mn);
    m = mn;
    float p[2][2];
#pragma unroll
    for (int n = 0; n < 2; n++)
#pragma unroll
        for (int e = 0; e < 2; e++) p[n][e] = exp2f(s[n][e] - mn);
    l = l * alpha + p[0][0] + p[0][1] + p[1][0] + p[1][1];
    u32 pa0 = pack2(p[0][0], p[0][1]), pa2 = pack2(p[1][0], p[1][1]);
#pragma unroll
    for (int j = 0; j < D / 8; j++)
    {
        o[j][0] *= alpha; o[j][1] *= alpha;
        // Column g of n-tile j is dim g·D/8 + j: half (j % 2) of word j / 2 of each key's run, paired across keys.
        const u32 sel = (j & 1) ? 0x7632u : 0x5410u;
        const int w = j / 2;
        u32 b0 = __byte_perm(word_of(st.v[0][w / 4], w % 4), word_of(st.v[1][w / 4], w % 4), sel);
        u32 b1 = __byte_perm(word_of(st.v[2][w / 4], w % 4), word_of(st.v[3][w / 4], w % 4), sel);
        mma_rows8(o[j][0], o[j][1], pa0, pa2, b0, b1);
    }
}

template <int D>
__device__ void decode_attention_tc_impl(const bf16* qkv, const bf16* kcache, const bf16* vcache, const int* blockTable,
    int maxPages, int pageSize, const int* dseq, const int* seqStart, const int* seqCtx, const int* work, int decodes,
    float* partO, float* partML, int heads, int kvHeads, int kvShare, float scaleLog2)
{
    const int WARPS = 4;
    __shared__ float wm[WARPS][8], wl[WARPS][8];
    __shared__ float wo[WARPS][8][D];
    const int G = heads / kvHeads;                  // query heads per item, at most 8
    const int chunks = work[0];
    const int* cstart = work + 1;
    const int items = chunks * kvHeads;
    const int cacheKv = kvHeads / kvShare;
    const int width = (heads + 2 * cacheKv) * D;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    for (int w = blockIdx.x; w < items; w += gridDim.x)
    {
        const DecodeItem it = decode_item(w, kvHeads, cstart, decodes, dseq, seqStart, seqCtx);
        const int cg = it.cg, kvh = it.kvh, seq = it.seq, tok = it.tok, k0 = it.k0, k1 = it.k1;
        const int* pages = blockTable + (long long)seq * maxPages;
        const int cacheHead = kvh / kvShare;

        u32 qa[D / 8];                                // row g's dims [t·D/4, (t+1)·D/4), zero for rows past the group
#pragma unroll
        for (int i = 0; i < D / 32; i++)
        {
            uint4 v = g < G ? ((const uint4*)(qkv + (long long)tok * width + (kvh * G + g) * D + t * (D / 4)))[i] : make_uint4(0, 0, 0, 0);
            qa[4 * i] = v.x; qa[4 * i + 1] = v.y; qa[4 * i + 2] = v.z; qa[4 * i + 3] = v.w;
        }
        float o[D / 8][2];
#pragma unroll
        for (int i = 0; i < D / 8; i++) { o[i][0] = 0.f; o[i][1] = 0.f; }
        float m = -INFINITY, l = 0.f;
        // Warps take 16-key steps in turn; the next step's K/V are in flight while this one computes.
        DecodeTcStep<D> a, b;
        int base = k0 + 16 * warp;
        if (base < k1) decode_tc_load<D>(a, kcache, vcache, pages, pageSize, cacheKv, cacheHead, base, k1, g, t);
        while (base < k1)
        {
            int next = base + 16 * WARPS;
            if (next < k1) decode_tc_load<D>(b, kcache, vcache, pages, pageSize, cacheKv, cacheHead, next, k1, g, t);
            decode_tc_step<D>(a, qa, o, m, l, base, k1, t, scaleLog2);
            base = next;
            if (base >= k1) break;
            next = base + 16 * WARPS;
            if (next < k1) decode_tc_load<D>(a, kcache, vcache, pages, pageSize, cacheKv, cacheHead, next, k1, g, t);
            decode_tc_step<D>(b, qa, o, m, l, base, k1, t, scaleLog2);
            base = next;
        }
        l += __shfl_xor_sync(0xffffffffu, l, 1);
        l += __shfl_xor_sync(0xffffffffu, l, 2);
        if (g < G)
        {
            if (t == 0) { wm[warp][g] = m; wl[warp][g] = l; }
#pragma unroll
            for (int i = 0; i < D / 8; i++)
            {
                wo[warp][g][(2 * t) * (D / 8) + i] = o[i][0];
                wo[warp][g][(2 * t + 1) * (D / 8) + i] = o[i][1];
            }
        }
        __syncthreads();
        long long pbase = (long long)cg * heads + kvh * G;
        for (int i = threadIdx.x; i < G * D; i += blockDim.x)
        {
            int r = i / D, d = i % D;
            float M = -INFINITY;
#pragma unroll
            for (int q = 0; q < WARPS; q++) M = fmaxf(M, wm[q][r]);
            float acc = 0.f, L = 0.f;
            if (M != -INFINITY)
#pragma unroll
                for (int q = 0; q < WARPS; q++)
                    if (wm[q][r] != -INFINITY) { float f = exp2f(wm[q][r] - M); acc += f * wo[q][r][d]; L += f * wl[q][r]; }
            partO[(pbase + r) * D + d] = acc;
            if (d == 0) { partML[2 * (pbase + r)] = M; partML[2 * (pbase + r) + 1] = L; }
        }
        __syncthreads();                               // wm, wl and wo are reused by the block's next item
    }
}

// Two blocks per SM: two steps of K/V in flight per lane (about 64 registers each) beside the output accumulators.
extern "C" __global__ void __launch_bounds__(128, 2) decode_attention_tc_d128(DECODE_WL_ARGS) { decode_attention_tc_impl<128>(DECODE_WL_PASS); }
extern "C" __global__ void __launch_bounds__(128, 2) decode_attention_tc_d64(DECODE_WL_ARGS) { decode_attention_tc_impl<64>(DECODE_WL_PASS); }

// Merges the work-list partials: grid (decode sequence, head), one thread per output dim; decode di's rows are its
// chunks [chunkStart[di], chunkStart[di+1]).
extern "C" __global__ void decode_combine_wl(const float* partO, const float* partML, const int* dseq, const int* seqStart,
    const int* work, bf16* out, int heads, int headDim)
{
    int di = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
    const int* cstart = work + 1;
    int c0 = cstart[di], c1 = cstart[di + 1];
    float M = -INFINITY;
    for (int c = c0; c < c1; c++) { long long r = (long long)c * heads + h; if (partML[2 * r + 1] > 0.f) M = fmaxf(M, partML[2 * r]); }
    float acc = 0.f, L = 0.f;
    for (int c = c0; c < c1; c++)
    {
        long long r = (long long)c * heads + h;
        float l = partML[2 * r + 1];
        if (l <= 0.f) continue;
        float w = exp2f(partML[2 * r] - M);
        L += w * l;
        if (d < headDim) acc += w * partO[r * headDim + d];
    }
    if (d < headDim) out[(long long)seqStart[dseq[di]] * heads * headDim + h * headDim + d] = f2b(acc / L);
}

// Merges the split partials of decode attention: grid (decode sequence, head), one thread per output dim.
extern "C" __global__ void decode_combine(const float* partO, const float* partML, const int* dseq, const int* seqStart,
    bf16* out, int splits, int heads, int headDim)
{
    int di = blockIdx.x, h = blockIdx.y, d = threadIdx.x;
    long long base = ((long long)di * heads + h) * splits;
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) { float l = partML[2 * (base + s) + 1]; if (l > 0.f) M = fmaxf(M, partML[2 * (base + s)]); }
    float acc = 0.f, L = 0.f;
    for (int s = 0; s < splits; s++)
    {
        float l = partML[2 * (base + s) + 1];
        if (l <= 0.f) continue;                        // empty split (past this sequence's context)
        float w = exp2f(partML[2 * (base + s)] - M);
        L += w * l;
        if (d < headDim) acc += w * partO[(base + s) * headDim + d];
    }
    if (d < headDim) out[(long long)seqStart[dseq[di]] * heads * headDim + h * headDim + d] = f2b(acc / L);
}

// ---------------------------------------------------------------- greedy sampling over logits all-gathered from tensor-parallel ranks
// gathered is rank-major [tp][rows][vocabShard]; global id g lives on rank g / vocabShard. Ids at or past vocab
// (padding of the last rank's slice) are ignored. Ties go to the lowest id, as in argmax_rows.
extern "C" __global__ void argmax_gathered(const bf16* gathered, int rows, int vocabShard, int tp, int vocab, int* out)
{
    __shared__ float bv[32]; __shared__ int bi[32];
    int row = blockIdx.x;
    float best = -3.0e38f; int idx = 0x7fffffff;
    for (int g = threadIdx.x; g < vocab; g += blockDim.x)
    {
        int rank = g / vocabShard, local = g - rank * vocabShard;
        float v = b2f(gathered[((long long)rank * rows + row) * vocabShard + local]);
        if (v > best) { best = v; idx = g; }
    }
    for (int s = 16; s > 0; s >>= 1)
    {
        float ov = __shfl_xor_sync(0xffffffffu, best, s); int oi = __shfl_xor_sync(0xffffffffu, idx, s);
        if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
    if ((threadIdx.x & 31) == 0) { bv[threadIdx.x >> 5] = best; bi[threadIdx.x >> 5] = idx; }
    __syncthreads();
    if (threadIdx.x < 32)
    {
        int nw = blockDim.x / 32;
        best = threadIdx.x < nw ? bv[threadIdx.x] : -3.0e38f; idx = threadIdx.x < nw ? bi[threadIdx.x] : 0x7fffffff;
        for (int s = 16; s > 0; s >>= 1)
        {
            float ov = __shfl_xor_sync(0xffffffffu, best, s); int oi = __shfl_xor_sync(0xffffffffu, idx, s);
            if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
        }
        if (threadIdx.x == 0) out[row] = idx;
    }
}
