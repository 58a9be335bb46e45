using System.CommandLine;
using Recur.Serialization;
using Recur.Training;

namespace Recur.Cli;

/// <summary><c>recur generate --model FILE [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed N]</c>: samples text from a language model.</summary>
internal static class GenerateCommand
{
    private static readonly Option<string> Model = new("--model") { Description = "language model file (model.safetensors of a --task lm run)", Required = true };
    private static readonly Option<string> Prompt = new("--prompt") { Description = "text to continue (default: the most frequent training token)", DefaultValueFactory = _ => "" };
    private static readonly Option<int> Length = new("--length") { Description = "tokens to generate", DefaultValueFactory = _ => 200 };
    private static readonly Option<double> Temperature = new("--temperature") { Description = "sampling temperature: lower is more conservative, 0 always takes the most likely token", DefaultValueFactory = _ => 0.8 };
    private static readonly Option<int> TopK = new("--top-k") { Description = "sample among the k most likely tokens (0: all)", DefaultValueFactory = _ => 0 };
    private static readonly Option<ulong> Seed = new("--seed") { Description = "random seed (same seed → same text)", DefaultValueFactory = _ => 42UL };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("generate", "Sample text from a language model, continuing a prompt.") { Model, Prompt, Length, Temperature, TopK, Seed };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () =>
        {
            var file = ModelFile.Load(parsed.GetValue(Model)!);
            if (file.Config.Task != "lm")
                throw new InvalidInputException($"--model: '{file.Path}' is a {file.Config.Task} model; recur generate needs a language model (recur train --task lm).");
            stdout.WriteLine(LanguageModelWorkflow.Generate(file, parsed.GetValue(Prompt)!, parsed.GetValue(Length), parsed.GetValue(Temperature),
                parsed.GetValue(TopK), parsed.GetValue(Seed)));
            return RecurCommand.Success;
        }));
        return command;
    }
}
