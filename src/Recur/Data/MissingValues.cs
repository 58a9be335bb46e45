namespace Recur.Data;

/// <summary>
/// What to do with missing values (NaN from <see cref="CsvTable.Numeric(int, bool)"/>) in a series:
/// <c>error</c> (the default: a message naming the line), <c>interpolate</c> (linear between the nearest known
/// values; the nearest known value at the ends), <c>ffill</c> (repeat the last known value; the first known one
/// before it) or <c>drop</c> (remove the rows).
/// </summary>
public static class MissingValues
{
    public static readonly string[] Policies = ["error", "interpolate", "ffill", "drop"];

    public static string Check(string? policy)
    {
        string p = (policy ?? "error").ToLowerInvariant();
        return Policies.Contains(p) ? p : throw new InvalidInputException($"--missing: expected one of {string.Join(", ", Policies)}; found '{policy}'.");
    }

    /// <summary>The series with its NaNs treated by <paramref name="policy"/> (not "error").</summary>
    public static double[] Apply(double[] series, string policy, string source)
    {
        int known = series.Count(double.IsFinite);
        if (known == 0) throw new InvalidInputException($"{source}: every value of the series is missing.");
        if (known == series.Length) return series;
        if (policy == "drop") return series.Where(double.IsFinite).ToArray();
        var result = (double[])series.Clone();
        int first = Array.FindIndex(result, double.IsFinite);
        for (int i = 0; i < first; i++) result[i] = result[first];
        int last = first;
        for (int i = first + 1; i < result.Length; i++)
        {
            if (!double.IsFinite(result[i])) continue;
            for (int gap = last + 1; gap < i; gap++)
                result[gap] = policy == "ffill" ? result[last] : result[last] + (result[i] - result[last]) * (gap - last) / (i - last);
            last = i;
        }
        for (int i = last + 1; i < result.Length; i++) result[i] = result[last];
        return result;
    }
}
