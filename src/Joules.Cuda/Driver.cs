using System.Runtime.InteropServices;

namespace Joules.Cuda;

/// <summary>Raw CUDA driver API entry points (blittable signatures; the versioned symbol names that cuda.h's macros select).</summary>
public static unsafe class CuNative
{
    private const string L = NativeLibraries.Cuda;
    [DllImport(L)] public static extern int cuInit(uint flags);
    [DllImport(L)] public static extern int cuDriverGetVersion(int* version);
    [DllImport(L)] public static extern int cuDeviceGetCount(int* count);
    [DllImport(L)] public static extern int cuDeviceGet(int* device, int ordinal);
    [DllImport(L)] public static extern int cuDeviceGetName(byte* name, int len, int device);
    [DllImport(L)] public static extern int cuDeviceGetAttribute(int* value, int attribute, int device);
    [DllImport(L)] public static extern int cuDeviceTotalMem_v2(nuint* bytes, int device);
    [DllImport(L)] public static extern int cuDeviceGetUuid_v2(byte* uuid16, int device);
    [DllImport(L)] public static extern int cuDevicePrimaryCtxRetain(nint* ctx, int device);
    [DllImport(L)] public static extern int cuDevicePrimaryCtxRelease_v2(int device);
    [DllImport(L)] public static extern int cuCtxSetCurrent(nint ctx);
    [DllImport(L)] public static extern int cuCtxSynchronize();
    [DllImport(L)] public static extern int cuMemGetInfo_v2(nuint* free, nuint* total);
    [DllImport(L)] public static extern int cuMemAlloc_v2(ulong* dptr, nuint bytes);
    [DllImport(L)] public static extern int cuMemFree_v2(ulong dptr);
    [DllImport(L)] public static extern int cuMemcpyHtoD_v2(ulong dst, void* src, nuint bytes);
    [DllImport(L)] public static extern int cuMemcpyDtoH_v2(void* dst, ulong src, nuint bytes);
    [DllImport(L)] public static extern int cuMemcpyDtoD_v2(ulong dst, ulong src, nuint bytes);
    [DllImport(L)] public static extern int cuMemcpyHtoDAsync_v2(ulong dst, void* src, nuint bytes, nint stream);
    [DllImport(L)] public static extern int cuMemsetD8_v2(ulong dst, byte value, nuint count);
    [DllImport(L)] public static extern int cuMemsetD16_v2(ulong dst, ushort value, nuint count);
    [DllImport(L)] public static extern int cuMemsetD32_v2(ulong dst, uint value, nuint count);
    [DllImport(L)] public static extern int cuStreamCreate(nint* stream, uint flags);
    [DllImport(L)] public static extern int cuStreamDestroy_v2(nint stream);
    [DllImport(L)] public static extern int cuStreamSynchronize(nint stream);
    [DllImport(L)] public static extern int cuEventCreate(nint* ev, uint flags);
    [DllImport(L)] public static extern int cuEventDestroy_v2(nint ev);
    [DllImport(L)] public static extern int cuEventRecord(nint ev, nint stream);
    [DllImport(L)] public static extern int cuEventSynchronize(nint ev);
    [DllImport(L)] public static extern int cuEventElapsedTime(float* ms, nint start, nint end);
    [DllImport(L)] public static extern int cuModuleLoadData(nint* module, void* image);
    [DllImport(L)] public static extern int cuModuleUnload(nint module);
    [DllImport(L)] public static extern int cuModuleGetFunction(nint* function, nint module, byte* name);
    [DllImport(L)] public static extern int cuFuncSetAttribute(nint function, int attribute, int value);
    [DllImport(L)] public static extern int cuLaunchKernel(nint f, uint gx, uint gy, uint gz, uint bx, uint by, uint bz,
        uint sharedBytes, nint stream, void** args, void** extra);
    [DllImport(L)] public static extern int cuStreamBeginCapture_v2(nint stream, int mode);
    [DllImport(L)] public static extern int cuStreamEndCapture(nint stream, nint* graph);
    [DllImport(L)] public static extern int cuGraphInstantiateWithFlags(nint* exec, nint graph, ulong flags);
    [DllImport(L)] public static extern int cuGraphLaunch(nint exec, nint stream);
    [DllImport(L)] public static extern int cuGraphDestroy(nint graph);
    [DllImport(L)] public static extern int cuGraphExecDestroy(nint exec);
    [DllImport(L)] public static extern int cuGetErrorString(int error, byte** str);
    [DllImport(L)] public static extern int cuGetErrorName(int error, byte** str);
}

