using System.Runtime.InteropServices;

namespace Joules.Cuda;

/// <summary>Raw cuBLASLt entry points.</summary>
public static unsafe class CublasLtNative
{
    private const string L = NativeLibraries.CublasLt;
    [DllImport(L)] public static extern int cublasLtCreate(nint* handle);
    [DllImport(L)] public static extern int cublasLtDestroy(nint handle);
    [DllImport(L)] public static extern nuint cublasLtGetVersion();
    [DllImport(L)] public static extern int cublasLtMatmulDescCreate(nint* desc, int computeType, int scaleType);
    [DllImport(L)] public static extern int cublasLtMatmulDescDestroy(nint desc);
    [DllImport(L)] public static extern int cublasLtMatmulDescSetAttribute(nint desc, int attr, void* buf, nuint size);
    [DllImport(L)] public static extern int cublasLtMatrixLayoutCreate(nint* layout, int type, ulong rows, ulong cols, long ld);
    [DllImport(L)] public static extern int cublasLtMatrixLayoutDestroy(nint layout);
    [DllImport(L)] public static extern int cublasLtMatmulPreferenceCreate(nint* pref);
    [DllImport(L)] public static extern int cublasLtMatmulPreferenceDestroy(nint pref);
    [DllImport(L)] public static extern int cublasLtMatmulPreferenceSetAttribute(nint pref, int attr, void* buf, nuint size);
    [DllImport(L)] public static extern int cublasLtMatmulAlgoGetHeuristic(nint handle, nint op, nint a, nint b, nint c, nint d, nint pref,
        int requested, HeuristicResult* results, int* returned);
    [DllImport(L)] public static extern int cublasLtMatmul(nint handle, nint op, void* alpha, ulong a, nint adesc, ulong b, nint bdesc,
        void* beta, ulong c, nint cdesc, ulong d, nint ddesc, MatmulAlgo* algo, ulong workspace, nuint workspaceBytes, nint stream);

    /// <summary>cublasLtMatmulAlgo_t: 8 opaque 64-bit words.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    public struct MatmulAlgo { public fixed ulong Data[8]; }

    /// <summary>cublasLtMatmulHeuristicResult_t (96 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct HeuristicResult
    {
        public MatmulAlgo Algo;
        public nuint WorkspaceSize;
        public int State;
        public float WavesCount;
        public fixed int Reserved[4];
    }
}

/// <summary>cublasStatus_t names.</summary>
public static class CublasStatus
{
    public static string Name(int s) => s switch
    {
        0 => "CUBLAS_STATUS_SUCCESS",
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"CUBLAS_STATUS_{s}",
    };

    public static void Check(int s, string function)
    {
        if (s != 0) throw new CudaException("cuBLASLt", function, s, Name(s));
    }
}

/// <summary>Row-major bf16 GEMMs through cuBLASLt with fp32 accumulation: Y[T,N] (+)= X[T,K] · W[N,K]ᵀ, the layout of a linear layer.</summary>
public sealed unsafe class CublasLtGemm : IDisposable
{
    private const int CudaR16BF = 14, CudaR32F = 0, ComputeType32F = 68;
    private const int DescTransA = 3, DescTransB = 4;
    private const int PrefMaxWorkspace = 1;
    private nint _handle;
    private readonly DeviceBuffer _workspace;
    private readonly Dictionary<(int T, int N, int K, bool Acc), Plan> _plans = new();

    private sealed class Plan
    {
        public nint Desc, A, B, C;
        public CublasLtNative.MatmulAlgo Algo;
    }

    public CublasLtGemm(long workspaceBytes = 64L << 20)
    {
        nint h;
        CublasStatus.Check(CublasLtNative.cublasLtCreate(&h), "cublasLtCreate");
        _handle = h;
        _workspace = new DeviceBuffer(workspaceBytes);
    }

    public static ulong Version() => CublasLtNative.cublasLtGetVersion();

