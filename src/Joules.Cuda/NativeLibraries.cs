using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Joules.Cuda;

/// <summary>Maps the logical library names used by the bindings to the versioned shared objects of CUDA 13 and 12.</summary>
public static class NativeLibraries
{
    /// <summary>Logical name of the CUDA driver API library.</summary>
    public const string Cuda = "joules-cuda";
    /// <summary>Logical name of the NVRTC runtime compiler.</summary>
    public const string Nvrtc = "joules-nvrtc";
    /// <summary>Logical name of cuBLASLt.</summary>
    public const string CublasLt = "joules-cublaslt";
    /// <summary>Logical name of NVML.</summary>
    public const string Nvml = "joules-nvml";
    /// <summary>Logical name of NCCL (located by <see cref="NcclLibrary"/>).</summary>
    public const string Nccl = "joules-nccl";
    /// <summary>Logical name of cuDNN 9 (located by <see cref="CudnnLibrary"/>).</summary>
    public const string Cudnn = "joules-cudnn";

    /// <summary>Candidate file names for each logical library, newest first; the first one that loads wins.</summary>
    public static IReadOnlyList<string> Candidates(string logicalName) => logicalName switch
    {
        // The driver library keeps one soname across releases; the unversioned name only exists with dev packages.
        Cuda => ["libcuda.so.1", "libcuda.so", "nvcuda.dll"],
        // Toolkit libraries carry the major version in their soname: prefer 13, accept 12.
        Nvrtc => ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", "nvrtc64_130_0.dll", "nvrtc64_120_0.dll"],
        CublasLt => ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so", "cublasLt64_13.dll", "cublasLt64_12.dll"],
        Nvml => ["libnvidia-ml.so.1", "libnvidia-ml.so", "nvml.dll"],
        Nccl => NcclLibrary.Candidates(),
        Cudnn => CudnnLibrary.Candidates(),
        _ => [logicalName],
    };

    /// <summary>Folders searched after the loader's default path (toolkit and driver locations of common installs).</summary>
    public static IReadOnlyList<string> ExtraDirectories { get; } =
    [
        "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/local/nvidia/lib64",
        "/usr/lib/x86_64-linux-gnu", "/usr/lib/wsl/lib",
    ];

    private static readonly Dictionary<string, nint> s_loaded = new();
    private static readonly Dictionary<string, string> s_loadedFrom = new();

    /// <summary>The file a logical library was loaded from, or null when it has not been loaded.</summary>
    public static string? LoadedFrom(string logicalName)
    {
        lock (s_loaded) return s_loadedFrom.GetValueOrDefault(logicalName);
    }

    /// <summary>Loads a logical library now; throws <see cref="DllNotFoundException"/> listing every name tried.</summary>
    public static nint Load(string logicalName)
    {
        lock (s_loaded)
        {
            if (s_loaded.TryGetValue(logicalName, out var h)) return h;
            // NCCL reads its settings from the C environment when it initialises: fix them before it can load.
            if (logicalName == Nccl) NcclSettings.Apply();
            var tried = new List<string>();
            foreach (var name in Candidates(logicalName))
            {
                tried.Add(name);
                if (NativeLibrary.TryLoad(name, out h)) { Remember(logicalName, name, h); return h; }
                if (Path.IsPathRooted(name)) continue;
                foreach (var dir in ExtraDirectories)
                {
                    var path = Path.Combine(dir, name);
                    if (File.Exists(path) && NativeLibrary.TryLoad(path, out h)) { Remember(logicalName, path, h); return h; }
                }
            }
            var (what, hint) = logicalName switch
            {
                Nccl => ("NCCL", $"NCCL comes with the Python package nvidia-nccl-cu13; or set {NcclLibrary.OverrideVariable} to libnccl.so.2's path"),
                Cudnn => ("cuDNN", $"cuDNN comes with the Python package nvidia-cudnn-cu13 that PyTorch installs; or set {CudnnLibrary.OverrideVariable} to libcudnn.so.9's path"),
                Cuda => ("libcuda (the CUDA driver)", "is the NVIDIA driver installed?"),
                Nvml => ("libnvidia-ml (NVML)", "is the NVIDIA driver installed?"),
                Nvrtc => ("libnvrtc (NVRTC)", "is the CUDA toolkit installed?"),
                CublasLt => ("libcublasLt (cuBLASLt)", "is the CUDA toolkit installed?"),
                _ => (logicalName, "is the NVIDIA driver / CUDA toolkit installed?"),
            };
            throw new DllNotFoundException($"could not load {what}: tried {string.Join(", ", tried)} ({hint})");
        }
    }

    /// <summary>Whether a logical library can be loaded on this machine.</summary>
    public static bool TryLoad(string logicalName)
    {
        try { Load(logicalName); return true; }
        catch (DllNotFoundException) { return false; }
    }

    private static void Remember(string logical, string file, nint h)
    {
        s_loaded[logical] = h;
        s_loadedFrom[logical] = file;
    }

    /// <summary>Installs the resolver for this assembly; runs once when the module loads, before any P/Invoke.</summary>
#pragma warning disable CA2255 // a module initializer is the one place that runs before every DllImport of this assembly
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() =>
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name is Cuda or Nvrtc or CublasLt or Nvml or Nccl or Cudnn ? Load(name) : 0;
}

/// <summary>A failed call into a CUDA library, naming the API function and the library's own error string.</summary>
public sealed class CudaException : Exception
{
    public CudaException(string library, string function, int code, string error)
        : base($"{function} failed: {error} ({library} status {code})")
    {
        Library = library;
        Function = function;
        Code = code;
        Error = error;
    }

    public string Library { get; }
    public string Function { get; }
    public int Code { get; }
    public string Error { get; }
}