/// <summary>Checks driver API results and turns failures into <see cref="CudaException"/>s with cuGetErrorName/cuGetErrorString text.</summary>
public static unsafe class Cu
{
    /// <summary>Throws when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public static void Check(int result, string function)
    {
        if (result != 0) throw new CudaException("CUDA driver", function, result, ErrorText(result));
    }

    /// <summary>"CUDA_ERROR_NAME: description" for a driver error code.</summary>
    public static string ErrorText(int code)
    {
        byte* name = null, desc = null;
        try
        {
            CuNative.cuGetErrorName(code, &name);
            CuNative.cuGetErrorString(code, &desc);
        }
        catch (DllNotFoundException) { }
        var n = name != null ? Marshal.PtrToStringUTF8((nint)name) : null;
        var d = desc != null ? Marshal.PtrToStringUTF8((nint)desc) : null;
        return (n, d) switch
        {
            (null, null) => $"CUDA error {code}",
            (_, null) => n!,
            (null, _) => d!,
            _ => $"{n}: {d}",
        };
    }

    private static bool s_initialised;

    /// <summary>cuInit(0), once per process.</summary>
    public static void Init()
    {
        if (s_initialised) return;
        Check(CuNative.cuInit(0), "cuInit");
        s_initialised = true;
    }

    /// <summary>Driver version as an integer (e.g. 13000 for 13.0).</summary>
    public static int DriverVersion()
    {
        int v;
        Check(CuNative.cuDriverGetVersion(&v), "cuDriverGetVersion");
        return v;
    }

    /// <summary>Number of CUDA devices this process can use.</summary>
    public static int DeviceCount()
    {
        Init();
        int n;
        Check(CuNative.cuDeviceGetCount(&n), "cuDeviceGetCount");
        return n;
    }

    /// <summary>A 16-byte device UUID in NVML's text form, "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", so CUDA ordinals can be matched to NVML devices.</summary>
    public static string FormatUuid(ReadOnlySpan<byte> b)
    {
        if (b.Length != 16) throw new ArgumentException($"a device UUID has 16 bytes, got {b.Length}");
        var h = Convert.ToHexStringLower(b);
        return $"GPU-{h[..8]}-{h[8..12]}-{h[12..16]}-{h[16..20]}-{h[20..]}";
    }

    /// <summary>Whether a CUDA driver can be loaded and initialised with at least one device; <paramref name="why"/> says why not.</summary>
    public static bool IsAvailable(out string? why)
    {
        try
        {
            Init();
            int n;
            Check(CuNative.cuDeviceGetCount(&n), "cuDeviceGetCount");
            why = n > 0 ? null : "no CUDA device";
            return n > 0;
        }
        catch (DllNotFoundException e) { why = "no CUDA driver: " + e.Message; return false; }
        catch (CudaException e) { why = e.Message; return false; }
    }
}

/// <summary>Device attributes the engine reads (values of CUdevice_attribute).</summary>
public enum DeviceAttribute
{
    MaxThreadsPerBlock = 1,
    MaxSharedMemoryPerBlock = 8,
    MultiprocessorCount = 16,
    ClockRateKHz = 13,
    MemoryClockRateKHz = 36,
    GlobalMemoryBusWidth = 37,
    L2CacheSize = 38,
    ComputeCapabilityMajor = 75,
    ComputeCapabilityMinor = 76,
    MaxSharedMemoryPerBlockOptin = 97,
}

/// <summary>A CUDA device with its primary context made current on the calling thread.</summary>
public sealed unsafe class CudaContext : IDisposable
{
    private nint _ctx;

