namespace Joules.Simulation;

/// <summary>Mean and quantiles of a latency, in seconds.</summary>
public readonly record struct Distribution(double Mean, double P50, double P90, double P99, double Max)
{
    public static Distribution From(LogHistogram h) => new(h.Mean, h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Max);
}

/// <summary>Everything a simulation run reports: workload, energy, latency, SLOs, utilisation.</summary>
public sealed record SimulationSummary
{
    public required string Name { get; init; }
    public required string CostModel { get; init; }
    /// <summary>The cost model's kind (profile, roofline, ...), so tables can mark scenarios priced differently.</summary>
    public string CostModelKind { get; init; } = "";
    public required string Gpu { get; init; }
    public required string Model { get; init; }
    public required int TensorParallel { get; init; }
    public required int Instances { get; init; }
    public required string Router { get; init; }
    public required string Batching { get; init; }
    public required string Mode { get; init; }
    public int MaxNumSeqs { get; init; }
    public int MaxNumBatchedTokens { get; init; }
    public int MaxModelLen { get; init; }
    public int KvBlocksPerInstance { get; init; }
    public bool PrefixCaching { get; init; }
    public required long RequestsTotal { get; init; }
    public required long RequestsCompleted { get; init; }
    public required long RequestsRejected { get; init; }
    /// <summary>Rejected because prompt plus output exceed max-model-len.</summary>
    public long RejectedMaxModelLen { get; init; }
    /// <summary>Rejected because they need more KV blocks than an instance has.</summary>
    public long RejectedKvCapacity { get; init; }
    public required long InputTokens { get; init; }
    public required long OutputTokens { get; init; }
    public required double SimulatedSeconds { get; init; }
    public double WallSeconds { get; init; }
    public required long Iterations { get; init; }
    /// <summary>Tokens that passed through the model: prompts (less prefix-cache hits), recomputation after preemptions, decode steps.</summary>
    public long ComputedTokens { get; init; }
    public required long Events { get; init; }
    public required double BusyJoules { get; init; }
    public required double IdleJoules { get; init; }
    public required double AttributedJoules { get; init; }
    /// <summary>Prompt tokens first admissions looked up in the prefix cache (re-admissions after a preemption are counted apart, as vLLM counts them).</summary>
    public long PrefixQueriedTokens { get; init; }
    /// <summary>Of those, tokens found cached and not computed.</summary>
    public long PrefixHitTokens { get; init; }
    /// <summary>Tokens preempted requests found cached when re-admitted (their own blocks, mostly), not computed again.</summary>
    public long PrefixPreemptedHitTokens { get; init; }
    /// <summary>Hit tokens over looked-up tokens (vLLM's prefix cache hit rate).</summary>
    public double PrefixHitRate => PrefixQueriedTokens > 0 ? (double)PrefixHitTokens / PrefixQueriedTokens : 0;
    /// <summary>Prefill energy the cache saved, as the cost model prices the uncached counterfactual iterations.</summary>
    public double PrefixSavedJoules { get; init; }
    /// <summary>Energy at the GPUs: busy plus idle plus cold starts over all instances (parked GPUs draw nothing).</summary>
    public double EnergyJ => BusyJoules + IdleJoules + WakingJoules;
    public double EnergyKwh => EnergyJ / 3.6e6;
    /// <summary>GPU energy of cold starts (idle power while loading weights and starting the engine); part of <see cref="EnergyJ"/>.</summary>
    public double WakingJoules { get; init; }
    public int ColdStarts { get; init; }
    /// <summary>GPU-hours with the GPUs on (not parked): what a planner pays for.</summary>
    public double GpuHours { get; init; }
    public string Autoscaler { get; init; } = "fixed";
    public int ScaleEvents { get; init; }
    /// <summary>Time-weighted mean number of instances not parked.</summary>
    public double MeanInstances { get; init; }
    public double ColdStartSeconds { get; init; }
    /// <summary>Share of GPU energy spent idle (loaded, not iterating).</summary>
    public double IdleShare => EnergyJ > 0 ? IdleJoules / EnergyJ : 0;
    /// <summary>Of the busy energy, tensor-parallel all-reduce (modelled for shard profiles and the roofline).</summary>
    public double CommJoules { get; init; }
    /// <summary>The servers' non-GPU energy (CPUs, memory, NICs, fans, switches, power-supply loss) for the GPUs used; 0 with no node card.</summary>
    public double HostJoules { get; init; }
    /// <summary>The server card host energy comes from, or null (GPU-only figures).</summary>
    public string? Node { get; init; }
    /// <summary>GPU plus host energy: what the servers draw from the wall.</summary>
    public double ServerJ => EnergyJ + HostJoules;
    /// <summary>Busy energy priced exactly at a measured point.</summary>
    public double PricedExactJoules { get; init; }
    /// <summary>Busy energy interpolated between measured points.</summary>
    public double PricedInterpolatedJoules { get; init; }
    /// <summary>Busy energy from the profile's physical fit, inside the measured range.</summary>
    public double PricedFittedJoules { get; init; }
    /// <summary>Busy energy from shapes beyond anything measured.</summary>
    public double PricedExtrapolatedJoules { get; init; }
    /// <summary>Busy energy from an analytic model (the roofline).</summary>
    public double PricedModelJoules { get; init; }
    /// <summary>Share of busy energy priced by extrapolation beyond the measured grid.</summary>
    public double ExtrapolatedShare => BusyJoules > 0 ? PricedExtrapolatedJoules / BusyJoules : 0;
    public double JPerInputToken => InputTokens > 0 ? EnergyJ / InputTokens : double.NaN;
    public double JPerOutputToken => OutputTokens > 0 ? EnergyJ / OutputTokens : double.NaN;
    public double JPerRequest => RequestsCompleted > 0 ? EnergyJ / RequestsCompleted : double.NaN;
    public required double Pue { get; init; }
    /// <summary>Facility energy: (GPU + host) x PUE.</summary>
    public double FacilityKwh => ServerJ / 3.6e6 * Pue;
    public required double CarbonGramsPerKwh { get; init; }
    public bool CarbonSet { get; init; }
    public bool PriceSet { get; init; }
    public double Co2Grams => FacilityKwh * CarbonGramsPerKwh;
    public required double PricePerKwh { get; init; }
    public double Cost => FacilityKwh * PricePerKwh;
    public required Distribution Ttft { get; init; }
    public required Distribution Tpot { get; init; }
    public required Distribution E2e { get; init; }
    public required Distribution Queue { get; init; }
    public required double TtftTargetS { get; init; }
    public required double TpotTargetS { get; init; }
    /// <summary>Fraction of all requests (rejected ones included) that met both the TTFT and TPOT targets.</summary>
    public required double SloAttainment { get; init; }
    public required double TtftAttainment { get; init; }
    public required double TpotAttainment { get; init; }
    public double RequestsPerSecond => SimulatedSeconds > 0 ? RequestsCompleted / SimulatedSeconds : 0;
    public double OutputTokensPerSecond => SimulatedSeconds > 0 ? OutputTokens / SimulatedSeconds : 0;
    /// <summary>Busy time over simulated time, averaged over instances.</summary>
    public required double BusyFraction { get; init; }
    public required double PeakKvFraction { get; init; }
    public required long Preemptions { get; init; }
    public required IReadOnlyList<InstanceStats> PerInstance { get; init; }
    /// <summary>Mean power of the whole cluster over the simulated span.</summary>
    public double MeanWatts => SimulatedSeconds > 0 ? EnergyJ / SimulatedSeconds : 0;
}

