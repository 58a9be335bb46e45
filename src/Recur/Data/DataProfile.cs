using System.Globalization;
using System.Text.Json.Nodes;
using Recur.Randomness;

namespace Recur.Data;

/// <summary>
/// One column of a table: inferred type (integer, numeric, time, text or empty), missing cells and the file line of
/// the first, distinct values, min/max/mean of numbers, a few examples of text and times. Missing cells: for number
/// and time columns the markers <see cref="CsvTable.IsMissing"/> knows (empty, NA, NaN, null, ?, …), for text
/// columns blank cells only (a text column may hold "None" as a value).
/// </summary>
public sealed record ColumnProfile(string Name, string Type, int Missing, int? FirstMissingLine, int Distinct,
    double? Min, double? Max, double? Mean, IReadOnlyList<string> Examples);

/// <summary>A label (class or tag) with its count and share; for a split task also its count in each part.</summary>
public sealed record LabelCount(string Label, int Count, double Share, int? Train = null, int? Validation = null, int? Test = null);

/// <summary>Lengths from <see cref="From"/> to <see cref="To"/> (both included) and how many items have them.</summary>
public sealed record HistogramBin(int From, int To, int Count);

/// <summary>Item lengths (texts, sentences, lines, sequences) in <see cref="Unit"/>: summary and about ten bins.</summary>
public sealed record LengthSummary(string Of, string Unit, int Count, int Min, double Median, int P95, int Max, IReadOnlyList<HistogramBin> Bins);

/// <summary>How many items (<see cref="Unit"/>) each part of the split gets, and the rule that makes it.</summary>
public sealed record SplitSizes(int Train, int Validation, int Test, string Unit, string Rule);

/// <summary>A named fact: <see cref="Key"/> is its JSON key, <see cref="Label"/> its human name; the value is a number, string, or null.</summary>
public sealed record DataFact(string Key, string Label, object? Value);

/// <summary>What <see cref="DataProfile.Analyze(string, DataProfileOptions)"/> looks at; null means the default.</summary>
public sealed record DataProfileOptions
{
    /// <summary>forecast, classify, tag or lm; default by the kind of file (see <see cref="DataProfile"/>).</summary>
    public string? Task { get; init; }
    /// <summary>csv, tagged or text; default detected.</summary>
    public string? Kind { get; init; }
    public bool NoHeader { get; init; }
    public char? Delimiter { get; init; }
    public string? Target { get; init; }
    public string? IdColumn { get; init; }
    public string? TextColumn { get; init; }
    public string? LabelColumn { get; init; }
    /// <summary>seq2seq: the columns of source and target texts.</summary>
    public string? SourceColumn { get; init; }
    public string? TargetColumn { get; init; }
    public string? Tokenizer { get; init; }
    public int? MinFrequency { get; init; }
    /// <summary>Tag from a table: rows per piece of a sequence, as the tagger cuts them.</summary>
    public int? MaxLength { get; init; }
    public ulong? Seed { get; init; }
    public int? Lookback { get; init; }
    public int? Horizon { get; init; }
    public int? Season { get; init; }
}

/// <summary>
/// What a data file holds, seen the way training will see it, computed without training and without printing:
/// columns and their types, missing values, label balance, length histograms, vocabulary and the split sizes.
/// <para>
/// Kind of file: <c>csv</c> for .csv/.tsv/.tab files, or when a table option (--no-header, --delimiter, a column
/// option) or a table task (forecast, classify) is given; otherwise <c>tagged</c> when most tokens of the first
/// lines are <c>word/TAG</c>; otherwise plain <c>text</c>. Default task: tagged → tag, text → lm, csv → forecast when
/// a column is numeric and none is obvious text (most cells several words, or mostly distinct values), classify
/// otherwise; --target implies forecast, --text-column classify, --label-column classify (tag with --id-column).
/// </para>
/// Splits follow the trainer: forecast windows in time order (<see cref="ForecastWindows"/>: last 20% test, 10%
/// before it validation, gaps of horizon − 1); classify the seeded <see cref="StratifiedSplit"/>; tag the seeded
/// split of sequences by their rarest label (<see cref="SequenceSplit"/>); lm the first 80% of the characters for training,
/// the next 10% validation and the last 10% test.
/// </summary>
public sealed class DataProfile
{
    public static readonly string[] Tasks = ["forecast", "classify", "tag", "lm", "seq2seq"];
    public static readonly string[] Kinds = ["csv", "tagged", "text"];
    public const ulong DefaultSeed = 42;
    private const int HistogramBins = 10, MaxExamples = 3, MaxExampleLength = 40;

    private DataProfile(string source, string kind, string task) => (Source, Kind, Task) = (source, kind, task);

    public string Source { get; }
    public string Kind { get; }
    public string Task { get; }
    /// <summary>Data rows of a table (null for text files).</summary>
    public int? Rows { get; private set; }
    public IReadOnlyList<ColumnProfile> Columns { get; private set; } = [];
    public List<DataFact> Facts { get; } = [];
    /// <summary>Label balance: classes (classify) or tags (tag), most frequent first for tags, label order for classes.</summary>
    public List<LabelCount> Labels { get; } = [];
    public SplitSizes? Splits { get; private set; }
    public LengthSummary? Lengths { get; private set; }
    /// <summary>What training will refuse or warn about.</summary>
    public List<string> Warnings { get; } = [];
    /// <summary>How something was decided (a guessed column, an approximation).</summary>
    public List<string> Notes { get; } = [];

