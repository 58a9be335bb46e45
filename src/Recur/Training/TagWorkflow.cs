using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Recur.Data;
using Recur.Evaluation;
using Recur.Layers;
using Recur.Models;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Training.Callbacks;
using Recur.Training.Checkpoints;

namespace Recur.Training;

/// <summary>What a tagger needs to read a new file the way it read its training file (<c>recur.data</c>).</summary>
public sealed record TagState
{
    [JsonPropertyName("task")] public string Task { get; init; } = "tag";

    /// <summary>"tokens" (a <c>word/TAG</c> file) or "csv" (rows grouped into sequences by an id column).</summary>
    [JsonPropertyName("format")] public required string Format { get; init; }
    [JsonPropertyName("classes")] public required string[] Classes { get; init; }
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    [JsonPropertyName("split_seed")] public ulong SplitSeed { get; init; }
    [JsonPropertyName("split")] public string Split { get; init; } = $"seeded split of sequences (CSV: pieces) stratified by rarest label: {StratifiedSplit.TestFraction} test, {StratifiedSplit.ValidationFraction} validation";

    // tokens
    [JsonPropertyName("words")] public string[]? Words { get; init; }
    [JsonPropertyName("lower_case")] public bool LowerCase { get; init; } = true;

    // csv
    [JsonPropertyName("id_column")] public string? IdColumn { get; init; }
    [JsonPropertyName("label_column")] public string? LabelColumn { get; init; }
    [JsonPropertyName("feature_columns")] public string[]? FeatureColumns { get; init; }
    [JsonPropertyName("means")] public double[]? Means { get; init; }
    [JsonPropertyName("stds")] public double[]? Stds { get; init; }
    [JsonPropertyName("has_header")] public bool HasHeader { get; init; } = true;
    [JsonPropertyName("delimiter")] public string Delimiter { get; init; } = ",";
}

/// <summary>
/// <c>--task tag</c>: one label per step. From a <c>word/TAG</c> file (one sentence per line; words → ids of a word
/// vocabulary learned on the training sentences) or from a CSV whose rows are grouped into sequences by
/// <c>--id-column</c>, with a per-row <c>--label-column</c> and numeric feature columns (standardised on the
/// training sequences; a long sequence is cut into consecutive pieces of <c>--max-length</c> rows). Seeded split of
/// sequences, stratified by each sequence's rarest label; per-step accuracy and macro-F1 over real steps beside the
/// majority tag.
/// </summary>
public static class TagWorkflow
{
    /// <summary>Longest sentence a tagger takes unless <c>--max-length</c> says otherwise; pieces of CSV sequences.</summary>
    public const int DefaultMaxSentence = 400;

    /// <summary>One sequence: its steps' words or feature rows, labels, and where it came from.</summary>
    private sealed record Sequence(string[]? Words, double[][]? Features, string[] Labels, int[] Lines, string Name);

