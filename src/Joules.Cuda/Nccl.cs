using System.Runtime.InteropServices;

namespace Joules.Cuda;

/// <summary>Raw NCCL entry points (nccl.h of NCCL 2; communicators and streams are opaque pointers).</summary>
public static unsafe class NcclNative
{
    private const string L = NativeLibraries.Nccl;
    [DllImport(L)] public static extern int ncclGetVersion(int* version);
    [DllImport(L)] public static extern int ncclGetUniqueId(NcclUniqueId* uniqueId);
    [DllImport(L)] public static extern int ncclCommInitRank(nint* comm, int nranks, NcclUniqueId commId, int rank);
    [DllImport(L)] public static extern int ncclCommInitAll(nint* comms, int ndev, int* devlist);
    [DllImport(L)] public static extern int ncclCommDestroy(nint comm);
    [DllImport(L)] public static extern int ncclCommAbort(nint comm);
    [DllImport(L)] public static extern int ncclCommCount(nint comm, int* count);
    [DllImport(L)] public static extern int ncclCommCuDevice(nint comm, int* device);
    [DllImport(L)] public static extern int ncclCommUserRank(nint comm, int* rank);
    [DllImport(L)] public static extern byte* ncclGetErrorString(int result);
    [DllImport(L)] public static extern byte* ncclGetLastError(nint comm);
    [DllImport(L)] public static extern int ncclAllReduce(ulong sendbuff, ulong recvbuff, nuint count, int datatype, int op, nint comm, nint stream);
    [DllImport(L)] public static extern int ncclAllGather(ulong sendbuff, ulong recvbuff, nuint sendcount, int datatype, nint comm, nint stream);
    [DllImport(L)] public static extern int ncclGroupStart();
    [DllImport(L)] public static extern int ncclGroupEnd();

    /// <summary>ncclDataType_t ncclBfloat16.</summary>
    public const int Bfloat16 = 9;
    /// <summary>ncclRedOp_t ncclSum.</summary>
    public const int Sum = 0;
}

/// <summary>ncclUniqueId: 128 opaque bytes that every rank of one communicator must share.</summary>
[StructLayout(LayoutKind.Sequential, Size = 128)]
public unsafe struct NcclUniqueId { public fixed byte Internal[128]; }

/// <summary>NCCL settings Joules fixes for every process that loads NCCL.</summary>
/// <remarks>
/// NVLink multicast (NCCL's NVLS algorithms, built on cuMulticastCreate) stays off: on a shared host a program
/// that uses it can take every GPU of the host out of service. The variable is set in the C environment before
/// NCCL loads (NCCL reads it when it initialises) and checked again before each communicator is created.
/// Joules never calls cuMulticastCreate itself (the driver bindings do not include it).
/// </remarks>
public static class NcclSettings
{
    /// <summary>The variable that turns NCCL's NVLink multicast (NVLS) algorithms off when "0".</summary>
    public const string MulticastVariable = "NCCL_NVLS_ENABLE";

    /// <summary>Sets <see cref="MulticastVariable"/>=0 in the process environment (whatever it was).</summary>
    public static void Apply() => NativeEnvironment.Set(MulticastVariable, "0");

    /// <summary>Throws unless the environment NCCL reads has NVLink multicast off.</summary>
    public static void RequireMulticastOff()
    {
        var v = NativeEnvironment.Get(MulticastVariable);
        if (v != "0")
            throw new InvalidOperationException($"{MulticastVariable} is '{v ?? "(unset)"}' in the process environment, not 0: refusing to start NCCL with NVLink multicast possible");
    }
}

/// <summary>Checks NCCL results and turns failures into <see cref="CudaException"/>s with NCCL's own error text.</summary>
public static unsafe class NcclStatus
{
    /// <summary>ncclResult_t names.</summary>
    public static string Name(int r) => r switch
    {
        0 => "ncclSuccess",
        1 => "ncclUnhandledCudaError",
        2 => "ncclSystemError",
        3 => "ncclInternalError",
        4 => "ncclInvalidArgument",
        5 => "ncclInvalidUsage",
        6 => "ncclRemoteError",
        7 => "ncclInProgress",
        _ => $"ncclResult {r}",
    };

    /// <summary>Throws when <paramref name="result"/> is not ncclSuccess; <paramref name="comm"/> (when known) adds NCCL's last error message.</summary>
    public static void Check(int result, string function, nint comm = 0)
    {
        if (result == 0) return;
        var text = Name(result);
        try
        {
            var s = Marshal.PtrToStringUTF8((nint)NcclNative.ncclGetErrorString(result));
            if (!string.IsNullOrEmpty(s)) text += ": " + s;
            var last = Marshal.PtrToStringUTF8((nint)NcclNative.ncclGetLastError(comm));
            if (!string.IsNullOrWhiteSpace(last)) text += " (" + last.Trim() + ")";
        }
        catch (EntryPointNotFoundException) { }
        throw new CudaException("NCCL", function, result, text);
    }

    /// <summary>"2.27.3" from ncclGetVersion's integer (major*10000 + minor*100 + patch since 2.9; major*1000 + minor*100 + patch before).</summary>
    public static string VersionText(int code) => code >= 10000
        ? $"{code / 10000}.{code / 100 % 100}.{code % 100}"
        : $"{code / 1000}.{code / 100 % 10}.{code % 100}";
}