    public CudaContext(int ordinal = 0)
    {
        Cu.Init();
        int dev;
        Cu.Check(CuNative.cuDeviceGet(&dev, ordinal), "cuDeviceGet");
        Device = dev;
        Ordinal = ordinal;
        nint ctx;
        Cu.Check(CuNative.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
        _ctx = ctx;
        MakeCurrent();
        var buf = stackalloc byte[256];
        Cu.Check(CuNative.cuDeviceGetName(buf, 256, dev), "cuDeviceGetName");
        Name = Marshal.PtrToStringUTF8((nint)buf) ?? "?";
        nuint total;
        Cu.Check(CuNative.cuDeviceTotalMem_v2(&total, dev), "cuDeviceTotalMem");
        TotalMemory = (long)total;
        MultiprocessorCount = Attribute(DeviceAttribute.MultiprocessorCount);
        var uuid = stackalloc byte[16];
        Cu.Check(CuNative.cuDeviceGetUuid_v2(uuid, dev), "cuDeviceGetUuid");
        Uuid = Cu.FormatUuid(new ReadOnlySpan<byte>(uuid, 16));
        ComputeCapability = (Attribute(DeviceAttribute.ComputeCapabilityMajor), Attribute(DeviceAttribute.ComputeCapabilityMinor));
    }

    public int Device { get; }
    public int Ordinal { get; }
    public string Name { get; }
    public long TotalMemory { get; }
    public int MultiprocessorCount { get; }
    /// <summary>The device's UUID in NVML's form (matches <c>NvmlDevice.Uuid</c> of the same GPU).</summary>
    public string Uuid { get; }
    public (int Major, int Minor) ComputeCapability { get; }

    /// <summary>NVRTC architecture flag for this device, e.g. "sm_90".</summary>
    public string Arch => $"sm_{ComputeCapability.Major}{ComputeCapability.Minor}";

    public int Attribute(DeviceAttribute a)
    {
        int v;
        Cu.Check(CuNative.cuDeviceGetAttribute(&v, (int)a, Device), "cuDeviceGetAttribute");
        return v;
    }

    /// <summary>Binds the primary context to the calling thread (driver API state is per thread).</summary>
    public void MakeCurrent() => Cu.Check(CuNative.cuCtxSetCurrent(_ctx), "cuCtxSetCurrent");

    public void Synchronize() => Cu.Check(CuNative.cuCtxSynchronize(), "cuCtxSynchronize");

    /// <summary>Free and total device memory in bytes.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        nuint f, t;
        Cu.Check(CuNative.cuMemGetInfo_v2(&f, &t), "cuMemGetInfo");
        return ((long)f, (long)t);
    }

    public void Dispose()
    {
        if (_ctx == 0) return;
        _ctx = 0;
        CuNative.cuDevicePrimaryCtxRelease_v2(Device);
    }
}

/// <summary>A device allocation (cuMemAlloc) with typed copies; freed on dispose.</summary>
public sealed unsafe class DeviceBuffer : IDisposable
{
    public DeviceBuffer(long bytes)
    {
        if (bytes <= 0) bytes = 256; // a zero-size request still yields a valid, distinct pointer
        ulong p;
        Cu.Check(CuNative.cuMemAlloc_v2(&p, (nuint)bytes), $"cuMemAlloc({bytes} bytes)");
        Ptr = p;
        Bytes = bytes;
    }

    public ulong Ptr { get; private set; }
    public long Bytes { get; }

    /// <summary>Address <paramref name="offsetBytes"/> into the buffer.</summary>
    public ulong At(long offsetBytes) => Ptr + (ulong)offsetBytes;

    public void Upload<T>(ReadOnlySpan<T> data, long offsetBytes = 0) where T : unmanaged
    {
        var n = (long)data.Length * sizeof(T);
        if (offsetBytes + n > Bytes) throw new ArgumentOutOfRangeException(nameof(data), $"upload of {n} bytes at {offsetBytes} exceeds buffer of {Bytes}");
        fixed (T* p = data) Cu.Check(CuNative.cuMemcpyHtoD_v2(Ptr + (ulong)offsetBytes, p, (nuint)n), "cuMemcpyHtoD");
    }

    /// <summary>Copies <paramref name="data"/> in stream order on <paramref name="stream"/> (pageable memory is staged before this returns, so the span may be reused at once).</summary>
    public void UploadAsync<T>(ReadOnlySpan<T> data, CudaStream stream, long offsetBytes = 0) where T : unmanaged
    {
        var n = (long)data.Length * sizeof(T);
        if (n == 0) return;
        if (offsetBytes + n > Bytes) throw new ArgumentOutOfRangeException(nameof(data), $"upload of {n} bytes at {offsetBytes} exceeds buffer of {Bytes}");
        fixed (T* p = data) Cu.Check(CuNative.cuMemcpyHtoDAsync_v2(Ptr + (ulong)offsetBytes, p, (nuint)n, stream.Handle), "cuMemcpyHtoDAsync");
    }

