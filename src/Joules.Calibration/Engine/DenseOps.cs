using Joules.Cuda;

namespace Joules.Calibration.Engine;

/// <summary>The dense projections of an iteration: cuBLASLt GEMMs, or at decode-sized token counts the streaming GEMV kernels with the RMSNorm or SwiGLU before them fused in.</summary>
/// <remarks>
/// At a few tokens a projection is a read of its weights: cuBLASLt's tiles leave part of the bandwidth unused there, and
/// the separate norm and SwiGLU kernels add launches that a batch-1 decode step (10 kernels a layer) feels. The GEMV
/// path computes the same values in float32 without rounding the normalised or activated input to bf16 first, so it
/// differs from the GEMM path by one bf16 rounding of the input.
/// </remarks>
internal sealed class DenseOps(EngineKernels kernels, CublasLtGemm gemm, int gemvMaxTokens)
{
    /// <summary>Whether <paramref name="tokens"/> rows of length <paramref name="k"/> take the streaming path.</summary>
    public bool Streams(int tokens, int k) => Streams(tokens, k, gemvMaxTokens);

    /// <summary>Whether <paramref name="tokens"/> rows of length <paramref name="k"/> take the streaming path when iterations of up to <paramref name="gemvMaxTokens"/> tokens may.</summary>
    public static bool Streams(int tokens, int k, int gemvMaxTokens) =>
        tokens >= 1 && tokens <= Math.Min(gemvMaxTokens, EngineKernels.GemvMaxRows) && k % 8 == 0;

    /// <summary>y = (RMSNorm(x[rows?[r] ?? r]) · norm) · Wᵀ; the GEMM path writes the normalised rows to <paramref name="scratch"/> first.</summary>
    public void NormProject(CudaStream s, ulong x, ulong rows, ulong norm, float eps, ulong scratch, ulong w, ulong y, int tokens, int n, int k)
    {
        if (Streams(tokens, k)) { kernels.Gemv(s, GemvInput.RmsNorm, x, rows, norm, eps, w, y, tokens, n, k, accumulate: false); return; }
        kernels.RmsNorm(s, x, rows, norm, scratch, tokens, k, eps);
        gemm.Run(s, scratch, w, y, tokens, n, k);
    }

    /// <summary>y (+)= x · Wᵀ.</summary>
    public void Project(CudaStream s, ulong x, ulong w, ulong y, int tokens, int n, int k, bool accumulate)
    {
        if (Streams(tokens, k)) kernels.Gemv(s, GemvInput.Plain, x, 0, 0, 0f, w, y, tokens, n, k, accumulate);
        else gemm.Run(s, x, w, y, tokens, n, k, accumulate);
    }

    /// <summary>y (+)= (silu(gate) · up) · Wᵀ for rows [gate | up] of width 2·<paramref name="ffn"/>; the GEMM path writes the activations to <paramref name="scratch"/> first.</summary>
    public void SwiGluProject(CudaStream s, ulong gateUp, ulong scratch, ulong w, ulong y, int tokens, int n, int ffn, bool accumulate)
    {
        if (Streams(tokens, ffn)) { kernels.Gemv(s, GemvInput.SwiGlu, gateUp, 0, 0, 0f, w, y, tokens, n, ffn, accumulate); return; }
        kernels.SiluMul(s, gateUp, scratch, tokens, ffn);
        gemm.Run(s, scratch, w, y, tokens, n, ffn, accumulate);
    }
}
