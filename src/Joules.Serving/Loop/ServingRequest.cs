using System.Threading.Channels;

namespace Joules.Serving.Loop;

/// <summary>Why a request stopped generating, as the OpenAI API names it.</summary>
public enum FinishReason : byte
{
    /// <summary>Still generating.</summary>
    None,
    /// <summary>max_tokens reached.</summary>
    Length,
    /// <summary>An end-of-sequence token (only when EOS is not ignored and min_tokens are done).</summary>
    Stop,
    /// <summary>The client went away or the server stopped; the request's KV blocks were freed.</summary>
    Abort,
    /// <summary>The engine failed.</summary>
    Error,
}

/// <summary>One generated token (or the end of the stream) of a request, stamped with the loop's clock.</summary>
/// <param name="Token">The token id; -1 for an end without a token.</param>
/// <param name="TimeS">Seconds on the loop's clock when the iteration that produced it ended.</param>
/// <param name="Finish">Set on the last event of the stream.</param>
public readonly record struct TokenEvent(int Token, double TimeS, FinishReason Finish);

/// <summary>A completion request inside the server: its prompt, limits and the stream of its tokens.</summary>
public sealed class ServingRequest
{
    private readonly Channel<TokenEvent> _events = Channel.CreateUnbounded<TokenEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    /// <param name="id">Unique id (the loop's sequence id).</param>
    /// <param name="prompt">Prompt token ids.</param>
    /// <param name="maxTokens">Tokens to generate at most (max_tokens).</param>
    /// <param name="minTokens">Tokens to generate before an EOS may stop it (min_tokens).</param>
    /// <param name="ignoreEos">Generate max_tokens whatever is sampled (what a trace replay sends).</param>
    public ServingRequest(long id, IReadOnlyList<int> prompt, int maxTokens, int minTokens = 0, bool ignoreEos = false)
    {
        if (prompt.Count < 1) throw new ArgumentException("a prompt needs at least one token");
        if (maxTokens < 1) throw new ArgumentException($"max_tokens must be at least 1, got {maxTokens}");
        Id = id;
        PromptTokens = prompt.Count;
        MaxTokens = maxTokens;
        MinTokens = Math.Min(minTokens, maxTokens);
        IgnoreEos = ignoreEos;
        Tokens = new int[prompt.Count + maxTokens];
        for (var i = 0; i < prompt.Count; i++) Tokens[i] = prompt[i];
    }

    public long Id { get; }
    public int PromptTokens { get; }
    public int MaxTokens { get; }
    public int MinTokens { get; }
    public bool IgnoreEos { get; }
    /// <summary>Prompt followed by the tokens generated so far (written by the loop only).</summary>
    internal int[] Tokens { get; }
    /// <summary>Tokens generated so far.</summary>
    public int Generated { get; internal set; }
    /// <summary>Times the scheduler preempted it.</summary>
    public int Preemptions { get; internal set; }
    /// <summary>Loop clock when it was queued, first scheduled, and produced its first token (NaN until then).</summary>
    public double QueuedS { get; internal set; } = double.NaN;
    /// <summary>Place in the order requests reached the scheduler (1, 2, ...; 0 before <see cref="ServingLoop.Submit"/>): sent back as <see cref="ServingLoop.QueueOrderHeader"/>.</summary>
    public long QueueOrder { get; internal set; }
    public double FirstScheduledS { get; internal set; } = double.NaN;
    public double FirstTokenS { get; internal set; } = double.NaN;
    public FinishReason Finish { get; internal set; }
    /// <summary>The engine's error, when <see cref="Finish"/> is <see cref="FinishReason.Error"/>; why the server aborted it, when it did (the drain timeout passed).</summary>
    public string? Error { get; internal set; }
    internal int Slot { get; set; } = -1;
    internal bool Done => Finish != FinishReason.None;

    /// <summary>The tokens as the loop produces them; completes after the event that carries the finish reason.</summary>
    public ChannelReader<TokenEvent> Events => _events.Reader;

    internal void Emit(in TokenEvent e) => _events.Writer.TryWrite(e);

    internal void Close() => _events.Writer.TryComplete();

    internal void End(FinishReason reason, double timeS, string? error = null)
    {
        if (Done) return;
        Finish = reason;
        Error = error;
        _events.Writer.TryWrite(new TokenEvent(-1, timeS, reason));
        _events.Writer.TryComplete();
    }
}
