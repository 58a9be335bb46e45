using System.Text.Json;
using System.Text.Json.Nodes;

namespace Recur.Cli.Reporting;

/// <summary>
/// Builds a run directory's report (DESIGN, "Artifacts"): PNG plots and report.html in <c>DIR/report/</c>, from the
/// files <c>recur train --out</c> writes. A plot whose input file is missing is skipped, and the page says so.
/// </summary>
internal static class RunReport
{
    public const string Folder = "report", Page = "report.html";

    /// <summary>Rebuilds <c>report/</c> in <paramref name="runDir"/> and returns the path of report.html.</summary>
    /// <exception cref="InvalidInputException">The directory is missing, is not a run directory, or holds a malformed file.</exception>
    public static string Build(string runDir)
    {
        if (!Directory.Exists(runDir))
            throw new InvalidInputException($"run directory '{runDir}' does not exist; expected a directory written by 'recur train --out'.");
        string reportJson = Path.Combine(runDir, "report.json");
        if (!File.Exists(reportJson) || !File.Exists(Path.Combine(runDir, "metrics.csv")))
            throw new InvalidInputException($"'{runDir}' is not a Recur run directory: expected report.json and metrics.csv written by 'recur train --out'.");
        var report = ReadJson(reportJson) as JsonObject
            ?? throw new InvalidInputException($"{reportJson}: expected a JSON object.");
        string configPath = Path.Combine(runDir, "config.json");
        var config = File.Exists(configPath) ? ReadJson(configPath) : null;
        string task = report["task"] is JsonValue t && t.TryGetValue(out string? s) ? s : "";

        string folder = Path.Combine(runDir, Folder);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.CreateDirectory(folder);

        var figures = new List<ReportFigure>();
        void Draw(string title, string file, RunTable? input, string inputName, Action<RunTable, string> plot)
        {
            if (input is null)
            {
                figures.Add(new ReportFigure(title, null, $"the run directory has no {inputName}"));
                return;
            }
            try
            {
                plot(input, Path.Combine(folder, file));
                figures.Add(new ReportFigure(title, file, null));
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidInputException)
            {
                // e.g. a heat map whose cells are all NaN or zero: nothing finite to colour.
                File.Delete(Path.Combine(folder, file));
                figures.Add(new ReportFigure(title, null, $"{inputName} holds nothing drawable ({e.Message})"));
            }
        }

        var metrics = RunTable.TryRead(runDir, "metrics.csv");
        Draw("Loss", "loss.png", metrics, "metrics.csv", TrainingPlots.Loss);
        Draw("Learning rate", "learning_rate.png", metrics, "metrics.csv", TrainingPlots.LearningRate);
        Draw("Gradient norm per parameter group", "gradient_norms.png", RunTable.TryRead(runDir, "gradient_flow.csv"), "gradient_flow.csv", TrainingPlots.GradientNorms);

        var steps = RunTable.TryRead(runDir, "step_gradients.csv");
        int[] layers = steps is null ? [] : TrainingPlots.Layers(steps);
        if (layers.Length == 0) Draw("Gradient over time steps, log10 |dL/dh_t|", "time_gradients.png", null, "step_gradients.csv", (_, _) => { });
        // The last recurrent layer is time_gradients.png; earlier layers of a stack get time_gradients_l{k}.png.
        for (int i = layers.Length - 1; i >= 0; i--)
        {
            int layer = layers[i];
            string file = i == layers.Length - 1 ? "time_gradients.png" : $"time_gradients_l{layer}.png";
            Draw($"Gradient over time steps, log10 |dL/dh_t|, recurrent layer {layer}", file, steps, "step_gradients.csv", (table, path) => TrainingPlots.TimeGradients(table, layer, path));
        }

        var predictions = RunTable.TryRead(runDir, "test_predictions.csv");
        if (task == "forecast") Draw("Forecast on the test part", "forecast.png", predictions, "test_predictions.csv", ResultPlots.Forecast);
        else if (task is "classify" or "tag") Draw("Confusion matrix on the test part", "confusion.png", predictions, "test_predictions.csv", ResultPlots.Confusion);

        string page = Path.Combine(folder, Page);
        File.WriteAllText(page, ReportPage.Render(report, config, figures));
        return page;
    }

    private static JsonNode? ReadJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: not valid JSON: {e.Message}");
        }
    }
}
