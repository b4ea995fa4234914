namespace Joules.Calibration.Engine;

/// <summary>
/// One iteration as a serving loop hands it to <see cref="ServingEngine"/>: per sequence its new tokens' ids, how many
/// tokens it already has in the KV cache, and its block table (the scheduler's block ids, used as the engine's page
/// ids); after the run, the greedy token sampled for each sequence. Reused every iteration.
/// </summary>
public sealed class ServingBatch
{
    private int[] _new = new int[64];
    private int[] _context = new int[64];
    private int[][] _tables = new int[64][];
    private int[] _tableCounts = new int[64];
    private int[] _ids = new int[1024];

    /// <summary>Sequences in the iteration.</summary>
    public int Count { get; private set; }
    /// <summary>New tokens over all sequences.</summary>
    public int TokenCount { get; private set; }
    /// <summary>Greedy next token of each sequence, valid after <see cref="ServingEngine.Run"/>.</summary>
    public int[] Sampled { get; private set; } = new int[64];

    public int NewTokens(int i) => _new[i];
    public int ContextBefore(int i) => _context[i];
    public ReadOnlySpan<int> BlockTable(int i) => _tables[i].AsSpan(0, _tableCounts[i]);
    /// <summary>The new tokens' ids of all sequences, in sequence order.</summary>
    public ReadOnlySpan<int> TokenIds => _ids.AsSpan(0, TokenCount);

    /// <summary>Whether sequence <paramref name="i"/> runs through the decode kernel (one new token over a non-empty cache), as the calibration engine decides.</summary>
    public bool IsDecode(int i) => _new[i] == 1 && _context[i] > 0;

    public void Clear()
    {
        Count = 0;
        TokenCount = 0;
    }

    /// <summary>Adds a sequence: <paramref name="ids"/> are its new tokens (one per new token); <paramref name="blocks"/> its block table, of which the first <paramref name="blockCount"/> are held (the array is referenced, not copied).</summary>
    public void Add(ReadOnlySpan<int> ids, int contextBefore, int[] blocks, int blockCount)
    {
        if (ids.Length < 1) throw new ArgumentException("a sequence in an iteration needs at least one new token");
        if (contextBefore < 0) throw new ArgumentException($"context before must not be negative, got {contextBefore}");
        if (Count == _new.Length)
        {
            var n = Count * 2;
            Array.Resize(ref _new, n);
            Array.Resize(ref _context, n);
            Array.Resize(ref _tables, n);
            Array.Resize(ref _tableCounts, n);
            var s = Sampled;
            Array.Resize(ref s, n);
            Sampled = s;
        }
        if (TokenCount + ids.Length > _ids.Length) Array.Resize(ref _ids, Math.Max(_ids.Length * 2, TokenCount + ids.Length));
        ids.CopyTo(_ids.AsSpan(TokenCount));
        _new[Count] = ids.Length;
        _context[Count] = contextBefore;
        _tables[Count] = blocks;
        _tableCounts[Count] = blockCount;
        TokenCount += ids.Length;
        Count++;
    }
}