    public static TrainedRun Train(TrainConfig config, string path, TextWriter log, IReadOnlyList<TrainingCallback>? callbacks = null,
        CheckpointSettings? checkpoints = null)
    {
        var pretrained = PretrainedModel.Open(config);
        if (pretrained is not null) config = pretrained.Inherit(config);
        ulong seed = config.Seed ?? 42;
        string text = TextFile.Read(path);
        bool tokens = config.IdColumn is null; // without an id column the file is word/TAG sentences
        TagState state;
        List<Sequence> sequences;
        if (tokens)
        {
            int maxLength = config.MaxLength ?? DefaultMaxSentence;
            sequences = ReadSentences(text, path, maxLength);
            state = new TagState
            {
                Format = "tokens", Classes = Classes(sequences), MaxLength = maxLength, SplitSeed = seed,
                LowerCase = true,
            };
        }
        else
        {
            var table = CsvTable.Parse(text, path, hasHeader: !(config.NoHeader ?? false));
            state = new TagState
            {
                Format = "csv", Classes = [], IdColumn = table.ColumnNames[table.ColumnIndex(config.IdColumn!)],
                LabelColumn = table.ColumnNames[table.ColumnIndex(config.LabelColumn ?? table.ColumnNames[^1])],
                MaxLength = config.MaxLength ?? SequenceSplit.DefaultPiece, HasHeader = !(config.NoHeader ?? false),
                Delimiter = table.Delimiter.ToString(), SplitSeed = seed,
            };
            var featureNames = config.Features is { Length: > 0 } f
                ? f.SelectMany(x => x.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).Select(n => table.ColumnNames[table.ColumnIndex(n)]).Distinct().ToArray()
                : Enumerable.Range(0, table.ColumnCount).Select(c => table.ColumnNames[c])
                    .Where(n => n != state.IdColumn && n != state.LabelColumn && IsNumeric(table, table.ColumnIndex(n))).ToArray();
            if (featureNames.Length == 0)
                throw new InvalidInputException($"{path}: no numeric feature columns besides '{state.IdColumn}' and '{state.LabelColumn}'; name them with --features.");
            if (featureNames.Contains(state.LabelColumn) || featureNames.Contains(state.IdColumn))
                throw new InvalidInputException($"--features: the id and label columns cannot be features.");
            state = state with { FeatureColumns = featureNames };
            sequences = ReadRows(table, state);
            state = state with { Classes = Classes(sequences) };
        }
        var classIndex = Index(state.Classes);
        var split = Split(sequences, seed);
        if (split.Test.Length == 0 || split.Validation.Length == 0)
            throw new InvalidInputException($"{path}: {sequences.Count} sequence(s) are too few to put one in each of training, validation and test.");
        var train = split.Train.Select(i => sequences[i]).ToList();

        ITokenizer? vocabulary = null;
        if (tokens)
        {
            var words = PretrainedModel.Words(pretrained, WordTokenizer.FromWords(train.SelectMany(s => s.Words!), state.MaxLength, lowerCase: true, minFrequency: config.MinFrequency ?? 2), log);
            vocabulary = words;
            state = state with { Words = [.. words.Words], LowerCase = words.LowerCase };
            log.WriteLine($"tagging: {sequences.Count} sentences, {sequences.Sum(s => s.Labels.Length)} tokens, {state.Classes.Length} tags, {words.Size} word ids (with padding and unknown)");
        }
        else
        {
            int F = state.FeatureColumns!.Length;
            var rows = train.SelectMany(s => s.Features!).ToArray();
            var means = Enumerable.Range(0, F).Select(k => rows.Average(r => r[k])).ToArray();
            var stds = Enumerable.Range(0, F).Select(k => Math.Sqrt(rows.Average(r => (r[k] - means[k]) * (r[k] - means[k])))).Select(s => s > 1e-12 ? s : 1).ToArray();
            state = state with { Means = means, Stds = stds };
            log.WriteLine($"tagging: {sequences.Count} sequences of at most {state.MaxLength} rows, {F} features, {state.Classes.Length} labels");
        }

        var resolved = config with
        {
            Task = "tag", Seed = seed, MaxLength = state.MaxLength, IdColumn = state.IdColumn, LabelColumn = state.LabelColumn,
            Features = state.FeatureColumns,
            Cell = config.Cell ?? "lstm", Layers = config.Layers ?? 1, Hidden = config.Hidden ?? 128,
            Dropout = config.Dropout ?? 0.0, Epochs = config.Epochs ?? 10, BatchSize = config.BatchSize ?? 32,
            Lr = config.Lr ?? 3e-3, Optimizer = config.Optimizer ?? "adam", Clip = config.Clip ?? 1.0,
            EmbeddingSize = tokens ? config.EmbeddingSize ?? 64 : null,
        };
        var spec = WorkflowOptions.Stack(new SequenceModelSpec
        {
            Cell = RecurrentLayers.ParseCell(resolved.Cell!), HiddenSize = resolved.Hidden!.Value, Layers = resolved.Layers!.Value,
            Dropout = resolved.Dropout!.Value, OutputSize = state.Classes.Length, PerStep = true,
            InputSize = tokens ? 1 : state.FeatureColumns!.Length,
            VocabularySize = vocabulary?.Size ?? 0, EmbeddingSize = resolved.EmbeddingSize ?? 32,
        }, resolved);
        var model = new SequenceModel(spec, new RecurRandom(seed));
        var transfer = pretrained?.Apply(model, "tag", vocabulary, state.Classes, log);
        var options = FineTuning.Configure(WorkflowOptions.Create(resolved, callbacks, checkpoints) with { MaxTokensPerBatch = config.MaxTokens ?? 0 },
            FineTuning.From(resolved, model, transfer), log);
        var encode = Encoder(state);
        var trainData = encode(train, classIndex);
        var weights = SequenceDataset.ClassWeightsFor(config.ClassWeights, train.SelectMany(s => s.Labels).Select(l => classIndex[l]).ToArray(), state.Classes.Length);
        var validationData = encode(split.Validation.Select(i => sequences[i]).ToList(), classIndex);
        var history = Trainer.Fit(model, trainData.WithClassWeights(weights), validationData.WithClassWeights(weights), options, log);

        var testSequences = split.Test.Select(i => sequences[i]).ToList();
        var predicted = Tag(model, encode(testSequences, classIndex));
        var report = Score(state, testSequences, predicted, train);
        var csv = new StringBuilder(tokens ? "line,step,word,actual,predicted\n" : "sequence,line,actual,predicted\n");
        for (int n = 0; n < testSequences.Count; n++)
        {
            var s = testSequences[n];
            for (int t = 0; t < s.Labels.Length; t++)
                csv.Append(tokens
                    ? $"{s.Lines[t]},{t + 1},{Csv.Quote(s.Words![t])},{Csv.Quote(s.Labels[t])},{Csv.Quote(state.Classes[predicted[n][t]])}\n"
                    : $"{Csv.Quote(s.Name)},{s.Lines[t]},{Csv.Quote(s.Labels[t])},{Csv.Quote(state.Classes[predicted[n][t]])}\n");
        }
        report = report with { Details = AddPadding(report.Details!, history.PaddingFraction) };
        return new TrainedRun(model, resolved, JsonSerializer.Serialize(state), report, history)
        {
            GradientFlow = WorkflowOptions.Monitor(options),
            TestPredictionsCsv = csv.ToString(),
            Transfer = transfer,
        };
    }

