namespace Recur.Cli.Reporting;

/// <summary>One plot of the report: its PNG in the report folder, or why it was skipped.</summary>
internal sealed record ReportFigure(string Title, string? File, string? SkippedBecause);
