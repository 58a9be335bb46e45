using System.CommandLine;
using Recur.Cli.Reporting;

namespace Recur.Cli;

/// <summary><c>recur report RUN_DIR</c>: rebuilds a run directory's plots and report.html and prints the page's path.</summary>
internal static class ReportCommand
{
    private static readonly Argument<string> RunDir = new("RUN_DIR") { Description = "run directory written by 'recur train --out'" };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("report", "Rebuild a run directory's report: PNG plots and report.html in RUN_DIR/report/.") { RunDir };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () =>
        {
            stdout.WriteLine(RunReport.Build(parsed.GetValue(RunDir)!));
            return RecurCommand.Success;
        }));
        return command;
    }
}
