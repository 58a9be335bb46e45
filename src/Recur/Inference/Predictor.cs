using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Recur.Data;
using Recur.Serialization;
using Recur.Training;

namespace Recur.Inference;

/// <summary>One value every row of a request must carry: its column name, JSON type ("number" or "string") and role.</summary>
public sealed record InputColumn(string Name, string Type, string Role);

/// <summary>
/// What a request to a model must contain (<see cref="Predictor.Schema"/>): <see cref="Input"/> "rows" (table
/// models: forecasters, numeric classifiers, CSV taggers; each row an object holding every one of
/// <see cref="Columns"/>) or "texts" (text classifiers and sentence taggers; a text classifier also takes rows
/// holding its text column). Every table model also takes <c>{"csv": "..."}</c> in its training file's layout.
/// </summary>
public sealed record InputSchema
{
    public required string Task { get; init; }
    public required string Input { get; init; }
    public IReadOnlyList<InputColumn> Columns { get; init; } = [];
    public string? IdColumn { get; init; }
    public string? TimeColumn { get; init; }
    public string? TextColumn { get; init; }
    /// <summary>
    /// Forecast: rows each series needs at least (the lookback; 1 for a stateful forecaster, which reads any history
    /// and forecasts once after its end), and values forecast per target.
    /// </summary>
    public int? Lookback { get; init; }
    public int? Horizon { get; init; }

    /// <summary>Forecast: a stateful forecaster (one forecast per series, after the whole history the request sends).</summary>
    public bool Stateful { get; init; }
    public IReadOnlyList<string>? Targets { get; init; }
    /// <summary>Longest sequence or text (in tokens) the model takes, where it has a limit.</summary>
    public int? MaxLength { get; init; }
    public IReadOnlyList<string>? Classes { get; init; }
    /// <summary>Whether a numeric value may be null (missing): forecasters trained with --missing other than error.</summary>
    public bool AllowsMissing { get; init; }

    /// <summary>The request fields this model accepts.</summary>
    public IReadOnlyList<string> Accepts => Input == "texts" ? (Task == "classify" ? ["texts", "rows", "csv"] : ["texts"]) : ["rows", "csv"];

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["task"] = Task,
            ["input"] = Input,
            ["accepts"] = new JsonArray(Accepts.Select(a => (JsonNode?)a).ToArray()),
            ["columns"] = new JsonArray(Columns.Select(c => (JsonNode?)new JsonObject { ["name"] = c.Name, ["type"] = c.Type, ["role"] = c.Role }).ToArray()),
        };
        if (IdColumn is not null) o["id_column"] = IdColumn;
        if (TimeColumn is not null) o["time_column"] = TimeColumn;
        if (TextColumn is not null) o["text_column"] = TextColumn;
        if (Targets is not null) o["targets"] = new JsonArray(Targets.Select(t => (JsonNode?)t).ToArray());
        if (Lookback is int l) { o["lookback"] = l; o["min_rows_per_series"] = Stateful ? 1 : l; }
        if (Stateful) o["stateful"] = true;
        if (Horizon is int h) o["horizon"] = h;
        if (MaxLength is int m) o["max_length"] = m;
        if (Classes is not null) o["classes"] = new JsonArray(Classes.Select(c => (JsonNode?)c).ToArray());
        o["allows_missing"] = AllowsMissing;
        return o;
    }
}

/// <summary>A request checked against a model's schema by <see cref="Predictor.Prepare"/>, ready to predict.</summary>
public sealed class PreparedRequest
{
    internal PreparedRequest(Predictor predictor, string[][]? rows, string[]? texts, CsvTable? table, int count)
    {
        Predictor = predictor;
        Rows = rows;
        Texts = texts;
        Table = table;
        Count = count;
    }

    /// <summary>The predictor (the model as loaded) the request was checked against and will run on.</summary>
    public Predictor Predictor { get; }

    /// <summary>Rows (texts, or CSV data rows) in the request.</summary>
    public int Count { get; }

    internal string[][]? Rows { get; }
    internal string[]? Texts { get; }
    internal CsvTable? Table { get; }
}

/// <summary>One request's result in <see cref="Predictor.PredictMany"/>: its predictions, or the error it alone caused.</summary>
public sealed record PredictionOutcome(JsonArray? Predictions, Exception? Error);

