using Joules.Output;

namespace Joules.Planning;

/// <summary>
/// A plan's output folder (worklist.parquet, results.parquet, report.html), built in a staging folder and swapped in
/// whole (<see cref="StagedDirectory"/>): an interrupted or failed plan leaves the folder as it was, an earlier plan's
/// results never sit beside a new work list, and a folder of the user's own files is refused, as `simulate --out` does.
/// </summary>
public sealed class PlanOutput : IDisposable
{
    public const string WorkListFile = "worklist.parquet";
    public const string ResultsFile = "results.parquet";
    public const string ReportFile = "report.html";

    private readonly StagedDirectory _staged;
    private readonly List<string> _written = [];

    private PlanOutput(string folder, StagedDirectory staged)
    {
        Folder = folder;
        _staged = staged;
    }

    /// <summary>The folder as the user gave it.</summary>
    public string Folder { get; }

    /// <summary>The files written so far (staged until <see cref="Commit"/>), in order.</summary>
    public IReadOnlyList<string> Written => _written;

    /// <summary>
    /// Stages <paramref name="folder"/>. Refuses a file, a non-empty folder joules did not write, and a folder holding one of
    /// <paramref name="inputs"/> (the work list or trace the plan reads, which the swap would delete), before anything is written.
    /// </summary>
    public static PlanOutput Create(string folder, IEnumerable<string> inputs, CancellationToken cancel = default)
    {
        if (OutputPaths.FindInputWithin(folder, inputs) is { } clash)
            throw new OutputRefusedException($"--out: '{folder}' holds '{clash}', which this plan reads and its outputs would replace; choose another folder. Nothing was written.");
        return new PlanOutput(folder, StagedDirectory.Create(folder, cancel));
    }

    public void Write(WorkList list, CancellationToken cancel = default) => Add(WorkListFile, path => list.Write(path, cancel));

    public void Write(PlanResults results, CancellationToken cancel = default) => Add(ResultsFile, path => results.Write(path, cancel));

    /// <summary>Writes one more output through <paramref name="write"/>, given its staged path (report.html, which Joules.Reports renders).</summary>
    public void Add(string file, Action<string> write)
    {
        write(_staged.PathFor(file));
        _written.Add(file);
    }

    /// <summary>Swaps the staged folder in for <see cref="Folder"/>; throws <see cref="OperationCanceledException"/>, leaving the folder as it was, when cancellation came first.</summary>
    public void Commit() => _staged.Commit();

    /// <summary>What a plan stopped before <see cref="Commit"/> leaves, for the interruption message: nothing, and <paramref name="folder"/> as it was.</summary>
    public static string NotWrittenMessage(string folder) => $"nothing was written: '{folder}' is as it was before the plan";

    /// <summary>Without a commit: deletes the staging folder; <see cref="Folder"/> is untouched.</summary>
    public void Dispose() => _staged.Dispose();
}