/// <summary>Accumulates request outcomes into streaming histograms and counters.</summary>
public sealed class MetricsCollector(SloConfig slo)
{
    public LogHistogram Ttft { get; } = new();
    public LogHistogram Tpot { get; } = new();
    public LogHistogram E2e { get; } = new();
    public LogHistogram Queue { get; } = new();
    public long Completed { get; private set; }
    public long Rejected { get; private set; }
    public long RejectedMaxModelLen { get; private set; }
    public long RejectedKvCapacity { get; private set; }
    public long InputTokens { get; private set; }
    public long OutputTokens { get; private set; }
    public double AttributedJoules { get; private set; }
    public long TtftMet { get; private set; }
    public long TpotMet { get; private set; }
    public long BothMet { get; private set; }

    public void Add(in RequestResult r)
    {
        if (r.Rejected)
        {
            Rejected++;
            if (r.Reason == RejectReason.MaxModelLen) RejectedMaxModelLen++;
            else if (r.Reason == RejectReason.KvCapacity) RejectedKvCapacity++;
            return;
        }
        Completed++;
        InputTokens += r.InputTokens;
        OutputTokens += r.OutputTokens;
        AttributedJoules += r.EnergyJ;
        var ttft = r.TtftS;
        var tpot = r.TpotS;
        Ttft.Add(ttft);
        if (r.OutputTokens > 1) Tpot.Add(tpot);
        E2e.Add(r.E2eS);
        Queue.Add(r.QueueS);
        var a = ttft <= slo.TtftSeconds;
        var b = tpot <= slo.TpotSeconds;
        if (a) TtftMet++;
        if (b) TpotMet++;
        if (a && b) BothMet++;
    }
}
