using Recur.Training;

namespace Recur.Data;

/// <summary>
/// Sliding windows over one series: window i reads rows [i, i+L) and predicts rows [i+L, i+L+H). Windows are split
/// in time order: training first, then validation, then the last <see cref="TestFraction"/> as test.
/// </summary>
public sealed class ForecastWindows
{
    public const double TestFraction = 0.2, ValidationFraction = 0.1;
    public const int MinimumWindows = 10;

    /// <param name="series">The target, one value per row.</param>
    /// <param name="lookback">L: steps each window reads.</param>
    /// <param name="horizon">H: steps each window predicts.</param>
    /// <param name="source">The file, for messages.</param>
    /// <param name="minimumWindows">Fewer windows than this is an error.</param>
    /// <param name="covariates">Extra input series [K][rows], already scaled, read beside the target at every step.</param>
    /// <param name="stride">S: rows between the starts of consecutive windows.</param>
    public ForecastWindows(double[] series, int lookback, int horizon, string source, int minimumWindows = MinimumWindows,
        double[][]? covariates = null, int stride = 1)
    {
        if (stride < 1) throw new InvalidInputException($"--stride: expected at least 1; found {stride}.");
        Stride = stride;
        Covariates = covariates ?? [];
        if (Covariates.Any(c => c.Length != series.Length))
            throw new ArgumentException("Every covariate series must have one value per row of the target series.", nameof(covariates));
        if (lookback < 1) throw new InvalidInputException($"--lookback: expected at least 1; found {lookback}.");
        if (horizon < 1) throw new InvalidInputException($"--horizon: expected at least 1; found {horizon}.");
        (Series, Lookback, Horizon) = (series, lookback, horizon);
        long rows = (long)series.Length - lookback - horizon;
        long count = rows < 0 ? 0 : rows / stride + 1;
        Gap = (horizon - 1 + stride - 1) / stride; // windows whose targets would overlap the next part's
        long needed = (long)minimumWindows + (minimumWindows > 1 ? 2L * Gap : 0);
        if (count < needed)
            throw new InvalidInputException(
                $"{source}: {series.Length} rows give {count} windows of lookback {lookback} + horizon {horizon}{(stride > 1 ? $" every {stride} rows" : "")}; " +
                $"need at least {needed} (at least {(needed - 1) * stride + lookback + horizon} rows): use more data or a shorter lookback, horizon or stride.");
        Count = (int)count;
        TestCount = Math.Max(1, (int)Math.Round(TestFraction * Count));
        ValidationCount = Math.Max(1, (int)Math.Round(ValidationFraction * Count));
        TrainCount = Math.Max(1, Count - TestCount - ValidationCount - 2 * Gap);
    }

    /// <summary>
    /// Windows skipped between training and validation and between validation and test (H − 1), so no target row
    /// of one part is a target row of the next.
    /// </summary>
    public int Gap { get; }

    /// <summary>S: window i starts at row i·S.</summary>
    public int Stride { get; }

    /// <summary>The first row window <paramref name="window"/> reads.</summary>
    public int FirstRow(int window) => window * Stride;

    public double[] Series { get; }

    /// <summary>Extra input series [K][rows] (scaled), fed beside the normalised target.</summary>
    public double[][] Covariates { get; }

    /// <summary>Input features per step: the target and the covariates.</summary>
    public int Features => 1 + Covariates.Length;
    public int Lookback { get; }
    public int Horizon { get; }
    public int Count { get; }
    public int TrainCount { get; }
    public int ValidationCount { get; }
    public int TestCount { get; }

    public int ValidationStart => TrainCount + Gap;
    public int TestStart => Count - TestCount;

    /// <summary>Rows the training windows read or predict: the only rows statistics may be fitted on.</summary>
    public ReadOnlySpan<double> TrainingRows => Series.AsSpan(0, FirstRow(TrainCount - 1) + Lookback + Horizon);

    public ReadOnlySpan<double> Inputs(int window) => Series.AsSpan(FirstRow(window), Lookback);
    public ReadOnlySpan<double> Targets(int window) => Series.AsSpan(FirstRow(window) + Lookback, Horizon);

    /// <summary>Windows [start, start+count) in network units: inputs [N, L, F] (target, then covariates), targets [N, H].</summary>
    public SequenceDataset Dataset(ForecastScaling scaling, int start, int count)
    {
        int L = Lookback, H = Horizon, F = Features;
        var values = new float[count * L * F];
        var targets = new float[count * H];
        for (int n = 0; n < count; n++)
        {
            int window = start + n, first = FirstRow(window);
            var input = Inputs(window);
            var (anchor, scale) = scaling.ForWindow(input);
            for (int t = 0; t < L; t++)
            {
                int at = (n * L + t) * F;
                values[at] = (float)((input[t] - anchor) / scale);
                for (int k = 0; k < Covariates.Length; k++) values[at + 1 + k] = (float)Covariates[k][first + t];
            }
            var target = first + L + H <= Series.Length ? Targets(window) : [];
            for (int h = 0; h < target.Length; h++) targets[n * H + h] = (float)((target[h] - anchor) / scale);
        }
        return SequenceDataset.Regression(values, count, L, F, targets, H);
    }

    /// <summary>Network outputs [N, H] of windows [start, …) back in the series' units.</summary>
    public double[] Restore(ForecastScaling scaling, int start, ReadOnlySpan<float> outputs)
    {
        int H = Horizon, count = outputs.Length / H;
        var result = new double[outputs.Length];
        for (int n = 0; n < count; n++)
        {
            var (anchor, scale) = scaling.ForWindow(Inputs(start + n));
            for (int h = 0; h < H; h++) result[n * H + h] = anchor + scale * (double)outputs[n * H + h];
        }
        return result;
    }

    /// <summary>Actual values [N, H] of windows [start, start+count).</summary>
    public double[] Actual(int start, int count)
    {
        var result = new double[count * Horizon];
        for (int n = 0; n < count; n++) Targets(start + n).CopyTo(result.AsSpan(n * Horizon));
        return result;
    }

    /// <summary>Naive forecast: every step repeats the window's last value. [N, H]</summary>
    public double[] Naive(int start, int count) => SeasonalNaive(start, count, 1);

    /// <summary>
    /// Seasonal-naive forecast with period m: step h repeats the value one (or more) whole periods back from it,
    /// the latest such value observed by the window's end. [N, H]
    /// </summary>
    public double[] SeasonalNaive(int start, int count, int season)
    {
        var result = new double[count * Horizon];
        for (int n = 0; n < count; n++)
        {
            int end = FirstRow(start + n) + Lookback; // first predicted row
            for (int h = 0; h < Horizon; h++)
            {
                int row = end + h - season * (h / season + 1);
                result[n * Horizon + h] = Series[Math.Max(row, 0)];
            }
        }
        return result;
    }
}
