namespace Recur.Data;

/// <summary>Token ids of N texts, right-padded: Ids [N, Steps], Lengths [N] (real tokens of each, at least 1).</summary>
public sealed record EncodedTexts(int[] Ids, int[] Lengths, int Steps);

/// <summary>
/// Turns texts into id sequences. Id 0 pads, id 1 stands for a token unseen in training, ids 2… the known tokens.
/// Sequences keep their first <see cref="MaxLength"/> tokens and are padded on the right; their lengths travel with
/// them so recurrent layers and losses skip the padding. A text with no token becomes one unknown token.
/// </summary>
public interface ITokenizer
{
    /// <summary>Vocabulary size, padding and unknown included.</summary>
    int Size { get; }

    int MaxLength { get; }

    /// <summary>"char", "word" or "bpe".</summary>
    string Kind { get; }

    /// <summary>Ids of the texts, [N, MaxLength] right-padded, with their lengths.</summary>
    EncodedTexts Encode(IReadOnlyList<string> texts);

    /// <summary>The ids of one whole text (not cut to <see cref="MaxLength"/>; empty for a text with no token).</summary>
    IReadOnlyList<int> Ids(string text);

    /// <summary>Text from ids, as generated: padding skipped, unknown shown as <c>&lt;unk&gt;</c>.</summary>
    string Decode(IReadOnlyList<int> ids);

    /// <summary>The token strings of one text, before they become ids (not cut to <see cref="MaxLength"/>).</summary>
    IReadOnlyList<string> Tokenize(string text);
}

/// <summary>Rebuilds a tokenizer from the state a model file stores (<c>recur.data</c>).</summary>
public static class Tokenizers
{
    /// <summary>
    /// kind: "char", "word" or "bpe"; characters, words or bpeSymbols: the known tokens in id order (id = index + 2);
    /// merges: BPE merges as [left, right] pairs in rank order.
    /// </summary>
    public static ITokenizer FromState(string kind, string? characters, string[]? words, string[]? bpeSymbols, string[][]? merges,
        int maxLength, bool lowerCase) => kind switch
    {
        "char" => new CharacterVocabulary(characters ?? "", maxLength),
        "word" => new WordTokenizer(words ?? [], maxLength, lowerCase),
        "bpe" => new BpeTokenizer(bpeSymbols ?? [], (merges ?? []).Select(m => (m[0], m[1])).ToArray(), maxLength, lowerCase),
        _ => throw new InvalidInputException($"unknown tokenizer '{kind}' in the model file."),
    };
}

/// <summary>Shared pieces of the word-level tokenizers.</summary>
internal static class TokenizerText
{
    public const int Padding = 0, Unknown = 1;
    public const string UnknownText = "<unk>";

    /// <summary>
    /// Splits on white space; a run of letters, digits, combining marks and apostrophes is one word, every other
    /// character (punctuation, symbols) a word of its own.
    /// </summary>
    public static List<string> SplitWords(string text, bool lowerCase)
    {
        if (lowerCase) text = text.ToLowerInvariant();
        var words = new List<string>();
        int start = -1;
        int i = 0;
        while (i < text.Length)
        {
            var rune = System.Text.Rune.GetRuneAt(text, i);
            int width = rune.Utf16SequenceLength;
            if (IsWordRune(rune))
            {
                if (start < 0) start = i;
            }
            else
            {
                if (start >= 0) { words.Add(text[start..i]); start = -1; }
                if (!System.Text.Rune.IsWhiteSpace(rune)) words.Add(text.Substring(i, width));
            }
            i += width;
        }
        if (start >= 0) words.Add(text[start..]);
        return words;
    }

    private static bool IsWordRune(System.Text.Rune rune) =>
        System.Text.Rune.IsLetterOrDigit(rune) || rune.Value is '\'' or '\u2019'
        || System.Text.Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.NonSpacingMark
            or System.Globalization.UnicodeCategory.SpacingCombiningMark;

    /// <summary>Right-padded [N, maxLength] ids of each text's first maxLength token ids, with their lengths.</summary>
    public static EncodedTexts Encode(IReadOnlyList<string> texts, int maxLength, Func<string, IReadOnlyList<int>> tokenIds)
    {
        var ids = new int[texts.Count * maxLength];
        var lengths = new int[texts.Count];
        for (int n = 0; n < texts.Count; n++)
        {
            var tokens = tokenIds(texts[n]);
            int count = Math.Min(tokens.Count, maxLength);
            for (int i = 0; i < count; i++) ids[n * maxLength + i] = tokens[i];
            if (count == 0) (ids[n * maxLength], count) = (Unknown, 1);
            lengths[n] = count;
        }
        return new EncodedTexts(ids, lengths, maxLength);
    }

    public static void CheckMaxLength(int maxLength)
    {
        if (maxLength < 1) throw new InvalidInputException($"--max-length: expected at least 1; found {maxLength}.");
    }
}