    /// <summary>Scores a saved tagger on a file's test part (the same seeded split), or every sequence.</summary>
    public static TaskReport Evaluate(ModelFile file, string path, bool all)
    {
        var state = ReadState(file);
        var sequences = Read(state, path, labelled: true);
        var classIndex = Index(state.Classes);
        foreach (var s in sequences)
            for (int t = 0; t < s.Labels.Length; t++)
                if (!classIndex.ContainsKey(s.Labels[t]))
                    throw new InvalidInputException($"{path}:{s.Lines[t]}: label '{s.Labels[t]}' is not one the model was trained on ({string.Join(", ", state.Classes.Take(20))}{(state.Classes.Length > 20 ? ", …" : "")}).");
        var split = Split(sequences, state.SplitSeed);
        var scored = (all ? Enumerable.Range(0, sequences.Count).ToArray() : split.Test).Select(i => sequences[i]).ToList();
        if (scored.Count == 0)
            throw new InvalidInputException($"{path}: {sequences.Count} sequence(s) leave no test part; score them all with --all.");
        var predicted = Tag(file.Model, Encoder(state)(scored, classIndex));
        return Score(state, scored, predicted, split.Train.Select(i => sequences[i]).ToList());
    }

    /// <summary>
    /// Predicted labels: for a token file, one array of tags per sentence (the file may be plain sentences or
    /// word/TAG, whose tags are ignored); for a CSV, one label per row in file order.
    /// </summary>
    public static JsonArray Predict(ModelFile file, string path) => PredictText(file, TextFile.Read(path), path);

    /// <summary>As <see cref="Predict(ModelFile, string)"/> on text already in memory (<paramref name="source"/> names it in messages).</summary>
    public static JsonArray PredictText(ModelFile file, string text, string source)
    {
        var state = ReadState(file);
        return Predict(file, state, ReadText(state, text, source, labelled: false));
    }

    /// <summary>A CSV tagger's labels for a table already read (one label per row in table order).</summary>
    public static JsonArray Predict(ModelFile file, CsvTable table)
    {
        var state = ReadState(file);
        if (state.Format != "csv") throw new InvalidInputException($"{table.Source}: {file.Path} tags sentences of words, not table rows.");
        return Predict(file, state, ReadRows(table, state with { LabelColumn = null }));
    }

