namespace Recur.Data;

/// <summary>
/// Word tokens: white space separates, punctuation stands alone (see <see cref="Split"/>). The vocabulary is the
/// training words seen at least minFrequency times, most frequent first (ties in ordinal order); id 0 pads, id 1
/// stands for any other word, ids 2… the vocabulary.
/// </summary>
public sealed class WordTokenizer : ITokenizer
{
    public const int Padding = TokenizerText.Padding, Unknown = TokenizerText.Unknown;
    private readonly Dictionary<string, int> _ids;
    private readonly string[] _words;

    /// <summary>A tokenizer from a saved state: <paramref name="words"/> in id order (id = index + 2).</summary>
    public WordTokenizer(IReadOnlyList<string> words, int maxLength, bool lowerCase)
    {
        TokenizerText.CheckMaxLength(maxLength);
        _words = words.ToArray();
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _words.Length; i++)
        {
            if (string.IsNullOrEmpty(_words[i])) throw new InvalidInputException($"Word vocabulary: entry {i} is empty.");
            if (!_ids.TryAdd(_words[i], i + 2)) throw new InvalidInputException($"Word vocabulary: \"{_words[i]}\" appears twice.");
        }
        MaxLength = maxLength;
        LowerCase = lowerCase;
    }

    /// <summary>
    /// Learns the vocabulary: words seen at least <paramref name="minFrequency"/> times, by descending frequency then
    /// ordinal order, at most <paramref name="maxVocabulary"/> of them (padding and unknown not counted).
    /// </summary>
    public static WordTokenizer Train(IEnumerable<string> texts, int maxLength, bool lowerCase = true, int minFrequency = 2,
        int? maxVocabulary = null)
    {
        TokenizerText.CheckMaxLength(maxLength);
        if (minFrequency < 1) throw new InvalidInputException($"--min-frequency: expected at least 1; found {minFrequency}.");
        if (maxVocabulary is < 1) throw new InvalidInputException($"--max-vocabulary: expected at least 1; found {maxVocabulary}.");
        return FromWords(texts.SelectMany(text => TokenizerText.SplitWords(text, lowerCase)), maxLength, lowerCase, minFrequency, maxVocabulary);
    }

    /// <summary>
    /// Learns the vocabulary from words already split (e.g. the tokens of a tagged corpus), lower-cased first when
    /// asked; the same rule as <see cref="Train"/>.
    /// </summary>
    public static WordTokenizer FromWords(IEnumerable<string> tokens, int maxLength, bool lowerCase = true, int minFrequency = 2,
        int? maxVocabulary = null)
    {
        TokenizerText.CheckMaxLength(maxLength);
        if (minFrequency < 1) throw new InvalidInputException($"--min-frequency: expected at least 1; found {minFrequency}.");
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in tokens)
        {
            string word = lowerCase ? token.ToLowerInvariant() : token;
            counts[word] = counts.GetValueOrDefault(word) + 1;
        }
        IEnumerable<string> words = counts.Where(p => p.Value >= minFrequency)
            .OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key);
        if (maxVocabulary is int max) words = words.Take(max);
        return new WordTokenizer(words.ToArray(), maxLength, lowerCase);
    }

    /// <summary>The words a text splits into (lower-cased first when asked).</summary>
    public static IReadOnlyList<string> Split(string text, bool lowerCase) => TokenizerText.SplitWords(text, lowerCase);

    /// <summary>The known words in id order (id = index + 2).</summary>
    public IReadOnlyList<string> Words => _words;
    public bool LowerCase { get; }
    public int MaxLength { get; }
    public int Size => _words.Length + 2;
    public string Kind => "word";

    public IReadOnlyList<string> Tokenize(string text) => TokenizerText.SplitWords(text, LowerCase);

    /// <summary>The id of one word already split (lower-cased first when the tokenizer lower-cases).</summary>
    public int Id(string word) => _ids.GetValueOrDefault(LowerCase ? word.ToLowerInvariant() : word, Unknown);

    /// <summary>Words joined by spaces (padding skipped, unknown as <c>&lt;unk&gt;</c>).</summary>
    public string Decode(IReadOnlyList<int> ids) =>
        string.Join(' ', ids.Where(id => id != Padding).Select(id => id == Unknown || id - 2 >= _words.Length ? TokenizerText.UnknownText : _words[id - 2]));

    public IReadOnlyList<int> Ids(string text) => TokenizerText.SplitWords(text, LowerCase).Select(w => _ids.GetValueOrDefault(w, Unknown)).ToArray();

    public EncodedTexts Encode(IReadOnlyList<string> texts) => TokenizerText.Encode(texts, MaxLength, Ids);
}
