namespace Recur.Evaluation;

/// <summary>
/// Point-forecast error measures over paired predictions and actual values (multi-step or multi-series forecasts
/// are passed flattened). All sums run in double; a NaN in the inputs gives NaN. Inputs must be non-empty and of
/// equal length, else <see cref="ArgumentException"/>.
/// </summary>
public static class ForecastMetrics
{
    /// <summary>Root mean squared error: √(mean (pᵢ − aᵢ)²).</summary>
    public static double Rmse(ReadOnlySpan<double> predicted, ReadOnlySpan<double> actual)
    {
        CheckPair(predicted, actual);
        double sum = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = predicted[i] - actual[i];
            sum += d * d;
        }
        return Math.Sqrt(sum / actual.Length);
    }

    /// <summary>Mean absolute error: mean |pᵢ − aᵢ|.</summary>
    public static double Mae(ReadOnlySpan<double> predicted, ReadOnlySpan<double> actual)
    {
        CheckPair(predicted, actual);
        double sum = 0;
        for (int i = 0; i < actual.Length; i++)
            sum += Math.Abs(predicted[i] - actual[i]);
        return sum / actual.Length;
    }

    /// <summary>
    /// Mean absolute percentage error, in percent: 100 · mean |pᵢ − aᵢ| / |aᵢ|. Points whose actual value is 0 or
    /// smaller in magnitude than 1e-8 · max |a| are skipped (their ratio is meaningless); the mean is over the
    /// remaining points, and NaN when every point is skipped.
    /// </summary>
    public static double Mape(ReadOnlySpan<double> predicted, ReadOnlySpan<double> actual)
    {
        CheckPair(predicted, actual);
        double maxAbs = 0;
        for (int i = 0; i < actual.Length; i++)
            maxAbs = Math.Max(maxAbs, Math.Abs(actual[i]));
        double threshold = 1e-8 * maxAbs;
        double sum = 0;
        int count = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double a = Math.Abs(actual[i]);
            if (a == 0 || a < threshold)
                continue;
            sum += Math.Abs(predicted[i] - actual[i]) / a;
            count++;
        }
        return count == 0 ? double.NaN : 100.0 * sum / count;
    }

    /// <summary>
    /// Mean absolute scaled error (Hyndman &amp; Koehler 2006): the forecast's MAE divided by the in-sample MAE of
    /// the seasonal naive forecast on the training series, mean over t ≥ m of |yₜ − yₜ₋ₘ| with m =
    /// <paramref name="season"/> (m = 1: the naive forecast). Below 1 the forecast beats that naive benchmark.
    /// NaN when the scale is 0 (a training series that repeats exactly with period m).
    /// </summary>
    /// <exception cref="ArgumentException">Length mismatch, empty input, season &lt; 1, or a training series not
    /// longer than the season.</exception>
    public static double Mase(ReadOnlySpan<double> predicted, ReadOnlySpan<double> actual,
        ReadOnlySpan<double> trainingSeries, int season)
    {
        CheckPair(predicted, actual);
        if (season < 1)
            throw new ArgumentOutOfRangeException(nameof(season), season, "season must be at least 1");
        if (trainingSeries.Length <= season)
            throw new ArgumentException(
                $"the training series has {trainingSeries.Length} values; the seasonal naive scale with season {season} " +
                $"needs at least {season + 1}", nameof(trainingSeries));
        double scale = 0;
        for (int t = season; t < trainingSeries.Length; t++)
            scale += Math.Abs(trainingSeries[t] - trainingSeries[t - season]);
        scale /= trainingSeries.Length - season;
        if (scale == 0)
            return double.NaN;
        return Mae(predicted, actual) / scale;
    }

    private static void CheckPair(ReadOnlySpan<double> predicted, ReadOnlySpan<double> actual)
    {
        if (predicted.Length != actual.Length)
            throw new ArgumentException(
                $"predicted has {predicted.Length} values but actual has {actual.Length}", nameof(predicted));
        if (actual.Length == 0)
            throw new ArgumentException("at least one value is needed", nameof(actual));
    }
}