    public void Download<T>(Span<T> data, long offsetBytes = 0) where T : unmanaged
    {
        var n = (long)data.Length * sizeof(T);
        if (offsetBytes + n > Bytes) throw new ArgumentOutOfRangeException(nameof(data), $"download of {n} bytes at {offsetBytes} exceeds buffer of {Bytes}");
        fixed (T* p = data) Cu.Check(CuNative.cuMemcpyDtoH_v2(p, Ptr + (ulong)offsetBytes, (nuint)n), "cuMemcpyDtoH");
    }

    public T[] Download<T>(long count, long offsetBytes = 0) where T : unmanaged
    {
        var a = new T[count];
        Download<T>(a, offsetBytes);
        return a;
    }

    /// <summary>Fills the buffer with a 16-bit pattern (0xFFFF is a bf16 NaN: used to poison outputs before checks).</summary>
    public void Fill16(ushort value) => Cu.Check(CuNative.cuMemsetD16_v2(Ptr, value, (nuint)(Bytes / 2)), "cuMemsetD16");

    public void Fill8(byte value) => Cu.Check(CuNative.cuMemsetD8_v2(Ptr, value, (nuint)Bytes), "cuMemsetD8");

    public void Dispose()
    {
        if (Ptr == 0) return;
        CuNative.cuMemFree_v2(Ptr);
        Ptr = 0;
    }
}

/// <summary>A CUDA stream.</summary>
public sealed unsafe class CudaStream : IDisposable
{
    public CudaStream()
    {
        nint s;
        Cu.Check(CuNative.cuStreamCreate(&s, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
        Handle = s;
    }

    public nint Handle { get; private set; }

    public void Synchronize() => Cu.Check(CuNative.cuStreamSynchronize(Handle), "cuStreamSynchronize");

    /// <summary>Starts recording this stream's work into a graph instead of running it (thread-local capture mode).</summary>
    public void BeginCapture() => Cu.Check(CuNative.cuStreamBeginCapture_v2(Handle, 1 /* CU_STREAM_CAPTURE_MODE_THREAD_LOCAL */), "cuStreamBeginCapture");

    /// <summary>Ends capture and instantiates the recorded work as an executable graph.</summary>
    public CudaGraph EndCapture()
    {
        nint g;
        Cu.Check(CuNative.cuStreamEndCapture(Handle, &g), "cuStreamEndCapture");
        return new CudaGraph(g);
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        CuNative.cuStreamDestroy_v2(Handle);
        Handle = 0;
    }
}

/// <summary>An instantiated CUDA graph (captured from a stream) that can be launched repeatedly.</summary>
public sealed unsafe class CudaGraph : IDisposable
{
    private nint _graph, _exec;

    internal CudaGraph(nint graph)
    {
        _graph = graph;
        nint e;
        Cu.Check(CuNative.cuGraphInstantiateWithFlags(&e, graph, 0), "cuGraphInstantiate");
        _exec = e;
    }

    public void Launch(CudaStream stream) => Cu.Check(CuNative.cuGraphLaunch(_exec, stream.Handle), "cuGraphLaunch");

    public void Dispose()
    {
        if (_exec != 0) CuNative.cuGraphExecDestroy(_exec);
        if (_graph != 0) CuNative.cuGraphDestroy(_graph);
        _exec = _graph = 0;
    }
}

/// <summary>A CUDA event for timing and synchronisation.</summary>
public sealed unsafe class CudaEvent : IDisposable
{
    public CudaEvent()
    {
        nint e;
        Cu.Check(CuNative.cuEventCreate(&e, 0), "cuEventCreate");
        Handle = e;
    }

    public nint Handle { get; private set; }

    public void Record(CudaStream stream) => Cu.Check(CuNative.cuEventRecord(Handle, stream.Handle), "cuEventRecord");

    public void Synchronize() => Cu.Check(CuNative.cuEventSynchronize(Handle), "cuEventSynchronize");

    /// <summary>Milliseconds between two recorded events.</summary>
    public static float ElapsedMs(CudaEvent start, CudaEvent end)
    {
        float ms;
        Cu.Check(CuNative.cuEventElapsedTime(&ms, start.Handle, end.Handle), "cuEventElapsedTime");
        return ms;
    }

    public void Dispose()
    {
        if (Handle == 0) return;
        CuNative.cuEventDestroy_v2(Handle);
        Handle = 0;
    }
}

/// <summary>Three-dimensional launch extent.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public static implicit operator Dim3(int x) => new((uint)x);
}

/// <summary>One kernel argument stored in an 8-byte slot (device pointers, 32/64-bit integers and floats; the driver reads only the parameter's own size).</summary>
[StructLayout(LayoutKind.Explicit, Size = 8)]
public readonly struct KernelArg
{
    [FieldOffset(0)] private readonly ulong _u64;
    [FieldOffset(0)] private readonly int _i32;
    [FieldOffset(0)] private readonly float _f32;

    private KernelArg(ulong v) { _i32 = 0; _f32 = 0; _u64 = v; }
    private KernelArg(int v) { _u64 = 0; _f32 = 0; _i32 = v; }
    private KernelArg(float v) { _u64 = 0; _i32 = 0; _f32 = v; }

    public ulong Raw => _u64;

    public static implicit operator KernelArg(ulong devicePtr) => new(devicePtr);
    public static implicit operator KernelArg(long v) => new((ulong)v);
    public static implicit operator KernelArg(int v) => new(v);
    public static implicit operator KernelArg(float v) => new(v);
    public static implicit operator KernelArg(DeviceBuffer b) => new(b.Ptr);
}

/// <summary>A module loaded from a CUBIN or PTX image.</summary>
public sealed unsafe class CudaModule : IDisposable
{
    private nint _module;
    private readonly Dictionary<string, CudaKernel> _kernels = new();

