using Recur.Training;

namespace Recur.Data;

/// <summary>A stretch of one series read as one stream: rows [First, First + Length) of series <see cref="Series"/>.</summary>
public sealed record ForecastStream(int Series, int First, int Length);

/// <summary>
/// Series laid out for a stateful forecaster (<see cref="SequenceDataset.Streams"/>): every step reads one row (the
/// targets scaled globally, then the scaled features) and, where it counts, predicts the next H values of every
/// target ([T, H] target-major, as the windowed forecaster's outputs). Streams are cut into windows of K steps,
/// window-major (row i·S + s is window i of stream s); a stream shorter than the longest is padded with zero inputs
/// and mask 0 after its end, so nothing real ever follows (or depends on) a padded step.
/// </summary>
public static class ForecastStreams
{
    /// <summary>A stream is cut only where each piece still spans this many windows, so it keeps a long memory to learn.</summary>
    public const int MinimumWindowsPerStream = 8;

    /// <summary>
    /// The training part: in each series, every step whose H targets are all training rows (rows before
    /// <see cref="ForecastWindows.TrainingRowCount"/>), so no validation or test value is ever a training target; the
    /// last H rows are read only as targets. Each series gives up to ⌊<paramref name="streams"/> / series⌋ streams
    /// (at least one), fewer when a piece would span fewer than <see cref="MinimumWindowsPerStream"/> windows.
    /// </summary>
    public static SequenceDataset Training(ForecastPanel panel, IReadOnlyList<ForecastScaling> scalings, int window, int streams)
    {
        var cut = new List<ForecastStream>();
        int perSeries = Math.Max(1, streams / panel.Series.Count);
        for (int s = 0; s < panel.Series.Count; s++)
        {
            int steps = panel.Series[s].TrainingRowCount - panel.Horizon;
            int pieces = Math.Clamp(steps / (MinimumWindowsPerStream * window), 1, perSeries);
            for (int p = 0, first = 0; p < pieces; p++)
            {
                int length = steps / pieces + (p < steps % pieces ? 1 : 0);
                cut.Add(new ForecastStream(s, first, length));
                first += length;
            }
        }
        return Layout(panel.Series, scalings, cut, window, (_, _) => true);
    }

    /// <summary>
    /// The forecast origin of each window of <paramref name="part"/> in each series: the row of the window's last
    /// input, after which its H targets follow. A stateful model's output at that row is its forecast for the window.
    /// </summary>
    public static int[][] Origins(ForecastPanel panel, ForecastPart part) =>
        Enumerable.Range(0, panel.Series.Count).Select(s =>
        {
            var (start, count) = panel.Range(s, part);
            var w = panel.Series[s];
            return Enumerable.Range(start, count).Select(i => w.FirstRow(i) + w.Lookback - 1).ToArray();
        }).ToArray();

    /// <summary>
    /// One stream per series from its first row to its last origin (the whole history each forecast may read), with
    /// targets and mask 1 at the origins only: scoring a stateful model warms its state over all earlier rows.
    /// </summary>
    public static SequenceDataset Scoring(IReadOnlyList<ForecastWindows> series, IReadOnlyList<ForecastScaling> scalings, IReadOnlyList<int[]> origins, int window)
    {
        var isOrigin = origins.Select((o, s) =>
        {
            var marks = new bool[series[s].Rows];
            foreach (int row in o) marks[row] = true;
            return marks;
        }).ToArray();
        var streams = origins.Select((o, s) => new ForecastStream(s, 0, o.Length == 0 ? 1 : o[^1] + 1)).ToList();
        return Layout(series, scalings, streams, window, (s, row) => isOrigin[s][row]);
    }

    /// <summary>
    /// Streams in windows of K = min(<paramref name="window"/>, longest stream) steps: inputs [N, K, F], targets
    /// [N, K, T·H] and mask [N, K], N = windows per stream × streams; <paramref name="counts"/>(stream's series, row)
    /// says whether a real step's targets enter the loss.
    /// </summary>
    private static SequenceDataset Layout(IReadOnlyList<ForecastWindows> series, IReadOnlyList<ForecastScaling> scalings,
        IReadOnlyList<ForecastStream> streams, int window, Func<int, int, bool> counts)
    {
        if (window < 1) throw new InvalidInputException($"--bptt: expected a window of at least 1 step; found {window}.");
        var first = series[0];
        int S = streams.Count, F = first.Features, T = first.TargetCount, H = first.Horizon, O = T * H;
        int K = Math.Min(window, streams.Max(s => s.Length));
        int windows = streams.Max(s => (s.Length + K - 1) / K), N = windows * S;
        var values = new float[checked(N * K * F)];
        var targets = new float[checked(N * K * O)];
        var mask = new float[N * K];
        for (int i = 0; i < windows; i++)
            for (int s = 0; s < S; s++)
            {
                var stream = streams[s];
                var w = series[stream.Series];
                for (int t = 0; t < K && i * K + t < stream.Length; t++)
                {
                    int step = (i * S + s) * K + t, row = stream.First + i * K + t;
                    for (int k = 0; k < T; k++) values[step * F + k] = Scaled(w.TargetSeries[k][row], scalings[k]);
                    for (int c = 0; c < w.Covariates.Length; c++) values[step * F + T + c] = (float)w.Covariates[c][row];
                    if (!counts(stream.Series, row)) continue;
                    mask[step] = 1;
                    for (int k = 0; k < T; k++)
                        for (int h = 0; h < H; h++) targets[(step * T + k) * H + h] = Scaled(w.TargetSeries[k][row + 1 + h], scalings[k]);
                }
            }
        return SequenceDataset.PerStepRegression(values, N, K, F, targets, O, mask).WithStreams(S);
    }

    /// <summary>A target value in network units: global scaling, the same for every step of every series.</summary>
    private static float Scaled(double value, ForecastScaling scaling) => (float)((value - scaling.Center) / scaling.Scale);
}
