namespace Recur.Data;

/// <summary>
/// Character tokens: id 0 pads, id 1 stands for a character unseen in training, ids 2… the training characters in
/// ordinal order. Sequences are cut to <see cref="MaxLength"/> characters and padded on the left, so every
/// sequence's last step is a real character (the step the classifier reads).
/// </summary>
public sealed class CharacterVocabulary : ITokenizer
{
    public const int Padding = 0, Unknown = 1;
    private readonly Dictionary<char, int> _ids;

    public CharacterVocabulary(IEnumerable<char> characters, int maxLength)
    {
        if (maxLength < 1) throw new InvalidInputException($"--max-length: expected at least 1; found {maxLength}.");
        Characters = new string(characters.Distinct().Order().ToArray());
        _ids = Characters.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i + 2);
        MaxLength = maxLength;
    }

    public static CharacterVocabulary FromTexts(IEnumerable<string> texts, int maxLength) => new(texts.SelectMany(t => t), maxLength);

    /// <summary>The known characters in id order (id = index + 2).</summary>
    public string Characters { get; }
    public int MaxLength { get; }
    public int Size => Characters.Length + 2;
    public string Kind => "char";

    public IReadOnlyList<string> Tokenize(string text) => text.Select(c => c.ToString()).ToArray();

    /// <summary>Ids of the texts, [N, MaxLength], left-padded.</summary>
    public int[] Encode(IReadOnlyList<string> texts)
    {
        var ids = new int[texts.Count * MaxLength];
        for (int n = 0; n < texts.Count; n++)
        {
            var text = texts[n].AsSpan(0, Math.Min(texts[n].Length, MaxLength));
            int offset = n * MaxLength + MaxLength - text.Length;
            for (int i = 0; i < text.Length; i++) ids[offset + i] = _ids.GetValueOrDefault(text[i], Unknown);
        }
        return ids;
    }
}