    /// <summary>Reads and profiles a file (strict UTF-8).</summary>
    /// <exception cref="InvalidInputException">The file is missing, empty, not UTF-8, malformed, or an option names
    /// a column it lacks or a value it does not accept.</exception>
    public static DataProfile Analyze(string path, DataProfileOptions options) => Analyze(TextFile.Read(path), path, options);

    /// <summary>Profiles text already in memory; <paramref name="source"/> names it in messages (its extension counts for the kind).</summary>
    public static DataProfile Analyze(string text, string source, DataProfileOptions options)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(options);
        string? task = Check(options.Task, Tasks, "--task");
        string kind = Check(options.Kind, Kinds, "--kind") ?? DetectKind(text, source, options, task);
        if (kind == "csv")
        {
            if (task == "lm") throw new InvalidInputException($"--task lm: a language model reads plain text, and {source} is read as a table; give a text file (or --kind text).");
            var table = CsvTable.Parse(text, source, hasHeader: !options.NoHeader, options.Delimiter);
            var columns = table.ColumnNames.Select((_, c) => ProfileColumn(table, c)).ToArray();
            task ??= options.Target is not null ? "forecast"
                : options.TextColumn is not null ? "classify"
                : options.LabelColumn is not null ? (options.IdColumn is not null ? "tag" : "classify")
                : columns.Any(c => c.Type is "integer" or "numeric") && !Enumerable.Range(0, table.ColumnCount).Any(c => columns[c].Type == "text" && IsObviousText(table, c)) ? "forecast"
                : "classify";
            var profile = new DataProfile(source, kind, task) { Rows = table.RowCount, Columns = columns };
            switch (task)
            {
                case "forecast": profile.Forecast(table, options); break;
                case "classify": profile.Classify(table, options, columns); break;
                case "seq2seq": profile.Pairs(table, options); break;
                default: profile.TagTable(table, options); break;
            }
            return profile;
        }
        if (text.Length == 0 || (text.Length == 1 && text[0] == '\uFEFF'))
            throw new InvalidInputException($"{source} is empty: expected {(kind == "tagged" ? "sentences of word/TAG tokens" : "text")}.");
        if (kind == "tagged")
        {
            if (task is not (null or "tag")) throw new InvalidInputException($"--task {task}: {source} is a word/TAG file, which only the tag task reads (or give --kind text or --kind csv).");
            var profile = new DataProfile(source, kind, "tag");
            profile.TagSentences(TaggedText.Parse(text, source), options);
            return profile;
        }
        if (task is not (null or "lm")) throw new InvalidInputException($"--task {task}: {source} is read as plain text, which only the lm task reads; a table needs a .csv/.tsv name or --kind csv.");
        var lm = new DataProfile(source, kind, "lm");
        lm.LanguageModel(text.Length > 0 && text[0] == '\uFEFF' ? text[1..] : text);
        return lm;
    }

    /// <summary>Shannon entropy in bits per symbol of the symbols' frequencies.</summary>
    public static double Entropy(IEnumerable<int> counts)
    {
        var c = counts.Where(n => n > 0).ToArray();
        double total = c.Sum(n => (double)n);
        return total == 0 ? 0 : -c.Sum(n => n / total * Math.Log2(n / total));
    }

    /// <summary>The profile as one JSON object with snake_case keys.</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject { ["file"] = Source, ["kind"] = Kind, ["task"] = Task };
        if (Rows is int rows) json["rows"] = rows;
        if (Columns.Count > 0)
            json["columns"] = new JsonArray(Columns.Select(c => (JsonNode?)new JsonObject
            {
                ["name"] = c.Name, ["type"] = c.Type, ["missing"] = c.Missing, ["first_missing_line"] = c.FirstMissingLine, ["distinct"] = c.Distinct,
                ["min"] = Number(c.Min), ["max"] = Number(c.Max), ["mean"] = Number(c.Mean),
                ["examples"] = new JsonArray(c.Examples.Select(e => (JsonNode?)JsonValue.Create(e)).ToArray()),
            }).ToArray());
        foreach (var fact in Facts) json[fact.Key] = Value(fact.Value);
        if (Labels.Count > 0)
            json["classes"] = new JsonArray(Labels.Select(l =>
            {
                var o = new JsonObject { ["label"] = l.Label, ["count"] = l.Count, ["share"] = l.Share };
                if (l.Train is int tr) (o["train"], o["validation"], o["test"]) = (tr, l.Validation, l.Test);
                return (JsonNode?)o;
            }).ToArray());
        if (Splits is { } s)
            json["splits"] = new JsonObject { ["train"] = s.Train, ["validation"] = s.Validation, ["test"] = s.Test, ["unit"] = s.Unit, ["rule"] = s.Rule };
        if (Lengths is { } l)
        {
            json["length"] = new JsonObject { ["of"] = l.Of, ["unit"] = l.Unit, ["count"] = l.Count, ["min"] = l.Min, ["median"] = l.Median, ["p95"] = l.P95, ["max"] = l.Max };
            json["length_histogram"] = new JsonArray(l.Bins.Select(b => (JsonNode?)new JsonObject { ["from"] = b.From, ["to"] = b.To, ["count"] = b.Count }).ToArray());
        }
        json["warnings"] = new JsonArray(Warnings.Select(w => (JsonNode?)JsonValue.Create(w)).ToArray());
        json["notes"] = new JsonArray(Notes.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray());
        return json;
    }

    private static JsonNode? Number(double? v) => v is double d && double.IsFinite(d) ? JsonValue.Create(d) : null;

    private static JsonNode? Value(object? value) => value switch
    {
        null => null,
        int i => JsonValue.Create(i),
        long n => JsonValue.Create(n),
        double d => Number(d),
        string s => JsonValue.Create(s),
        _ => JsonValue.Create(Convert.ToString(value, CultureInfo.InvariantCulture)),
    };

    private void Fact(string key, string label, object? value) => Facts.Add(new DataFact(key, label, value));

    private static string? Check(string? value, string[] allowed, string flag)
    {
        if (value is null) return null;
        string v = value.Trim().ToLowerInvariant();
        return allowed.Contains(v) ? v : throw new InvalidInputException($"{flag}: expected {string.Join(", ", allowed[..^1])} or {allowed[^1]}; found '{value}'.");
    }

    private static string DetectKind(string text, string source, DataProfileOptions o, string? task)
    {
        string ext = Path.GetExtension(source).ToLowerInvariant();
        if (ext is ".csv" or ".tsv" or ".tab" || o.NoHeader || o.Delimiter is not null || task is "forecast" or "classify" or "seq2seq"
            || o.Target is not null || o.IdColumn is not null || o.TextColumn is not null || o.LabelColumn is not null)
            return "csv";
        return TaggedText.LooksTagged(text) ? "tagged" : "text";
    }

    // ---- tables ----

    private static ColumnProfile ProfileColumn(CsvTable table, int c)
    {
        var cells = table.Text(c);
        var present = new List<(string Cell, int Row)>();
        int? firstMissing = null;
        int missing = 0;
        for (int r = 0; r < cells.Length; r++)
        {
            if (CsvTable.IsMissing(cells[r])) { missing++; firstMissing ??= table.LineNumber(r); }
            else present.Add((cells[r].Trim(), r));
        }
        var distinct = present.Select(p => p.Cell).Distinct(StringComparer.Ordinal).ToArray();
        if (present.Count == 0) return new ColumnProfile(table.ColumnNames[c], "empty", missing, firstMissing, 0, null, null, null, []);
        var numbers = new double[present.Count];
        bool numeric = true;
        for (int i = 0; i < present.Count && numeric; i++)
            numeric = double.TryParse(present[i].Cell, NumberStyles.Float, CultureInfo.InvariantCulture, out numbers[i]) && double.IsFinite(numbers[i]);
        if (numeric)
        {
            bool integer = present.All(p => long.TryParse(p.Cell, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _));
            return new ColumnProfile(table.ColumnNames[c], integer ? "integer" : "numeric", missing, firstMissing, distinct.Length,
                numbers.Min(), numbers.Max(), numbers.Average(), []);
        }
        var examples = distinct.Take(MaxExamples).Select(Clip).ToArray();
        if (present.All(p => DateTime.TryParse(p.Cell, CultureInfo.InvariantCulture, DateTimeStyles.AllowWhiteSpaces, out _)))
            return new ColumnProfile(table.ColumnNames[c], "time", missing, firstMissing, distinct.Length, null, null, null, examples);
        // Text: only blank cells are missing (NA, None or ? may be real labels or words).
        int blank = 0;
        int? firstBlank = null;
        for (int r = 0; r < cells.Length; r++)
            if (string.IsNullOrWhiteSpace(cells[r])) { blank++; firstBlank ??= table.LineNumber(r); }
        int textDistinct = cells.Where(s => !string.IsNullOrWhiteSpace(s)).Distinct(StringComparer.Ordinal).Count();
        examples = cells.Where(s => !string.IsNullOrWhiteSpace(s)).Distinct(StringComparer.Ordinal).Take(MaxExamples).Select(Clip).ToArray();
        return new ColumnProfile(table.ColumnNames[c], "text", blank, firstBlank, textDistinct, null, null, null, examples);
    }

    private static string Clip(string s)
    {
        s = s.Replace("\r", " ").Replace("\n", " ").Replace("\t", " ");
        return s.Length > MaxExampleLength ? s[..MaxExampleLength] + "…" : s;
    }

    /// <summary>Text that reads as prose or names rather than a label: most cells hold several words, or most cells are distinct.</summary>
    private static bool IsObviousText(CsvTable table, int c)
    {
        var cells = table.Text(c).Where(s => !string.IsNullOrWhiteSpace(s)).ToArray();
        if (cells.Length == 0) return false;
        int multiWord = cells.Count(s => s.Trim().Contains(' '));
        int distinct = cells.Distinct(StringComparer.Ordinal).Count();
        return multiWord * 2 > cells.Length || (cells.Length >= 20 && distinct * 2 > cells.Length);
    }

    private void Forecast(CsvTable table, DataProfileOptions o)
    {
        int target;
        if (o.Target is string name) target = table.ColumnIndex(name);
        else
        {
            // The trainer's rule (ForecastWorkflow): the last column whose first cell is a number.
            target = Enumerable.Range(0, table.ColumnCount).Reverse().FirstOrDefault(c =>
                double.TryParse(table.Cell(0, c), NumberStyles.Float, CultureInfo.InvariantCulture, out _), -1);
            if (target < 0) throw new InvalidInputException($"{table.Source}: no column starts with a number to forecast; name the target with --target.");
            Notes.Add($"target: column '{table.ColumnNames[target]}' (the last column whose first value is a number, as train chooses; set --target to choose)");
        }
        int horizon = o.Horizon ?? 1;
        if (horizon < 1) throw new InvalidInputException($"--horizon: expected at least 1; found {horizon}.");
        if (o.Lookback is < 1) throw new InvalidInputException($"--lookback: expected at least 1; found {o.Lookback}.");
        if (o.Season is < 1) throw new InvalidInputException($"--season: expected a period of at least 1; found {o.Season}.");
        var values = table.Numeric(target, allowMissing: true);
        int missing = values.Count(v => !double.IsFinite(v));
        int firstMissing = Array.FindIndex(values, v => !double.IsFinite(v));
        Fact("target", "target column", table.ColumnNames[target]);
        Fact("target_missing", "missing target values", missing);
        Fact("target_first_missing_line", "first missing target at line", firstMissing >= 0 ? table.LineNumber(firstMissing) : null);
        if (missing > 0)
            Warnings.Add($"{missing} missing target value{(missing == 1 ? "" : "s")} (first at {table.Source}:{table.LineNumber(firstMissing)}): train stops there unless --missing interpolate|ffill|drop; " +
                          "the season and windows below are computed with the gaps interpolated.");

        if (o.IdColumn is null)
        {
            var series = missing > 0 ? MissingValues.Apply(values, "interpolate", $"{table.Source}, column '{table.ColumnNames[target]}'") : values;
            var one = Windows(series, o, horizon);
            Fact("series_length", "series length (rows)", series.Length);
            Fact("season", one.SeasonGiven ? "season (given)" : "season (detected on the training part)", one.Season);
            Fact("lookback", o.Lookback is null ? "lookback (default: two seasons, at least 12)" : "lookback", one.Lookback);
            Fact("horizon", "horizon", horizon);
            if (one.Windows is { } w)
            {
                Fact("windows", "windows", w.Count);
                Fact("gap_windows", "windows skipped between parts (horizon − 1)", w.Gap);
                Fact("training_rows", "rows the training windows read or predict", w.TrainingRows.Length);
                Fact("validation_first_target_line", "first validation target at line", table.LineNumber(w.FirstRow(w.ValidationStart) + w.Lookback));
                Fact("test_first_target_line", "first test target at line", table.LineNumber(w.FirstRow(w.TestStart) + w.Lookback));
                Splits = new SplitSizes(w.TrainCount, w.ValidationCount, w.TestCount, "windows", WindowRule);
                int needed = ForecastWindows.MinimumWindows + (w.Gap > 0 ? 2 * w.Gap : 0);
                if (w.Count < needed) Warnings.Add($"{w.Count} windows: train needs at least {needed}; use a shorter --lookback or --horizon.");
            }
            else Warnings.Add(one.Problem!);
            return;
        }

        int idColumn = table.ColumnIndex(o.IdColumn);
        var groups = Groups(table, idColumn);
        int train = 0, validation = 0, test = 0;
        var seasons = new List<int>();
        foreach (var (id, rows) in groups)
        {
            var part = rows.Select(r => values[r]).ToArray();
            if (part.All(v => !double.IsFinite(v))) { Warnings.Add($"series '{Clip(id)}': every target value is missing."); continue; }
            if (part.Any(v => !double.IsFinite(v))) part = MissingValues.Apply(part, "interpolate", table.Source);
            var one = Windows(part, o, horizon);
            seasons.Add(one.Season);
            if (one.Windows is { } w) (train, validation, test) = (train + w.TrainCount, validation + w.ValidationCount, test + w.TestCount);
            else Warnings.Add($"series '{Clip(id)}' ({part.Length} rows): {one.Problem}");
        }
        Fact("id_column", "series id column", table.ColumnNames[idColumn]);
        Fact("series", "series", groups.Count);
        Fact("season", "most common season (detected per series on its training part)", seasons.Count > 0 ? seasons.GroupBy(s => s).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key : null);
        Fact("horizon", "horizon", horizon);
        Lengths = Summarise("series", "rows", groups.Select(g => g.Rows.Count).ToArray());
        Splits = new SplitSizes(train, validation, test, "windows", WindowRule + ", per series, summed");
        Notes.Add("train reads one series per file in this version; the per-series split shows what each series would give.");
        CheckContiguous(table, idColumn, "series");
    }

    private const string WindowRule = "sliding windows in time order: the last 20% test, 10% before them validation, horizon − 1 windows skipped between parts";

    private sealed record SeriesWindows(int Season, bool SeasonGiven, int Lookback, ForecastWindows? Windows, string? Problem);

    private static SeriesWindows Windows(double[] series, DataProfileOptions o, int horizon)
    {
        // As ForecastWorkflow: the season is detected on the first 70% only; default lookback two seasons (at least
        // 12 steps), capped so at least half the rows still start training windows.
        int season = o.Season ?? SeasonDetector.Detect(series.AsSpan(0, (int)(series.Length * (1 - ForecastWindows.TestFraction - ForecastWindows.ValidationFraction))));
        int lookback = o.Lookback ?? ForecastWindows.DefaultLookback(series.Length, horizon, season);
        try
        {
            return new SeriesWindows(season, o.Season is not null, lookback, new ForecastWindows(series, lookback, horizon, "series", minimumWindows: 1), null);
        }
        catch (InvalidInputException)
        {
            return new SeriesWindows(season, o.Season is not null, lookback, null,
                $"{series.Length} row{(series.Length == 1 ? "" : "s")} give{(series.Length == 1 ? "s" : "")} no window of lookback {lookback} + horizon {horizon}; use a shorter --lookback or --horizon.");
        }
    }

    /// <summary>Rows per value of the id column, in order of first appearance.</summary>
    private static List<(string Id, List<int> Rows)> Groups(CsvTable table, int column)
    {
        var ids = table.Text(column);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var groups = new List<(string, List<int>)>();
        for (int r = 0; r < ids.Length; r++)
        {
            string id = ids[r].Trim();
            if (!index.TryGetValue(id, out int g)) { index[id] = g = groups.Count; groups.Add((id, [])); }
            groups[g].Item2.Add(r);
        }
        return groups;
    }

    private void CheckContiguous(CsvTable table, int column, string what)
    {
        var ids = table.Text(column);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int r = 0; r < ids.Length; r++)
        {
            if (r > 0 && ids[r].Trim() == ids[r - 1].Trim()) continue;
            if (!seen.Add(ids[r].Trim()))
            {
                Warnings.Add($"{table.Source}:{table.LineNumber(r)}: {what} '{Clip(ids[r].Trim())}' continues after other ids; its rows are gathered in file order.");
                return;
            }
        }
    }

    private void Classify(CsvTable table, DataProfileOptions o, ColumnProfile[] columns)
    {
        int labelColumn = table.ColumnIndex(o.LabelColumn ?? table.ColumnNames[^1]);
        if (o.LabelColumn is null) Notes.Add($"label column: '{table.ColumnNames[labelColumn]}' (the last column, as train chooses; set --label-column to choose)");
        var labelText = table.Text(labelColumn, allowEmpty: false);
        var classes = labelText.Distinct().Order(StringComparer.Ordinal).ToArray();
        var classIndex = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var labels = labelText.Select(l => classIndex[l]).ToArray();
        ulong seed = o.Seed ?? DefaultSeed;
        var split = StratifiedSplit.Create(labels, classes.Length, seed);
        Fact("label_column", "label column", table.ColumnNames[labelColumn]);
        AddLabels(labels, classes, split.Train, split.Validation, split.Test, sortByCount: false);
        Splits = new SplitSizes(split.Train.Length, split.Validation.Length, split.Test.Length, "rows",
            $"stratified by label, seed {seed}: {StratifiedSplit.TestFraction:0%} test, {StratifiedSplit.ValidationFraction:0%} validation per label; labels with fewer than 3 rows stay in training");
        if (classes.Length < 2) Warnings.Add($"only {classes.Length} label: classification needs at least 2.");
        foreach (var rare in Labels.Where(l => l.Count < 3))
            Warnings.Add($"label '{Clip(rare.Label)}' has {rare.Count} row{(rare.Count == 1 ? "" : "s")}: fewer than 3, so it stays wholly in training and is never tested.");
        if (split.Test.Length == 0 || split.Validation.Length == 0)
            Warnings.Add("no label has the 3 rows needed to put one in each of training, validation and test: train will refuse this file.");

        int textColumn;
        if (o.TextColumn is string tc) textColumn = table.ColumnIndex(tc);
        else
        {
            var guesses = Enumerable.Range(0, table.ColumnCount).Where(c => c != labelColumn && columns[c].Type == "text" && IsObviousText(table, c)).ToArray();
            if (guesses.Length == 0)
            {
                var features = Enumerable.Range(0, table.ColumnCount).Where(c => c != labelColumn).ToArray();
                Fact("sequence_length", "sequence length (numeric columns besides the label)", features.Length);
                Notes.Add("no --text-column: train reads every other column as one step of a numeric sequence per row.");
                var notNumeric = features.Where(c => columns[c].Type is not ("integer" or "numeric")).Select(c => $"'{table.ColumnNames[c]}'").ToArray();
                if (notNumeric.Length > 0) Warnings.Add($"column{(notNumeric.Length == 1 ? "" : "s")} {string.Join(", ", notNumeric)} {(notNumeric.Length == 1 ? "is" : "are")} not numeric: give --text-column for text, or train will stop at the first non-number.");
                return;
            }
            textColumn = guesses.OrderByDescending(c => table.Text(c).Average(s => s.Length)).First();
            Notes.Add($"text column: '{table.ColumnNames[textColumn]}' (guessed; train needs --text-column {table.ColumnNames[textColumn]})");
        }
        if (textColumn == labelColumn) throw new InvalidInputException($"--text-column: '{table.ColumnNames[textColumn]}' is also the label column.");
        var texts = table.Text(textColumn);
        Fact("text_column", "text column", table.ColumnNames[textColumn]);
        int empty = texts.Count(string.IsNullOrWhiteSpace);
        if (empty > 0)
            Warnings.Add($"{empty} empty text{(empty == 1 ? "" : "s")} (first at {table.Source}:{table.LineNumber(Array.FindIndex(texts, string.IsNullOrWhiteSpace))}): train refuses empty texts.");
        string tokenizer = Check(o.Tokenizer, ["char", "word", "bpe"], "--tokenizer") ?? "char";
        if (o.MinFrequency is < 1) throw new InvalidInputException($"--min-frequency: expected at least 1; found {o.MinFrequency}.");
        int minFrequency = o.MinFrequency ?? 2;
        Fact("tokenizer", "tokenizer", tokenizer);
        var train = split.Train.Select(r => texts[r]).ToArray();
        var heldOut = split.Validation.Concat(split.Test).Select(r => texts[r]).ToArray();
        switch (tokenizer)
        {
            case "char":
                Lengths = Summarise("texts", "characters", texts.Select(t => t.Length).ToArray());
                var characters = new HashSet<char>(train.SelectMany(t => t));
                Fact("vocabulary_size", "vocabulary: distinct training characters (+2 ids: padding, unknown)", characters.Count);
                Fact("oov_share", "share of validation+test characters unseen in training", Share(heldOut.SelectMany(t => t).Count(ch => !characters.Contains(ch)), heldOut.Sum(t => t.Length)));
                break;
            case "word":
                Lengths = Summarise("texts", "words", texts.Select(t => WordTokenizer.Split(t, true).Count).ToArray());
                var counts = WordCounts(train);
                var known = counts.Where(p => p.Value >= minFrequency).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
                Fact("vocabulary_size", $"vocabulary: training words seen ≥ {minFrequency} times (+2 ids: padding, unknown)", known.Count);
                Fact("distinct_words", "distinct training words (lower-cased)", counts.Count);
                var heldOutWords = heldOut.SelectMany(t => WordTokenizer.Split(t, true)).ToArray();
                Fact("oov_share", "share of validation+test words outside the vocabulary", Share(heldOutWords.Count(w => !known.Contains(w)), heldOutWords.Length));
                break;
            default:
                Lengths = Summarise("texts", "words", texts.Select(t => WordTokenizer.Split(t, true).Count).ToArray());
                Fact("vocabulary_size", "vocabulary", null);
                Fact("distinct_words", "distinct training words (lower-cased)", WordCounts(train).Count);
                Notes.Add("bpe: the merges (and so the vocabulary and token lengths) are learned at train time; lengths are shown in words, the fewest BPE tokens a text can take.");
                break;
        }
    }

    /// <summary>
    /// seq2seq: the source and target columns, empty cells (refused by train), each side's vocabulary on the training
    /// pairs and the targets' lengths in tokens, with the seeded random split of pairs.
    /// </summary>
    private void Pairs(CsvTable table, DataProfileOptions o)
    {
        if (o.SourceColumn is null || o.TargetColumn is null)
            throw new InvalidInputException($"--task seq2seq needs --source-column and --target-column; {(o.SourceColumn is null ? "--source-column" : "--target-column")} is missing.");
        int sourceColumn = table.ColumnIndex(o.SourceColumn), targetColumn = table.ColumnIndex(o.TargetColumn);
        string tokenizer = Check(o.Tokenizer, ["char", "word", "bpe"], "--tokenizer") ?? "char";
        Fact("source_column", "source column", table.ColumnNames[sourceColumn]);
        Fact("target_column", "target column", table.ColumnNames[targetColumn]);
        Fact("tokenizer", "tokenizer", tokenizer);
        var sources = table.Text(sourceColumn);
        var targets = table.Text(targetColumn);
        foreach (var (name, texts) in new[] { ("source", sources), ("target", targets) })
        {
            int empty = texts.Count(string.IsNullOrWhiteSpace);
            if (empty > 0)
                Warnings.Add($"{empty} empty {name}{(empty == 1 ? "" : "s")} (first at {table.Source}:{table.LineNumber(Array.FindIndex(texts, string.IsNullOrWhiteSpace))}): train refuses empty texts.");
        }
        var split = StratifiedSplit.Create(new int[table.RowCount], 1, o.Seed ?? 42);
        Splits = new SplitSizes(split.Train.Length, split.Validation.Length, split.Test.Length, "pairs",
            $"seeded random split (seed {o.Seed ?? 42}): {StratifiedSplit.TestFraction:P0} test, {StratifiedSplit.ValidationFraction:P0} validation");
        IReadOnlyList<string> Tokens(string text) => tokenizer == "char" ? text.Select(c => c.ToString()).ToArray() : WordTokenizer.Split(text, true);
        string unit = tokenizer == "char" ? "characters" : "words";
        foreach (var (name, texts) in new[] { ("source", sources), ("target", targets) })
        {
            var known = split.Train.SelectMany(r => Tokens(texts[r])).ToHashSet(StringComparer.Ordinal);
            Fact($"{name}_vocabulary_size", $"{name} vocabulary: distinct training {unit} (+2 ids: padding, unknown{(name == "target" ? "; +2: start, end" : "")})", known.Count);
            Fact($"{name}_longest", $"longest {name} in {unit}", texts.Max(t => Tokens(t).Count));
        }
        if (tokenizer == "bpe") Notes.Add("bpe: the merges are learned at train time; vocabularies and lengths are shown in words.");
        Lengths = Summarise("targets", unit, targets.Select(t => Tokens(t).Count).ToArray());
    }

    private static Dictionary<string, int> WordCounts(IEnumerable<string> texts)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var text in texts)
            foreach (var word in WordTokenizer.Split(text, true))
                counts[word] = counts.GetValueOrDefault(word) + 1;
        return counts;
    }

    private static double Share(int part, int whole) => whole == 0 ? 0 : (double)part / whole;

    /// <summary>Label counts with their split counts; the majority label of the training part and its accuracy on the test part.</summary>
    private void AddLabels(int[] labels, string[] names, int[] train, int[] validation, int[] test, bool sortByCount, string noun = "label")
    {
        int classes = names.Length;
        int[] Count(IEnumerable<int> items) { var n = new int[classes]; foreach (var i in items) n[labels[i]]++; return n; }
        var all = Count(Enumerable.Range(0, labels.Length));
        var (tr, va, te) = (Count(train), Count(validation), Count(test));
        var order = Enumerable.Range(0, classes);
        if (sortByCount) order = order.OrderByDescending(c => all[c]).ThenBy(c => names[c], StringComparer.Ordinal);
        Labels.AddRange(order.Select(c => new LabelCount(names[c], all[c], Share(all[c], labels.Length), tr[c], va[c], te[c])));
        Fact("distinct_labels", $"distinct {noun}s", classes);
        if (classes == 0) return;
        Fact("imbalance_ratio", $"imbalance (largest / smallest {noun})", (double)all.Max() / all.Min());
        int majority = Enumerable.Range(0, classes).OrderByDescending(c => train.Length > 0 ? tr[c] : all[c]).ThenBy(c => c).First();
        Fact("majority_label", $"majority {noun} (training part)", names[majority]);
        Fact("majority_share", $"majority {noun}'s share of all", Share(all[majority], labels.Length));
        Fact("majority_test_accuracy", "majority baseline: accuracy on the test part", test.Length > 0 ? Share(te[majority], test.Length) : null);
    }

    private void TagTable(CsvTable table, DataProfileOptions o)
    {
        if (o.IdColumn is null || o.LabelColumn is null)
            throw new InvalidInputException($"--task tag on a table needs --id-column (which sequence a row belongs to) and --label-column (the row's label); {(o.IdColumn is null ? "--id-column" : "--label-column")} is missing.");
        int idColumn = table.ColumnIndex(o.IdColumn), labelColumn = table.ColumnIndex(o.LabelColumn);
        var labelText = table.Text(labelColumn, allowEmpty: false);
        var groups = Groups(table, idColumn);
        var names = labelText.Distinct().Order(StringComparer.Ordinal).ToArray();
        var index = names.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var labels = labelText.Select(l => index[l]).ToArray();
        ulong seed = o.Seed ?? DefaultSeed;
        // The tagger cuts each id's rows into pieces and splits the pieces.
        int piece = o.MaxLength ?? SequenceSplit.DefaultPiece;
        var pieces = SequenceSplit.Pieces(groups.Select(g => (IReadOnlyList<int>)g.Rows), piece);
        var (train, validation, test) = SequenceSplit.ByRarestLabel(pieces.Select(p => (IReadOnlyList<string>)p.Select(r => labelText[r]).ToList()).ToList(), seed);
        int[] Rows(int[] part) => part.SelectMany(s => pieces[s]).ToArray();
        Fact("id_column", "sequence id column", table.ColumnNames[idColumn]);
        Fact("label_column", "label column", table.ColumnNames[labelColumn]);
        Fact("sequences", "sequences", groups.Count);
        Fact("steps", "steps (rows)", table.RowCount);
        AddLabels(labels, names, Rows(train), Rows(validation), Rows(test), sortByCount: true);
        Fact("pieces", $"pieces of at most {o.MaxLength ?? SequenceSplit.DefaultPiece} rows (--max-length)", pieces.Count);
        Lengths = Summarise("sequences", "rows", groups.Select(g => g.Rows.Count).ToArray());
        Splits = new SplitSizes(train.Length, validation.Length, test.Length, "pieces", TagRule(seed));
        CheckContiguous(table, idColumn, "sequence");
    }

    private static string TagRule(ulong seed) => $"seeded ({seed}) split stratified by each sequence's rarest label: {StratifiedSplit.TestFraction:0%} test, {StratifiedSplit.ValidationFraction:0%} validation, the rest training";

    // ---- word/TAG files ----

    private void TagSentences(IReadOnlyList<TaggedSentence> sentences, DataProfileOptions o)
    {
        var tagNames = sentences.SelectMany(s => s.Tags).Distinct().Order(StringComparer.Ordinal).ToArray();
        var index = tagNames.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i, StringComparer.Ordinal);
        var tokenTags = sentences.SelectMany(s => s.Tags).Select(t => index[t]).ToArray();
        var starts = new int[sentences.Count + 1];
        for (int s = 0; s < sentences.Count; s++) starts[s + 1] = starts[s] + sentences[s].Words.Length;
        ulong seed = o.Seed ?? DefaultSeed;
        var (train, validation, test) = SequenceSplit.ByRarestLabel(sentences.Select(s => (IReadOnlyList<string>)s.Tags).ToList(), seed);
        int[] Tokens(int[] part) => part.SelectMany(s => Enumerable.Range(starts[s], starts[s + 1] - starts[s])).ToArray();
        Fact("sentences", "sentences", sentences.Count);
        Fact("tokens", "tokens", tokenTags.Length);
        AddLabels(tokenTags, tagNames, Tokens(train), Tokens(validation), Tokens(test), sortByCount: true, noun: "tag");
        Lengths = Summarise("sentences", "tokens", sentences.Select(s => s.Words.Length).ToArray());
        Splits = new SplitSizes(train.Length, validation.Length, test.Length, "sentences", TagRule(seed));
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in train) foreach (var w in sentences[s].Words) counts[w.ToLowerInvariant()] = counts.GetValueOrDefault(w.ToLowerInvariant()) + 1;
        var known = counts.Where(p => p.Value >= 2).Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        Fact("distinct_words", "distinct training words (lower-cased)", counts.Count);
        Fact("vocabulary_size", "vocabulary: training words seen ≥ 2 times", known.Count);
        var heldOut = validation.Concat(test).SelectMany(s => sentences[s].Words).Select(w => w.ToLowerInvariant()).ToArray();
        Fact("oov_share", "share of validation+test words outside the vocabulary", Share(heldOut.Count(w => !known.Contains(w)), heldOut.Length));
    }

    // ---- plain text ----

    private void LanguageModel(string text)
    {
        int n = text.Length;
        var (trainEnd, validationEnd) = TextSplit.Bounds(n);
        var lines = text.Split('\n');
        if (lines.Length > 1 && lines[^1].Length == 0) lines = lines[..^1];
        Fact("characters", "characters", n);
        Fact("lines", "lines", lines.Length);
        var distinctCharacters = text.Distinct().Count();
        Fact("distinct_characters", "distinct characters", distinctCharacters);
        Fact("distinct_words", "distinct words (lower-cased)", WordTokenizer.Split(text, true).Distinct(StringComparer.Ordinal).Count());
        Splits = new SplitSizes(trainEnd, validationEnd - trainEnd, n - validationEnd, "characters",
            $"in text order: the first {TextSplit.TrainFraction:0%} training, the next {TextSplit.ValidationFraction:0%} validation, the rest test");
        var trainCounts = new Dictionary<char, int>();
        foreach (char c in text.AsSpan(0, trainEnd)) trainCounts[c] = trainCounts.GetValueOrDefault(c) + 1;
        Fact("vocabulary_size", "vocabulary: distinct training characters", trainCounts.Count);
        Fact("unigram_bits_per_char", "unigram entropy of the training characters (bits/char)", Entropy(trainCounts.Values));
        int unseen = 0;
        foreach (char c in text.AsSpan(trainEnd)) if (!trainCounts.ContainsKey(c)) unseen++;
        Fact("oov_share", "share of validation+test characters unseen in training", Share(unseen, n - trainEnd));
        Lengths = Summarise("lines", "characters", lines.Select(l => l.TrimEnd('\r').Length).ToArray());
    }

    // ---- lengths ----

    /// <summary>Min, median, 95th percentile (nearest rank), max and about ten equal-width integer bins.</summary>
    public static LengthSummary Summarise(string of, string unit, int[] lengths)
    {
        if (lengths.Length == 0) return new LengthSummary(of, unit, 0, 0, 0, 0, 0, []);
        var sorted = lengths.Order().ToArray();
        int n = sorted.Length, min = sorted[0], max = sorted[^1];
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
        int p95 = sorted[Math.Clamp((int)Math.Ceiling(0.95 * n) - 1, 0, n - 1)];
        int width = Math.Max(1, (int)Math.Ceiling((max - min + 1) / (double)HistogramBins));
        int bins = (max - min) / width + 1;
        var counts = new int[bins];
        foreach (int v in sorted) counts[(v - min) / width]++;
        var result = Enumerable.Range(0, bins).Select(b => new HistogramBin(min + b * width, Math.Min(max, min + (b + 1) * width - 1), counts[b])).ToArray();
        return new LengthSummary(of, unit, n, min, median, p95, max, result);
    }
}
