namespace Recur.Data;

/// <summary>
/// Global scalers, fitted on training rows only: x' = (x − center) / scale.
/// <c>standard</c>: mean and standard deviation; <c>minmax</c>: minimum and range (training values map to [0, 1]);
/// <c>robust</c>: median and interquartile range (outliers barely move them).
/// </summary>
public static class Scaler
{
    public static readonly string[] Kinds = ["standard", "minmax", "robust"];

    public static string Check(string? kind)
    {
        string k = (kind ?? "standard").ToLowerInvariant();
        return Kinds.Contains(k) ? k : throw new InvalidInputException($"--scaler: expected one of {string.Join(", ", Kinds)}; found '{kind}'.");
    }

    /// <summary>(center, scale) of <paramref name="values"/>; a zero or non-finite scale falls back to 1.</summary>
    public static (double Center, double Scale) Fit(string kind, ReadOnlySpan<double> values)
    {
        if (values.IsEmpty) throw new ArgumentException("A scaler needs at least one value.", nameof(values));
        (double center, double scale) = kind switch
        {
            "minmax" => Range(values),
            "robust" => Quartiles(values),
            _ => MeanStd(values),
        };
        if (!double.IsFinite(center) || !double.IsFinite(scale))
            throw new InvalidInputException($"values too large to scale (center {center:G3}, scale {scale:G3}); rescale the column, e.g. to thousands.");
        return (center, scale > 1e-12 ? scale : Math.Max(Math.Abs(center), 1.0));
    }

    private static (double, double) MeanStd(ReadOnlySpan<double> values)
    {
        double mean = 0;
        foreach (var v in values) mean += v;
        mean /= values.Length;
        double variance = 0;
        foreach (var v in values) variance += (v - mean) * (v - mean);
        return (mean, Math.Sqrt(variance / values.Length));
    }

    private static (double, double) Range(ReadOnlySpan<double> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values) (min, max) = (Math.Min(min, v), Math.Max(max, v));
        return (min, max - min);
    }

    private static (double, double) Quartiles(ReadOnlySpan<double> values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        double Quantile(double q)
        {
            double position = q * (sorted.Length - 1);
            int below = (int)Math.Floor(position);
            int above = Math.Min(below + 1, sorted.Length - 1);
            return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
        }
        return (Quantile(0.5), Quantile(0.75) - Quantile(0.25));
    }
}
