using System.Diagnostics;
using System.Text.Json;
using Joules.Profiles;
using Joules.Profiles.Measured;

namespace Joules.Calibration.Measurement;

/// <summary>What to calibrate: model, tensor-parallel shard or whole instance, grid, clocks and provenance.</summary>
public sealed record CalibrationPlan
{
    public required ModelCard Model { get; init; }
    public int Tp { get; init; } = 1;
    /// <summary>Measure the whole tp instance on its tp GPUs (energy summed over them) rather than one GPU's shard.</summary>
    public bool WholeInstance { get; init; }
    /// <summary>Further provenance for the profile metadata (e.g. the NCCL version of a whole instance).</summary>
    public IReadOnlyDictionary<string, string> ExtraMetadata { get; init; } = new Dictionary<string, string>();
    public required CalibrationGrid Grid { get; init; }
    /// <summary>SM clocks to sweep; empty measures at the card's default clocks only.</summary>
    public IReadOnlyList<uint> SmClocks { get; init; } = [];
    /// <summary>Measure the idle point (always measured when anything else is, since windows are corrected with it; this controls whether it is listed).</summary>
    public bool IncludeIdle { get; init; } = true;
    /// <summary>Measure a point that does not fit in device memory at the longest decode context that does (<see cref="MemoryFit"/>) instead of only skipping it.</summary>
    public bool FitToMemory { get; init; }
    public string ToolVersion { get; init; } = "";
    public string Command { get; init; } = "";
    public DateTimeOffset CreatedUtc { get; init; } = DateTimeOffset.UtcNow;
}

/// <summary>Outcome of a calibration run.</summary>
public sealed record CalibrationResult(MeasuredProfile Profile, IReadOnlyList<(CalibrationPoint Point, uint? SmClock, string Reason)> Skipped, int Measured, int Resumed);

/// <summary>Runs a grid through the measurement protocol: idle first, then each point (at each clock), logging every trial so an interrupted run resumes.</summary>
public sealed class CalibrationRunner
{
    private readonly IReadOnlyList<IGpuTelemetry> _gpus;
    private readonly IIterationWorkload _workload;
    private readonly IMeasurementClock _clock;
    private readonly MeasurementProtocol _protocol;
    private readonly TextWriter _progress;

    public CalibrationRunner(IGpuTelemetry gpu, IIterationWorkload workload, IMeasurementClock clock, MeasurementOptions options, TextWriter progress)
        : this([gpu], workload, clock, options, progress) { }

    /// <summary>A runner over every GPU of a whole instance (<paramref name="gpus"/> in rank order), energy summed over them.</summary>
    public CalibrationRunner(IReadOnlyList<IGpuTelemetry> gpus, IIterationWorkload workload, IMeasurementClock clock, MeasurementOptions options, TextWriter progress)
    {
        if (gpus.Count == 0) throw new ArgumentException("calibration needs at least one GPU");
        if (gpus.Select(g => g.Name).Distinct().Count() > 1)
            throw new CalibrationException($"a tensor-parallel instance needs GPUs of one type, got {string.Join(", ", gpus.Select(g => g.Name))}");
        _gpus = gpus;
        _workload = workload;
        _clock = clock;
        _protocol = new MeasurementProtocol(gpus, clock, options);
        _progress = progress;
    }

    public MeasurementProtocol Protocol => _protocol;

    /// <summary>Header identifying this run in the raw log.</summary>
    public RawLogHeader HeaderFor(CalibrationPlan plan) => new()
    {
        GpuName = _gpus[0].Name,
        GpuUuid = _gpus[0].Uuid,
        WholeInstance = plan.WholeInstance,
        GpuUuids = plan.WholeInstance ? _gpus.Select(g => g.Uuid).ToArray() : [],
        Model = plan.Model.Name,
        ModelCard = JsonSerializer.Serialize(plan.Model),
        Tp = plan.Tp,
        Grid = plan.Grid.ToJson(plan.SmClocks),
        GridFingerprint = plan.Grid.Fingerprint(plan.SmClocks),
        ToolVersion = plan.ToolVersion,
        CreatedUtc = plan.CreatedUtc.UtcDateTime.ToString("O"),
        WindowSeconds = _protocol.Options.WindowSeconds,
        Trials = _protocol.Options.Trials,
        Engine = RawLogHeader.EngineFingerprint(plan.ExtraMetadata),
    };

