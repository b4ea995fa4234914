using Joules.Cli;
using Joules.Cuda;
using Xunit;

namespace Joules.Cli.Tests;

public class GpuEngineCommandTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void GpuInfoExplainsAMissingDriverOrPrintsTheGpu()
    {
        var (code, output, err) = Run("gpu", "info");
        // NVML's library can be installed without a loaded driver (a CUDA toolkit on a machine with no GPU): then
        // nvmlInit fails, and that must read as a missing driver too.
        if (NativeLibraries.TryLoad(NativeLibraries.Nvml) && code == 0)
        {
            Assert.Equal(0, code);
            Assert.Contains("energy counter", output);
        }
        else
        {
            Assert.Equal(2, code);
            Assert.Contains("no NVIDIA driver", err);
        }
    }

    [Fact]
    public void EngineCommandsListTheirOptions()
    {
        var (code, output, _) = Run("engine", "bench", "--help");
        Assert.Equal(0, code);
        foreach (var opt in new[] { "--model", "--phase", "--batch", "--context", "--new-tokens", "--tp", "--gpus", "--energy", "--suite", "--roofline", "--gemv-max-tokens", "'attention'", "'small-batch'" })
            Assert.Contains(opt, output);
        Assert.Equal(0, Run("engine", "selftest", "--help").Code);
        var (code2, help, _) = Run("gpu", "allreduce-bench", "--help");
        Assert.Equal(0, code2);
        foreach (var opt in new[] { "--model", "--ranks", "--tokens", "--window-s", "--trials", "--out" }) Assert.Contains(opt, help);
    }

    [Fact]
    public void BadTensorParallelOptionsAreRefusedBeforeAnyGpuIsTouched()
    {
        var (code, _, err) = Run("engine", "bench", "--model", "llama-3.1-70b", "--tp", "4", "--gpus", "8");
        Assert.Equal(1, code);
        Assert.Contains("--gpus must equal --tp", err);
        (code, _, err) = Run("engine", "bench", "--model", "llama-3.1-70b", "--tp", "3", "--gpus", "3");
        Assert.Equal(1, code);
        Assert.Contains("do not divide over tp=3", err);
        (code, _, err) = Run("engine", "bench", "--phase", "sideways");
        Assert.Equal(1, code);
        Assert.Contains("--phase must be prefill, decode or mixed", err);
        (code, _, err) = Run("engine", "bench", "--gemv-max-tokens", "9");
        Assert.Equal(1, code);
        Assert.Contains("--gemv-max-tokens must be between 0 and 4, got 9", err);
        (code, _, err) = Run("engine", "bench", "--decode-kernel", "fastest");
        Assert.Equal(1, code);
        Assert.Contains("single-pass", err);
        (code, _, err) = Run("engine", "bench", "--prefill-attention", "flash");
        Assert.Equal(1, code);
        Assert.Contains("cudnn", err);
        (code, _, err) = Run("gpu", "allreduce-bench", "--tokens", "64,-1");
        Assert.Equal(1, code);
        Assert.Contains("--tokens: '-1'", err);
    }

    [Fact]
    public void EngineWithoutAGpuSaysSo()
    {
        if (Cu.IsAvailable(out _)) return; // on a GPU machine this would run the engine
        var (code, _, err) = Run("engine", "selftest");
        Assert.Equal(2, code);
        Assert.Contains("no GPU", err);
    }
}
