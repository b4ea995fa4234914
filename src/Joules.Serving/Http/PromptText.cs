using Microsoft.ML.Tokenizers;

namespace Joules.Serving.Http;

/// <summary>
/// Turns text prompts into token ids and generated ids back into text. The engines run random weights, so no model's
/// own tokenizer matters: text goes through tiktoken's cl100k_base (ids below 100,277, inside every catalogue model's
/// vocabulary); ids it does not know (the rest of a larger vocabulary) read back as nothing.
/// </summary>
public sealed class PromptText
{
    private static readonly Lazy<Tokenizer> s_tokenizer = new(() => TiktokenTokenizer.CreateForEncoding("cl100k_base"));
    private readonly string?[] _pieces;

    public PromptText(int vocab) => _pieces = new string?[vocab];

    public IReadOnlyList<int> Encode(string text) => s_tokenizer.Value.EncodeToIds(text);

    /// <summary>The text of one generated token (cached per id).</summary>
    public string Piece(int id)
    {
        if ((uint)id >= (uint)_pieces.Length) return "";
        var p = _pieces[id];
        if (p is not null) return p;
        try { p = s_tokenizer.Value.Decode([id]) ?? ""; }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException or InvalidOperationException) { p = ""; }
        return _pieces[id] = p;
    }
}