    /// <summary>Measures everything in the plan not already complete in the raw log at <paramref name="rawLogPath"/>, and returns the profile of all completed points.</summary>
    /// <param name="plan">What to measure.</param>
    /// <param name="rawLogPath">The append-only per-trial log; an existing log for the same GPU, model, tp and grid is resumed.</param>
    /// <param name="force">Start a new log when the existing one was recorded for something else.</param>
    /// <param name="clockControl">Required when the plan sweeps clocks; the caller has checked the user's permission.</param>
    /// <param name="cancel">Cancels between windows; clocks are restored.</param>
    /// <param name="resumeOnAnotherCard">Resume a log recorded on another card of the same GPU model; each point keeps the UUID of the card that measured it.</param>
    public CalibrationResult Run(CalibrationPlan plan, string rawLogPath, bool force, IGpuClockControl? clockControl, CancellationToken cancel, bool resumeOnAnotherCard = false)
    {
        if (plan.SmClocks.Count > 0 && clockControl is null)
            throw new CalibrationException("a clock sweep needs clock control, and none is available on this machine");
        if (plan.WholeInstance && plan.Tp != _gpus.Count)
            throw new CalibrationException($"a whole tp={plan.Tp} instance is measured on {plan.Tp} GPUs, not {_gpus.Count}");
        if (!plan.WholeInstance && _gpus.Count != 1)
            throw new CalibrationException("one GPU's shard is measured on one GPU");
        using var log = RawLog.OpenOrResume(rawLogPath, HeaderFor(plan), force, resumeOnAnotherCard && !plan.WholeInstance);
        if (log.Resumed > 0)
            _progress.WriteLine($"resuming {rawLogPath}: {log.Resumed} point(s) already measured" +
                                (log.ChangedCard ? $", last on another card; the rest are measured on {_gpus[0].Uuid} and marked so" : ""));

        var clocks = plan.SmClocks.Count == 0 ? [null] : plan.SmClocks.Select(c => (uint?)c).ToArray();
        var work = clocks.SelectMany(c => plan.Grid.Points.Select(p => (Point: p, Clock: c))).ToArray();
        var total = work.Length + 1;
        var done = 1;
        var measured = 0;
        var estimatePerPoint = _protocol.Options.EstimatedSecondsPerPoint;
        var started = Stopwatch.StartNew();

        var idleKey = CalibrationGrid.Key(new CalibrationPoint(Phase.Idle, 0, 0, 0), null);
        if (log.Completed.TryGetValue(idleKey, out var idle) && log.ChangedCard)
        {
            // The log's idle point is the first card's (and stays the profile's); the window corrections and the settle
            // check on this card need this card's own idle power.
            _progress.WriteLine($"[1/{total}] idle on this card: measuring with nothing running ({_protocol.Options.IdleTrials} x {_protocol.Options.IdleWindowSeconds:0.#} s)");
            var here = _protocol.MeasureIdle(cancel);
            log.AppendCardIdle(here);
            _progress.WriteLine($"        idle power here {here.MeanPowerWatts:0.0} W, {idle.MeanPowerWatts:0.0} W on the first card");
        }
        else if (idle is not null)
        {
            if (idle.PerGpu.Count == _gpus.Count && _gpus.Count > 1) _protocol.IdleWattsPerGpu = idle.PerGpu.Select(g => g.MeanPowerWatts).ToArray();
            else _protocol.IdleWatts = idle.MeanPowerWatts;
        }
        else
        {
            _progress.WriteLine($"[1/{total}] idle: measuring with nothing running ({_protocol.Options.IdleTrials} x {_protocol.Options.IdleWindowSeconds:0.#} s)");
            idle = _protocol.MeasureIdle(cancel);
            for (var i = 0; i < idle.Trials.Count; i++) log.AppendTrial(idle.Point, null, i, idle.Trials[i]);
            log.AppendPoint(idle);
            measured++;
        }
        _progress.WriteLine($"        idle power {idle.MeanPowerWatts:0.0} W (cv {idle.CvEnergy:P1})" +
                            (_gpus.Count > 1 ? $": {string.Join(" + ", _protocol.IdleWattsPerGpu.Select(w => w.ToString("0.0")))} W over {_gpus.Count} GPUs" : ""));

        using var guard = clockControl is null ? null : new ClockGuard(clockControl);
        foreach (var clock in clocks)
        {
            var pending = work.Where(w => w.Clock == clock && !IsDone(log, w.Point, w.Clock)).ToArray();
            done += work.Count(w => w.Clock == clock) - pending.Length;
            if (pending.Length == 0) continue;
            string Label(CalibrationPoint p) => $"[{done}/{total}] {p}{(clock is { } c ? $" @{c} MHz" : "")}";
            void MeasureAll()
            {
                foreach (var (point, _) in pending)
                {
                    cancel.ThrowIfCancellationRequested();
                    done++;
                    var prefix = Label(point);
                    // A stand-in measured earlier in this run may be this very grid point.
                    if (IsDone(log, point, clock)) { _progress.WriteLine($"{prefix}: measured already (as a stand-in)"); continue; }
                    if (!_workload.Fits(point.ToComposition(), out var reason))
                    {
                        reason ??= "does not fit in device memory";
                        var standIn = plan.FitToMemory ? MemoryFit.StandIn(point, p => _workload.Fits(p.ToComposition(), out _)) : null;
                        if (standIn is null)
                        {
                            log.AppendSkip(point, clock, reason);
                            _progress.WriteLine($"{prefix}: skipped ({reason}{(plan.FitToMemory ? "; no shorter decode context fits either" : "; --fit-to-memory measures it at the longest decode context that fits")})");
                            continue;
                        }
                        _progress.WriteLine($"{prefix}: does not fit ({reason}); measuring {standIn} instead");
                        // The stand-in's point first, then the grid point's skip that names it: a run interrupted between
                        // the two finds the stand-in done and records the skip when it resumes.
                        if (!IsDone(log, standIn, clock)) Measure(standIn, Label(standIn));
                        log.AppendSkip(point, clock, $"{reason}; measured as {standIn} instead");
                        continue;
                    }
                    Measure(point, prefix);
                }
            }
            void Measure(CalibrationPoint point, string prefix)
            {
                var composition = point.ToComposition();
                _workload.Prepare(composition);
                var trialIndex = 0;
                var result = _protocol.MeasurePoint(point, clock, _workload, cancel, t => log.AppendTrial(point, clock, trialIndex++, t));
                log.AppendPoint(result);
                measured++;
                var tokens = Math.Max(1, composition.Shape.TotalTokens);
                var elapsed = started.Elapsed.TotalSeconds;
                var perPoint = measured > 1 ? elapsed / measured : estimatePerPoint;
                var eta = TimeSpan.FromSeconds(Math.Max(0, (total - done) * perPoint));
                var throttle = (result.ClockEventReasons & (ulong)ThrottleReasonBits.PowerOrThermal) != 0
                    ? $" THROTTLED ({ThrottleReasonBits.Describe((long)result.ClockEventReasons)})" : "";
                _progress.WriteLine(
                    $"{prefix}: {result.SecondsPerIteration * 1e3:0.00} ms, {result.JoulesPerIteration:0.000} J/iter, " +
                    $"{result.JoulesPerIteration / tokens * 1e3:0.00} mJ/token, {result.MeanPowerWatts:0} W, " +
                    $"cv {result.CvTime:P1}/{result.CvEnergy:P1}, {result.SmClockMHz:0} MHz, {result.TemperatureC:0} C{throttle}; ETA {eta:mm\\:ss}");
                _protocol.Settle(cancel);
            }
            if (clock is { } mhz)
            {
                _progress.WriteLine($"locking SM clock at {mhz} MHz");
                guard!.WithLockedSmClock(mhz, () => { MeasureAll(); return 0; });
                _progress.WriteLine("SM clocks restored to default");
            }
            else
            {
                MeasureAll();
            }
        }

        var skipped = work.Where(w => log.Skipped.ContainsKey(CalibrationGrid.Key(w.Point, w.Clock)))
            .Select(w => (w.Point, w.Clock, log.Skipped[CalibrationGrid.Key(w.Point, w.Clock)])).ToArray();
        var profile = ProfileBuilder.Build(plan, _gpus, log.Completed.Values, idle, plan.IncludeIdle);
        return new CalibrationResult(profile, skipped, measured, log.Resumed);
    }