    /// <summary>Y = X·Wᵀ (or Y += X·Wᵀ when <paramref name="accumulate"/>): X is [t×k], W is [n×k], Y is [t×n], all row-major bf16.</summary>
    public void Run(CudaStream stream, ulong x, ulong w, ulong y, int t, int n, int k, bool accumulate = false)
    {
        if (t == 0) return;
        var plan = GetPlan(t, n, k, accumulate);
        float alpha = 1f, beta = accumulate ? 1f : 0f;
        var algo = plan.Algo;
        // Column-major view: Yᵀ[n×t] = (W as col-major k×n)ᵀ · (X as col-major k×t).
        CublasStatus.Check(CublasLtNative.cublasLtMatmul(_handle, plan.Desc, &alpha, w, plan.A, x, plan.B, &beta, y, plan.C, y, plan.C,
            &algo, _workspace.Ptr, (nuint)_workspace.Bytes, stream.Handle), $"cublasLtMatmul(t={t}, n={n}, k={k})");
    }

    private Plan GetPlan(int t, int n, int k, bool acc)
    {
        if (_plans.TryGetValue((t, n, k, acc), out var p)) return p;
        p = new Plan();
        nint desc, a, b, c, pref;
        CublasStatus.Check(CublasLtNative.cublasLtMatmulDescCreate(&desc, ComputeType32F, CudaR32F), "cublasLtMatmulDescCreate");
        int opT = 1, opN = 0;
        CublasStatus.Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, DescTransA, &opT, sizeof(int)), "cublasLtMatmulDescSetAttribute(TRANSA)");
        CublasStatus.Check(CublasLtNative.cublasLtMatmulDescSetAttribute(desc, DescTransB, &opN, sizeof(int)), "cublasLtMatmulDescSetAttribute(TRANSB)");
        CublasStatus.Check(CublasLtNative.cublasLtMatrixLayoutCreate(&a, CudaR16BF, (ulong)k, (ulong)n, k), "cublasLtMatrixLayoutCreate(A)");
        CublasStatus.Check(CublasLtNative.cublasLtMatrixLayoutCreate(&b, CudaR16BF, (ulong)k, (ulong)t, k), "cublasLtMatrixLayoutCreate(B)");
        CublasStatus.Check(CublasLtNative.cublasLtMatrixLayoutCreate(&c, CudaR16BF, (ulong)n, (ulong)t, n), "cublasLtMatrixLayoutCreate(C)");
        CublasStatus.Check(CublasLtNative.cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
        ulong ws = (ulong)_workspace.Bytes;
        CublasStatus.Check(CublasLtNative.cublasLtMatmulPreferenceSetAttribute(pref, PrefMaxWorkspace, &ws, sizeof(ulong)), "cublasLtMatmulPreferenceSetAttribute");
        CublasLtNative.HeuristicResult r;
        int returned;
        CublasStatus.Check(CublasLtNative.cublasLtMatmulAlgoGetHeuristic(_handle, desc, a, b, c, c, pref, 1, &r, &returned), $"cublasLtMatmulAlgoGetHeuristic(t={t}, n={n}, k={k})");
        CublasLtNative.cublasLtMatmulPreferenceDestroy(pref);
        if (returned == 0) throw new CudaException("cuBLASLt", "cublasLtMatmulAlgoGetHeuristic", 15, $"no algorithm for t={t} n={n} k={k}");
        p.Desc = desc; p.A = a; p.B = b; p.C = c; p.Algo = r.Algo;
        _plans[(t, n, k, acc)] = p;
        return p;
    }

    public void Dispose()
    {
        foreach (var p in _plans.Values)
        {
            CublasLtNative.cublasLtMatrixLayoutDestroy(p.A);
            CublasLtNative.cublasLtMatrixLayoutDestroy(p.B);
            CublasLtNative.cublasLtMatrixLayoutDestroy(p.C);
            CublasLtNative.cublasLtMatmulDescDestroy(p.Desc);
        }
        _plans.Clear();
        _workspace.Dispose();
        if (_handle != 0) CublasLtNative.cublasLtDestroy(_handle);
        _handle = 0;
    }
}
