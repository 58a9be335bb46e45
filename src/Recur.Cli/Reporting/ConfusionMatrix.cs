namespace Recur.Cli.Reporting;

/// <summary>
/// Counts of (actual, predicted) label pairs over the most frequent actual labels; the rest merged into
/// <see cref="Other"/>. Rows are actual labels, columns predicted ones, both in the order of <see cref="Labels"/>.
/// </summary>
internal sealed class ConfusionMatrix
{
    public const string Other = "other";

    private ConfusionMatrix(string[] labels, int[,] counts)
    {
        Labels = labels;
        Counts = counts;
    }

    /// <summary>Most frequent first (ties in ordinal order), then <see cref="Other"/> when labels were merged.</summary>
    public string[] Labels { get; }

    public int[,] Counts { get; }

    public static ConfusionMatrix Count(IReadOnlyList<string> actual, IReadOnlyList<string> predicted, int maxLabels)
    {
        var frequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string label in actual.Concat(predicted)) frequency[label] = frequency.GetValueOrDefault(label) + 1;
        var ordered = frequency.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key).ToList();
        bool merge = ordered.Count > maxLabels;
        string[] labels = merge ? [.. ordered.Take(maxLabels), Other] : [.. ordered];
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < (merge ? maxLabels : labels.Length); i++) index[labels[i]] = i;
        int Index(string label) => index.TryGetValue(label, out int i) ? i : labels.Length - 1;

        var counts = new int[labels.Length, labels.Length];
        for (int n = 0; n < actual.Count; n++) counts[Index(actual[n]), Index(predicted[n])]++;
        return new ConfusionMatrix(labels, counts);
    }
}
