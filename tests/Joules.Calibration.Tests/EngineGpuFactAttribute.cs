using Joules.Cuda;
using Xunit;

namespace Joules.Calibration.Tests;

/// <summary>A fact that needs a CUDA GPU: skipped, with the reason shown, where no driver or device is present (CI).</summary>
public sealed class EngineGpuFactAttribute : FactAttribute
{
    public EngineGpuFactAttribute()
    {
        if (!Cu.IsAvailable(out var why)) Skip = $"no CUDA driver: GPU test skipped ({why})";
    }
}
