using System.CommandLine;
using Recur.Data;
using Recur.Serialization;
using Recur.Training;

namespace Recur.Cli;

/// <summary><c>recur evaluate --model FILE --data PATH [--all] [--json]</c>: scores a saved model from the file alone.</summary>
internal static class EvaluateCommand
{
    private static readonly Option<string> Model = new("--model") { Description = "model file (model.safetensors of a run)", Required = true };
    private static readonly Option<string> Data = new("--data") { Description = "a file in the training file's layout (CSV/TSV, word/TAG or text)", Required = true };
    private static readonly Option<bool> All = new("--all") { Description = "score every window or row, not only the test part" };
    private static readonly Option<bool> Json = new("--json") { Description = "print one JSON object" };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("evaluate", "Score a saved model on its test part of a file (or the whole file with --all).") { Model, Data, All, Json };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () =>
        {
            string dataPath = parsed.GetValue(Data)!;
            var (file, table, task) = Load(parsed.GetValue(Model)!, dataPath);
            bool all = parsed.GetValue(All);
            var report = task switch
            {
                "forecast" => ForecastWorkflow.Evaluate(file, table!, all),
                "classify" => ClassifyWorkflow.Evaluate(file, table!, all),
                "tag" => TagWorkflow.Evaluate(file, dataPath, all),
                "seq2seq" => SequenceToSequenceWorkflow.Evaluate(file, table!, all),
                _ => LanguageModelWorkflow.Evaluate(file, dataPath, all),
            };
            if (parsed.GetValue(Json)) stdout.WriteLine(report.ToJson().ToJsonString(ReportPrinter.JsonOptions));
            else ReportPrinter.Print(report, stdout, all ? "whole file" : "test part");
            return RecurCommand.Success;
        }));
        return command;
    }

    /// <summary>
    /// Loads the model and, for the CSV tasks (forecast, classify, seq2seq), reads the data file the way the model's training
    /// file was read; tag and lm read their files themselves (table null).
    /// </summary>
    internal static (ModelFile file, CsvTable? table, string task) Load(string modelPath, string dataPath)
    {
        var file = ModelFile.Load(modelPath);
        string task = file.Config.Task ?? "";
        if (task is not ("forecast" or "classify" or "tag" or "lm" or "seq2seq"))
            throw new ModelFileException(modelPath, $"names task '{task}', which this build cannot run.");
        if (task is "tag" or "lm") return (file, null, task);
        // Read the file the way the training file was read: same header rule and delimiter.
        char? delimiter = null;
        try
        {
            if (System.Text.Json.Nodes.JsonNode.Parse(file.DataState)?["delimiter"]?.GetValue<string>() is { Length: 1 } d) delimiter = d[0];
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ModelFileException(modelPath, $"has an unreadable 'recur.data' entry: {e.Message}");
        }
        var table = CsvTable.Read(dataPath, hasHeader: !(file.Config.NoHeader ?? false), delimiter);
        return (file, table, task);
    }
}
