using System.Globalization;
using ScottPlot;

namespace Recur.Cli.Reporting;

/// <summary>Plots of how training went: loss, learning rate, gradient norms per group, ‖dL/dh_t‖ over time steps.</summary>
internal static class TrainingPlots
{
    /// <summary>Train and validation loss per epoch (log y when they span more than two decades), best epoch marked.</summary>
    public static void Loss(RunTable metrics, string path)
    {
        double[] epochs = metrics.Numbers("epoch");
        double[] train = metrics.Numbers("train_loss");
        double[] validation = metrics.Numbers("validation_loss");
        int[] best = metrics.Integers("best");
        bool log = PlotStyle.SpansDecades(train.Concat(validation), 2);

        var plot = PlotStyle.OverEpochs("Loss", log ? "loss (log scale)" : "loss");
        var (tx, ty) = PlotStyle.Finite(epochs, train, log);
        var trainLine = plot.Add.Scatter(tx, ty);
        trainLine.LegendText = "train";
        var (vx, vy) = PlotStyle.Finite(epochs, validation, log);
        double[] plotted = [.. ty, .. vy];
        var validationLine = plot.Add.Scatter(vx, vy);
        validationLine.LegendText = "validation";
        int bestRow = Array.IndexOf(best, 1);
        if (bestRow >= 0)
        {
            var line = plot.Add.VerticalLine(epochs[bestRow]);
            line.LinePattern = LinePattern.Dashed;
            line.Color = Colors.Gray;
            line.LegendText = string.Create(CultureInfo.InvariantCulture, $"best epoch {epochs[bestRow]}");
            var (bx, by) = PlotStyle.Finite([epochs[bestRow]], [validation[bestRow]], log);
            if (bx.Length == 1)
            {
                var marker = plot.Add.Marker(bx[0], by[0]);
                marker.Color = validationLine.Color;
                marker.Size = 12;
            }
        }
        if (log) PlotStyle.LogLeftAxis(plot, plotted);
        plot.ShowLegend(Alignment.UpperRight);
        PlotStyle.Save(plot, path);
    }

    /// <summary>Learning rate per epoch.</summary>
    public static void LearningRate(RunTable metrics, string path)
    {
        double[] epochs = metrics.Numbers("epoch");
        double[] rates = metrics.Numbers("learning_rate");
        bool log = PlotStyle.SpansDecades(rates, 2);
        var plot = PlotStyle.OverEpochs("Learning rate", log ? "learning rate (log scale)" : "learning rate");
        var (xs, ys) = PlotStyle.Finite(epochs, rates, log);
        plot.Add.Scatter(xs, ys);
        if (log) PlotStyle.LogLeftAxis(plot, ys);
        PlotStyle.Save(plot, path);
    }

    /// <summary>Mean gradient norm per parameter group and epoch, log y.</summary>
    public static void GradientNorms(RunTable flow, string path)
    {
        double[] epochs = flow.Numbers("epoch");
        string[] groups = flow.Text("group");
        double[] norms = flow.Numbers("gradient_norm");
        var plot = PlotStyle.OverEpochs("Gradient norm per parameter group", "gradient norm (log scale)");
        var plotted = new List<double>();
        foreach (string group in groups.Distinct())
        {
            int[] rows = Enumerable.Range(0, groups.Length).Where(r => groups[r] == group).ToArray();
            var (xs, ys) = PlotStyle.Finite(rows.Select(r => epochs[r]).ToArray(), rows.Select(r => norms[r]).ToArray(), log: true);
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = group;
            plotted.AddRange(ys);
        }
        PlotStyle.LogLeftAxis(plot, plotted);
        plot.ShowLegend(Alignment.UpperRight);
        PlotStyle.Save(plot, path);
    }

    /// <summary>The recurrent layers that <c>step_gradients.csv</c> covers, in order.</summary>
    public static int[] Layers(RunTable steps) => steps.Integers("layer").Distinct().Order().ToArray();

    /// <summary>Heat map of log10 ‖dL/dh_t‖ for one recurrent layer: time step across, epoch up, with a colour bar.</summary>
    public static void TimeGradients(RunTable steps, int layer, string path)
    {
        int[] epochColumn = steps.Integers("epoch");
        int[] layerColumn = steps.Integers("layer");
        int[] stepColumn = steps.Integers("step");
        double[] norms = steps.Numbers("gradient_norm");
        int[] rows = Enumerable.Range(0, layerColumn.Length).Where(r => layerColumn[r] == layer).ToArray();
        int[] epochs = rows.Select(r => epochColumn[r]).Distinct().Order().ToArray();
        int maxStep = rows.Max(r => stepColumn[r]);
        var epochIndex = epochs.Select((e, i) => (e, i)).ToDictionary(p => p.e, p => p.i);

        // Row 0 of the grid is the top of the image: the last epoch, so epochs grow upwards like the y axis.
        var grid = new double[epochs.Length, maxStep];
        for (int i = 0; i < epochs.Length; i++)
            for (int t = 0; t < maxStep; t++)
                grid[i, t] = double.NaN;
        foreach (int r in rows)
        {
            if (stepColumn[r] < 1) continue;
            double norm = norms[r];
            grid[epochs.Length - 1 - epochIndex[epochColumn[r]], stepColumn[r] - 1] = norm > 0 && double.IsFinite(norm) ? Math.Log10(norm) : double.NaN;
        }

        var plot = PlotStyle.Create(string.Create(CultureInfo.InvariantCulture, $"log10 |dL/dh_t|, recurrent layer {layer}"), "time step", "epoch");
        var heatmap = plot.Add.Heatmap(grid);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.Rectangle = new CoordinateRect(0.5, maxStep + 0.5, 0.5, epochs.Length + 0.5);
        heatmap.NaNCellColor = Colors.White;
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = "log10 |dL/dh_t|";
        // Cell i (from the bottom) is the i-th epoch recorded; label at most about 12 of them.
        int stride = Math.Max(1, (int)Math.Ceiling(epochs.Length / 12.0));
        int[] labelled = Enumerable.Range(0, epochs.Length).Where(i => i % stride == 0).ToArray();
        plot.Axes.Left.SetTicks(labelled.Select(i => i + 1.0).ToArray(), labelled.Select(i => epochs[i].ToString(CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.Margins(0, 0);
        PlotStyle.Save(plot, path);
    }
}
