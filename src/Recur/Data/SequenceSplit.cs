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
