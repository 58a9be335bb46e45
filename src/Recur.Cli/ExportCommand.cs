using System.CommandLine;
using Recur.Onnx;
using Recur.Serialization;

namespace Recur.Cli;

/// <summary><c>recur export --model FILE --format onnx --out FILE [--no-lengths]</c>: writes the model for other runtimes.</summary>
internal static class ExportCommand
{
    private static readonly Option<string> Model = new("--model") { Description = "model file (model.safetensors of a run)", Required = true };
    private static readonly Option<string> Format = new("--format") { Description = "export format: onnx", DefaultValueFactory = _ => "onnx" };
    private static readonly Option<string> Out = new("--out") { Description = "the file to write (replaced whole, never half-written)", Required = true };
    private static readonly Option<bool> NoLengths = new("--no-lengths") { Description = "no 'lengths' input: every sequence in a batch uses all its steps" };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("export", "Export a model: ONNX (opset 14) with dynamic batch and sequence axes and the preprocessing state as metadata.")
            { Model, Format, Out, NoLengths };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () =>
        {
            string format = parsed.GetValue(Format)!;
            if (!string.Equals(format, "onnx", StringComparison.OrdinalIgnoreCase))
                throw new InvalidInputException($"--format: expected onnx; found '{format}'.");
            var file = ModelFile.Load(parsed.GetValue(Model)!);
            string path = parsed.GetValue(Out)!;
            OnnxExporter.Write(file, path, new OnnxExportOptions { Lengths = !parsed.GetValue(NoLengths) });
            stdout.WriteLine($"wrote {path} (ONNX opset {OnnxExporter.Opset}, {file.Config.Task ?? "model"}: {file.Model})");
            return RecurCommand.Success;
        }));
        return command;
    }
}
