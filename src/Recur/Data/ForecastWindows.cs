using Recur.Training;

namespace Recur.Data;

/// <summary>
/// Sliding windows over one series of one or more target columns: window i reads rows [i·S, i·S+L) of every target
/// (and covariate) and predicts rows [i·S+L, i·S+L+H) of every target. Windows are split in time order: training
/// first, then validation, then the last <see cref="TestFraction"/> as test. Per window, values are laid out
/// target-major: <c>[T, H]</c> (target k's H steps together), so one target gives the familiar <c>[H]</c>.
/// </summary>
public sealed class ForecastWindows
{
    /// <summary>Default lookback: two seasons, at least 12 steps, capped at a quarter of the rows after the horizon.</summary>
    public static int DefaultLookback(int rows, int horizon, int season) =>
        Math.Max(1, Math.Min(Math.Max(12, 2 * season), (rows - horizon) / 4));

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
        : this([series], lookback, horizon, source, minimumWindows, covariates, stride)
    {
    }

    /// <param name="targets">The target columns [T][rows]: each is predicted and each is an input.</param>
    /// <param name="lookback">L: steps each window reads.</param>
    /// <param name="horizon">H: steps each window predicts.</param>
    /// <param name="source">The file (and series), for messages.</param>
    /// <param name="minimumWindows">Fewer windows than this is an error.</param>
    /// <param name="covariates">Extra input series [K][rows], already scaled, read beside the targets at every step.</param>
    /// <param name="stride">S: rows between the starts of consecutive windows.</param>
    public ForecastWindows(double[][] targets, int lookback, int horizon, string source, int minimumWindows = MinimumWindows,
        double[][]? covariates = null, int stride = 1)
    {
        if (targets.Length == 0) throw new ArgumentException("At least one target series is needed.", nameof(targets));
        if (stride < 1) throw new InvalidInputException($"--stride: expected at least 1; found {stride}.");
        Stride = stride;
        TargetSeries = targets;
        var series = targets[0];
        Covariates = covariates ?? [];
        if (Covariates.Any(c => c.Length != series.Length) || targets.Any(t => t.Length != series.Length))
            throw new ArgumentException("Every target and covariate series must have one value per row.", nameof(covariates));
        if (lookback < 1) throw new InvalidInputException($"--lookback: expected at least 1; found {lookback}.");
        if (horizon < 1) throw new InvalidInputException($"--horizon: expected at least 1; found {horizon}.");
        (Lookback, Horizon) = (lookback, horizon);
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
        int train = Count - TestCount - ValidationCount - 2 * Gap;
        // Clamping a negative count to one window would let training targets overlap validation or test targets.
        if (train < 1 && minimumWindows > 1)
            throw new InvalidInputException(
                $"{source}: {series.Length} rows give {count} windows of lookback {lookback} + horizon {horizon}, too few to keep " +
                $"{TestCount} test and {ValidationCount} validation windows apart from training by {Gap} windows each; use more data or a shorter horizon.");
        TrainCount = Math.Max(1, train);
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

    /// <summary>The first target.</summary>
    public double[] Series => TargetSeries[0];

    /// <summary>Every target column [T][rows].</summary>
    public double[][] TargetSeries { get; }

    /// <summary>T: target columns, each predicted H steps ahead.</summary>
    public int TargetCount => TargetSeries.Length;

    /// <summary>Rows of the series.</summary>
    public int Rows => Series.Length;

    /// <summary>Extra input series [K][rows] (scaled), fed beside the normalised targets.</summary>
    public double[][] Covariates { get; }

    /// <summary>Input features per step: the targets, then the covariates.</summary>
    public int Features => TargetCount + Covariates.Length;

    /// <summary>Network outputs per window: T·H.</summary>
    public int Outputs => TargetCount * Horizon;
    public int Lookback { get; }
    public int Horizon { get; }
    public int Count { get; }
    public int TrainCount { get; }
    public int ValidationCount { get; }
    public int TestCount { get; }

    public int ValidationStart => TrainCount + Gap;
    public int TestStart => Count - TestCount;

    /// <summary>Rows the training windows read or predict: the only rows statistics may be fitted on.</summary>
    public int TrainingRowCount => FirstRow(TrainCount - 1) + Lookback + Horizon;

    /// <summary>The first target's <see cref="TrainingRowCount"/> rows.</summary>
    public ReadOnlySpan<double> TrainingRows => Series.AsSpan(0, TrainingRowCount);

    /// <summary>Target <paramref name="target"/>'s training rows.</summary>
    public ReadOnlySpan<double> TrainingRowsOf(int target) => TargetSeries[target].AsSpan(0, TrainingRowCount);

    public ReadOnlySpan<double> Inputs(int window, int target = 0) => TargetSeries[target].AsSpan(FirstRow(window), Lookback);
    public ReadOnlySpan<double> Targets(int window, int target = 0) => TargetSeries[target].AsSpan(FirstRow(window) + Lookback, Horizon);

    /// <summary>Windows [start, start+count) in network units with one target's scaling.</summary>
    public SequenceDataset Dataset(ForecastScaling scaling, int start, int count) => Dataset([scaling], start, count);

    /// <summary>
    /// Windows [start, start+count) in network units, each target normalised by its own scaling (per window):
    /// inputs [N, L, F] (targets, then covariates), targets [N, T·H].
    /// </summary>
    public SequenceDataset Dataset(IReadOnlyList<ForecastScaling> scalings, int start, int count)
    {
        var values = new float[count * Lookback * Features];
        var targets = new float[count * Outputs];
        Fill(scalings, start, count, values, targets);
        return SequenceDataset.Regression(values, count, Lookback, Features, targets, Outputs);
    }

    /// <summary>Writes windows [start, start+count) into <paramref name="values"/> [N, L, F] and <paramref name="targets"/> [N, T·H].</summary>
    public void Fill(IReadOnlyList<ForecastScaling> scalings, int start, int count, Span<float> values, Span<float> targets)
    {
        CheckScalings(scalings);
        int L = Lookback, H = Horizon, F = Features, T = TargetCount;
        for (int n = 0; n < count; n++)
        {
            int window = start + n, first = FirstRow(window);
            for (int k = 0; k < T; k++)
            {
                var input = Inputs(window, k);
                var (anchor, scale) = scalings[k].ForWindow(input);
                for (int t = 0; t < L; t++) values[(n * L + t) * F + k] = (float)((input[t] - anchor) / scale);
                var target = first + L + H <= Rows ? Targets(window, k) : [];
                for (int h = 0; h < target.Length; h++) targets[(n * T + k) * H + h] = (float)((target[h] - anchor) / scale);
            }
            for (int t = 0; t < L; t++)
                for (int c = 0; c < Covariates.Length; c++) values[(n * L + t) * F + T + c] = (float)Covariates[c][first + t];
        }
    }

    /// <summary>Network outputs [N, H] of windows [start, …) back in the series' units (one target).</summary>
    public double[] Restore(ForecastScaling scaling, int start, ReadOnlySpan<float> outputs) => Restore([scaling], start, outputs);

    /// <summary>Network outputs [N, T·H] of windows [start, …) back in each target's units.</summary>
    public double[] Restore(IReadOnlyList<ForecastScaling> scalings, int start, ReadOnlySpan<float> outputs)
    {
        CheckScalings(scalings);
        int H = Horizon, T = TargetCount, count = outputs.Length / Outputs;
        var result = new double[outputs.Length];
        for (int n = 0; n < count; n++)
            for (int k = 0; k < T; k++)
            {
                var (anchor, scale) = scalings[k].ForWindow(Inputs(start + n, k));
                for (int h = 0; h < H; h++) result[(n * T + k) * H + h] = anchor + scale * (double)outputs[(n * T + k) * H + h];
            }
        return result;
    }

    /// <summary>Actual values [N, T·H] of windows [start, start+count).</summary>
    public double[] Actual(int start, int count)
    {
        var result = new double[count * Outputs];
        for (int n = 0; n < count; n++)
            for (int k = 0; k < TargetCount; k++) Targets(start + n, k).CopyTo(result.AsSpan((n * TargetCount + k) * Horizon));
        return result;
    }

    /// <summary>Naive forecast: every step repeats the window's last value. [N, T·H]</summary>
    public double[] Naive(int start, int count) => SeasonalNaive(start, count, 1);

    /// <summary>
    /// Seasonal-naive forecast with period m: step h repeats the value one (or more) whole periods back from it,
    /// the latest such value observed by the window's end. [N, T·H]
    /// </summary>
    public double[] SeasonalNaive(int start, int count, int season)
    {
        var result = new double[count * Outputs];
        for (int n = 0; n < count; n++)
        {
            int end = FirstRow(start + n) + Lookback; // first predicted row
            for (int k = 0; k < TargetCount; k++)
                for (int h = 0; h < Horizon; h++)
                {
                    int row = end + h - season * (h / season + 1);
                    result[(n * TargetCount + k) * Horizon + h] = TargetSeries[k][Math.Max(row, 0)];
                }
        }
        return result;
    }

    private void CheckScalings(IReadOnlyList<ForecastScaling> scalings)
    {
        if (scalings.Count != TargetCount)
            throw new ArgumentException($"{TargetCount} targets need {TargetCount} scalings; found {scalings.Count}.", nameof(scalings));
    }
}
