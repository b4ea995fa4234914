using System.Runtime.InteropServices;
using System.Text;

namespace Joules.Cuda;

/// <summary>Raw NVRTC entry points.</summary>
public static unsafe class NvrtcNative
{
    private const string L = NativeLibraries.Nvrtc;
    [DllImport(L)] public static extern int nvrtcVersion(int* major, int* minor);
    [DllImport(L)] public static extern byte* nvrtcGetErrorString(int result);
    [DllImport(L)] public static extern int nvrtcCreateProgram(nint* prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [DllImport(L)] public static extern int nvrtcDestroyProgram(nint* prog);
    [DllImport(L)] public static extern int nvrtcCompileProgram(nint prog, int numOptions, byte** options);
    [DllImport(L)] public static extern int nvrtcGetProgramLogSize(nint prog, nuint* size);
    [DllImport(L)] public static extern int nvrtcGetProgramLog(nint prog, byte* log);
    [DllImport(L)] public static extern int nvrtcGetCUBINSize(nint prog, nuint* size);
    [DllImport(L)] public static extern int nvrtcGetCUBIN(nint prog, byte* cubin);
    [DllImport(L)] public static extern int nvrtcGetPTXSize(nint prog, nuint* size);
    [DllImport(L)] public static extern int nvrtcGetPTX(nint prog, byte* ptx);
}

/// <summary>Compiles CUDA C source at run time with NVRTC; failures carry the compiler log.</summary>
public static unsafe class Nvrtc
{
    public static void Check(int result, string function, string? log = null)
    {
        if (result == 0) return;
        var s = Marshal.PtrToStringUTF8((nint)NvrtcNative.nvrtcGetErrorString(result)) ?? $"NVRTC error {result}";
        if (!string.IsNullOrWhiteSpace(log)) s += "\n" + log.TrimEnd();
        throw new CudaException("NVRTC", function, result, s);
    }

    public static Version Version()
    {
        int a, b;
        Check(NvrtcNative.nvrtcVersion(&a, &b), "nvrtcVersion");
        return new Version(a, b);
    }

    /// <summary>Compiles <paramref name="source"/> for <paramref name="arch"/> (e.g. "sm_90") and returns the CUBIN image.</summary>
    public static byte[] CompileToCubin(string source, string name, string arch, IEnumerable<string>? extraOptions = null)
    {
        nint prog;
        var src = Encoding.UTF8.GetBytes(source + "\0");
        var nm = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* ps = src, pn = nm) Check(NvrtcNative.nvrtcCreateProgram(&prog, ps, pn, 0, null, null), "nvrtcCreateProgram");
        try
        {
            var opts = new List<string> { $"--gpu-architecture={arch}", "--std=c++17", "-default-device", "--use_fast_math" };
            if (extraOptions != null) opts.AddRange(extraOptions);
            var optBytes = opts.Select(o => Encoding.UTF8.GetBytes(o + "\0")).ToArray();
            var handles = optBytes.Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToArray();
            try
            {
                var ptrs = stackalloc byte*[optBytes.Length];
                for (var i = 0; i < optBytes.Length; i++) ptrs[i] = (byte*)handles[i].AddrOfPinnedObject();
                var rc = NvrtcNative.nvrtcCompileProgram(prog, optBytes.Length, ptrs);
                if (rc != 0) Check(rc, $"nvrtcCompileProgram({name}, {arch})", Log(prog));
            }
            finally
            {
                foreach (var h in handles) h.Free();
            }
            nuint size;
            Check(NvrtcNative.nvrtcGetCUBINSize(prog, &size), "nvrtcGetCUBINSize");
            var cubin = new byte[size];
            fixed (byte* p = cubin) Check(NvrtcNative.nvrtcGetCUBIN(prog, p), "nvrtcGetCUBIN");
            return cubin;
        }
        finally
        {
            NvrtcNative.nvrtcDestroyProgram(&prog);
        }
    }

    private static string Log(nint prog)
    {
        nuint size;
        if (NvrtcNative.nvrtcGetProgramLogSize(prog, &size) != 0 || size <= 1) return "";
        var buf = new byte[size];
        fixed (byte* p = buf) NvrtcNative.nvrtcGetProgramLog(prog, p);
        return Encoding.UTF8.GetString(buf, 0, (int)size - 1);
    }
}