    private static JsonArray Predict(ModelFile file, TagState state, List<Sequence> sequences)
    {
        var predicted = Tag(file.Model, Encoder(state)(sequences, null));
        if (state.Format == "tokens")
            return new JsonArray(predicted.Select(p => (JsonNode?)new JsonArray(p.Select(c => (JsonNode?)JsonValue.Create(state.Classes[c])).ToArray())).ToArray());
        // CSV: back to file order by line.
        var byLine = new SortedDictionary<int, string>();
        for (int n = 0; n < sequences.Count; n++)
            for (int t = 0; t < sequences[n].Lines.Length; t++) byLine[sequences[n].Lines[t]] = state.Classes[predicted[n][t]];
        return new JsonArray(byLine.Values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
    }

    private static List<Sequence> Read(TagState state, string path, bool labelled) => ReadText(state, TextFile.Read(path), path, labelled);

    private static List<Sequence> ReadText(TagState state, string text, string path, bool labelled)
    {
        if (state.Format == "tokens")
        {
            if (labelled || TaggedText.LooksTagged(text)) return ReadSentences(text, path, state.MaxLength);
            // Plain sentences: white-space separated words, one sentence per line.
            var sentences = new List<Sequence>();
            var lines = text.Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                var words = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (words.Length == 0) continue;
                CheckLength(words.Length, state.MaxLength, path, i + 1);
                sentences.Add(new Sequence(words, null, new string[words.Length], Enumerable.Repeat(i + 1, words.Length).ToArray(), $"line {i + 1}"));
            }
            if (sentences.Count == 0) throw new InvalidInputException($"{path}: no sentence found; expected one sentence per line.");
            return sentences;
        }
        var table = CsvTable.Parse(text, path, state.HasHeader, state.Delimiter[0]);
        return ReadRows(table, labelled ? state : state with { LabelColumn = null });
    }

    private static List<Sequence> ReadSentences(string text, string path, int maxLength)
    {
        var sentences = new List<Sequence>();
        foreach (var s in TaggedText.Parse(text, path))
        {
            CheckLength(s.Words.Length, maxLength, path, s.Line);
            sentences.Add(new Sequence(s.Words, null, s.Tags, Enumerable.Repeat(s.Line, s.Words.Length).ToArray(), $"line {s.Line}"));
        }
        return sentences;
    }

    private static void CheckLength(int length, int maxLength, string path, int line)
    {
        if (length > maxLength)
            throw new InvalidInputException($"{path}:{line}: the sentence has {length} tokens; the configured maximum is {maxLength} (raise --max-length).");
    }

    /// <summary>CSV rows grouped by id (ids in order of first appearance, rows in file order), cut into pieces of MaxLength.</summary>
    private static List<Sequence> ReadRows(CsvTable table, TagState state)
    {
        int idColumn = table.ColumnIndex(state.IdColumn!);
        var ids = table.Text(idColumn, allowEmpty: false);
        var labels = state.LabelColumn is string label ? table.Text(table.ColumnIndex(label), allowEmpty: false) : null;
        var features = state.FeatureColumns!.Select(name => table.Numeric(table.ColumnIndex(name))).ToArray();
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var order = new List<string>();
        for (int r = 0; r < table.RowCount; r++)
        {
            if (!groups.TryGetValue(ids[r], out var rows)) { groups[ids[r]] = rows = []; order.Add(ids[r]); }
            rows.Add(r);
        }
        var sequences = new List<Sequence>();
        foreach (var id in order)
            foreach (var (piece, k) in SequenceSplit.Pieces([groups[id]], state.MaxLength).Select((p, k) => (p, k)))
                sequences.Add(new Sequence(null,
                    piece.Select(r => features.Select(column => column[r]).ToArray()).ToArray(),
                    piece.Select(r => labels?[r] ?? "").ToArray(),
                    piece.Select(table.LineNumber).ToArray(),
                    $"{id}#{k + 1}"));
        return sequences;
    }

    private static bool IsNumeric(CsvTable table, int column)
    {
        for (int r = 0; r < Math.Min(table.RowCount, 50); r++)
            if (!double.TryParse(table.Cell(r, column), NumberStyles.Float, CultureInfo.InvariantCulture, out _)) return false;
        return table.RowCount > 0;
    }

    private static string[] Classes(List<Sequence> sequences)
    {
        var classes = sequences.SelectMany(s => s.Labels).Distinct().Order(StringComparer.Ordinal).ToArray();
        if (classes.Length < 2) throw new InvalidInputException($"tagging needs at least 2 distinct labels; found {classes.Length}.");
        return classes;
    }

