using System.Runtime.InteropServices;
using static Joules.Cuda.CudnnEnum;

namespace Joules.Cuda;

/// <summary>
/// One cuDNN backend operation graph, built op by op (tensors, pointwise, reductions, matmuls), planned by cuDNN's
/// heuristics and executed with a fixed set of device pointers. Owns every descriptor it made, and the host memory of
/// its by-value scalars.
/// </summary>
public sealed unsafe class CudnnGraph : IDisposable
{
    private readonly List<nint> _descriptors = new();
    private readonly List<nint> _ops = new();
    private readonly List<nint> _hostScalars = new();
    private readonly List<(long Uid, nint Address)> _bindings = new();
    private readonly Dictionary<ulong, nint> _variantPacks = new();
    private nint _plan;

    /// <summary>The workspace the plan needs, in bytes (valid after <see cref="Plan"/>).</summary>
    public long WorkspaceBytes { get; private set; }
    /// <summary>Which engine the heuristics chose, as cuDNN numbers it ("engine 2"), with how many configurations were offered.</summary>
    public string EngineLabel { get; private set; } = "";

    private nint Create(int type)
    {
        nint d;
        Cudnn.Check(CudnnNative.cudnnBackendCreateDescriptor(type, &d), "cudnnBackendCreateDescriptor");
        _descriptors.Add(d);
        return d;
    }

    private static void Set(nint d, int name, int type, long count, void* values, string what) =>
        Cudnn.Check(CudnnNative.cudnnBackendSetAttribute(d, name, type, count, values), $"cudnnBackendSetAttribute({what})");

    private static void SetDescriptor(nint d, int name, nint value, string what) => Set(d, name, TypeBackendDescriptor, 1, &value, what);

    private static void SetInt64(nint d, int name, long value, string what) => Set(d, name, TypeInt64, 1, &value, what);

    private static void SetDataType(nint d, int name, int value, string what) => Set(d, name, TypeDataType, 1, &value, what);

    private static void Finalize(nint d, string what) => Cudnn.Check(CudnnNative.cudnnBackendFinalize(d), $"cudnnBackendFinalize({what})");

    /// <summary>A tensor; a virtual one lives only inside the fused kernel, a by-value one is a host scalar fixed when the graph is built.</summary>
    public nint Tensor(long uid, int dataType, long[] dims, long[] strides, bool isVirtual = false, nint raggedOffset = 0) =>
        Tensor(uid, dataType, dims, strides, isVirtual, raggedOffset, isByValue: false);

    private nint Tensor(long uid, int dataType, long[] dims, long[] strides, bool isVirtual, nint raggedOffset, bool isByValue)
    {
        if (dims.Length != strides.Length) throw new ArgumentException("dims and strides differ in rank");
        var d = Create(TensorDescriptor);
        SetDataType(d, TensorDataType, dataType, "tensor data type");
        fixed (long* p = dims) Set(d, TensorDimensions, TypeInt64, dims.Length, p, "tensor dims");
        fixed (long* p = strides) Set(d, TensorStrides, TypeInt64, strides.Length, p, "tensor strides");
        SetInt64(d, TensorUniqueId, uid, "tensor uid");
        SetInt64(d, TensorByteAlignment, 16, "tensor alignment");
        // A by-value scalar sets only its by-value flag, as the graphs recorded from PyTorch do.
        byte flag = 1;
        if (isByValue) Set(d, TensorIsByValue, TypeBoolean, 1, &flag, "tensor by value");
        else
        {
            flag = isVirtual ? (byte)1 : (byte)0;
            Set(d, TensorIsVirtual, TypeBoolean, 1, &flag, "tensor virtual");
        }
        if (raggedOffset != 0) SetDescriptor(d, TensorRaggedOffset, raggedOffset, "tensor ragged offset");
        Finalize(d, $"tensor {uid}");
        return d;
    }

    /// <summary>A 1x1x1x1 float passed by value (a scale, or the value masked scores take).</summary>
    public nint Scalar(long uid, float value)
    {
        var d = Tensor(uid, DataFloat, [1, 1, 1, 1], [1, 1, 1, 1], isVirtual: false, raggedOffset: 0, isByValue: true);
        var host = (nint)NativeMemory.AlignedAlloc(16, 16);
        *(float*)host = value;
        _hostScalars.Add(host);
        _bindings.Add((uid, host));
        return d;
    }

    /// <summary>Binds a graph input or output to device memory (every non-virtual, non-scalar tensor needs one before <see cref="Execute"/>).</summary>
    public void Bind(long uid, ulong devicePointer) => _bindings.Add((uid, (nint)devicePointer));

