using Joules.Cuda;
using Xunit;

namespace Joules.Cuda.Tests;

/// <summary>A fact that needs a CUDA GPU: skipped, with the reason shown, where no driver or device is present (CI).</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        if (!Cu.IsAvailable(out var why)) Skip = $"no CUDA driver: GPU test skipped ({why})";
    }
}