    private static Dictionary<string, int> Index(string[] classes) =>
        classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);

    /// <summary>
    /// Seeded split of sequences stratified by their rarest label. The pieces of one CSV id are split like any other
    /// sequences (they share no row): splitting whole ids or splitting each id in time would leave a rare label —
    /// an anomaly class concentrated in a few spans — out of the test part altogether.
    /// </summary>
    private static StratifiedSplit Split(List<Sequence> sequences, ulong seed) =>
        SequenceSplit.ByRarestLabel(sequences.Select(s => (IReadOnlyList<string>)s.Labels).ToList(), seed);

    /// <summary>A function from sequences (and the label index, null for unlabelled ones) to a right-padded per-step dataset.</summary>
    private static Func<List<Sequence>, Dictionary<string, int>?, SequenceDataset> Encoder(TagState state)
    {
        var words = state.Format == "tokens" ? new WordTokenizer(state.Words ?? [], Math.Max(1, state.MaxLength), state.LowerCase) : null;
        return (sequences, classIndex) =>
        {
            int N = sequences.Count, T = Math.Max(1, sequences.Select(s => s.Labels.Length).DefaultIfEmpty(1).Max());
            var lengths = sequences.Select(s => s.Labels.Length).ToArray();
            var labels = new int[N * T];
            for (int n = 0; n < N; n++)
                for (int t = 0; t < lengths[n]; t++) labels[n * T + t] = classIndex is null ? 0 : classIndex[sequences[n].Labels[t]];
            if (words is not null)
            {
                var tokens = new int[N * T];
                for (int n = 0; n < N; n++)
                    for (int t = 0; t < lengths[n]; t++) tokens[n * T + t] = words.Id(sequences[n].Words![t]);
                return SequenceDataset.PerStep(null, tokens, N, T, 0, labels, lengths);
            }
            int F = state.FeatureColumns!.Length;
            var values = new float[N * T * F];
            for (int n = 0; n < N; n++)
                for (int t = 0; t < lengths[n]; t++)
                    for (int k = 0; k < F; k++)
                        values[(n * T + t) * F + k] = (float)((sequences[n].Features![t][k] - state.Means![k]) / state.Stds![k]);
            return SequenceDataset.PerStep(values, null, N, T, F, labels, lengths);
        };
    }

    /// <summary>The predicted class of every real step of every sequence.</summary>
    public static int[][] Tag(SequenceModel model, SequenceDataset data)
    {
        int C = model.Spec.OutputSize, T = data.Steps;
        var logits = Trainer.Predict(model, data);
        var result = new int[data.Count][];
        for (int n = 0; n < data.Count; n++)
        {
            result[n] = new int[data.Length(n)];
            for (int t = 0; t < result[n].Length; t++) result[n][t] = ClassificationMetrics.ArgMax(logits.AsSpan((n * T + t) * C, C));
        }
        return result;
    }

    private static TaskReport Score(TagState state, List<Sequence> scored, int[][] predicted, List<Sequence> train)
    {
        var classIndex = Index(state.Classes);
        var actual = scored.SelectMany(s => s.Labels).Select(l => classIndex[l]).ToArray();
        int majority = ClassificationReport.Majority(train.SelectMany(s => s.Labels).Select(l => classIndex[l]));
        var report = ClassificationReport.Build("tag", predicted.SelectMany(p => p).ToArray(), actual, state.Classes, majority);
        report.Details!["test_sequences"] = scored.Count;
        return report;
    }

    private static JsonObject AddPadding(JsonObject details, double padding)
    {
        details["padding_fraction"] = padding;
        return details;
    }

    private static TagState ReadState(ModelFile file)
    {
        try
        {
            var state = JsonSerializer.Deserialize<TagState>(file.DataState);
            if (state is null || state.Task != "tag") throw new ModelFileException(file.Path, "is not a tagger.");
            var spec = file.Model.Spec;
            bool ok = state.Classes is { Length: > 1 } && state.Classes.Length == spec.OutputSize && spec.PerStep && state.MaxLength >= 1
                && (state.Format == "tokens"
                    ? state.Words is not null && state.Words.Length + 2 == spec.VocabularySize
                    : state.Format == "csv" && state.IdColumn is not null && state.FeatureColumns is { Length: > 0 } f && f.Length == spec.InputSize
                      && state.Means?.Length == f.Length && state.Stds?.Length == f.Length && state.Stds.All(s => s > 0) && state.Delimiter.Length == 1);
            if (!ok) throw new ModelFileException(file.Path, "has a tagging state that does not fit its model (classes, vocabulary or feature columns).");
            return state;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(file.Path, $"has an unreadable 'recur.data' entry: {e.Message}");
        }
    }
}
