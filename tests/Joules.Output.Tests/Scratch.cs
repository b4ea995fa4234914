namespace Joules.Output.Tests;

/// <summary>A fresh temporary folder per test, deleted afterwards.</summary>
public sealed class Scratch : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "joules-output-tests", Guid.NewGuid().ToString("N"));

    public Scratch() => Directory.CreateDirectory(Dir);

    public string this[string name] => Path.Combine(Dir, name);

    /// <summary>Every entry under the folder, relative, sorted: what a test expects to find and nothing more.</summary>
    public string[] Entries() => Directory.EnumerateFileSystemEntries(Dir, "*", SearchOption.AllDirectories)
        .Select(p => Path.GetRelativePath(Dir, p)).Order(StringComparer.Ordinal).ToArray();

    public void Dispose()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
