namespace Recur.Data;

/// <summary>One sentence of a <c>word/TAG</c> file: its words and tags (same length) and its 1-based line.</summary>
public sealed record TaggedSentence(string[] Words, string[] Tags, int Line);

/// <summary>
/// Reads part-of-speech style files: one sentence per line, tokens separated by white space, each token
/// <c>word/TAG</c> split at its last slash (so <c>1/2/cd</c> is word <c>1/2</c>, tag <c>cd</c>). Blank lines are
/// skipped.
/// </summary>
public static class TaggedText
{
    /// <summary>Whether a text looks like a <c>word/TAG</c> file: most tokens of its first non-blank lines carry a slash.</summary>
    public static bool LooksTagged(string text)
    {
        var tokens = text.Split('\n').Where(l => !string.IsNullOrWhiteSpace(l)).Take(20)
            .SelectMany(l => l.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).ToArray();
        return tokens.Length > 0 && tokens.Count(t => t.LastIndexOf('/') is > 0 and var i && i < t.Length - 1) >= 0.9 * tokens.Length;
    }

    /// <exception cref="InvalidInputException">A token without a word or tag, or no sentence at all.</exception>
    public static IReadOnlyList<TaggedSentence> Parse(string text, string source)
    {
        var sentences = new List<TaggedSentence>();
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var tokens = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length == 0) continue;
            var words = new string[tokens.Length];
            var tags = new string[tokens.Length];
            for (int k = 0; k < tokens.Length; k++)
            {
                int slash = tokens[k].LastIndexOf('/');
                if (slash <= 0 || slash == tokens[k].Length - 1)
                    throw new InvalidInputException($"{source}:{i + 1}: token {k + 1} '{Shorten(tokens[k])}': expected word/TAG (a word, a slash and a tag).");
                (words[k], tags[k]) = (tokens[k][..slash], tokens[k][(slash + 1)..]);
            }
            sentences.Add(new TaggedSentence(words, tags, i + 1));
        }
        if (sentences.Count == 0) throw new InvalidInputException($"{source}: no sentence found; expected one sentence of word/TAG tokens per line.");
        return sentences;
    }

    private static string Shorten(string token) => token.Length <= 40 ? token : token[..40] + "…";
}
