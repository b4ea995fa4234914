namespace Joules.Cuda.Tests;

/// <summary>A test with a temporary folder tree of its own, deleted afterwards; Touch makes empty files in it (fake library layouts).</summary>
public abstract class TempTreeTest : IDisposable
{
    protected readonly string _root;

    protected TempTreeTest(string prefix) => _root = Directory.CreateTempSubdirectory(prefix).FullName;

    public void Dispose()
    {
        Directory.Delete(_root, recursive: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Creates an empty file at the path made of <paramref name="parts"/> under the root, folders included; returns its full path.</summary>
    protected string Touch(params string[] parts)
    {
        var path = Path.Combine([_root, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, []);
        return path;
    }
}