    /// <summary>Y = mode(X[, B[, T]]) elementwise (broadcasting size-1 dims), computed in <paramref name="mathPrecision"/>.</summary>
    public void Pointwise(int mode, int mathPrecision, nint x, nint y, nint b = 0, nint t = 0, long? axis = null)
    {
        var pw = Create(PointwiseDescriptor);
        Set(pw, PointwiseMode, TypePointwiseMode, 1, &mode, "pointwise mode");
        SetDataType(pw, PointwiseMathPrec, mathPrecision, "pointwise precision");
        if (axis is { } a) SetInt64(pw, PointwiseAxis, a, "pointwise axis");
        Finalize(pw, $"pointwise mode {mode}");
        var op = Create(OperationPointwiseDescriptor);
        SetDescriptor(op, OperationPointwisePwDescriptor, pw, "pointwise op");
        SetDescriptor(op, OperationPointwiseX, x, "pointwise x");
        if (b != 0) SetDescriptor(op, OperationPointwiseB, b, "pointwise b");
        if (t != 0) SetDescriptor(op, OperationPointwiseT, t, "pointwise t");
        SetDescriptor(op, OperationPointwiseY, y, "pointwise y");
        float one = 1f;
        Set(op, OperationPointwiseAlpha1, TypeFloat, 1, &one, "pointwise alpha1");
        Set(op, OperationPointwiseAlpha2, TypeFloat, 1, &one, "pointwise alpha2");
        Finalize(op, $"pointwise op mode {mode}");
        _ops.Add(op);
    }

    /// <summary>Y = reduce(X) over the dims where Y has size 1, in float.</summary>
    public void Reduction(int op, nint x, nint y)
    {
        var r = Create(ReductionDescriptor);
        SetDataType(r, ReductionCompType, DataFloat, "reduction precision");
        Set(r, ReductionOperator, TypeReductionOperator, 1, &op, "reduction operator");
        byte no = 0;
        Set(r, ReductionIsDeterministic, TypeBoolean, 1, &no, "reduction determinism");
        Finalize(r, $"reduction {op}");
        var o = Create(OperationReductionDescriptor);
        SetDescriptor(o, OperationReductionDesc, r, "reduction op");
        SetDescriptor(o, OperationReductionX, x, "reduction x");
        SetDescriptor(o, OperationReductionY, y, "reduction y");
        Finalize(o, $"reduction op {op}");
        _ops.Add(o);
    }

    /// <summary>C = A·B batched over the leading dims, in float; the overrides are per-batch row, column and inner lengths (int32 tensors), padded rows and columns set to <paramref name="padding"/>.</summary>
    public void Matmul(nint a, nint b, nint c, nint mOverride = 0, nint nOverride = 0, nint kOverride = 0, double? padding = null)
    {
        var m = Create(MatmulDescriptor);
        SetDataType(m, MatmulCompType, DataFloat, "matmul precision");
        if (padding is { } pad)
        {
            // cuDNN documents the padding value as a double; older builds took a float.
            if (CudnnNative.cudnnBackendSetAttribute(m, MatmulPaddingValue, TypeDouble, 1, &pad) != 0)
            {
                float f = (float)pad;
                Set(m, MatmulPaddingValue, TypeFloat, 1, &f, "matmul padding");
            }
        }
        Finalize(m, "matmul");
        var o = Create(OperationMatmulDescriptor);
        SetDescriptor(o, OperationMatmulA, a, "matmul a");
        SetDescriptor(o, OperationMatmulB, b, "matmul b");
        SetDescriptor(o, OperationMatmulC, c, "matmul c");
        SetDescriptor(o, OperationMatmulDesc, m, "matmul desc");
        if (mOverride != 0) SetDescriptor(o, OperationMatmulMOverride, mOverride, "matmul m override");
        if (nOverride != 0) SetDescriptor(o, OperationMatmulNOverride, nOverride, "matmul n override");
        if (kOverride != 0) SetDescriptor(o, OperationMatmulKOverride, kOverride, "matmul k override");
        Finalize(o, "matmul op");
        _ops.Add(o);
    }

    /// <summary>Y = the keys or values of each sequence gathered from a paged cache (<paramref name="container"/>: pages x heads x page size x head size; <paramref name="pageTable"/>: the sequences' page ids; <paramref name="lengths"/>: their key counts).</summary>
    public void PagedCacheLoad(nint container, nint pageTable, nint lengths, nint y)
    {
        var o = Create(OperationPagedCacheLoadDescriptor);
        SetDescriptor(o, PagedCacheLoadContainer, container, "paged load container");
        SetDescriptor(o, PagedCacheLoadPageTable, pageTable, "paged load page table");
        SetDescriptor(o, PagedCacheLoadSequence, lengths, "paged load lengths");
        SetDescriptor(o, PagedCacheLoadY, y, "paged load y");
        Finalize(o, "paged cache load");
        _ops.Add(o);
    }

