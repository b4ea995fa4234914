using System.Reflection;
using System.Runtime.InteropServices;
using Joules.Cuda;
using Xunit;

namespace Joules.Cuda.Tests;

public class NcclLibraryTests() : TempTreeTest("joules-nccl-")
{
    [Fact]
    public void FindsTheNcclThatPythonPackagesShip()
    {
        // The layout pip gives nvidia-nccl-cu13 inside a virtual environment, and a second Python elsewhere.
        var venv = Path.Combine(_root, "opt", "torch", ".venv");
        var wheel = Touch("opt", "torch", ".venv", "lib", "python3.12", "site-packages", "nvidia", "nccl", "lib", "libnccl.so.2");
        var debian = Touch("usr", "lib", "python3", "dist-packages", "nvidia", "nccl", "lib", "libnccl.so.2");
        Touch("opt", "torch", ".venv", "lib", "python3.12", "site-packages", "nvidia", "cublas", "lib", "libcublas.so.13");
        var found = NcclLibrary.SearchSitePackages([venv, Path.Combine(_root, "usr"), Path.Combine(_root, "nowhere")]).ToList();
        Assert.Equal([wheel, debian], found);
        var candidates = NcclLibrary.Candidates(null, [venv]);
        // The loader's own search (LD_LIBRARY_PATH, the ldconfig cache) comes first, then the Python packages.
        Assert.Equal(["libnccl.so.2", "libnccl.so", wheel], candidates);
    }

    [Fact]
    public void AnOverrideWinsAndAMissingOneIsAClearError()
    {
        var lib = Touch("custom", "libnccl.so.2");
        Assert.Equal([lib], NcclLibrary.Candidates(lib, []));
        Assert.Equal([lib], NcclLibrary.Candidates(Path.GetDirectoryName(lib), []));
        var e = Assert.Throws<DllNotFoundException>(() => NcclLibrary.Candidates(Path.Combine(_root, "missing"), []));
        Assert.Contains(NcclLibrary.OverrideVariable, e.Message);
        Assert.Contains("no such file", e.Message);
        Directory.CreateDirectory(Path.Combine(_root, "empty"));
        Assert.Contains("holds no", Assert.Throws<DllNotFoundException>(() => NcclLibrary.Candidates(Path.Combine(_root, "empty"), [])).Message);
    }

    [Fact]
    public void PythonPrefixesIncludeTheGpuMachinesVenvAndComeWithoutDuplicates()
    {
        var prefixes = NcclLibrary.PythonPrefixes();
        Assert.Contains("/opt/torch/.venv", prefixes);
        Assert.Equal(prefixes.Count, prefixes.Distinct().Count());
    }
}

public class NcclBindingTests
{
    [Fact]
    public void MulticastIsSwitchedOffInTheEnvironmentNativeCodeReads()
    {
        NcclSettings.Apply();
        Assert.Equal("0", NativeEnvironment.Get(NcclSettings.MulticastVariable));
        Assert.Equal("0", Environment.GetEnvironmentVariable(NcclSettings.MulticastVariable));
        NcclSettings.RequireMulticastOff();
        try
        {
            NativeEnvironment.Set(NcclSettings.MulticastVariable, "1");
            var e = Assert.Throws<InvalidOperationException>(NcclSettings.RequireMulticastOff);
            Assert.Contains("NCCL_NVLS_ENABLE is '1'", e.Message);
        }
        finally { NcclSettings.Apply(); }
    }

    [Fact]
    public void NativeEnvironmentRoundTrips()
    {
        NativeEnvironment.Set("JOULES_TEST_VARIABLE", "héllo");
        Assert.Equal("héllo", NativeEnvironment.Get("JOULES_TEST_VARIABLE"));
        Assert.Null(NativeEnvironment.Get("JOULES_TEST_VARIABLE_NEVER_SET"));
    }

    [Fact]
    public void StructsAndConstantsMatchNcclH()
    {
        Assert.Equal(128, Marshal.SizeOf<NcclUniqueId>());       // NCCL_UNIQUE_ID_BYTES
        Assert.Equal(9, NcclNative.Bfloat16);                      // ncclBfloat16
        Assert.Equal(0, NcclNative.Sum);                           // ncclSum
        Assert.Equal("2.27.3", NcclStatus.VersionText(22703));
        Assert.Equal("2.30.7", NcclStatus.VersionText(23007));
        Assert.Equal("2.8.4", NcclStatus.VersionText(2804));       // the pre-2.9 encoding
        Assert.Equal("ncclInvalidUsage", NcclStatus.Name(5));
    }

    [Fact]
    public void NoBindingCanCreateNvlinkMulticastObjects()
    {
        var names = typeof(CuNative).GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => m.Name)
            .Concat(typeof(NcclNative).GetMethods(BindingFlags.Public | BindingFlags.Static).Select(m => m.Name)).ToList();
        Assert.Contains("ncclAllReduce", names);
        Assert.DoesNotContain(names, n => n.Contains("Multicast", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void DeviceUuidsAreWrittenAsNvmlWritesThem()
    {
        var bytes = Enumerable.Range(0, 16).Select(i => (byte)(i * 17)).ToArray();
        Assert.Equal("GPU-00112233-4455-6677-8899-aabbccddeeff", Cu.FormatUuid(bytes));
        Assert.Throws<ArgumentException>(() => Cu.FormatUuid(new byte[15]));
    }

    [GpuFact]
    public void AOneRankAllReduceRunsThroughNccl()
    {
        if (!Nccl.IsAvailable(out var why)) Assert.Fail($"NCCL not found on a GPU machine: {why}");
        var comms = NcclCommunicator.InitAll([0]);
        try
        {
            using var ctx = new CudaContext(0);
            using var s = new CudaStream();
            using var b = new DeviceBuffer(1024);
            b.Fill16(0x3f80);                                      // bf16 1.0
            comms[0].AllReduceSumBf16(b.Ptr, b.Ptr, 512, s);
            s.Synchronize();
            Assert.All(b.Download<ushort>(512), v => Assert.Equal(0x3f80, v));
            Assert.Equal(1, comms[0].Ranks);
        }
        finally { NcclCommunicator.DestroyAll(comms); }
    }
}