    public CudaModule(byte[] image)
    {
        // PTX must be NUL-terminated text; a CUBIN is an ELF image. Appending a NUL is harmless for both.
        var data = new byte[image.Length + 1];
        image.CopyTo(data, 0);
        nint m;
        fixed (byte* p = data) Cu.Check(CuNative.cuModuleLoadData(&m, p), "cuModuleLoadData");
        _module = m;
    }

    public CudaKernel Kernel(string name)
    {
        if (_kernels.TryGetValue(name, out var k)) return k;
        var bytes = System.Text.Encoding.UTF8.GetBytes(name + "\0");
        nint f;
        fixed (byte* p = bytes) Cu.Check(CuNative.cuModuleGetFunction(&f, _module, p), $"cuModuleGetFunction({name})");
        k = new CudaKernel(name, f);
        _kernels[name] = k;
        return k;
    }

    public void Dispose()
    {
        if (_module == 0) return;
        CuNative.cuModuleUnload(_module);
        _module = 0;
    }
}

/// <summary>A kernel function in a loaded module.</summary>
public sealed unsafe class CudaKernel
{
    internal CudaKernel(string name, nint f) { Name = name; Handle = f; }

    public string Name { get; }
    public nint Handle { get; }

    /// <summary>Raises the dynamic shared-memory limit (needed above 48 KB).</summary>
    public void SetMaxDynamicSharedMemory(int bytes) =>
        Cu.Check(CuNative.cuFuncSetAttribute(Handle, 8 /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */, bytes), $"cuFuncSetAttribute({Name})");

    /// <summary>Enqueues the kernel on <paramref name="stream"/>.</summary>
    public void Launch(Dim3 grid, Dim3 block, int sharedBytes, CudaStream stream, params ReadOnlySpan<KernelArg> args)
    {
        if (grid.X == 0 || grid.Y == 0 || grid.Z == 0) return; // nothing to do: CUDA rejects empty grids
        var n = args.Length;
        var values = stackalloc ulong[Math.Max(n, 1)];
        var ptrs = stackalloc void*[Math.Max(n, 1)];
        for (var i = 0; i < n; i++) { values[i] = args[i].Raw; ptrs[i] = &values[i]; }
        Cu.Check(CuNative.cuLaunchKernel(Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, (uint)sharedBytes, stream.Handle, ptrs, null),
            $"cuLaunchKernel({Name})");
    }
}
