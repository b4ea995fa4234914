using System.Runtime.InteropServices;

namespace Joules.Cuda;

/// <summary>Raw cuDNN 9 entry points: the handle and the backend (graph) API, plain C like cuBLASLt's.</summary>
public static unsafe class CudnnNative
{
    private const string L = NativeLibraries.Cudnn;
    [DllImport(L)] public static extern nuint cudnnGetVersion();
    [DllImport(L)] public static extern int cudnnCreate(nint* handle);
    [DllImport(L)] public static extern int cudnnDestroy(nint handle);
    [DllImport(L)] public static extern int cudnnSetStream(nint handle, nint stream);
    [DllImport(L)] public static extern nint cudnnGetErrorString(int status);
    [DllImport(L)] public static extern void cudnnGetLastErrorString(byte* message, nuint maxSize);
    [DllImport(L)] public static extern int cudnnBackendCreateDescriptor(int type, nint* descriptor);
    [DllImport(L)] public static extern int cudnnBackendDestroyDescriptor(nint descriptor);
    [DllImport(L)] public static extern int cudnnBackendFinalize(nint descriptor);
    [DllImport(L)] public static extern int cudnnBackendSetAttribute(nint descriptor, int name, int type, long count, void* values);
    [DllImport(L)] public static extern int cudnnBackendGetAttribute(nint descriptor, int name, int type, long requested, long* count, void* values);
    [DllImport(L)] public static extern int cudnnBackendExecute(nint handle, nint plan, nint variantPack);
}

/// <summary>The numbers of cuDNN 9's backend enums that Joules uses (cudnn_graph_v9.h; the values are fixed across 9.x releases).</summary>
public static class CudnnEnum
{
    // cudnnBackendDescriptorType_t
    public const int PointwiseDescriptor = 0, EngineDescriptor = 2, EngineCfgDescriptor = 3, EngineHeurDescriptor = 4, ExecutionPlanDescriptor = 5,
        OperationPointwiseDescriptor = 13, OperationGraphDescriptor = 15, VariantPackDescriptor = 16, TensorDescriptor = 17, MatmulDescriptor = 18,
        OperationMatmulDescriptor = 19, ReductionDescriptor = 21, OperationReductionDescriptor = 22, OperationPagedCacheLoadDescriptor = 35;
    // cudnnBackendAttributeType_t
    public const int TypeHandle = 0, TypeDataType = 1, TypeBoolean = 2, TypeInt64 = 3, TypeFloat = 4, TypeDouble = 5, TypeVoidPtr = 6, TypeHeurMode = 8,
        TypePointwiseMode = 14, TypeBackendDescriptor = 15, TypeReductionOperator = 18;
    // cudnnBackendAttributeName_t
    public const int PointwiseMode = 0, PointwiseMathPrec = 1, PointwiseAxis = 9,
        EngineHeurMode = 200, EngineHeurOperationGraph = 201, EngineHeurResults = 202,
        EngineCfgEngine = 300, ExecutionPlanEngineConfig = 401, ExecutionPlanWorkspaceSize = 402,
        OperationPointwisePwDescriptor = 750, OperationPointwiseX = 751, OperationPointwiseB = 752, OperationPointwiseY = 753,
        OperationPointwiseAlpha1 = 754, OperationPointwiseAlpha2 = 755, OperationPointwiseT = 758,
        OperationGraphHandle = 800, OperationGraphOps = 801,
        TensorByteAlignment = 900, TensorDataType = 901, TensorDimensions = 902, TensorStrides = 903, TensorUniqueId = 906, TensorIsVirtual = 907,
        TensorIsByValue = 908, TensorRaggedOffset = 913,
        VariantPackUniqueIds = 1000, VariantPackDataPointers = 1001, VariantPackWorkspace = 1003,
        EngineGlobalIndex = 1301,
        MatmulCompType = 1500, MatmulPaddingValue = 1503,
        OperationMatmulA = 1520, OperationMatmulB = 1521, OperationMatmulC = 1522, OperationMatmulDesc = 1523,
        OperationMatmulMOverride = 1525, OperationMatmulNOverride = 1526, OperationMatmulKOverride = 1527,
        ReductionOperator = 1600, ReductionCompType = 1601, ReductionIsDeterministic = 1602,
        OperationReductionX = 1610, OperationReductionY = 1611, OperationReductionDesc = 1612,
        PagedCacheLoadContainer = 1950, PagedCacheLoadY = 1951, PagedCacheLoadSequence = 1952, PagedCacheLoadPageTable = 1953;
    // cudnnDataType_t
    public const int DataFloat = 0, DataInt32 = 4, DataBfloat16 = 9, DataInt64 = 10, DataBoolean = 11;
    // cudnnPointwiseMode_t
    public const int PwAdd = 0, PwMul = 1, PwDiv = 6, PwSub = 9, PwExp = 13, PwLog = 15, PwCmpGe = 303, PwCmpLt = 304, PwLogicalAnd = 400,
        PwGenIndex = 501, PwBinarySelect = 601;
    // cudnnReduceTensorOp_t
    public const int ReduceAdd = 0, ReduceMax = 3;
    /// <summary>CUDNN_HEUR_MODE_A: the heuristics the frontend uses by default.</summary>
    public const int HeurModeA = 3;
}

/// <summary>Checks cuDNN status codes and turns failures into <see cref="CudaException"/> with cuDNN's own message.</summary>
public static unsafe class Cudnn
{
    /// <summary>Whether cuDNN can be loaded here; <paramref name="why"/> says why not.</summary>
    public static bool IsAvailable(out string? why)
    {
        try
        {
            NativeLibraries.Load(NativeLibraries.Cudnn);
            _ = CudnnNative.cudnnGetVersion();
            why = null;
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            why = e.Message;
            return false;
        }
    }

    /// <summary>The loaded library's version as cuDNN spells it (91900 → "9.19.0").</summary>
    public static string Version()
    {
        var v = (long)CudnnNative.cudnnGetVersion();
        return $"{v / 10000}.{v % 10000 / 100}.{v % 100}";
    }

    /// <summary>cuDNN's own name for a status code ("CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN", ...).</summary>
    public static string StatusName(int status) => Marshal.PtrToStringAnsi(CudnnNative.cudnnGetErrorString(status)) ?? $"status {status}";

    /// <summary>Throws for a non-zero status, naming the function, cuDNN's status string and its last error message.</summary>
    public static void Check(int status, string function)
    {
        if (status == 0) return;
        var name = StatusName(status);
        var buf = stackalloc byte[1024];
        buf[0] = 0;
        CudnnNative.cudnnGetLastErrorString(buf, 1024);
        var last = Marshal.PtrToStringAnsi((nint)buf);
        throw new CudaException("cuDNN", function, status, string.IsNullOrWhiteSpace(last) ? name : $"{name}: {last.Trim()}");
    }
}

/// <summary>A cuDNN handle bound to one stream (cuDNN enqueues its kernels there, so they are captured with the engine's CUDA graphs).</summary>
public sealed unsafe class CudnnHandle : IDisposable
{
    public CudnnHandle(CudaStream stream)
    {
        nint h;
        Cudnn.Check(CudnnNative.cudnnCreate(&h), "cudnnCreate");
        Handle = h;
        Cudnn.Check(CudnnNative.cudnnSetStream(h, stream.Handle), "cudnnSetStream");
    }

    public nint Handle { get; private set; }

    public void Dispose()
    {
        if (Handle == 0) return;
        CudnnNative.cudnnDestroy(Handle);
        Handle = 0;
    }
}
