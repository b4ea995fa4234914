using Joules.Cuda;
using Xunit;

namespace Joules.Cuda.Tests;

public class CudnnLibraryTests() : TempTreeTest("joules-cudnn-")
{
    [Fact]
    public void FindsTheCudnnThatPyTorchsWheelShipsAfterTheLoadersOwnSearch()
    {
        // The layout of nvidia-cudnn-cu13 under PyTorch's virtual environment: the shim beside its sub-libraries.
        var venv = Path.Combine(_root, "opt", "torch", ".venv");
        var cudnn = Touch("opt", "torch", ".venv", "lib", "python3.12", "site-packages", "nvidia", "cudnn", "lib", "libcudnn.so.9");
        Touch("opt", "torch", ".venv", "lib", "python3.12", "site-packages", "nvidia", "cudnn", "lib", "libcudnn_graph.so.9");
        Touch("opt", "torch", ".venv", "lib", "python3.12", "site-packages", "nvidia", "nccl", "lib", "libnccl.so.2");
        Assert.Equal(["libcudnn.so.9", "libcudnn.so", cudnn], CudnnLibrary.Candidates(null, [venv, Path.Combine(_root, "nowhere")]));
    }

    [Fact]
    public void AnOverrideWinsAndAMissingOneNamesTheVariable()
    {
        var lib = Touch("custom", "libcudnn.so.9");
        Assert.Equal([lib], CudnnLibrary.Candidates(lib, []));
        Assert.Equal([lib], CudnnLibrary.Candidates(Path.GetDirectoryName(lib), []));
        var e = Assert.Throws<DllNotFoundException>(() => CudnnLibrary.Candidates(Path.Combine(_root, "missing"), []));
        Assert.Contains(CudnnLibrary.OverrideVariable, e.Message);
        Directory.CreateDirectory(Path.Combine(_root, "empty"));
        e = Assert.Throws<DllNotFoundException>(() => CudnnLibrary.Candidates(Path.Combine(_root, "empty"), []));
        Assert.Contains("libcudnn.so.9", e.Message);
    }
}

public class CudnnAvailabilityTests
{
    [Fact]
    public void CudnnEitherLoadsWithAVersionOrSaysWhereToGetIt()
    {
        // Both outcomes are real: CI machines have no cuDNN, the GPU machine's PyTorch wheel ships one.
        if (Cudnn.IsAvailable(out var why))
        {
            Assert.Null(why);
            Assert.Matches(@"^9\.\d+\.\d+$", Cudnn.Version());
            Assert.NotNull(NativeLibraries.LoadedFrom(NativeLibraries.Cudnn));
        }
        else
        {
            Assert.Contains("could not load cuDNN", why);
            Assert.Contains("libcudnn.so.9", why);
            Assert.Contains(CudnnLibrary.OverrideVariable, why);
            Assert.Contains("nvidia-cudnn-cu13", why);
        }
    }
}
