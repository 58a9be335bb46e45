using System.CommandLine;
using System.Text.Json.Nodes;
using Recur.Training;

namespace Recur.Cli;

/// <summary><c>recur predict --model FILE --data PATH [--json]</c>: one prediction per window or row.</summary>
internal static class PredictCommand
{
    private static readonly Option<string> Model = new("--model") { Description = "model file (model.safetensors of a run)", Required = true };
    private static readonly Option<string> Data = new("--data") { Description = "a file in the training file's layout (CSV/TSV, or sentences for a tagger)", Required = true };
    private static readonly Option<bool> Json = new("--json") { Description = "print {\"predictions\": [...]}" };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("predict", "Predict with a saved model: a forecast per window, a label per row, tags per sentence, or a decoded target text per row.") { Model, Data, Json };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () =>
        {
            string dataPath = parsed.GetValue(Data)!;
            var (file, table, task) = EvaluateCommand.Load(parsed.GetValue(Model)!, dataPath);
            if (task == "seq2seq")
            {
                // One decoding gives both the texts and where each output step looked.
                var (texts, attention) = SequenceToSequenceWorkflow.Predict(file, table!);
                if (parsed.GetValue(Json)) stdout.WriteLine(new JsonObject { ["predictions"] = texts, ["attention"] = attention }.ToJsonString(ReportPrinter.JsonOptions));
                else foreach (var text in texts) stdout.WriteLine(text!.ToString());
                return RecurCommand.Success;
            }
            var predictions = task switch
            {
                "forecast" => ForecastWorkflow.Predict(file, table!),
                "classify" => ClassifyWorkflow.Predict(file, table!),
                "tag" => TagWorkflow.Predict(file, dataPath),
                _ => throw new InvalidInputException($"{file.Path} is a language model: use 'recur generate --model {file.Path}' to sample text, or 'recur evaluate' to score a text."),
            };
            if (parsed.GetValue(Json))
            {
                var result = new JsonObject { ["predictions"] = predictions };
                // An attention classifier also shows where it looked: one weight list per sequence, over its real steps.
                if (task == "classify" && ClassifyWorkflow.Attention(file, table!) is JsonArray attention) result["attention"] = attention;
                stdout.WriteLine(result.ToJsonString(ReportPrinter.JsonOptions));
            }
            else foreach (var p in predictions)
                stdout.WriteLine(p switch
                {
                    JsonObject o when task == "forecast" => ForecastLine(o),
                    JsonObject o => $"{o["id"]}\t{o["label"]}", // a sequence of an --id-column classifier
                    JsonArray tags => string.Join(" ", tags.Select(t => t!.ToString())),
                    _ => p!.ToString(),
                });
            return RecurCommand.Success;
        }));
        return command;
    }

    /// <summary>
    /// A forecast as one tab-separated line: [id,] the window's last row, then the values (comma-separated), or with
    /// several targets one <c>target=v1,v2</c> field per target.
    /// </summary>
    private static string ForecastLine(JsonObject o)
    {
        var fields = new List<string>();
        if (o["id"] is JsonNode id) fields.Add(id.ToString());
        fields.Add(o["end_row"]!.ToString());
        if (o["forecast"] is JsonObject targets) fields.AddRange(targets.Select(t => $"{t.Key}={string.Join(",", t.Value!.AsArray())}"));
        else fields.Add(string.Join(",", o["forecast"]!.AsArray()));
        return string.Join("\t", fields);
    }
}
