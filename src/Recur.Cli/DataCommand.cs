using System.CommandLine;
using System.Globalization;
using Recur.Data;
using Spectre.Console;

namespace Recur.Cli;

/// <summary>
/// <c>recur data --data PATH [--task forecast|classify|tag|lm] [--json]</c>: what a data file holds, seen the way
/// training will see it (columns and types, missing values, label balance, lengths, vocabulary, split sizes), before
/// any training. Reads the file only; writes nothing.
/// </summary>
internal static class DataCommand
{
    private static readonly Option<string> Data = new("--data") { Description = "the file to inspect: CSV/TSV table, word/TAG sentences, or plain text", Required = true };
    private static readonly Option<string?> Task = new("--task")
    {
        Description = "forecast, classify, tag, lm or seq2seq. Default: word/TAG file → tag; plain text → lm; table → forecast when a column is numeric and " +
                      "none is obvious text (most cells several words, or mostly distinct values), else classify (--target implies forecast; --text-column or --label-column classify; --label-column with --id-column tag)",
    };
    private static readonly Option<string?> Kind = new("--kind")
    {
        Description = "csv, tagged or text. Default: csv for .csv/.tsv/.tab files or when a table option or task is given; else tagged when most tokens are word/TAG; else text",
    };
    private static readonly Option<bool> NoHeader = new("--no-header") { Description = "the table has no header: columns are 0-based indices" };
    private static readonly Option<string?> Delimiter = new("--delimiter") { Description = "table field delimiter: one character, or 'tab' (default: detected as train does)" };
    private static readonly Option<string?> Target = new("--target") { Description = "forecast: target column (default: the last column whose first value is a number)" };
    private static readonly Option<string?> IdColumn = new("--id-column") { Description = "forecast: one series per id; tag (tables): the sequence each row belongs to" };
    private static readonly Option<int?> Lookback = new("--lookback") { Description = "forecast: window length (default as train: two seasons, at least 12)" };
    private static readonly Option<int?> Horizon = new("--horizon") { Description = "forecast: steps predicted (default 1)" };
    private static readonly Option<int?> Season = new("--season") { Description = "forecast: seasonal period (default: detected on the training part)" };
    private static readonly Option<string?> TextColumn = new("--text-column") { Description = "classify: text column (default: the obvious text column, if any)" };
    private static readonly Option<string?> SourceColumn = new("--source-column") { Description = "seq2seq: the column of source texts" };
    private static readonly Option<string?> TargetColumn = new("--target-column") { Description = "seq2seq: the column of target texts" };
    private static readonly Option<string?> LabelColumn = new("--label-column") { Description = "classify: label column (default: the last column); tag (tables): the per-row label" };
    private static readonly Option<string?> Tokenizer = new("--tokenizer") { Description = "classify text: char (default), word or bpe" };
    private static readonly Option<int?> MaxLength = new("--max-length") { Description = "tag from a table: rows per piece of a sequence (default 100), as recur train cuts them" };
    private static readonly Option<int?> MinFrequency = new("--min-frequency") { Description = "word tokenizer: occurrences a word needs to be in the vocabulary (default 2)" };
    private static readonly Option<ulong?> Seed = new("--seed") { Description = "split seed (default 42, as train)" };
    private static readonly Option<bool> Json = new("--json") { Description = "print one JSON object" };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("data", "Inspect a data file before training: columns and types, missing values, label balance, length histogram, vocabulary and split sizes.")
        {
            Data, Task, Kind, NoHeader, Delimiter, Target, IdColumn, Lookback, Horizon, Season, TextColumn, LabelColumn, SourceColumn, TargetColumn, Tokenizer, MinFrequency, MaxLength, Seed, Json,
        };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () =>
        {
            var options = new DataProfileOptions
            {
                Task = parsed.GetValue(Task), Kind = parsed.GetValue(Kind), NoHeader = parsed.GetValue(NoHeader), Delimiter = ParseDelimiter(parsed.GetValue(Delimiter)),
                Target = parsed.GetValue(Target), IdColumn = parsed.GetValue(IdColumn), Lookback = parsed.GetValue(Lookback), Horizon = parsed.GetValue(Horizon),
                Season = parsed.GetValue(Season), TextColumn = parsed.GetValue(TextColumn), LabelColumn = parsed.GetValue(LabelColumn),
                SourceColumn = parsed.GetValue(SourceColumn), TargetColumn = parsed.GetValue(TargetColumn),
                Tokenizer = parsed.GetValue(Tokenizer), MinFrequency = parsed.GetValue(MinFrequency), MaxLength = parsed.GetValue(MaxLength), Seed = parsed.GetValue(Seed),
            };
            var profile = DataProfile.Analyze(parsed.GetValue(Data)!, options);
            foreach (var warning in profile.Warnings) stderr.WriteLine($"warning: {warning}");
            if (parsed.GetValue(Json)) stdout.WriteLine(profile.ToJson().ToJsonString(ReportPrinter.JsonOptions));
            else Print(profile, stdout);
            return RecurCommand.Success;
        }));
        return command;
    }

    private static char? ParseDelimiter(string? value) => value switch
    {
        null => null,
        "tab" or "\\t" or "\t" => '\t',
        { Length: 1 } => value[0],
        _ => throw new InvalidInputException($"--delimiter: expected one character or 'tab'; found '{value}'."),
    };

    /// <summary>A titled table of text cells; <see cref="Headers"/> null for label/value lists.</summary>
    /// <param name="Bars">The last column is a bar of '#' (drawn as '█' on a terminal).</param>
    private sealed record Block(string Title, string[]? Headers, List<string[]> Rows, bool[] RightAligned, string? Footer = null, bool Bars = false);

    private const int BarWidth = 40, MaxLabelsShown = 25;

    private static void Print(DataProfile profile, TextWriter output)
    {
        var blocks = Blocks(profile);
        bool terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Ansi;
        if (terminal) PrintTables(blocks);
        else PrintPlain(blocks, output);
    }

    private static List<Block> Blocks(DataProfile p)
    {
        var blocks = new List<Block>();
        var summary = new List<string[]> { new[] { "file", p.Source }, new[] { "kind", p.Kind }, new[] { "task", p.Task } };
        if (p.Rows is int rows) summary.Add(["rows", Format(rows)]);
        summary.AddRange(p.Facts.Select(f => new[] { f.Label, FormatFact(f) }));
        blocks.Add(new Block("summary", null, summary, [false, false]));

        if (p.Columns.Count > 0)
            blocks.Add(new Block("columns", ["column", "type", "missing", "first missing line", "distinct", "min", "max", "mean", "examples"],
                p.Columns.Select(c => new[]
                {
                    c.Name, c.Type, Format(c.Missing), c.FirstMissingLine is int l ? Format(l) : "", Format(c.Distinct),
                    Format(c.Min), Format(c.Max), Format(c.Mean), string.Join(" | ", c.Examples),
                }).ToList(), [false, false, true, true, true, true, true, true, false]));

        if (p.Labels.Count > 0)
        {
            string what = p.Task == "tag" ? "tag" : "label";
            var shown = p.Labels.Take(MaxLabelsShown).ToList();
            int hidden = p.Labels.Count - shown.Count;
            blocks.Add(new Block($"{what}s", [what, "count", "share", "train", "validation", "test"],
                shown.Select(l => new[] { l.Label, Format(l.Count), Percent(l.Share), Format(l.Train), Format(l.Validation), Format(l.Test) }).ToList(),
                [false, true, true, true, true, true], hidden > 0 ? $"… {hidden} more {what}s (all in --json)" : null));
        }

        if (p.Splits is { } s)
        {
            int total = s.Train + s.Validation + s.Test;
            blocks.Add(new Block($"split ({s.Unit})", ["part", s.Unit, "share"],
                [["train", Format(s.Train), Percent(Share(s.Train, total))], ["validation", Format(s.Validation), Percent(Share(s.Validation, total))],
                 ["test", Format(s.Test), Percent(Share(s.Test, total))]], [false, true, true], s.Rule));
        }

        if (p.Lengths is { Count: > 0 } len)
        {
            int most = len.Bins.Max(b => b.Count);
            blocks.Add(new Block($"{len.Of[..^1]} length ({len.Unit}): min {len.Min}, median {Format(len.Median)}, p95 {len.P95}, max {len.Max}",
                [len.Unit, len.Of, ""],
                len.Bins.Select(b => new[] { b.From == b.To ? Format(b.From) : $"{b.From}–{b.To}", Format(b.Count), new string('#', most == 0 ? 0 : (int)Math.Ceiling(BarWidth * (double)b.Count / most)) }).ToList(),
                [true, true, false], Bars: true));
        }

        if (p.Notes.Count > 0) blocks.Add(new Block("notes", null, p.Notes.Select(n => new[] { n }).ToList(), [false]));
        return blocks;
    }

    private static void PrintPlain(List<Block> blocks, TextWriter output)
    {
        bool first = true;
        foreach (var block in blocks)
        {
            if (!first) output.WriteLine();
            first = false;
            output.WriteLine(block.Title);
            var rows = block.Headers is null ? block.Rows : block.Rows.Prepend(block.Headers).ToList();
            int columns = block.RightAligned.Length;
            var widths = Enumerable.Range(0, columns).Select(c => rows.Max(r => r[c].Length)).ToArray();
            foreach (var row in rows)
            {
                var cells = Enumerable.Range(0, columns).Select(c =>
                    c == columns - 1 && !block.RightAligned[c] ? row[c]
                    : block.RightAligned[c] ? row[c].PadLeft(widths[c]) : row[c].PadRight(widths[c]));
                output.WriteLine(("  " + string.Join(block.Headers is null ? " : " : "  ", cells)).TrimEnd());
            }
            if (block.Footer is not null) output.WriteLine($"  ({block.Footer})");
        }
    }

    private static void PrintTables(List<Block> blocks)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        foreach (var block in blocks)
        {
            var table = new Table { Title = new TableTitle(Markup.Escape(block.Title)), Border = TableBorder.Rounded, ShowHeaders = block.Headers is not null };
            for (int c = 0; c < block.RightAligned.Length; c++)
            {
                var column = new TableColumn(Markup.Escape(block.Headers?[c] ?? ""));
                if (block.RightAligned[c]) column.RightAligned();
                if (c < block.RightAligned.Length - 1) column.NoWrap(); // only the last column (examples, bars, values) wraps
                table.AddColumn(column);
            }
            foreach (var row in block.Rows)
                table.AddRow(row.Select((cell, c) => (Spectre.Console.Rendering.IRenderable)new Text(block.Bars && c == row.Length - 1 ? cell.Replace('#', '█') : cell)).ToArray());
            console.Write(table);
            if (block.Footer is not null) console.Write(new Text(block.Footer + "\n", new Style(Color.Grey)));
            console.WriteLine();
        }
    }

    private static double Share(int part, int whole) => whole == 0 ? 0 : (double)part / whole;

    private static string FormatFact(DataFact fact) => fact.Value switch
    {
        null => fact.Key == "vocabulary_size" ? "learned at train time" : "none",
        double d when fact.Key.Contains("share") || fact.Key.Contains("accuracy") => Percent(d),
        double d => Format(d),
        int i => Format(i),
        var v => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };

    private static string Format(int? v) => v is int i ? i.ToString(CultureInfo.InvariantCulture) : "";

    private static string Format(double? v) => v is double d ? (double.IsFinite(d) ? d.ToString("G5", CultureInfo.InvariantCulture) : "n/a") : "";

    private static string Percent(double share) => (100 * share).ToString("0.0", CultureInfo.InvariantCulture) + "%";
}
