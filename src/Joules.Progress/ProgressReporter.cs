namespace Joules.Progress;

/// <summary>
/// Progress of a long job on a writer (stderr), in stages: a redrawn line with percent and ETA on a terminal, or a plain
/// line every few seconds when stderr is not a terminal. Reports are cheap (a field write) and thread-safe; drawing
/// happens on a timer.
/// </summary>
/// <remarks>
/// Usage: <c>using var p = ProgressReporter.ForConsole(stderr); p.Begin("importing", totalBytes, ProgressUnit.Bytes);
/// ... p.Report(position); p.Count(rows); ... p.Begin("writing", null); ... p.End();</c>. Implements
/// <see cref="IProgress{T}"/> so libraries can take it without depending on this project.
/// </remarks>
public sealed class ProgressReporter : IProgress<long>, IDisposable
{
    /// <summary>How often a terminal line is redrawn.</summary>
    public static readonly TimeSpan TerminalInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>How often a plain line is printed when stderr is not a terminal.</summary>
    public static readonly TimeSpan DefaultLineInterval = TimeSpan.FromSeconds(5);

    private readonly object _gate = new();
    private readonly TextWriter _writer;
    private readonly TimeProvider _time;
    private readonly ITimer? _timer;
    private string? _label;
    private long? _total;
    private ProgressUnit _unit;
    private long _done;
    private long _rows = -1;
    private long _started;
    private int _drawnWidth;
    private bool _printedLine;
    private bool _disposed;

    public ProgressReporter(TextWriter writer, ProgressStyle style, TimeSpan? lineInterval = null, TimeProvider? time = null)
    {
        _writer = writer;
        Style = style;
        _time = time ?? TimeProvider.System;
        if (style != ProgressStyle.Off)
        {
            var every = style == ProgressStyle.Terminal ? TerminalInterval : lineInterval ?? DefaultLineInterval;
            _timer = _time.CreateTimer(_ => Render(), null, every, every);
        }
    }

    public ProgressStyle Style { get; }

    /// <summary>The style for a writer: <see cref="ProgressStyle.Terminal"/> when it is the process's stderr and that is a terminal, else <see cref="ProgressStyle.Lines"/>; <see cref="ProgressStyle.Off"/> when not <paramref name="enabled"/>.</summary>
    public static ProgressStyle StyleFor(TextWriter stderr, bool enabled = true) =>
        !enabled ? ProgressStyle.Off
        : ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected ? ProgressStyle.Terminal
        : ProgressStyle.Lines;

    /// <summary>A reporter on <paramref name="stderr"/> in the style <see cref="StyleFor"/> picks.</summary>
    public static ProgressReporter ForConsole(TextWriter stderr, bool enabled = true) => new(stderr, StyleFor(stderr, enabled));

    /// <summary>Starts a stage (ending the one before): <paramref name="total"/> is the amount of work when known (rows, or bytes with <see cref="ProgressUnit.Bytes"/>), else null.</summary>
    public void Begin(string label, long? total, ProgressUnit unit = ProgressUnit.Rows)
    {
        lock (_gate)
        {
            EndStage();
            _label = label;
            _total = total;
            _unit = unit;
            Interlocked.Exchange(ref _done, 0);
            Interlocked.Exchange(ref _rows, -1);
            _started = _time.GetTimestamp();
            _printedLine = false;
        }
    }

    /// <summary>The amount of the current stage done so far.</summary>
    public void Report(long done) => Interlocked.Exchange(ref _done, done);

    /// <summary>Adds <paramref name="amount"/> to the current stage's amount done (for work counted in several places).</summary>
    public void Advance(long amount) => Interlocked.Add(ref _done, amount);

    /// <summary>Passes a stream through, advancing the current stage by one per item (in steps of 4,096).</summary>
    public IEnumerable<T> Track<T>(IEnumerable<T> source)
    {
        var pending = 0;
        foreach (var item in source)
        {
            if (++pending == 4096)
            {
                Advance(pending);
                pending = 0;
            }
            yield return item;
        }
        Advance(pending);
    }

    /// <summary>Rows handled so far, shown beside a byte count.</summary>
    public void Count(long rows) => Interlocked.Exchange(ref _rows, rows);

    /// <summary>Changes the current stage's total (for example once a file's row count is known).</summary>
    public void SetTotal(long? total)
    {
        lock (_gate) _total = total;
    }

    /// <summary>Ends the current stage: clears the terminal line; in line mode prints a closing line when the stage printed any.</summary>
    public void End()
    {
        lock (_gate) EndStage();
    }

    private void EndStage()
    {
        if (_label is null) return;
        if (Style == ProgressStyle.Terminal) Clear();
        else if (Style == ProgressStyle.Lines && _printedLine) WriteLine(Text(finished: true));
        _label = null;
    }

    /// <summary>Draws the current stage now (the timer calls this).</summary>
    internal void Render()
    {
        lock (_gate)
        {
            if (_disposed || _label is null) return;
            var text = Text(finished: false);
            if (Style == ProgressStyle.Terminal)
            {
                Write("\r" + text + new string(' ', Math.Max(0, _drawnWidth - text.Length)));
                _drawnWidth = text.Length;
            }
            else if (Style == ProgressStyle.Lines)
            {
                WriteLine(text);
                _printedLine = true;
            }
        }
    }

    private string Text(bool finished)
    {
        var rows = Interlocked.Read(ref _rows);
        return ProgressText.Describe(_label!, Interlocked.Read(ref _done), _total, _unit, rows >= 0 ? rows : null, _time.GetElapsedTime(_started), finished);
    }

    private void Clear()
    {
        if (_drawnWidth == 0) return;
        Write("\r" + new string(' ', _drawnWidth) + "\r");
        _drawnWidth = 0;
    }

    private void Write(string s)
    {
        try { _writer.Write(s); _writer.Flush(); }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
    }

    private void WriteLine(string s)
    {
        try { _writer.WriteLine(s); _writer.Flush(); }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Stops the timer and clears the line (an interrupted job leaves no half-drawn status behind).</summary>
    public void Dispose()
    {
        _timer?.Dispose();
        lock (_gate)
        {
            if (_disposed) return;
            if (Style == ProgressStyle.Terminal) Clear();
            _label = null;
            _disposed = true;
        }
    }
}