/// <summary>
/// A saved model loaded once for prediction from in-memory inputs, giving the entries of <c>recur predict --json</c>
/// (DESIGN: one per input row, sequence or window). Safe to call from many threads at once: the model's weights and
/// the data state are only read, every call builds its own tape, tensors and tokenizer, and the engine's kernels keep
/// their scratch space per thread.
/// </summary>
public sealed class Predictor
{
    /// <summary>Most rows or texts one request may hold.</summary>
    public const int MaxItems = 100_000;

    private readonly bool _rowsMergeable;
    private readonly bool _hasHeader;
    private readonly char _delimiter;

    public Predictor(ModelFile file)
    {
        File = file;
        Task = file.Config.Task ?? "";
        (Schema, _hasHeader, _delimiter) = Task switch
        {
            "forecast" => ForecastSchema(Deserialize<ForecastState>(file)),
            "classify" => ClassifySchema(Deserialize<ClassifyState>(file)),
            "tag" => TagSchema(Deserialize<TagState>(file)),
            "lm" => throw new ModelFileException(file.Path, "is a language model: use 'recur generate' to sample text; it has no per-row predictions to serve."),
            _ => throw new ModelFileException(file.Path, $"names task '{Task}', which this build cannot run."),
        };
        // Requests whose items map one to one onto predictions can share one forward pass.
        _rowsMergeable = Task == "classify" && Schema.IdColumn is null;
    }

    /// <summary>Loads a model file (written by <c>recur train</c>).</summary>
    /// <exception cref="ModelFileException">The file is missing, not a model file, or a language model.</exception>
    public static Predictor Load(string path) => new(ModelFile.Load(path));

    public ModelFile File { get; }
    public string Task { get; }
    public InputSchema Schema { get; }

    /// <summary>Task, schema, architecture, resolved training config and the metrics stored with the model.</summary>
    public JsonObject Describe()
    {
        var spec = File.Model.Spec;
        return new JsonObject
        {
            ["task"] = Task,
            ["path"] = File.Path,
            ["schema"] = Schema.ToJson(),
            ["model"] = new JsonObject
            {
                ["cell"] = Layers.RecurrentLayers.Name(spec.Cell),
                ["layers"] = spec.Layers,
                ["hidden_size"] = spec.HiddenSize,
                ["input_size"] = spec.InputSize,
                ["output_size"] = spec.OutputSize,
                ["vocabulary_size"] = spec.VocabularySize,
                ["per_step"] = spec.PerStep,
            },
            ["config"] = ParseOrText(File.Config.ToJson()),
            ["metrics"] = ParseOrText(File.Metrics),
        };
    }

    /// <summary>Predictions for a table in the training file's layout (forecasters, numeric classifiers, CSV taggers, text classifiers).</summary>
    public JsonArray Predict(CsvTable table) => Task switch
    {
        "forecast" => ForecastWorkflow.Predict(File, table),
        "classify" => ClassifyWorkflow.Predict(File, table),
        _ when Schema.Input == "texts" => throw new InvalidInputException($"{table.Source}: {File.Path} tags sentences of words; send texts, not a table."),
        _ => TagWorkflow.Predict(File, table),
    };

    /// <summary>One label per text (text classifiers) or one array of tags per sentence (word taggers).</summary>
    public JsonArray PredictText(IReadOnlyList<string> texts) => Predict(Prepare(new JsonObject { ["texts"] = new JsonArray(texts.Select(t => (JsonNode?)t).ToArray()) }));

    /// <summary>Predictions for CSV text in the training file's layout (header rule and delimiter as at training).</summary>
    public JsonArray PredictCsv(string csv) => Predict(Prepare(new JsonObject { ["csv"] = csv }));

    /// <summary>
    /// Predictions for a request object in the server's shapes: <c>{"rows": [{column: value, ...}, ...]}</c>,
    /// <c>{"texts": ["...", ...]}</c> or <c>{"csv": "..."}</c>; the array is <c>recur predict --json</c>'s "predictions".
    /// </summary>
    /// <exception cref="InvalidInputException">The request does not fit the model's schema; the message says where and why.</exception>
    public JsonArray PredictJson(JsonNode? request) => Predict(Prepare(request));

    /// <summary>Predictions for one prepared request.</summary>
    public JsonArray Predict(PreparedRequest request)
    {
        if (request.Predictor != this) throw new ArgumentException("The request was prepared for another predictor.", nameof(request));
        JsonArray result;
        if (request.Table is not null) result = Predict(request.Table);
        else if (request.Texts is not null) result = RunTexts(request.Texts);
        else result = Predict(RowsTable(Schema.Columns, request.Rows!, "request"));
        return result;
    }

