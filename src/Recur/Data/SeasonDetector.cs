namespace Recur.Data;

/// <summary>
/// Finds a seasonal period by autocorrelation: on the first differences (so a trend does not mask the cycle),
/// the lag of the highest local peak of the autocorrelation, preferring the shortest lag whose peak reaches 90% of
/// the highest (a week rather than four weeks). No peak above max(0.3, 3/√n) means no season (1).
/// </summary>
public static class SeasonDetector
{
    public static int Detect(ReadOnlySpan<double> series, int maxLag = 1000)
    {
        int n = series.Length - 1;
        if (n < 8) return 1;
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = series[i + 1] - series[i];
        double mean = x.Average(), variance = x.Sum(v => (v - mean) * (v - mean));
        if (!(variance > 0)) return 1;
        int lags = Math.Min(maxLag, n / 3);
        if (lags < 3) return 1;
        var r = new double[lags + 1];
        for (int k = 1; k <= lags; k++)
        {
            double sum = 0;
            for (int i = 0; i + k < n; i++) sum += (x[i] - mean) * (x[i + k] - mean);
            r[k] = sum / variance;
        }
        double threshold = Math.Max(0.3, 3 / Math.Sqrt(n));
        var peaks = Enumerable.Range(2, lags - 2).Where(k => r[k] > r[k - 1] && r[k] >= r[k + 1] && r[k] > threshold).ToList();
        if (peaks.Count == 0) return 1;
        double best = peaks.Max(k => r[k]);
        return peaks.First(k => r[k] >= 0.9 * best);
    }
}
