namespace Recur.Evaluation;

/// <summary>
/// Scores of generated sequences against one reference each (sequence-to-sequence text), keyed as
/// <c>recur evaluate --json</c> prints them: <c>exact_match</c> (share of outputs whose tokens equal the reference's),
/// <c>token_accuracy</c> (reference tokens matched at the same position, over all reference tokens),
/// <c>cer</c> (character error rate: Σ Levenshtein distance / Σ reference characters) and <c>bleu</c> (corpus
/// BLEU-4 over tokens: the geometric mean of the clipped 1…4-gram precisions times the brevity penalty
/// exp(min(0, 1 − r/c)), Papineni et al. 2002, unsmoothed: 0 when some order has no match).
/// </summary>
public static class SequenceMetrics
{
    public const int BleuOrder = 4;

    public static Dictionary<string, double> Score(IReadOnlyList<IReadOnlyList<string>> hypotheses, IReadOnlyList<IReadOnlyList<string>> references,
        IReadOnlyList<string> hypothesisTexts, IReadOnlyList<string> referenceTexts)
    {
        int n = references.Count;
        if (hypotheses.Count != n || hypothesisTexts.Count != n || referenceTexts.Count != n)
            throw new ArgumentException("Every reference needs one hypothesis, as tokens and as text.", nameof(hypotheses));
        int exact = 0, matched = 0, tokens = 0;
        long distance = 0, characters = 0;
        for (int i = 0; i < n; i++)
        {
            if (hypotheses[i].SequenceEqual(references[i], StringComparer.Ordinal)) exact++;
            for (int k = 0; k < references[i].Count; k++)
                if (k < hypotheses[i].Count && hypotheses[i][k] == references[i][k]) matched++;
            tokens += references[i].Count;
            distance += EditDistance(hypothesisTexts[i], referenceTexts[i]);
            characters += referenceTexts[i].Length;
        }
        return new()
        {
            ["exact_match"] = n == 0 ? double.NaN : (double)exact / n,
            ["token_accuracy"] = tokens == 0 ? double.NaN : (double)matched / tokens,
            ["cer"] = characters == 0 ? double.NaN : (double)distance / characters,
            ["bleu"] = Bleu(hypotheses, references),
        };
    }

    /// <summary>Levenshtein distance: the fewest insertions, deletions and substitutions of characters turning a into b.</summary>
    public static int EditDistance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    /// <summary>Corpus BLEU-4 (see the class summary) in [0, 1].</summary>
    public static double Bleu(IReadOnlyList<IReadOnlyList<string>> hypotheses, IReadOnlyList<IReadOnlyList<string>> references)
    {
        var matches = new long[BleuOrder];
        var totals = new long[BleuOrder];
        long hypothesisLength = 0, referenceLength = 0;
        for (int i = 0; i < references.Count; i++)
        {
            hypothesisLength += hypotheses[i].Count;
            referenceLength += references[i].Count;
            for (int order = 1; order <= BleuOrder; order++)
            {
                var reference = NGrams(references[i], order);
                foreach (var (gram, count) in NGrams(hypotheses[i], order))
                {
                    matches[order - 1] += Math.Min(count, reference.GetValueOrDefault(gram));
                    totals[order - 1] += count;
                }
            }
        }
        if (hypothesisLength == 0) return 0;
        double logPrecision = 0;
        for (int k = 0; k < BleuOrder; k++)
        {
            if (matches[k] == 0) return 0;
            logPrecision += Math.Log((double)matches[k] / totals[k]) / BleuOrder;
        }
        double brevity = Math.Min(0, 1 - (double)referenceLength / hypothesisLength);
        return Math.Exp(logPrecision + brevity);
    }

    /// <summary>Counts of the n-grams of one token list, each joined with a separator no token contains.</summary>
    private static Dictionary<string, int> NGrams(IReadOnlyList<string> tokens, int order)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i + order <= tokens.Count; i++)
        {
            var gram = string.Join('\u0001', Enumerable.Range(i, order).Select(k => tokens[k]));
            counts[gram] = counts.GetValueOrDefault(gram) + 1;
        }
        return counts;
    }
}