    /// <summary>Finalizes the graph and keeps the first configuration cuDNN's heuristics (mode A) rank first that finalizes into a plan; throws with every configuration's failure when none does.</summary>
    public void Plan(CudnnHandle handle)
    {
        var graph = Create(OperationGraphDescriptor);
        var ops = _ops.ToArray();
        fixed (nint* p = ops) Set(graph, OperationGraphOps, TypeBackendDescriptor, ops.Length, p, "graph ops");
        var h = handle.Handle;
        Set(graph, OperationGraphHandle, TypeHandle, 1, &h, "graph handle");
        Finalize(graph, "operation graph");
        var heur = Create(EngineHeurDescriptor);
        SetDescriptor(heur, EngineHeurOperationGraph, graph, "heuristics graph");
        int mode = HeurModeA;
        Set(heur, EngineHeurMode, TypeHeurMode, 1, &mode, "heuristics mode");
        Finalize(heur, "heuristics");
        long count = 0;
        Cudnn.Check(CudnnNative.cudnnBackendGetAttribute(heur, EngineHeurResults, TypeBackendDescriptor, 0, &count, null), "cudnnBackendGetAttribute(heuristics count)");
        if (count == 0) throw new CudaException("cuDNN", "heuristics", 0, "no engine configuration supports this graph");
        var cfgs = new nint[count];
        for (var i = 0; i < count; i++) cfgs[i] = Create(EngineCfgDescriptor);
        fixed (nint* p = cfgs)
            Cudnn.Check(CudnnNative.cudnnBackendGetAttribute(heur, EngineHeurResults, TypeBackendDescriptor, count, &count, p), "cudnnBackendGetAttribute(heuristics results)");
        var failures = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var plan = Create(ExecutionPlanDescriptor);
            SetDescriptor(plan, ExecutionPlanEngineConfig, cfgs[i], "plan engine config");
            int st = CudnnNative.cudnnBackendFinalize(plan);
            if (st != 0) { failures.Add($"configuration {i}: {Cudnn.StatusName(st)}"); continue; }
            long ws = 0, n = 0;
            Cudnn.Check(CudnnNative.cudnnBackendGetAttribute(plan, ExecutionPlanWorkspaceSize, TypeInt64, 1, &n, &ws), "cudnnBackendGetAttribute(workspace)");
            _plan = plan;
            WorkspaceBytes = ws;
            EngineLabel = $"engine {EngineIndex(cfgs[i])} (heuristics choice {i + 1} of {count})";
            return;
        }
        throw new CudaException("cuDNN", "cudnnBackendFinalize(execution plan)", 0, $"none of {count} engine configurations finalized: {string.Join("; ", failures)}");
    }

    private long EngineIndex(nint cfg)
    {
        var engine = Create(EngineDescriptor);
        long n = 0, index = -1;
        if (CudnnNative.cudnnBackendGetAttribute(cfg, EngineCfgEngine, TypeBackendDescriptor, 1, &n, &engine) != 0) return -1;
        return CudnnNative.cudnnBackendGetAttribute(engine, EngineGlobalIndex, TypeInt64, 1, &n, &index) == 0 ? index : -1;
    }

    /// <summary>Enqueues the plan on the handle's stream with the bound pointers and <paramref name="workspace"/> (at least <see cref="WorkspaceBytes"/>); safe inside CUDA-graph capture.</summary>
    /// <param name="handle">The handle whose stream runs it.</param>
    /// <param name="workspace">Device scratch of at least <see cref="WorkspaceBytes"/>.</param>
    /// <param name="key">Identifies <paramref name="perCall"/> (e.g. a layer's cache address): the variant pack built for a key is reused.</param>
    /// <param name="perCall">Pointers bound for this call only (a layer's K and V cache), besides those bound with <see cref="Bind"/>.</param>
    public void Execute(CudnnHandle handle, ulong workspace, ulong key = 0, params (long Uid, ulong Pointer)[] perCall)
    {
        if (_plan == 0) throw new InvalidOperationException("Plan the graph before executing it");
        if (!_variantPacks.TryGetValue(key, out var vp))
        {
            vp = Create(VariantPackDescriptor);
            var all = _bindings.Concat(perCall.Select(b => (b.Uid, (nint)b.Pointer))).ToArray();
            var uids = all.Select(b => b.Item1).ToArray();
            var ptrs = all.Select(b => b.Item2).ToArray();
            fixed (long* u = uids) Set(vp, VariantPackUniqueIds, TypeInt64, uids.Length, u, "variant pack uids");
            fixed (nint* p = ptrs) Set(vp, VariantPackDataPointers, TypeVoidPtr, ptrs.Length, p, "variant pack pointers");
            var ws = (nint)workspace;
            Set(vp, VariantPackWorkspace, TypeVoidPtr, 1, &ws, "variant pack workspace");
            Finalize(vp, "variant pack");
            _variantPacks[key] = vp;
        }
        Cudnn.Check(CudnnNative.cudnnBackendExecute(handle.Handle, _plan, vp), "cudnnBackendExecute");
    }

    public void Dispose()
    {
        for (var i = _descriptors.Count - 1; i >= 0; i--) CudnnNative.cudnnBackendDestroyDescriptor(_descriptors[i]);
        _descriptors.Clear();
        foreach (var p in _hostScalars) NativeMemory.AlignedFree((void*)p);
        _hostScalars.Clear();
        _variantPacks.Clear();
        _plan = 0;
    }
}
