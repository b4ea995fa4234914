using Xunit;

namespace Joules.Replay.Tests;

/// <summary>Reading /metrics text as vLLM and `joules serve` write it.</summary>
public class PrometheusTextTests
{
    private const string Text = """
        # HELP vllm:num_requests_running Number of requests in model execution batches.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{model_name="m"} 3.0
        vllm:prompt_tokens_total{model_name="a"} 10
        vllm:prompt_tokens_total{model_name="b"} 5
        vllm:cache_config_info{block_size="16",num_gpu_blocks="55737",note="say \"hi\"\nthere"} 1
        joules:gpu_power_watts 1.5e2
        bucket_le{le="+Inf"} +Inf
        broken line
        """;

    [Fact]
    public void SamplesLabelsAndSumsAreRead()
    {
        var s = PrometheusText.Parse(Text);
        Assert.Equal(3.0, PrometheusText.Sum(s, "vllm:num_requests_running"));
        Assert.Equal(15.0, PrometheusText.Sum(s, "vllm:prompt_tokens_total"));
        Assert.Equal(150.0, PrometheusText.Sum(s, "joules:gpu_power_watts"));
        Assert.Null(PrometheusText.Sum(s, "absent"));
        var l = PrometheusText.Labels(s, "vllm:cache_config_info")!;
        Assert.Equal("55737", l["num_gpu_blocks"]);
        Assert.Equal("say \"hi\"\nthere", l["note"]);
        Assert.Equal(double.PositiveInfinity, PrometheusText.Sum(s, "bucket_le"));
        Assert.DoesNotContain(s, x => x.Name == "broken");
    }

    [Fact]
    public void CountersChangeOverARunIsTheirDifference()
    {
        var before = PrometheusText.Parse("joules:iterations_total{m=\"x\"} 10\njoules:iteration_host_seconds_total 0.5\njoules:iteration_host_samples_total 5\n");
        var after = PrometheusText.Parse("joules:iterations_total{m=\"x\"} 110\njoules:iteration_host_seconds_total 1.5\njoules:iteration_host_samples_total 105\n" +
                                         "joules:engine_config_info{max_num_seqs=\"7\"} 1\n");
        var s = EndpointProbe.Server(before, after)!;
        Assert.Equal(100, s.Counter("joules:iterations_total"));
        Assert.Equal(0.01, s.HostSecondsPerIteration!.Value, 12);
        Assert.Equal("7", s.EngineConfig!["max_num_seqs"]);
        // Where the run's iterations begin in the server's iteration log: the count before it.
        Assert.Equal(10, s.IterationsAtStart);
        Assert.Null(EndpointProbe.Server(null, after)!.IterationsAtStart);
    }
}
