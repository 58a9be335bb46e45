using ScottPlot;

namespace Recur.Cli.Reporting;

/// <summary>What every report plot shares: its size, the logarithmic axis, and saving.</summary>
internal static class PlotStyle
{
    public const int Width = 800, Height = 500;

    /// <summary>A plot with a title and axis labels.</summary>
    public static Plot Create(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    /// <summary>A plot over epochs: whole-number ticks on the x axis.</summary>
    public static Plot OverEpochs(string title, string yLabel)
    {
        var plot = Create(title, "epoch", yLabel);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        return plot;
    }

    /// <summary>Whether positive values span more than <paramref name="decades"/> powers of ten.</summary>
    public static bool SpansDecades(IEnumerable<double> values, double decades)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double v in values)
        {
            if (!(v > 0) || !double.IsFinite(v)) continue;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        return max > min && Math.Log10(max / min) > decades;
    }

    /// <summary>
    /// Makes the left axis logarithmic: the caller plots log10 of its values (given here too), and the axis labels
    /// them with the values themselves at 1, 2, 5 or every digit of each decade, as many as the range allows.
    /// </summary>
    public static void LogLeftAxis(Plot plot, IEnumerable<double> logValues)
    {
        double[] values = logValues.Where(double.IsFinite).ToArray();
        if (values.Length == 0) return;
        double pad = Math.Max(0.1 * (values.Max() - values.Min()), 0.02);
        double min = values.Min() - pad, max = values.Max() + pad;
        int low = (int)Math.Floor(min), high = (int)Math.Ceiling(max);
        int stride = Math.Max(1, (high - low) / 8);
        int[][] choices = [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]];
        var ticks = new List<double>();
        foreach (int[] multipliers in choices)
        {
            ticks.Clear();
            for (int k = low; k <= high; k += multipliers.Length == 1 ? stride : 1)
                foreach (int m in multipliers)
                {
                    double y = k + Math.Log10(m);
                    if (y >= min && y <= max) ticks.Add(y);
                }
            if (ticks.Count >= 3) break;
        }
        if (ticks.Count < 2)
        {
            // Less than a tenth of a decade: evenly spaced labels, still naming the values themselves.
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = Label };
            return;
        }
        plot.Axes.Left.SetTicks(ticks.ToArray(), ticks.Select(Label).ToArray());
        plot.Axes.SetLimitsY(min, max);

        static string Label(double y) => Math.Pow(10, y).ToString("G3", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Keeps the points whose x and y are finite (and y positive when <paramref name="log"/>), y as log10 then.</summary>
    public static (double[] xs, double[] ys) Finite(IReadOnlyList<double> xs, IReadOnlyList<double> ys, bool log)
    {
        var keptX = new List<double>(xs.Count);
        var keptY = new List<double>(xs.Count);
        for (int i = 0; i < xs.Count; i++)
        {
            double y = ys[i];
            if (!double.IsFinite(xs[i]) || !double.IsFinite(y) || (log && !(y > 0))) continue;
            keptX.Add(xs[i]);
            keptY.Add(log ? Math.Log10(y) : y);
        }
        return (keptX.ToArray(), keptY.ToArray());
    }

    /// <summary>Renders to a PNG of the report's size.</summary>
    public static void Save(Plot plot, string path) => plot.SavePng(path, Width, Height);
}
