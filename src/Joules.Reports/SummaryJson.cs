using System.Text;
using System.Text.Json;
using Joules.Simulation;

namespace Joules.Reports;

/// <summary>Writes simulation summaries as JSON (snake_case keys; non-finite numbers as null).</summary>
public static class SummaryJson
{
    /// <summary>
    /// The run as <c>{"provenance": {...}, "scenarios": [...]}</c>: the same shape for one scenario and for several,
    /// so tools reading it need one code path.
    /// </summary>
    public static string Serialize(IReadOnlyList<SimulationSummary> summaries, RunProvenance? provenance = null, bool perInstance = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("schema", "joules-summary/2");
            provenance?.Write(w);
            w.WriteStartArray("scenarios");
            foreach (var s in summaries) Write(w, s, perInstance);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public static string Serialize(SimulationSummary summary, bool perInstance = true) => Serialize([summary], null, perInstance);

    public static void Write(Utf8JsonWriter w, SimulationSummary s, bool perInstance = true)
    {
        w.WriteStartObject();
        w.WriteString("name", s.Name);
        w.WriteString("cost_model", s.CostModel);
        w.WriteString("cost_model_kind", s.CostModelKind);
        w.WriteString("gpu", s.Gpu);
        w.WriteString("model", s.Model);
        w.WriteNumber("tp", s.TensorParallel);
        w.WriteNumber("instances", s.Instances);
        w.WriteString("router", s.Router);
        w.WriteString("batching", s.Batching);
        w.WriteString("mode", s.Mode);
        w.WriteNumber("requests_total", s.RequestsTotal);
        w.WriteNumber("requests_completed", s.RequestsCompleted);
        w.WriteNumber("requests_rejected", s.RequestsRejected);
        w.WriteStartObject("rejected_by_reason");
        w.WriteNumber("max-model-len", s.RejectedMaxModelLen);
        w.WriteNumber("kv-capacity", s.RejectedKvCapacity);
        w.WriteEndObject();
        w.WriteStartObject("engine");
        w.WriteNumber("max_num_seqs", s.MaxNumSeqs);
        w.WriteNumber("max_num_batched_tokens", s.MaxNumBatchedTokens);
        w.WriteNumber("max_model_len", s.MaxModelLen);
        w.WriteNumber("kv_blocks_per_instance", s.KvBlocksPerInstance);
        w.WriteBoolean("prefix_caching", s.PrefixCaching);
        w.WriteEndObject();
        w.WriteNumber("input_tokens", s.InputTokens);
        w.WriteNumber("output_tokens", s.OutputTokens);
        Num(w, "simulated_s", s.SimulatedSeconds);
        Num(w, "wall_s", s.WallSeconds);
        Num(w, "simulated_per_wall", s.WallSeconds > 0 ? s.SimulatedSeconds / s.WallSeconds : double.NaN);
        w.WriteNumber("iterations", s.Iterations);
        w.WriteNumber("computed_tokens", s.ComputedTokens);
        w.WriteNumber("events", s.Events);
        Num(w, "energy_j", s.EnergyJ);
        Num(w, "energy_kwh", s.EnergyKwh);
        Num(w, "busy_j", s.BusyJoules);
        Num(w, "idle_j", s.IdleJoules);
        Num(w, "attributed_j", s.AttributedJoules);
        Num(w, "comm_j", s.CommJoules);
        Num(w, "waking_j", s.WakingJoules);
        Num(w, "idle_share", s.IdleShare);
        w.WriteStartObject("autoscaling");
        w.WriteString("policy", s.Autoscaler);
        w.WriteNumber("scale_events", s.ScaleEvents);
        w.WriteNumber("cold_starts", s.ColdStarts);
        Num(w, "cold_start_s", s.ColdStartSeconds);
        Num(w, "mean_instances", s.MeanInstances);
        Num(w, "gpu_hours", s.GpuHours);
        w.WriteEndObject();
        if (s.Node is { } node) w.WriteString("node", node); else w.WriteNull("node");
        Num(w, "host_j", s.HostJoules);
        Num(w, "server_j", s.ServerJ);
        w.WriteStartObject("priced_j");
        Num(w, "exact", s.PricedExactJoules);
        Num(w, "interpolated", s.PricedInterpolatedJoules);
        Num(w, "fitted", s.PricedFittedJoules);
        Num(w, "extrapolated", s.PricedExtrapolatedJoules);
        Num(w, "model", s.PricedModelJoules);
        w.WriteEndObject();
        Num(w, "extrapolated_share", s.ExtrapolatedShare);
        w.WriteStartObject("prefix_cache");
        w.WriteNumber("queried_tokens", s.PrefixQueriedTokens);
        w.WriteNumber("hit_tokens", s.PrefixHitTokens);
        w.WriteNumber("preempted_hit_tokens", s.PrefixPreemptedHitTokens);
        Num(w, "hit_rate", s.PrefixHitRate);
        Num(w, "saved_prefill_j", s.PrefixSavedJoules);
        w.WriteEndObject();
        Num(w, "j_per_input_token", s.JPerInputToken);
        Num(w, "j_per_output_token", s.JPerOutputToken);
        Num(w, "j_per_request", s.JPerRequest);
        Num(w, "mean_power_w", s.MeanWatts);
        Num(w, "pue", s.Pue);
        Num(w, "facility_kwh", s.FacilityKwh);
        // Not set is null, not 0: a missing carbon intensity or price is not a free, clean grid.
        Num(w, "carbon_g_per_kwh", s.CarbonSet ? s.CarbonGramsPerKwh : double.NaN);
        Num(w, "co2_g", s.CarbonSet ? s.Co2Grams : double.NaN);
        Num(w, "price_per_kwh", s.PriceSet ? s.PricePerKwh : double.NaN);
        Num(w, "cost", s.PriceSet ? s.Cost : double.NaN);
        Dist(w, "ttft_s", s.Ttft);
        Dist(w, "tpot_s", s.Tpot);
        Dist(w, "e2e_s", s.E2e);
        Dist(w, "queue_s", s.Queue);
        w.WriteStartObject("slo");
        Num(w, "ttft_s", s.TtftTargetS);
        Num(w, "tpot_s", s.TpotTargetS);
        w.WriteEndObject();
        Num(w, "slo_attainment", s.SloAttainment);
        Num(w, "ttft_attainment", s.TtftAttainment);
        Num(w, "tpot_attainment", s.TpotAttainment);
        Num(w, "throughput_rps", s.RequestsPerSecond);
        Num(w, "output_tokens_per_s", s.OutputTokensPerSecond);
        Num(w, "busy_fraction", s.BusyFraction);
        Num(w, "peak_kv_fraction", s.PeakKvFraction);
        w.WriteNumber("preemptions", s.Preemptions);
        if (perInstance)
        {
            w.WriteStartArray("per_instance");
            foreach (var i in s.PerInstance)
            {
                w.WriteStartObject();
                w.WriteNumber("instance", i.Instance);
                w.WriteNumber("requests", i.RequestsRouted);
                w.WriteNumber("iterations", i.Iterations);
                Num(w, "busy_s", i.BusySeconds);
                Num(w, "busy_j", i.BusyJoules);
                Num(w, "idle_j", i.IdleJoules);
                w.WriteNumber("preemptions", i.Preemptions);
                Num(w, "peak_kv_fraction", i.PeakKvFraction);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void Dist(Utf8JsonWriter w, string name, Distribution d)
    {
        w.WriteStartObject(name);
        Num(w, "mean", d.Mean);
        Num(w, "p50", d.P50);
        Num(w, "p90", d.P90);
        Num(w, "p99", d.P99);
        Num(w, "max", d.Max);
        w.WriteEndObject();
    }

    private static void Num(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }
}
