using System.Text.Json.Serialization;

namespace Recur.Data;

/// <summary>
/// How forecasting windows are normalised before the network sees them; every mode is reversible per window.
/// <list type="bullet">
/// <item><c>relative</c>: subtract the window's last value, divide by the typical step size (std of first
/// differences on the training part). Targets become changes from the last observation — differencing — so trends
/// and level shifts never leave the range seen in training.</item>
/// <item><c>instance</c>: subtract the window's mean, divide by the window's std (floored): reversible instance
/// normalisation; robust to changes of scale as well as level.</item>
/// <item><c>global</c>: standardise with the training part's mean and std (fails on trending series, kept as an
/// option).</item>
/// </list>
/// </summary>
public sealed record ForecastScaling(
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("mean")] double Mean,
    [property: JsonPropertyName("std")] double Std,
    [property: JsonPropertyName("step_scale")] double StepScale)
{
    public static readonly string[] Modes = ["relative", "instance", "global"];

    /// <summary>Statistics of the training rows for the given mode.</summary>
    public static ForecastScaling Fit(string mode, ReadOnlySpan<double> trainingRows)
    {
        if (!Modes.Contains(mode)) throw new InvalidInputException($"--normalize: expected auto, {string.Join(", ", Modes)}; found '{mode}'.");
        double mean = 0;
        foreach (var v in trainingRows) mean += v;
        mean /= trainingRows.Length;
        double variance = 0;
        foreach (var v in trainingRows) variance += (v - mean) * (v - mean);
        double std = Math.Sqrt(variance / trainingRows.Length);
        double diffMean = 0, diffSq = 0;
        int diffs = trainingRows.Length - 1;
        for (int i = 1; i < trainingRows.Length; i++) diffMean += trainingRows[i] - trainingRows[i - 1];
        diffMean = diffs > 0 ? diffMean / diffs : 0;
        for (int i = 1; i < trainingRows.Length; i++)
        {
            double d = trainingRows[i] - trainingRows[i - 1] - diffMean;
            diffSq += d * d;
        }
        double stepScale = diffs > 0 ? Math.Sqrt(diffSq / diffs) : 0;
        if (!double.IsFinite(mean) || !double.IsFinite(std) || !double.IsFinite(stepScale))
            throw new InvalidInputException($"the series' values are too large to normalise (mean {mean:G3}, spread {std:G3}); rescale the column, e.g. to thousands.");
        // A constant series has no scale: fall back so the transforms stay finite.
        if (!(std > 1e-12)) std = Math.Max(Math.Abs(mean), 1.0);
        if (!(stepScale > 1e-12)) stepScale = std;
        return new ForecastScaling(mode, mean, std, stepScale);
    }

    /// <summary>The (anchor, scale) pair that maps this window's values to network units: (v − anchor) / scale.</summary>
    public (double Anchor, double Scale) ForWindow(ReadOnlySpan<double> window)
    {
        switch (Mode)
        {
            case "relative":
                return (window[^1], StepScale);
            case "instance":
                double mean = 0;
                foreach (var v in window) mean += v;
                mean /= window.Length;
                double variance = 0;
                foreach (var v in window) variance += (v - mean) * (v - mean);
                // Floor the window's spread so a flat window does not blow small wiggles up.
                return (mean, Math.Max(Math.Sqrt(variance / window.Length), 0.5 * StepScale));
            default:
                return (Mean, Std);
        }
    }
}
