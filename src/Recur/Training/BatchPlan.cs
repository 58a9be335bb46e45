using Recur.Randomness;

namespace Recur.Training;

/// <summary>
/// Cuts an epoch's shuffled order into mini-batches: at most <see cref="TrainingOptions.BatchSize"/> sequences and,
/// when set, at most <see cref="TrainingOptions.MaxTokensPerBatch"/> padded steps each. With
/// <see cref="TrainingOptions.BucketByLength"/> on variable-length data, each pool of
/// <see cref="PoolBatches"/> batches' worth of shuffled sequences is sorted by length before cutting, and the
/// batches are shuffled afterwards, so batches hold similar lengths yet still come in random order.
/// </summary>
public static class BatchPlan
{
    /// <summary>Batches per sorting pool: large enough to find similar lengths, small enough to keep randomness.</summary>
    public const int PoolBatches = 20;

    /// <summary>
    /// Reorders <paramref name="order"/> in place into batch order and returns the batch starts (batch b is
    /// order[starts[b] .. starts[b + 1])) and the padded share of the batches' steps.
    /// </summary>
    public static (int[] Starts, double PaddingFraction) Build(SequenceDataset data, Span<int> order, TrainingOptions options, RecurRandom random)
    {
        bool bucket = options.BucketByLength && data.Lengths is not null;
        if (bucket)
        {
            int pool = options.BatchSize * PoolBatches;
            for (int start = 0; start < order.Length; start += pool)
            {
                var chunk = order.Slice(start, Math.Min(pool, order.Length - start));
                // Stable: equal lengths keep their shuffled order.
                var sorted = chunk.ToArray().Select((row, i) => (row, i)).OrderBy(p => data.Length(p.row)).ThenBy(p => p.i).Select(p => p.row).ToArray();
                sorted.CopyTo(chunk);
            }
        }
        var batches = Cut(data, order, options);
        if (bucket)
        {
            var shuffled = batches.ToArray();
            random.Shuffle<(int Start, int Count)>(shuffled);
            var before = order.ToArray();
            var reordered = shuffled.SelectMany(b => before.AsSpan(b.Start, b.Count).ToArray()).ToArray();
            reordered.CopyTo(order);
            batches = [];
            int at = 0;
            foreach (var (_, count) in shuffled) { batches.Add((at, count)); at += count; }
        }
        long padded = 0, real = 0;
        foreach (var (start, count) in batches)
        {
            int longest = 0;
            foreach (int row in order.Slice(start, count)) { longest = Math.Max(longest, data.Length(row)); real += data.Length(row); }
            padded += (long)longest * count;
        }
        var starts = batches.Select(b => b.Start).Append(order.Length).ToArray();
        return (starts, padded == 0 ? 0 : 1 - (double)real / padded);
    }

    /// <summary>How many batches <see cref="Build"/> makes of these rows in this order (without bucketing).</summary>
    public static int Count(SequenceDataset data, ReadOnlySpan<int> order, TrainingOptions options) => Cut(data, order, options).Count;

    /// <summary>Greedy cut: a batch grows while it keeps under both caps (a sequence over the step cap trains alone).</summary>
    private static List<(int Start, int Count)> Cut(SequenceDataset data, ReadOnlySpan<int> order, TrainingOptions options)
    {
        var batches = new List<(int, int)>();
        int cap = options.MaxTokensPerBatch;
        int start = 0, longest = 0;
        for (int i = 0; i < order.Length; i++)
        {
            int length = data.Length(order[i]), count = i - start;
            int widened = Math.Max(longest, length);
            if (count > 0 && (count >= options.BatchSize || (cap > 0 && (long)widened * (count + 1) > cap)))
            {
                batches.Add((start, count));
                (start, widened) = (i, length);
            }
            longest = widened;
        }
        if (order.Length > start) batches.Add((start, order.Length - start));
        return batches;
    }
}
