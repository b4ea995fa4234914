namespace Joules.Progress;

/// <summary>How progress is shown.</summary>
public enum ProgressStyle
{
    /// <summary>Nothing.</summary>
    Off,
    /// <summary>One status line redrawn in place (stderr is a terminal). The cursor is never hidden, so an interrupted run cannot leave it hidden.</summary>
    Terminal,
    /// <summary>A plain line every few seconds (CI logs, nohup, a file): nothing for short jobs.</summary>
    Lines,
}

/// <summary>What the counts of a stage measure.</summary>
public enum ProgressUnit
{
    /// <summary>Rows or requests, shown as counts (1,234,567).</summary>
    Rows,
    /// <summary>Bytes of a file read or written, shown in MB; the stage's row count, when reported, is shown beside it.</summary>
    Bytes,
}
