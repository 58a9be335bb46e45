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
/// <item><c>global</c>: scale with the training part's statistics (<see cref="Data.Scaler"/>: standard, min-max or
/// robust; fails on trending series, kept as an option).</item>
/// </list>
/// </summary>
public sealed record ForecastScaling(
    [property: JsonPropertyName("mode")] string Mode,
    [property: JsonPropertyName("scaler")] string Scaler,
    [property: JsonPropertyName("center")] double Center,
    [property: JsonPropertyName("scale")] double Scale,
    [property: JsonPropertyName("step_scale")] double StepScale)
{
    public static readonly string[] Modes = ["relative", "instance", "global"];

    /// <summary>Statistics of the training rows for the given mode; <paramref name="scaler"/> is the global one.</summary>
    public static ForecastScaling Fit(string mode, ReadOnlySpan<double> trainingRows, string scaler = "standard") =>
        Fit(mode, [trainingRows.ToArray()], scaler);

    /// <summary>
    /// Statistics of the training rows of several series (one segment each) for the given mode: the global centre
    /// and scale over every row, the step size over the steps inside each segment (never from one series' last
    /// row to the next one's first).
    /// </summary>
    public static ForecastScaling Fit(string mode, IReadOnlyList<double[]> segments, string scaler = "standard")
    {
        if (!Modes.Contains(mode)) throw new InvalidInputException($"--normalize: expected auto, {string.Join(", ", Modes)}; found '{mode}'.");
        var all = segments.Count == 1 ? segments[0] : segments.SelectMany(s => s).ToArray();
        var (center, scale) = Data.Scaler.Fit(scaler, all);
        double diffMean = 0, diffSq = 0;
        int diffs = segments.Sum(s => Math.Max(0, s.Length - 1));
        foreach (var rows in segments)
            for (int i = 1; i < rows.Length; i++) diffMean += rows[i] - rows[i - 1];
        diffMean = diffs > 0 ? diffMean / diffs : 0;
        foreach (var rows in segments)
            for (int i = 1; i < rows.Length; i++)
            {
                double d = rows[i] - rows[i - 1] - diffMean;
                diffSq += d * d;
            }
        double stepScale = diffs > 0 ? Math.Sqrt(diffSq / diffs) : 0;
        if (!double.IsFinite(stepScale))
            throw new InvalidInputException($"the series' steps are too large to normalise (spread {stepScale:G3}); rescale the column, e.g. to thousands.");
        // A constant series has no step size: fall back so the transforms stay finite.
        if (!(stepScale > 1e-12)) stepScale = scale;
        return new ForecastScaling(mode, scaler, center, scale, stepScale);
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
                return (Center, Scale);
        }
    }
}
