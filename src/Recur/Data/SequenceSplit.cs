namespace Recur.Data;

/// <summary>
/// The split of labelled sequences used by tagging: the seeded <see cref="StratifiedSplit"/> keyed by each
/// sequence's rarest label (rarest over the whole file; ties by ordinal order), so sequences holding a rare label
/// reach training, validation and test alike.
/// </summary>
public static class SequenceSplit
{
    /// <summary>Rows per piece when a CSV sequence is cut for tagging (unless --max-length says otherwise).</summary>
    public const int DefaultPiece = 100;

    public static StratifiedSplit ByRarestLabel(IReadOnlyList<IReadOnlyList<string>> labels, ulong seed)
    {
        var frequency = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var sequence in labels) foreach (var l in sequence) frequency[l] = frequency.GetValueOrDefault(l) + 1;
        var names = frequency.Keys.Order(StringComparer.Ordinal).ToArray();
        var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        var keys = labels.Select(s => s.Count == 0 ? 0 : s.Select(l => index[l]).MinBy(c => (frequency[names[c]], c))).ToArray();
        return StratifiedSplit.Create(keys, Math.Max(1, names.Length), seed);
    }

    /// <summary>
    /// The same split over groups of sequences (e.g. the pieces of one id's long series): every sequence of a group
    /// lands in the part its group drew, so no series is both trained on and tested. Parts list sequences in order.
    /// </summary>
    public static StratifiedSplit ByGroup(IReadOnlyList<IReadOnlyList<string>> labels, IReadOnlyList<string> groups, ulong seed)
    {
        var names = groups.Distinct(StringComparer.Ordinal).ToList();
        var index = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        var groupLabels = names.Select(_ => new List<string>()).ToArray();
        for (int s = 0; s < labels.Count; s++) groupLabels[index[groups[s]]].AddRange(labels[s]);
        var split = ByRarestLabel(groupLabels, seed);
        int[] Members(int[] part)
        {
            var chosen = part.ToHashSet();
            return Enumerable.Range(0, labels.Count).Where(s => chosen.Contains(index[groups[s]])).ToArray();
        }
        return new StratifiedSplit(Members(split.Train), Members(split.Validation), Members(split.Test));
    }

    /// <summary>Cuts each sequence's rows into consecutive pieces of at most <paramref name="piece"/> rows.</summary>
    public static List<List<int>> Pieces(IEnumerable<IReadOnlyList<int>> sequences, int piece)
    {
        var pieces = new List<List<int>>();
        foreach (var rows in sequences)
            for (int start = 0; start < rows.Count; start += piece)
                pieces.Add(rows.Skip(start).Take(piece).ToList());
        return pieces;
    }
}