    private static bool IsDone(RawLog log, CalibrationPoint p, uint? clock)
    {
        var key = CalibrationGrid.Key(p, clock);
        return log.Completed.ContainsKey(key) || log.Skipped.ContainsKey(key);
    }
}

/// <summary>Turns measured points into a <see cref="MeasuredProfile"/> with the GPU's and the run's metadata.</summary>
/// <remarks>
/// A profile's energies and powers are per GPU, and the cost model multiplies them by tp. A whole instance is
/// measured summed over its GPUs, so its profile stores that sum divided by the GPU count (the mean GPU's share,
/// communication included); the sum and each GPU's own figures stay in the raw log. Its metadata says
/// <c>tp.mode=instance</c> and lists the GPUs (<c>gpu.uuids</c>); a shard profile says <c>tp.mode=shard</c>
/// (profiles written before this key existed are shards).
/// </remarks>
public static class ProfileBuilder
{
    /// <summary>Metadata key: "instance" (whole tp instance measured on tp GPUs) or "shard" (one GPU's shard, no communication).</summary>
    public const string ModeKey = "tp.mode";
    /// <summary>Metadata key: GPUs measured together.</summary>
    public const string GpusKey = "tp.gpus";
    /// <summary>Metadata key: comma-separated NVML UUIDs of the measured GPUs, rank order.</summary>
    public const string UuidsKey = "gpu.uuids";
    /// <summary>Metadata key, only for a profile measured on more than one card (see <see cref="ProfileMetadata.CardsKey"/>).</summary>
    public const string CardsKey = ProfileMetadata.CardsKey;
    /// <summary>Metadata key beside <see cref="CardsKey"/>: JSON object from each point measured on another card than gpu.uuid to that card's UUID.</summary>
    public const string PointCardsKey = "gpu.point_cards";

