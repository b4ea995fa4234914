using System.Runtime.InteropServices;
using System.Text;

namespace Joules.Cuda;

/// <summary>The process environment as native libraries see it (libc setenv/getenv).</summary>
/// <remarks>
/// On Unix, <see cref="Environment.SetEnvironmentVariable(string, string)"/> changes only .NET's own copy of the
/// environment; a native library such as NCCL reads the C library's, so a setting meant for it must go through setenv.
/// </remarks>
public static unsafe class NativeEnvironment
{
    private static readonly object s_gate = new();
    private static delegate* unmanaged<byte*, byte*, int, int> s_setenv;
    private static delegate* unmanaged<byte*, byte*> s_getenv;

    private static void Bind()
    {
        if (s_setenv != null) return;
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("native environment access is implemented for Linux only");
        foreach (var name in new[] { "libc.so.6", "libc" })
        {
            if (!NativeLibrary.TryLoad(name, out var libc)) continue;
            if (NativeLibrary.TryGetExport(libc, "setenv", out var set) && NativeLibrary.TryGetExport(libc, "getenv", out var get))
            {
                s_getenv = (delegate* unmanaged<byte*, byte*>)get;
                s_setenv = (delegate* unmanaged<byte*, byte*, int, int>)set;
                return;
            }
        }
        throw new DllNotFoundException("could not load the C library (libc.so.6) to set environment variables for native libraries");
    }

    /// <summary>Sets <paramref name="name"/> to <paramref name="value"/> for native code (setenv) and for .NET.</summary>
    public static void Set(string name, string value)
    {
        lock (s_gate)
        {
            Bind();
            var n = Encoding.UTF8.GetBytes(name + "\0");
            var v = Encoding.UTF8.GetBytes(value + "\0");
            int rc;
            fixed (byte* pn = n, pv = v) rc = s_setenv(pn, pv, 1);
            if (rc != 0) throw new InvalidOperationException($"setenv({name}) failed");
            Environment.SetEnvironmentVariable(name, value);
        }
    }

    /// <summary>The value native code sees for <paramref name="name"/> (getenv), or null when unset.</summary>
    public static string? Get(string name)
    {
        lock (s_gate)
        {
            Bind();
            var n = Encoding.UTF8.GetBytes(name + "\0");
            fixed (byte* pn = n)
            {
                var p = s_getenv(pn);
                return p == null ? null : Marshal.PtrToStringUTF8((nint)p);
            }
        }
    }
}
