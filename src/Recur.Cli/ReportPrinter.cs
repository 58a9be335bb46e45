using System.Globalization;
using System.Text.Json;
using Recur.Evaluation;

namespace Recur.Cli;

/// <summary>Prints a <see cref="TaskReport"/> as a table: one row per metric, the model beside each baseline.</summary>
internal static class ReportPrinter
{
    public static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };

    public static void Print(TaskReport report, TextWriter output, string part = "test part")
    {
        var columns = new List<string> { "model" };
        columns.AddRange(report.Baselines.Keys);
        output.WriteLine($"{report.Task}: {part}, {report.TestSize} {report.Task switch { "forecast" => "windows", "tag" => "steps", "lm" => "predicted tokens", _ => "sequences" }}");
        int width = Math.Max(10, report.Metrics.Keys.Max(k => k.Length) + 1);
        output.WriteLine("metric".PadRight(width) + string.Concat(columns.Select(c => $"{c,16}")));
        foreach (var metric in report.Metrics.Keys)
        {
            var values = new List<double> { report.Metrics[metric] };
            values.AddRange(report.Baselines.Values.Select(b => b.GetValueOrDefault(metric, double.NaN)));
            output.WriteLine(metric.PadRight(width) + string.Concat(values.Select(v => $"{Format(v),16}")));
        }
        // Forecasts of several targets or series: one line of RMSE (model, then baselines) per target and per series.
        foreach (var group in new[] { "targets", "series" })
            if (report.Details?[group] is System.Text.Json.Nodes.JsonObject parts)
            {
                output.WriteLine($"rmse by {(group == "targets" ? "target" : "series")}:");
                foreach (var (name, scores) in parts)
                {
                    double Rmse(System.Text.Json.Nodes.JsonNode? node) => node?["rmse"]?.GetValue<double>() ?? double.NaN;
                    var values = new List<double> { Rmse(scores?["metrics"]) };
                    values.AddRange(report.Baselines.Keys.Select(b => Rmse(scores?["baselines"]?[b])));
                    output.WriteLine($"  {name,-8}" + string.Concat(values.Select(v => $"{Format(v),16}")));
                }
            }
        if (report.Details?["sample"]?.GetValue<string>() is string sample)
            output.WriteLine($"sample (temperature 0.8): {sample.ReplaceLineEndings(" ")}");
    }

    private static string Format(double v) => double.IsFinite(v) ? v.ToString("G6", CultureInfo.InvariantCulture) : "n/a";
}
