using System.Reflection;
using System.Runtime.InteropServices;
using Joules.Cuda;
using Xunit;

namespace Joules.Cuda.Tests;

public class BindingTests
{
    [Fact]
    public void StructLayoutsMatchTheCHeaders()
    {
        Assert.Equal(64, Marshal.SizeOf<CublasLtNative.MatmulAlgo>());          // cublasLtMatmulAlgo_t: uint64_t data[8]
        Assert.Equal(96, Marshal.SizeOf<CublasLtNative.HeuristicResult>());     // algo, size_t, status, float, int[4]
        Assert.Equal(24, Marshal.SizeOf<NvmlNative.MemoryInfo>());              // nvmlMemory_t: total, free, used
        Assert.Equal(8, Marshal.SizeOf<KernelArg>());
        Assert.Equal(72, (int)Marshal.OffsetOf<CublasLtNative.HeuristicResult>(nameof(CublasLtNative.HeuristicResult.State)));
    }

    [Fact]
    public void KernelArgKeepsValuesInTheLowBytes()
    {
        KernelArg i = -7, f = 1.5f, p = 0x1234_5678_9abc_def0UL;
        Assert.Equal(unchecked((uint)-7), (uint)(i.Raw & 0xffffffff));
        Assert.Equal(BitConverter.SingleToUInt32Bits(1.5f), (uint)(f.Raw & 0xffffffff));
        Assert.Equal(0x1234_5678_9abc_def0UL, p.Raw);
    }

    [Theory]
    [InlineData(NativeLibraries.Nvrtc, "libnvrtc.so.13", "libnvrtc.so.12")]
    [InlineData(NativeLibraries.CublasLt, "libcublasLt.so.13", "libcublasLt.so.12")]
    public void ToolkitLibrariesPreferCuda13Then12(string logical, string first, string second)
    {
        var c = NativeLibraries.Candidates(logical).ToList();
        Assert.Equal(first, c[0]);
        Assert.Equal(second, c[1]);
    }

    [Fact]
    public void DriverLibrariesUseTheirStableSonames()
    {
        Assert.Equal("libcuda.so.1", NativeLibraries.Candidates(NativeLibraries.Cuda)[0]);
        Assert.Equal("libnvidia-ml.so.1", NativeLibraries.Candidates(NativeLibraries.Nvml)[0]);
    }

    [Fact]
    public void NvmlBindingsAreReadOnly()
    {
        var names = typeof(NvmlNative).GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => m.Name).ToList();
        Assert.Contains("nvmlDeviceGetTotalEnergyConsumption", names);
        Assert.DoesNotContain(names, n => n.Contains("Set", StringComparison.Ordinal) || n.Contains("Reset", StringComparison.Ordinal));
    }

    [Fact]
    public void DriverBindingsUseTheVersionedSymbolsOfCudaH()
    {
        var names = typeof(CuNative).GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => m.Name).ToHashSet();
        foreach (var n in new[] { "cuMemAlloc_v2", "cuMemFree_v2", "cuMemcpyHtoD_v2", "cuStreamBeginCapture_v2", "cuStreamDestroy_v2", "cuDevicePrimaryCtxRelease_v2" })
            Assert.Contains(n, names);
    }

    [Fact]
    public void CudaExceptionNamesTheFunctionAndError()
    {
        var e = new CudaException("cuBLASLt", "cublasLtMatmul", 7, CublasStatus.Name(7));
        Assert.Contains("cublasLtMatmul", e.Message);
        Assert.Contains("CUBLAS_STATUS_INVALID_VALUE", e.Message);
        Assert.Throws<CudaException>(() => CublasStatus.Check(13, "cublasLtMatmul"));
    }

    [Fact]
    public void ClockEventReasonsAreNamed()
    {
        Assert.Equal("none", NvmlDevice.DescribeReasons(0));
        Assert.Equal("sw_power_cap,hw_thermal", NvmlDevice.DescribeReasons(0x4 | 0x40));
    }

    [Fact]
    public void MissingDriverIsReportedNotThrown()
    {
        // On a machine without a GPU this says why; on one with a GPU it is available. Either way it must not throw.
        var ok = Cu.IsAvailable(out var why);
        Assert.True(ok || !string.IsNullOrEmpty(why));
    }

    [GpuFact]
    public void ContextStreamsMemoryAndEventsWork()
    {
        using var ctx = new CudaContext();
        Assert.StartsWith("sm_", ctx.Arch);
        using var s = new CudaStream();
        using var b = new DeviceBuffer(1024);
        var data = Enumerable.Range(0, 256).ToArray();
        b.Upload<int>(data);
        Assert.Equal(data, b.Download<int>(256));
        b.Fill16(0xFFFF);
        Assert.All(b.Download<ushort>(512), v => Assert.Equal(0xFFFF, v));
    }

    [GpuFact]
    public void NvrtcCompileErrorsCarryTheLog()
    {
        using var ctx = new CudaContext();
        var e = Assert.Throws<CudaException>(() => Nvrtc.CompileToCubin("extern \"C\" __global__ void k() { undefined_thing(); }", "bad.cu", ctx.Arch));
        Assert.Contains("undefined_thing", e.Message);
    }
}
