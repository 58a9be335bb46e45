namespace Recur.Data;

/// <summary>
/// Byte-pair-encoding tokens learned from the training texts. Texts split into words as <see cref="WordTokenizer"/>
/// splits them; each word starts as its characters, the last marked with the <see cref="EndOfWord"/> suffix, and the
/// learned merges join adjacent symbols, lowest rank first. Id 0 pads, id 1 stands for a symbol unseen in training
/// (a new character), ids 2… the symbols: the initial ones in ordinal order, then the merged ones in merge order.
/// </summary>
public sealed class BpeTokenizer : ITokenizer
{
    public const int Padding = TokenizerText.Padding, Unknown = TokenizerText.Unknown;
    public const string EndOfWord = "</w>";
    private readonly string[] _symbols;
    private readonly (string Left, string Right)[] _merges;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<(string, string), int> _ranks;

    /// <summary>A tokenizer from a saved state: <paramref name="symbols"/> in id order (id = index + 2) and the merges in rank order.</summary>
    public BpeTokenizer(IReadOnlyList<string> symbols, IReadOnlyList<(string Left, string Right)> merges, int maxLength, bool lowerCase)
    {
        TokenizerText.CheckMaxLength(maxLength);
        _symbols = symbols.ToArray();
        _merges = merges.ToArray();
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _symbols.Length; i++)
        {
            if (string.IsNullOrEmpty(_symbols[i])) throw new InvalidInputException($"BPE vocabulary: symbol {i} is empty.");
            if (!_ids.TryAdd(_symbols[i], i + 2)) throw new InvalidInputException($"BPE vocabulary: \"{_symbols[i]}\" appears twice.");
        }
        _ranks = new Dictionary<(string, string), int>();
        for (int r = 0; r < _merges.Length; r++)
        {
            var (left, right) = _merges[r];
            if (!_ids.ContainsKey(left + right))
                throw new InvalidInputException($"BPE merges: merge {r} (\"{left}\", \"{right}\") makes a symbol missing from the vocabulary.");
            if (!_ranks.TryAdd((left, right), r)) throw new InvalidInputException($"BPE merges: (\"{left}\", \"{right}\") appears twice.");
        }
        MaxLength = maxLength;
        LowerCase = lowerCase;
    }

    /// <summary>
    /// Learns up to <paramref name="merges"/> merges: each time the adjacent pair most frequent over the training
    /// words (ties: the pair whose left, then right, symbol comes first in ordinal order), stopping early when no pair
    /// occurs twice.
    /// </summary>
    public static BpeTokenizer Train(IEnumerable<string> texts, int merges, int maxLength, bool lowerCase = true)
    {
        TokenizerText.CheckMaxLength(maxLength);
        if (merges < 0) throw new InvalidInputException($"--merges: expected at least 0; found {merges}.");
        var wordCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
            foreach (var word in TokenizerText.SplitWords(text, lowerCase))
                wordCounts[word] = wordCounts.GetValueOrDefault(word) + 1;
        var unique = wordCounts.Keys.Order(StringComparer.Ordinal).ToArray();

        var symbolTexts = new List<string>();
        var idOf = new Dictionary<string, int>(StringComparer.Ordinal);
        int Intern(string s)
        {
            if (!idOf.TryGetValue(s, out int id)) { id = symbolTexts.Count; idOf[s] = id; symbolTexts.Add(s); }
            return id;
        }
        var words = new List<int>[unique.Length];
        var frequency = new int[unique.Length];
        for (int w = 0; w < unique.Length; w++)
        {
            words[w] = InitialSymbols(unique[w]).Select(Intern).ToList();
            frequency[w] = wordCounts[unique[w]];
        }
        var initial = symbolTexts.Order(StringComparer.Ordinal).ToList();

        var pairCounts = new Dictionary<long, int>();
        var pairWords = new Dictionary<long, HashSet<int>>();
        static long Key(int a, int b) => ((long)a << 32) | (uint)b;
        void Add(List<int> symbols, int w, int sign)
        {
            for (int i = 0; i + 1 < symbols.Count; i++)
            {
                long key = Key(symbols[i], symbols[i + 1]);
                int count = pairCounts.GetValueOrDefault(key) + sign * frequency[w];
                if (count == 0) pairCounts.Remove(key); else pairCounts[key] = count;
                if (sign > 0)
                {
                    if (!pairWords.TryGetValue(key, out var set)) pairWords[key] = set = [];
                    set.Add(w);
                }
            }
        }
        for (int w = 0; w < words.Length; w++) Add(words[w], w, +1);

        var learned = new List<(string Left, string Right)>();
        while (learned.Count < merges)
        {
            long best = 0;
            int bestCount = 0;
            foreach (var (key, count) in pairCounts)
            {
                if (count < bestCount) continue;
                if (count == bestCount && ComparePairs(symbolTexts, key, best) >= 0) continue;
                best = key;
                bestCount = count;
            }
            if (bestCount < 2) break;
            int a = (int)(best >> 32), b = (int)(uint)best;
            int merged = Intern(symbolTexts[a] + symbolTexts[b]);
            learned.Add((symbolTexts[a], symbolTexts[b]));
            foreach (int w in pairWords[best].ToArray())
            {
                var symbols = words[w];
                if (!Contains(symbols, a, b)) continue;
                Add(symbols, w, -1);
                words[w] = symbols = MergePair(symbols, a, b, merged);
                Add(symbols, w, +1);
            }
            pairWords.Remove(best);
            pairCounts.Remove(best);
        }

        var vocabulary = new List<string>(initial);
        var seen = new HashSet<string>(initial, StringComparer.Ordinal);
        foreach (var (left, right) in learned)
            if (seen.Add(left + right)) vocabulary.Add(left + right);
        return new BpeTokenizer(vocabulary, learned, maxLength, lowerCase);
    }

    private static int ComparePairs(List<string> texts, long x, long y)
    {
        int c = string.CompareOrdinal(texts[(int)(x >> 32)], texts[(int)(y >> 32)]);
        return c != 0 ? c : string.CompareOrdinal(texts[(int)(uint)x], texts[(int)(uint)y]);
    }

    private static bool Contains(List<int> symbols, int a, int b)
    {
        for (int i = 0; i + 1 < symbols.Count; i++)
            if (symbols[i] == a && symbols[i + 1] == b) return true;
        return false;
    }

    private static List<int> MergePair(List<int> symbols, int a, int b, int merged)
    {
        var result = new List<int>(symbols.Count);
        for (int i = 0; i < symbols.Count; i++)
        {
            if (i + 1 < symbols.Count && symbols[i] == a && symbols[i + 1] == b) { result.Add(merged); i++; }
            else result.Add(symbols[i]);
        }
        return result;
    }

    /// <summary>A word's characters (whole code points), the last one suffixed with <see cref="EndOfWord"/>.</summary>
    private static List<string> InitialSymbols(string word)
    {
        var symbols = new List<string>(word.Length);
        foreach (var rune in word.EnumerateRunes()) symbols.Add(rune.ToString());
        if (symbols.Count > 0) symbols[^1] += EndOfWord;
        return symbols;
    }

    /// <summary>The known symbols in id order (id = index + 2).</summary>
    public IReadOnlyList<string> Symbols => _symbols;
    /// <summary>The learned merges, lowest rank (first learned) first.</summary>
    public IReadOnlyList<(string Left, string Right)> Merges => _merges;
    public bool LowerCase { get; }
    public int MaxLength { get; }
    public int Size => _symbols.Length + 2;
    public string Kind => "bpe";

    public IReadOnlyList<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        foreach (var word in TokenizerText.SplitWords(text, LowerCase)) tokens.AddRange(EncodeWord(word));
        return tokens;
    }

    public IReadOnlyList<int> Ids(string text) => Tokenize(text).Select(s => _ids.GetValueOrDefault(s, Unknown)).ToArray();

    public EncodedTexts Encode(IReadOnlyList<string> texts) => TokenizerText.Encode(texts, MaxLength, Ids);

    /// <summary>Symbols joined, each end-of-word mark becoming a space.</summary>
    public string Decode(IReadOnlyList<int> ids) =>
        string.Concat(ids.Where(id => id != Padding).Select(id => id == Unknown || id - 2 >= _symbols.Length ? TokenizerText.UnknownText + " " : _symbols[id - 2].Replace(EndOfWord, " ", StringComparison.Ordinal))).TrimEnd();

    /// <summary>Applies the merges to one word: repeatedly joins every occurrence of the lowest-ranked adjacent pair present.</summary>
    private List<string> EncodeWord(string word)
    {
        var symbols = InitialSymbols(word);
        while (symbols.Count > 1)
        {
            int bestRank = int.MaxValue;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out int rank) && rank < bestRank) bestRank = rank;
            if (bestRank == int.MaxValue) break;
            var (left, right) = _merges[bestRank];
            var next = new List<string>(symbols.Count);
            for (int i = 0; i < symbols.Count; i++)
            {
                if (i + 1 < symbols.Count && symbols[i] == left && symbols[i + 1] == right) { next.Add(left + right); i++; }
                else next.Add(symbols[i]);
            }
            symbols = next;
        }
        return symbols;
    }
}
