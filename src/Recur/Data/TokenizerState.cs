using System.Text.Json.Serialization;

namespace Recur.Data;

/// <summary>A tokenizer as a model file stores it (inside <c>recur.data</c>): its kind, known tokens and settings.</summary>
public sealed record TokenizerState
{
    [JsonPropertyName("kind")] public required string Kind { get; init; }
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    [JsonPropertyName("lower_case")] public bool LowerCase { get; init; }
    [JsonPropertyName("characters")] public string? Characters { get; init; }
    [JsonPropertyName("words")] public string[]? Words { get; init; }
    [JsonPropertyName("bpe_symbols")] public string[]? BpeSymbols { get; init; }
    [JsonPropertyName("bpe_merges")] public string[][]? BpeMerges { get; init; }

    public ITokenizer Create() => Tokenizers.FromState(Kind, Characters, Words, BpeSymbols, BpeMerges, MaxLength, LowerCase);

    public static TokenizerState Of(ITokenizer tokenizer) => tokenizer switch
    {
        CharacterVocabulary c => new() { Kind = "char", MaxLength = c.MaxLength, Characters = c.Characters },
        WordTokenizer w => new() { Kind = "word", MaxLength = w.MaxLength, LowerCase = w.LowerCase, Words = [.. w.Words] },
        BpeTokenizer b => new()
        {
            Kind = "bpe", MaxLength = b.MaxLength, LowerCase = b.LowerCase, BpeSymbols = [.. b.Symbols],
            BpeMerges = b.Merges.Select(m => new[] { m.Left, m.Right }).ToArray(),
        },
        _ => throw new ArgumentException($"No stored form for a {tokenizer.Kind} tokenizer.", nameof(tokenizer)),
    };

    /// <summary>
    /// A tokenizer of <paramref name="kind"/> (char, word or bpe) learned from <paramref name="texts"/>, keeping
    /// <paramref name="maxLength"/> tokens per text; words seen fewer than <paramref name="minFrequency"/> times, and
    /// after <paramref name="merges"/> BPE merges the rest, stay unknown.
    /// </summary>
    public static ITokenizer Train(string kind, IReadOnlyList<string> texts, int maxLength, int minFrequency, int merges) => kind switch
    {
        "char" => CharacterVocabulary.FromTexts(texts, maxLength),
        "word" => WordTokenizer.Train(texts, maxLength, minFrequency: minFrequency),
        "bpe" => BpeTokenizer.Train(texts, merges, maxLength),
        _ => throw new InvalidInputException($"--tokenizer: expected char, word or bpe; found '{kind}'."),
    };

    /// <summary>
    /// A text as the tokenizer sees it, written back as text: itself for characters, the (lower-cased) words joined
    /// by spaces, or the BPE pieces joined with their word ends as spaces. Scores compare these forms.
    /// </summary>
    public static string Canonical(ITokenizer tokenizer, string text) => tokenizer.Kind switch
    {
        "char" => text,
        "word" => string.Join(' ', tokenizer.Tokenize(text)),
        _ => string.Concat(tokenizer.Tokenize(text)).Replace(BpeTokenizer.EndOfWord, " ", StringComparison.Ordinal).TrimEnd(),
    };
}
