using System.Globalization;
using ScottPlot;

namespace Recur.Cli.Reporting;

/// <summary>Plots of the test part's predictions: the forecast against the actual series, the confusion matrix.</summary>
internal static class ResultPlots
{
    /// <summary>At most this many labels get their own row and column in the confusion matrix.</summary>
    public const int MaxConfusionLabels = 30;

    /// <summary>
    /// Actual and predicted values (step 1 of each test window) by data row, the naive forecast dashed; with several
    /// targets or series (<c>target</c>, <c>id</c> columns), those of the first target of the first series.
    /// </summary>
    public static void Forecast(RunTable predictions, string path)
    {
        string title = "Test part: one step ahead";
        bool[] shown = Enumerable.Repeat(true, predictions.RowCount).ToArray();
        foreach (var column in new[] { "id", "target" })
        {
            if (!predictions.Has(column) || predictions.RowCount == 0) continue;
            var values = predictions.Text(column);
            for (int i = 0; i < values.Length; i++) shown[i] &= values[i] == values[0];
            title += $", {column} {values[0]}";
        }
        int[] step = predictions.Integers("step").Select((s, i) => shown[i] ? s : 0).ToArray();
        double[] row = predictions.Numbers("row");
        double[] actual = predictions.Numbers("actual");
        double[] predicted = predictions.Numbers("predicted");
        double[] naive = predictions.Numbers("naive");
        int[] first = Enumerable.Range(0, step.Length).Where(i => step[i] == 1).OrderBy(i => row[i]).ToArray();
        double[] Pick(double[] column) => first.Select(i => column[i]).ToArray();
        double[] xs = Pick(row);

        var plot = PlotStyle.Create(title, "data row", "value");
        void Line(double[] ys, string name, bool dashed)
        {
            var (x, y) = PlotStyle.Finite(xs, ys, log: false);
            var line = plot.Add.Scatter(x, y);
            line.LegendText = name;
            line.MarkerSize = x.Length > 100 ? 0 : 4;
            if (dashed) line.LinePattern = LinePattern.Dashed;
        }
        Line(Pick(actual), "actual", dashed: false);
        Line(Pick(predicted), "predicted", dashed: false);
        Line(Pick(naive), "naive", dashed: true);
        plot.ShowLegend(Alignment.UpperRight);
        PlotStyle.Save(plot, path);
    }

    /// <summary>Confusion-matrix heat map: rows actual, columns predicted, coloured by the share of each actual row.</summary>
    public static void Confusion(RunTable predictions, string path)
    {
        var matrix = ConfusionMatrix.Count(predictions.Text("actual"), predictions.Text("predicted"), MaxConfusionLabels);
        int n = matrix.Labels.Length;
        var shares = new double[n, n];
        for (int a = 0; a < n; a++)
        {
            int total = 0;
            for (int p = 0; p < n; p++) total += matrix.Counts[a, p];
            for (int p = 0; p < n; p++) shares[a, p] = total == 0 ? double.NaN : (double)matrix.Counts[a, p] / total;
        }

        var plot = PlotStyle.Create("Confusion matrix (test part)", "predicted", "actual");
        var heatmap = plot.Add.Heatmap(shares);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.Rectangle = new CoordinateRect(-0.5, n - 0.5, -0.5, n - 0.5);
        heatmap.NaNCellColor = Colors.White;
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = "share of the actual label's rows";
        if (n <= 12)
        {
            for (int a = 0; a < n; a++)
                for (int p = 0; p < n; p++)
                {
                    var text = plot.Add.Text(matrix.Counts[a, p].ToString(CultureInfo.InvariantCulture), p, n - 1 - a);
                    text.Alignment = Alignment.MiddleCenter;
                    text.LabelFontColor = shares[a, p] > 0.6 ? Colors.Black : Colors.White;
                }
        }
        // Row 0 of the grid (the most frequent label) is the top of the image.
        double[] positions = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(positions, matrix.Labels);
        plot.Axes.Left.SetTicks(positions.Select(y => n - 1 - y).ToArray(), matrix.Labels);
        float size = n > 15 ? 9 : 12;
        // Predicted labels read downwards from their column; the axis grows to hold the longest one (capped).
        plot.Axes.Bottom.TickLabelStyle.Rotation = 90;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = Math.Min(160, 30 + size * 0.65f * matrix.Labels.Max(l => l.Length));
        plot.Axes.Bottom.TickLabelStyle.FontSize = size;
        plot.Axes.Left.TickLabelStyle.FontSize = size;
        plot.Axes.Margins(0, 0);
        PlotStyle.Save(plot, path);
    }
}