/// <summary>The NCCL library: its version, and whether it can be loaded here.</summary>
public static unsafe class Nccl
{
    /// <summary>NCCL's version, e.g. "2.27.3".</summary>
    public static string Version()
    {
        int v;
        NcclStatus.Check(NcclNative.ncclGetVersion(&v), "ncclGetVersion");
        return NcclStatus.VersionText(v);
    }

    /// <summary>Whether NCCL can be loaded; <paramref name="why"/> says why not.</summary>
    public static bool IsAvailable(out string? why)
    {
        try
        {
            NativeLibraries.Load(NativeLibraries.Nccl);
            why = null;
            return true;
        }
        catch (DllNotFoundException e) { why = e.Message; return false; }
    }

    /// <summary>Opens an NCCL group: collectives issued for several communicators from one thread until <see cref="IDisposable.Dispose"/> are launched together (ncclGroupStart/End).</summary>
    public static IDisposable Group()
    {
        NcclStatus.Check(NcclNative.ncclGroupStart(), "ncclGroupStart");
        return new GroupScope();
    }

    private sealed class GroupScope : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            NcclStatus.Check(NcclNative.ncclGroupEnd(), "ncclGroupEnd");
        }
    }
}

/// <summary>One rank of an NCCL communicator: bf16 sum all-reduce and all-gather on a stream of that rank's GPU.</summary>
public sealed unsafe class NcclCommunicator : IDisposable
{
    private nint _comm;

    private NcclCommunicator(nint comm, int rank, int ranks, int device)
    {
        _comm = comm;
        Rank = rank;
        Ranks = ranks;
        Device = device;
    }

    public int Rank { get; }
    public int Ranks { get; }
    /// <summary>CUDA device ordinal of this rank.</summary>
    public int Device { get; }
    public nint Handle => _comm;

    /// <summary>Creates one communicator over <paramref name="devices"/> (CUDA ordinals) in this process, rank i on devices[i] (ncclCommInitAll).</summary>
    public static NcclCommunicator[] InitAll(IReadOnlyList<int> devices)
    {
        if (devices.Count == 0) throw new ArgumentException("an NCCL communicator needs at least one device");
        if (devices.Distinct().Count() != devices.Count) throw new ArgumentException($"devices must be distinct: {string.Join(",", devices)}");
        NativeLibraries.Load(NativeLibraries.Nccl);
        NcclSettings.RequireMulticastOff();
        var comms = new nint[devices.Count];
        var list = devices.ToArray();
        fixed (nint* pc = comms)
        fixed (int* pd = list)
            NcclStatus.Check(NcclNative.ncclCommInitAll(pc, list.Length, pd), $"ncclCommInitAll({list.Length} GPUs)");
        var result = new NcclCommunicator[list.Length];
        for (var i = 0; i < list.Length; i++)
        {
            int rank, count, dev;
            NcclStatus.Check(NcclNative.ncclCommUserRank(comms[i], &rank), "ncclCommUserRank", comms[i]);
            NcclStatus.Check(NcclNative.ncclCommCount(comms[i], &count), "ncclCommCount", comms[i]);
            NcclStatus.Check(NcclNative.ncclCommCuDevice(comms[i], &dev), "ncclCommCuDevice", comms[i]);
            result[i] = new NcclCommunicator(comms[i], rank, count, dev);
        }
        return result;
    }

    /// <summary>In-place or out-of-place sum all-reduce of <paramref name="count"/> bf16 elements, enqueued on <paramref name="stream"/>.</summary>
    public void AllReduceSumBf16(ulong send, ulong recv, long count, CudaStream stream) =>
        NcclStatus.Check(NcclNative.ncclAllReduce(send, recv, (nuint)count, NcclNative.Bfloat16, NcclNative.Sum, _comm, stream.Handle), $"ncclAllReduce({count} bf16)", _comm);

    /// <summary>All-gather of <paramref name="countPerRank"/> bf16 elements from each rank into <paramref name="recv"/> (rank-major), enqueued on <paramref name="stream"/>.</summary>
    public void AllGatherBf16(ulong send, ulong recv, long countPerRank, CudaStream stream) =>
        NcclStatus.Check(NcclNative.ncclAllGather(send, recv, (nuint)countPerRank, NcclNative.Bfloat16, _comm, stream.Handle), $"ncclAllGather({countPerRank} bf16)", _comm);

    /// <summary>Aborts outstanding operations (ncclCommAbort): GPU work waiting on a failed peer returns instead of hanging. The communicator is unusable afterwards.</summary>
    public void Abort()
    {
        var c = Interlocked.Exchange(ref _comm, 0);
        if (c != 0) NcclNative.ncclCommAbort(c);
    }

    public void Dispose()
    {
        var c = Interlocked.Exchange(ref _comm, 0);
        if (c != 0) NcclNative.ncclCommDestroy(c);
    }

    /// <summary>Destroys every rank's communicator, each on a thread of its own: destroying may wait for the peers, so one thread destroying them in turn could hang.</summary>
    public static void DestroyAll(IReadOnlyList<NcclCommunicator> comms)
    {
        if (comms.Count == 1) { comms[0].Dispose(); return; }
        var threads = comms.Select(c => new Thread(c.Dispose) { IsBackground = true, Name = $"joules-nccl-destroy-{c.Rank}" }).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
    }
}
