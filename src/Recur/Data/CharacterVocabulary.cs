namespace Recur.Data;

/// <summary>
/// Character tokens: id 0 pads, id 1 stands for a character unseen in training, ids 2… the training characters in
/// ordinal order. Sequences are cut to <see cref="MaxLength"/> characters and padded on the right (see <see cref="ITokenizer"/>).
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

    public IReadOnlyList<int> Ids(string text) => text.Select(c => _ids.GetValueOrDefault(c, Unknown)).ToArray();

    public EncodedTexts Encode(IReadOnlyList<string> texts) => TokenizerText.Encode(texts, MaxLength, Ids);

    public string Decode(IReadOnlyList<int> ids) =>
        string.Concat(ids.Where(id => id != Padding).Select(id => id == Unknown || id - 2 >= Characters.Length ? TokenizerText.UnknownText : Characters[id - 2].ToString()));
}
