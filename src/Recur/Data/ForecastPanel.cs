using Recur.Training;

namespace Recur.Data;

/// <summary>A part of every series' windows: each series is split in time order on its own.</summary>
public enum ForecastPart
{
    Training,
    Validation,
    Test,
    All,
}

/// <summary>
/// One or more series of the same target and feature columns (one per value of <c>--id-column</c>, or the whole
/// file), each windowed and split in time order on its own, so no window crosses two series and every series has
/// its own training, validation and test windows. A part of the panel is the concatenation of that part of every
/// series, in series order; one global model trains on all of them.
/// </summary>
public sealed class ForecastPanel
{
    /// <param name="series">The windows of each series (same lookback, horizon, targets and features).</param>
    /// <param name="ids">Each series' id (null for a file without an id column).</param>
    /// <param name="rows">For each series, the 0-based data row of every position of its series.</param>
    public ForecastPanel(IReadOnlyList<ForecastWindows> series, IReadOnlyList<string?> ids, IReadOnlyList<int[]> rows)
    {
        if (series.Count == 0) throw new ArgumentException("At least one series is needed.", nameof(series));
        if (ids.Count != series.Count || rows.Count != series.Count) throw new ArgumentException("One id and one row map per series.", nameof(ids));
        var first = series[0];
        if (series.Any(w => w.Lookback != first.Lookback || w.Horizon != first.Horizon || w.Features != first.Features || w.TargetCount != first.TargetCount))
            throw new ArgumentException("Every series must have the same lookback, horizon, targets and features.", nameof(series));
        for (int s = 0; s < series.Count; s++)
            if (rows[s].Length != series[s].Rows) throw new ArgumentException("A row map needs one entry per row of its series.", nameof(rows));
        (Series, Ids, Rows) = (series, ids, rows);
    }

    /// <summary>A panel of one series whose rows are the data rows 0, 1, 2, ….</summary>
    public static ForecastPanel Single(ForecastWindows windows) =>
        new([windows], [null], [Enumerable.Range(0, windows.Rows).ToArray()]);

    public IReadOnlyList<ForecastWindows> Series { get; }
    public IReadOnlyList<string?> Ids { get; }

    /// <summary>For each series, the 0-based data row of each of its positions (file order; after dropped rows).</summary>
    public IReadOnlyList<int[]> Rows { get; }

    public int TargetCount => Series[0].TargetCount;
    public int Lookback => Series[0].Lookback;
    public int Horizon => Series[0].Horizon;
    public int Features => Series[0].Features;
    public int Outputs => Series[0].Outputs;

    /// <summary>The windows of <paramref name="part"/> within series <paramref name="series"/>.</summary>
    public (int Start, int Count) Range(int series, ForecastPart part)
    {
        var w = Series[series];
        return part switch
        {
            ForecastPart.Training => (0, w.TrainCount),
            ForecastPart.Validation => (w.ValidationStart, w.ValidationCount),
            ForecastPart.Test => (w.TestStart, w.TestCount),
            _ => (0, w.Count),
        };
    }

    /// <summary>Windows of <paramref name="part"/> over every series.</summary>
    public int Count(ForecastPart part) => Enumerable.Range(0, Series.Count).Sum(s => Range(s, part).Count);

    /// <summary>
    /// Target <paramref name="target"/>'s rows read or predicted by each series' training windows: the only rows
    /// any statistic may be fitted on.
    /// </summary>
    public double[][] TrainingSegments(int target) => Series.Select(w => w.TrainingRowsOf(target).ToArray()).ToArray();

    /// <summary>Windows of <paramref name="part"/>, series after series, in network units: inputs [N, L, F], targets [N, T·H].</summary>
    public SequenceDataset Dataset(IReadOnlyList<ForecastScaling> scalings, ForecastPart part)
    {
        if (Series.Count == 1)
        {
            var (start, count) = Range(0, part);
            return Series[0].Dataset(scalings, start, count);
        }
        int total = Count(part), perWindow = Lookback * Features;
        var values = new float[total * perWindow];
        var targets = new float[total * Outputs];
        int at = 0;
        for (int s = 0; s < Series.Count; s++)
        {
            var (start, count) = Range(s, part);
            Series[s].Fill(scalings, start, count, values.AsSpan(at * perWindow, count * perWindow), targets.AsSpan(at * Outputs, count * Outputs));
            at += count;
        }
        return SequenceDataset.Regression(values, total, Lookback, Features, targets, Outputs);
    }

    /// <summary>Network outputs [N, T·H] of <paramref name="part"/> (as <see cref="Dataset"/> ordered them) in original units.</summary>
    public double[] Restore(IReadOnlyList<ForecastScaling> scalings, ForecastPart part, ReadOnlySpan<float> outputs)
    {
        var result = new double[outputs.Length];
        int at = 0;
        for (int s = 0; s < Series.Count; s++)
        {
            var (start, count) = Range(s, part);
            Series[s].Restore(scalings, start, outputs.Slice(at * Outputs, count * Outputs)).CopyTo(result, at * Outputs);
            at += count;
        }
        return result;
    }

    /// <summary>Actual values [N, T·H] of <paramref name="part"/>.</summary>
    public double[] Actual(ForecastPart part) => Concat(part, (w, start, count) => w.Actual(start, count));

    /// <summary>The naive forecast [N, T·H] of <paramref name="part"/>, each series from its own last value.</summary>
    public double[] Naive(ForecastPart part) => Concat(part, (w, start, count) => w.Naive(start, count));

    /// <summary>The seasonal-naive forecast [N, T·H] of <paramref name="part"/>, each series from its own past.</summary>
    public double[] SeasonalNaive(ForecastPart part, int season) => Concat(part, (w, start, count) => w.SeasonalNaive(start, count, season));

    private double[] Concat(ForecastPart part, Func<ForecastWindows, int, int, double[]> values)
    {
        if (Series.Count == 1)
        {
            var (start, count) = Range(0, part);
            return values(Series[0], start, count);
        }
        return Enumerable.Range(0, Series.Count).SelectMany(s =>
        {
            var (start, count) = Range(s, part);
            return values(Series[s], start, count);
        }).ToArray();
    }
}