    /// <summary>
    /// Predictions for several requests, each outcome its own: requests whose items map one to one onto predictions
    /// (texts; rows of a per-row classifier) share one pass through the model; the rest run one after another. A
    /// request that fails does not fail the others.
    /// </summary>
    public IReadOnlyList<PredictionOutcome> PredictMany(IReadOnlyList<PreparedRequest> requests)
    {
        var outcomes = new PredictionOutcome[requests.Count];
        var texts = new List<int>();
        var rows = new List<int>();
        for (int i = 0; i < requests.Count; i++)
        {
            if (requests[i].Predictor != this) outcomes[i] = new(null, new ArgumentException("The request was prepared for another predictor."));
            else if (requests[i].Texts is not null) texts.Add(i);
            else if (requests[i].Rows is not null && _rowsMergeable) rows.Add(i);
        }
        if (texts.Count > 1) Merged(texts, all => RunTexts(all.SelectMany(i => requests[i].Texts!).ToArray()));
        if (rows.Count > 1) Merged(rows, all => Predict(RowsTable(Schema.Columns, all.SelectMany(i => requests[i].Rows!).ToArray(), "request")));
        for (int i = 0; i < requests.Count; i++)
            outcomes[i] ??= Solo(requests[i]);
        return outcomes;

        void Merged(List<int> members, Func<List<int>, JsonArray> run)
        {
            JsonArray all;
            try
            {
                all = run(members);
            }
            catch (InvalidInputException)
            {
                return; // each runs alone below, so the error reaches only the request that caused it
            }
            if (all.Count != members.Sum(i => requests[i].Count)) return;
            var items = all.Select(p => p?.DeepClone()).ToArray();
            int at = 0;
            foreach (int i in members)
            {
                outcomes[i] = new(new JsonArray(items.AsSpan(at, requests[i].Count).ToArray()), null);
                at += requests[i].Count;
            }
        }

        PredictionOutcome Solo(PreparedRequest request)
        {
            try
            {
                return new(Predict(request), null);
            }
            catch (Exception e)
            {
                return new(null, e);
            }
        }
    }

