using System.Globalization;
using System.Text;
using Joules.Serving.Loop;

namespace Joules.Serving.Http;

/// <summary>
/// GET /metrics in Prometheus text (format 0.0.4), with vLLM's metric names where they exist (running and waiting
/// requests, KV use, preemptions, prompt and generation tokens, finished requests, cache config) and joules: ones for
/// what vLLM has no name for: GPU power and energy, iterations and the host time between them, the engine's
/// configuration. Written here rather than with prometheus-net, whose name check refuses vLLM's "vllm:" names.
/// </summary>
public sealed class ServerMetrics(ServingLoop loop, ServeInfo info)
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    /// <summary>The exposition text of the metrics now.</summary>
    public string Render()
    {
        var n = loop.Snapshot;
        var s = info.Scheduler;
        var sb = new StringBuilder(4096);
        var model = Labels(("model_name", info.ModelName));
        void Metric(string name, string type, string help, double value, string labels)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            sb.Append(name).Append(labels).Append(' ').Append(Number(value)).Append('\n');
        }
        string B(bool v) => v ? "True" : "False";
        Metric("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", n.Running, model);
        Metric("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", n.Waiting, model);
        Metric("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", n.KvUsage, model);
        Metric("vllm:num_preemptions_total", "counter", "Cumulative number of preemptions from the engine.", n.Preemptions, model);
        Metric("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", n.PromptTokens, model);
        Metric("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.", n.GenerationTokens, model);
        Metric("vllm:request_success_total", "counter", "Count of successfully processed requests.", n.RequestsFinished, model);
        Metric("vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig", 1,
            Labels(("block_size", s.BlockSize.ToString(C)), ("num_gpu_blocks", info.KvBlocks.ToString(C)), ("enable_prefix_caching", B(s.PrefixCaching))));
        Metric("joules:engine_config_info", "gauge", "The serving engine, its kernels and its scheduler limits.", 1, Labels(
        [
            ("model_name", info.ModelName), ("model", info.Model), ("engine", info.Engine), ("gpu", info.Gpu), ("device", info.Device),
            ("device_uuid", info.DeviceUuid), ("max_num_seqs", s.MaxNumSeqs.ToString(C)), ("max_num_batched_tokens", s.MaxNumBatchedTokens.ToString(C)),
            ("max_model_len", s.MaxModelLen.ToString(C)), ("chunked_prefill", B(s.ChunkedPrefill)), ("enable_prefix_caching", B(s.PrefixCaching)),
            ("scheduler_reserve_full_isl", B(s.ReserveFullIsl)), ("batching", s.Static ? "static" : "continuous"), ("num_gpu_blocks", info.KvBlocks.ToString(C)), ("block_size", s.BlockSize.ToString(C)),
            ("cost_model", info.CostModel ?? ""), .. info.KernelLabels(),
        ]));
        Metric("joules:request_aborted_total", "counter", "Requests whose client went away before they finished.", n.RequestsAborted, model);
        Metric("joules:iterations_total", "counter", "Engine iterations run.", n.Iterations, model);
        Metric("joules:graph_iterations_total", "counter", "Iterations replayed through a CUDA graph.", n.GraphIterations, model);
        Metric("joules:iteration_engine_seconds_total", "counter", "Wall time inside engine calls.", n.EngineSeconds, model);
        Metric("joules:iteration_device_seconds_total", "counter", "Device time of iterations (GPU events; the cost model's price for the sim engine).", n.DeviceSeconds, model);
        Metric("joules:iteration_host_seconds_total", "counter", "Host time between and around back-to-back iterations (scheduling, commit, streaming, uploads).", n.HostSeconds, model);
        Metric("joules:iteration_host_samples_total", "counter", "Iterations whose host time is counted (those not following an idle wait).", n.HostIterations, model);
        if (loop.Engine.Meter is { } meter)
        {
            var gpu = Labels(("gpu_uuid", info.DeviceUuid.Length > 0 ? info.DeviceUuid : "simulated"));
            Metric("joules:gpu_power_watts", "gauge", "Power of the serving GPU (NVML; simulated for the sim engine).", meter.PowerWatts(), gpu);
            Metric("joules:gpu_energy_joules_total", "counter", "Energy counter of the serving GPU (NVML total energy; simulated for the sim engine).", meter.TotalJoules(), gpu);
        }
        return sb.ToString();
    }

    private static string Number(double v) =>
        double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : v.ToString("R", C);

    // Label values escape backslash, double quote and newline, as the text format requires.
    private static string Labels(params (string Key, string Value)[] labels)
    {
        var sb = new StringBuilder("{");
        for (var i = 0; i < labels.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(labels[i].Key).Append("=\"").Append(labels[i].Value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n")).Append('"');
        }
        return sb.Append('}').ToString();
    }
}
