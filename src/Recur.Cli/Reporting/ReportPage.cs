using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Recur.Cli.Reporting;

/// <summary>
/// The self-contained report.html: the task, the metrics beside the baselines, alarms, every plot (relative links
/// to PNGs in the same folder) and the resolved config. Nothing in it depends on the time or the directory's path.
/// </summary>
internal static class ReportPage
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Render(JsonObject report, JsonNode? config, IReadOnlyList<ReportFigure> figures)
    {
        string task = report["task"] is JsonValue t && t.TryGetValue(out string? s) ? s : "unknown";
        var html = new StringBuilder();
        html.Append($$"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>Recur run: {{Escape(task)}}</title>
            <style>
            body { font-family: sans-serif; margin: 2em; max-width: 60em; color: #222; }
            table { border-collapse: collapse; margin: 1em 0; }
            th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
            th:first-child, td:first-child { text-align: left; }
            pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
            img { max-width: 100%; border: 1px solid #eee; }
            .alarm { color: #a00; }
            .skipped { color: #777; font-style: italic; }
            </style>
            </head>
            <body>
            <h1>Recur run: {{Escape(task)}}</h1>

            """);

        html.Append("<h2>Results on the test part</h2>\n");
        AppendMetrics(html, report);
        AppendDetails(html, report);
        AppendAlarms(html, report);

        html.Append("<h2>Plots</h2>\n");
        foreach (var figure in figures)
        {
            html.Append($"<h3>{Escape(figure.Title)}</h3>\n");
            if (figure.File is not null) html.Append($"<p><img src=\"{Escape(figure.File)}\" alt=\"{Escape(figure.Title)}\" width=\"{PlotStyle.Width}\" height=\"{PlotStyle.Height}\"></p>\n");
            else html.Append($"<p class=\"skipped\">Not drawn: {Escape(figure.SkippedBecause ?? "no data")}.</p>\n");
        }

        html.Append("<h2>Resolved config</h2>\n");
        if (config is null) html.Append("<p class=\"skipped\">The run directory has no config.json.</p>\n");
        else html.Append($"<pre>{Escape(config.ToJsonString(Indented))}</pre>\n");
        html.Append("</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>One row per metric: the model's value, then each baseline's.</summary>
    private static void AppendMetrics(StringBuilder html, JsonObject report)
    {
        if (report["metrics"] is not JsonObject metrics || metrics.Count == 0)
        {
            html.Append("<p class=\"skipped\">report.json has no metrics.</p>\n");
            return;
        }
        var baselines = report["baselines"] is JsonObject b
            ? b.Where(p => p.Value is JsonObject).Select(p => (name: p.Key, values: (JsonObject)p.Value!)).ToList()
            : [];
        html.Append("<table>\n<tr><th>metric</th><th>model</th>");
        foreach (var (name, _) in baselines) html.Append($"<th>{Escape(name.Replace('_', ' '))}</th>");
        html.Append("</tr>\n");
        foreach (var (metric, value) in metrics)
        {
            html.Append($"<tr><td>{Escape(metric.Replace('_', ' '))}</td><td>{Number(value)}</td>");
            foreach (var (_, values) in baselines) html.Append($"<td>{Number(values[metric])}</td>");
            html.Append("</tr>\n");
        }
        html.Append("</table>\n");
    }

    /// <summary>The other entries of report.json: scalars in a table, larger values as JSON.</summary>
    private static void AppendDetails(StringBuilder html, JsonObject report)
    {
        var rest = report.Where(p => p.Key is not ("task" or "metrics" or "baselines" or "alarms")).ToList();
        if (rest.Count == 0) return;
        var scalars = rest.Where(p => p.Value is JsonValue or null).ToList();
        if (scalars.Count > 0)
        {
            html.Append("<table>\n");
            foreach (var (key, value) in scalars) html.Append($"<tr><td>{Escape(key.Replace('_', ' '))}</td><td>{Number(value)}</td></tr>\n");
            html.Append("</table>\n");
        }
        foreach (var (key, value) in rest.Where(p => p.Value is not (JsonValue or null)))
            html.Append($"<details><summary>{Escape(key.Replace('_', ' '))}</summary>\n<pre>{Escape(value!.ToJsonString(Indented))}</pre>\n</details>\n");
    }

    private static void AppendAlarms(StringBuilder html, JsonObject report)
    {
        if (report["alarms"] is not JsonArray alarms) return;
        html.Append("<h2>Alarms</h2>\n");
        if (alarms.Count == 0)
        {
            html.Append("<p>None.</p>\n");
            return;
        }
        html.Append("<ul>\n");
        foreach (var alarm in alarms)
            html.Append($"<li class=\"alarm\">{Escape(alarm is JsonValue v && v.TryGetValue(out string? text) ? text : alarm?.ToJsonString() ?? "")}</li>\n");
        html.Append("</ul>\n");
    }

    /// <summary>A number to 6 significant digits; any other value as its JSON text.</summary>
    private static string Number(JsonNode? value)
    {
        if (value is null) return "";
        if (value is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out double d))
            return Escape(d.ToString("G6", CultureInfo.InvariantCulture));
        if (value is JsonValue s && s.TryGetValue(out string? text)) return Escape(text);
        return Escape(value.ToJsonString());
    }

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