    /// <summary>Checks a request against the model's schema and converts it for prediction.</summary>
    /// <exception cref="InvalidInputException">What is wrong, naming the field, row and column.</exception>
    public PreparedRequest Prepare(JsonNode? request)
    {
        if (request is not JsonObject o)
            throw new InvalidInputException($"request: expected a JSON object with one of {Fields()}; found {Kind(request)}.");
        foreach (var (key, _) in o)
            if (key is not ("rows" or "texts" or "csv"))
                throw new InvalidInputException($"request: unknown field '{key}'; expected one of {Fields()}.");
        if (o.Count != 1)
            throw new InvalidInputException($"request: expected exactly one of {Fields()}; found {(o.Count == 0 ? "none" : string.Join(", ", o.Select(p => $"\"{p.Key}\"")))}.");
        var (field, value) = o.First();
        if (!Schema.Accepts.Contains(field))
            throw new InvalidInputException($"request: this {Task} model takes {Fields()}, not \"{field}\".");
        switch (field)
        {
            case "csv":
                if (value is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
                    throw new InvalidInputException($"request.csv: expected a string holding CSV text; found {Kind(value)}.");
                var table = CsvTable.Parse(v.GetValue<string>(), "request.csv", _hasHeader, _delimiter);
                return new PreparedRequest(this, null, null, table, table.RowCount);
            case "texts":
                var texts = Items(value, "texts").Select((t, i) => Text(t, $"texts[{i}]")).ToArray();
                return new PreparedRequest(this, null, texts, null, texts.Length);
            default:
                var rows = Items(value, "rows");
                if (Schema.Input == "texts")
                {
                    var fromRows = rows.Select((r, i) => Text(Row(r, i)[0], $"rows[{i}].{Schema.TextColumn}")).ToArray();
                    return new PreparedRequest(this, null, fromRows, null, fromRows.Length);
                }
                var cells = rows.Select((r, i) => Row(r, i).Select((cell, k) => Cell(cell, Schema.Columns[k], i)).ToArray()).ToArray();
                return new PreparedRequest(this, cells, null, null, cells.Length);
        }
    }

    private string Fields() => string.Join(", ", Schema.Accepts.Select(a => $"\"{a}\""));

    private static JsonArray Items(JsonNode? value, string field)
    {
        if (value is not JsonArray array) throw new InvalidInputException($"request.{field}: expected an array; found {Kind(value)}.");
        if (array.Count == 0) throw new InvalidInputException($"request.{field}: the array is empty; expected at least one item.");
        if (array.Count > MaxItems) throw new InvalidInputException($"request.{field}: {array.Count} items are more than the {MaxItems} one request may hold.");
        return array;
    }

    /// <summary>A row's value of every schema column (the text column for a text model), in schema order.</summary>
    private JsonNode?[] Row(JsonNode? row, int index)
    {
        if (row is not JsonObject o) throw new InvalidInputException($"request.rows[{index}]: expected an object of column → value; found {Kind(row)}.");
        var columns = Schema.Input == "texts" ? [new InputColumn(Schema.TextColumn!, "string", "text")] : Schema.Columns;
        var values = new JsonNode?[columns.Count];
        for (int k = 0; k < columns.Count; k++)
        {
            if (!o.TryGetPropertyValue(columns[k].Name, out values[k]))
                throw new InvalidInputException($"request.rows[{index}]: missing column '{columns[k].Name}' ({columns[k].Role}); every row needs {string.Join(", ", columns.Select(c => $"'{c.Name}'"))}.");
        }
        return values;
    }

    private string Text(JsonNode? node, string where)
    {
        if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.String)
            throw new InvalidInputException($"request.{where}: expected a string; found {Kind(node)}.");
        string text = v.GetValue<string>();
        if (Task == "tag")
        {
            if (text.Contains('\n') || text.Contains('\r'))
                throw new InvalidInputException($"request.{where}: a sentence must be one line; found a line break.");
            if (string.IsNullOrWhiteSpace(text))
                throw new InvalidInputException($"request.{where}: the sentence has no words.");
            int words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            if (Schema.MaxLength is int max && words > max)
                throw new InvalidInputException($"request.{where}: the sentence has {words} words; the model takes at most {max}.");
        }
        return text;
    }

    /// <summary>A value as CSV cell text: numbers as written, null as an empty (missing) cell where allowed.</summary>
    private string Cell(JsonNode? node, InputColumn column, int row)
    {
        string where = $"request.rows[{row}].{column.Name}";
        if (node is null)
        {
            if (column.Type == "number" && Schema.AllowsMissing) return "";
            throw new InvalidInputException($"{where}: the value is missing (null); this model needs a value here{(column.Type == "number" && Task == "forecast" ? " (it was trained with --missing error)" : "")}.");
        }
        if (node is not JsonValue v) throw new InvalidInputException($"{where}: expected a {column.Type}; found {Kind(node)}.");
        var kind = v.GetValueKind();
        if (column.Type == "string")
        {
            return kind switch
            {
                JsonValueKind.String => v.GetValue<string>(),
                JsonValueKind.Number when column.Role == "id" || column.Role == "time" => v.ToJsonString(),
                _ => throw new InvalidInputException($"{where}: expected a string; found {Kind(node)}."),
            };
        }
        string text;
        if (kind == JsonValueKind.Number)
        {
            try
            {
                text = v.ToJsonString();
            }
            catch (ArgumentException)
            {
                throw new InvalidInputException($"{where}: expected a finite number; found {v}.");
            }
        }
        else if (kind == JsonValueKind.String) text = v.GetValue<string>().Trim();
        else throw new InvalidInputException($"{where}: expected a number; found {Kind(node)}.");
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d))
            throw new InvalidInputException($"{where}: expected a number; found \"{Shorten(text)}\".");
        if (!double.IsFinite(d))
            throw new InvalidInputException($"{where}: expected a finite number; found {Shorten(text)}.");
        return text;
    }

    private static string Kind(JsonNode? node) => node switch
    {
        null => "null",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => $"the string \"{Shorten(v.GetValue<string>())}\"",
            JsonValueKind.Number => "a number",
            JsonValueKind.True or JsonValueKind.False => "a boolean",
            var k => k.ToString().ToLowerInvariant(),
        },
        _ => "something else",
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";

    private JsonArray RunTexts(IReadOnlyList<string> texts)
    {
        var result = Task == "tag"
            ? TagWorkflow.PredictText(File, string.Join('\n', texts), "request.texts")
            : ClassifyWorkflow.Predict(File, RowsTable([new InputColumn(Schema.TextColumn!, "string", "text")], texts.Select(t => new[] { t }).ToArray(), "request.texts"));
        if (result.Count != texts.Count)
            throw new InvalidOperationException($"{texts.Count} texts gave {result.Count} predictions.");
        return result;
    }

    /// <summary>A comma-separated table with a header of the given columns (strings quoted, numbers as written).</summary>
    private static CsvTable RowsTable(IReadOnlyList<InputColumn> columns, IReadOnlyList<string[]> rows, string source)
    {
        var csv = new StringBuilder();
        csv.AppendJoin(',', columns.Select(c => Quote(c.Name))).Append('\n');
        foreach (var row in rows)
        {
            for (int k = 0; k < row.Length; k++)
            {
                if (k > 0) csv.Append(',');
                csv.Append(columns[k].Type == "string" ? Quote(row[k]) : row[k]);
            }
            csv.Append('\n');
        }
        return CsvTable.Parse(csv.ToString(), source, hasHeader: true, delimiter: ',');

        static string Quote(string s) => "\"" + s.Replace("\"", "\"\"") + "\"";
    }

    private static T Deserialize<T>(ModelFile file)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(file.DataState) ?? throw new ModelFileException(file.Path, "has an empty 'recur.data' entry.");
        }
        catch (JsonException e)
        {
            throw new ModelFileException(file.Path, $"has an unreadable 'recur.data' entry: {e.Message}");
        }
    }

    private static JsonNode? ParseOrText(string json)
    {
        try
        {
            return JsonNode.Parse(json);
        }
        catch (JsonException)
        {
            return json;
        }
    }

    private static char Delimiter(string d) => d is { Length: 1 } ? d[0] : ',';

    private static (InputSchema, bool, char) ForecastSchema(ForecastState s)
    {
        var columns = new List<InputColumn>();
        if (s.IdColumn is not null) columns.Add(new(s.IdColumn, "string", "id"));
        bool calendar = s.Features.Any(f => f.Column.StartsWith(CalendarFeatures.Prefix, StringComparison.Ordinal));
        if (s.TimeColumn is string time && (calendar || time.Contains(',')))
            columns.AddRange(time.Split(',').Select(t => new InputColumn(t, "string", "time")));
        columns.AddRange(s.AllTargets.Select(t => new InputColumn(t, "number", "target")));
        columns.AddRange(s.Features.Where(f => !f.Column.StartsWith(CalendarFeatures.Prefix, StringComparison.Ordinal))
            .Select(f => new InputColumn(f.Column, "number", "feature")));
        var schema = new InputSchema
        {
            Task = "forecast", Input = "rows", Columns = columns, IdColumn = s.IdColumn, TimeColumn = s.TimeColumn,
            Lookback = s.Lookback, Horizon = s.Horizon, Targets = s.AllTargets, AllowsMissing = s.Missing != "error", Stateful = s.Stateful,
        };
        return (schema, s.HasHeader, Delimiter(s.Delimiter));
    }

    private static (InputSchema, bool, char) ClassifySchema(ClassifyState s)
    {
        if (s.TextColumn is string text)
            return (new InputSchema { Task = "classify", Input = "texts", Columns = [new(text, "string", "text")], TextColumn = text, MaxLength = s.MaxLength, Classes = s.Classes },
                s.HasHeader, Delimiter(s.Delimiter));
        var columns = new List<InputColumn>();
        if (s.IdColumn is not null) columns.Add(new(s.IdColumn, "string", "id"));
        columns.AddRange((s.FeatureColumns ?? []).Select(c => new InputColumn(c, "number", "feature")));
        return (new InputSchema { Task = "classify", Input = "rows", Columns = columns, IdColumn = s.IdColumn, MaxLength = s.IdColumn is null ? null : s.MaxLength, Classes = s.Classes },
            s.HasHeader, Delimiter(s.Delimiter));
    }

    private static (InputSchema, bool, char) TagSchema(TagState s)
    {
        if (s.Format == "tokens")
            return (new InputSchema { Task = "tag", Input = "texts", MaxLength = s.MaxLength, Classes = s.Classes }, s.HasHeader, Delimiter(s.Delimiter));
        var columns = new List<InputColumn> { new(s.IdColumn ?? "", "string", "id") };
        columns.AddRange((s.FeatureColumns ?? []).Select(c => new InputColumn(c, "number", "feature")));
        return (new InputSchema { Task = "tag", Input = "rows", Columns = columns, IdColumn = s.IdColumn, MaxLength = s.MaxLength, Classes = s.Classes },
            s.HasHeader, Delimiter(s.Delimiter));
    }
}
