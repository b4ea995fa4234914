namespace Joules.Calibration.Measurement;

/// <summary>Locks SM clocks for a clock sweep and guarantees they are restored: on success, on error, on cancellation and at process exit.</summary>
/// <remarks>
/// Changing clocks alters a machine for everyone using it, so it is refused unless the user owns the GPU
/// and says so with --allow-clock-changes. Once locked, the reset runs from a finally block (success,
/// exceptions, Ctrl-C turned into cancellation by the CLI) and, as a last resort, from ProcessExit.
/// </remarks>
public sealed class ClockGuard : IDisposable
{
    private readonly IGpuClockControl _control;
    private readonly object _gate = new();
    private bool _locked;
    private bool _disposed;

    public ClockGuard(IGpuClockControl control)
    {
        _control = control;
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    /// <summary>Whether clocks are currently locked by this guard.</summary>
    public bool Locked
    {
        get { lock (_gate) return _locked; }
    }

    /// <summary>Locks the SM clock to <paramref name="mhz"/>, runs <paramref name="body"/>, and always restores default clocks.</summary>
    public T WithLockedSmClock<T>(uint mhz, Func<T> body)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            lock (_gate) _locked = true; // set before the call: a lock that half-applied must still be reset
            _control.LockSmClocks(mhz, mhz);
            return body();
        }
        finally
        {
            Restore();
        }
    }

    /// <summary>Resets clocks if this guard locked them.</summary>
    public void Restore()
    {
        lock (_gate)
        {
            if (!_locked) return;
            try
            {
                _control.ResetSmClocks();
                _locked = false;
            }
            catch (Exception e)
            {
                throw new CalibrationException($"could not restore the GPU's default SM clocks ({e.Message}); restore them by hand with `nvidia-smi -rgc`", e);
            }
        }
    }

    private void OnProcessExit(object? sender, EventArgs e)
    {
        try
        {
            Restore();
        }
        catch (CalibrationException)
        {
            // Nothing more can be done at exit; the message was the best effort.
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        Restore();
    }

    /// <summary>Refuses a clock sweep that was not explicitly allowed, explaining why.</summary>
    public static void RequirePermission(IReadOnlyCollection<uint> smClocks, bool allowClockChanges)
    {
        if (smClocks.Count == 0 || allowClockChanges) return;
        throw new CalibrationException(
            "--sm-clocks locks the GPU's SM clock, which changes the card for every user of this machine until it is restored. " +
            "Do it only on a GPU you own and nobody else is using, and say so with --allow-clock-changes " +
            "(clocks are restored after the sweep, on errors and on Ctrl-C).");
    }

    /// <summary>Parses "1200,1500,1980" into MHz values.</summary>
    public static IReadOnlyList<uint> ParseClocks(string? list)
    {
        if (string.IsNullOrWhiteSpace(list)) return [];
        var result = new List<uint>();
        foreach (var raw in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!uint.TryParse(raw, out var mhz) || mhz < 100 || mhz > 5000)
                throw new ArgumentException($"--sm-clocks: '{raw}' is not a clock in MHz (expected e.g. 1200,1500,1980)");
            if (!result.Contains(mhz)) result.Add(mhz);
        }
        return result;
    }
}