    public static MeasuredProfile Build(CalibrationPlan plan, IGpuTelemetry gpu, IEnumerable<PointResult> results, PointResult idle, bool includeIdle) =>
        Build(plan, [gpu], results, idle, includeIdle);

    public static MeasuredProfile Build(CalibrationPlan plan, IReadOnlyList<IGpuTelemetry> gpus, IEnumerable<PointResult> results, PointResult idle, bool includeIdle)
    {
        var gpu = gpus[0];
        var share = plan.WholeInstance ? gpus.Count : 1;
        // The grid's points and the stand-ins measured for those that did not fit (calibrate --fit-to-memory).
        var wanted = plan.Grid.Points.ToHashSet();
        foreach (var r in results)
            if (!wanted.Contains(r.Point) && plan.Grid.Points.Any(g => MemoryFit.IsStandInOf(r.Point, g))) wanted.Add(r.Point);
        var clocks = plan.SmClocks.Count == 0 ? new HashSet<uint?> { null } : plan.SmClocks.Select(c => (uint?)c).ToHashSet();
        var points = results
            .Where(r => r.Point.Phase != Phase.Idle && wanted.Contains(r.Point) && clocks.Contains(r.SmClockTarget))
            .OrderBy(r => r.SmClockTarget ?? 0).ThenBy(r => r.Point.Phase).ThenBy(r => r.Point.BatchSize).ThenBy(r => r.Point.NewTokens)
            .ThenBy(r => r.Point.ContextTokens).ThenBy(r => r.Point.DecodeSequences)
            .Select(r => ToProfilePoint(r, plan.Tp, share)).ToList();
        if (includeIdle) points.Add(ToProfilePoint(idle, plan.Tp, share));
        var extra = new Dictionary<string, string>(plan.ExtraMetadata);
        var primary = idle.GpuUuid.Length > 0 ? idle.GpuUuid : gpu.Uuid;
        var elsewhere = results.Where(r => r.Point.Phase != Phase.Idle && wanted.Contains(r.Point) && clocks.Contains(r.SmClockTarget) && r.GpuUuid.Length > 0 && r.GpuUuid != primary).ToArray();
        if (elsewhere.Length > 0)
        {
            // A log resumed on another card: the profile says which points each card measured.
            extra[CardsKey] = string.Join("; ", new[] { primary }.Concat(elsewhere.Select(r => r.GpuUuid).Distinct())
                .Select(u => $"{u}: {(u == primary ? points.Count - elsewhere.Length : elsewhere.Count(r => r.GpuUuid == u))} point(s)"));
            extra[PointCardsKey] = JsonSerializer.Serialize(elsewhere.ToDictionary(r => r.Point.ToString() + (r.SmClockTarget is { } c ? $" @{c} MHz" : ""), r => r.GpuUuid));
        }
        if (plan.WholeInstance)
        {
            extra[ModeKey] = "instance";
            extra[GpusKey] = gpus.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
            extra[UuidsKey] = string.Join(",", gpus.Select(g => g.Uuid));
        }
        else if (plan.Tp > 1) extra[ModeKey] = "shard";
        var metadata = new ProfileMetadata
        {
            GpuName = gpu.Name,
            GpuUuid = plan.WholeInstance ? gpu.Uuid : primary,
            DriverVersion = gpu.DriverVersion,
            CudaVersion = gpu.CudaVersion,
            PowerLimitWatts = gpu.PowerLimitWatts,
            Model = plan.Model,
            TensorParallel = plan.Tp,
            Grid = plan.Grid.ToJson(plan.SmClocks),
            ToolVersion = plan.ToolVersion,
            CreatedUtc = plan.CreatedUtc,
            IdlePowerWatts = idle.MeanPowerWatts / share,
            Command = plan.Command,
            Extra = extra,
        };
        return new MeasuredProfile(metadata, points);
    }

