using System.CommandLine;

namespace Recur.Cli;

/// <summary>
/// The <c>recur</c> command (DESIGN, "The recur command"): results to standard output, progress and warnings to
/// standard error; exit 0 on success, 2 for bad input or usage (one message naming the file, position or
/// argument), 1 for an internal error.
/// </summary>
public static class RecurCommand
{
    public const int Success = 0, InternalError = 1, BadInput = 2;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("Recur: train, evaluate and use LSTM/GRU models from CSV and text files.")
        {
            TrainCommand.Create(stdout, stderr),
            EvaluateCommand.Create(stdout, stderr),
            PredictCommand.Create(stdout, stderr),
            GenerateCommand.Create(stdout, stderr),
            ReportCommand.Create(stdout, stderr),
            DataCommand.Create(stdout, stderr),
            ExportCommand.Create(stdout, stderr),
            ServeCommand.Create(stdout, stderr),
            TuneCommand.Create(stdout, stderr),
            BenchCommand.Create(stdout, stderr),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            string command = parsed.CommandResult.Command == root ? "recur" : $"recur {parsed.CommandResult.Command.Name}";
            stderr.WriteLine($"recur: {string.Join(" ", parsed.Errors.Select(e => Training.TrainConfig.ReadableTypes(e.Message)))}");
            stderr.WriteLine($"See '{command} --help' for the accepted arguments.");
            return BadInput;
        }
        return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
    }

    /// <summary>Runs a command body, turning user mistakes into one message and exit code 2.</summary>
    internal static int Guard(TextWriter stderr, Func<int> body)
    {
        try
        {
            return body();
        }
        catch (InvalidInputException e)
        {
            stderr.WriteLine($"recur: {e.Message}");
            return BadInput;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"recur: internal error: {e}");
            return InternalError;
        }
    }
}