    /// <summary>The profile row of a point; <paramref name="gpus"/> &gt; 1 divides a whole instance's summed energy and power into the per-GPU share profiles hold.</summary>
    public static ProfilePoint ToProfilePoint(PointResult r, int tp, int gpus = 1)
    {
        var idle = r.Point.Phase == Phase.Idle;
        return new ProfilePoint
        {
            Phase = r.Point.Phase switch
            {
                Phase.Prefill => ProfilePhase.Prefill,
                Phase.Decode => ProfilePhase.Decode,
                Phase.Mixed => ProfilePhase.Mixed,
                _ => ProfilePhase.Idle,
            },
            BatchSize = r.Point.BatchSize,
            NewTokens = r.Point.NewTokens,
            ContextTokens = r.Point.ContextTokens,
            DecodeSequences = r.Point.DecodeSequences,
            DecodeContext = r.Point.DecodeContext,
            TpDegree = tp,
            SmClockTarget = r.SmClockTarget is { } c ? (int)c : null,
            // For idle the "iteration" is the measurement window.
            IterationSeconds = r.SecondsPerIteration,
            EnergyJoules = r.JoulesPerIteration / gpus,
            MeanPowerWatts = r.MeanPowerWatts / gpus,
            SmClockMHz = r.SmClockMHz,
            TemperatureC = r.TemperatureC,
            ThrottleReasons = unchecked((long)r.ClockEventReasons),
            Repeats = r.Repeats,
            CvTime = idle ? 0 : r.CvTime,
            CvEnergy = r.CvEnergy,
        };
    }
}
