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

/// <summary>What a classifier needs to read a new file the way it read its training file (<c>recur.data</c>).</summary>
public sealed record ClassifyState
{
    [JsonPropertyName("task")] public string Task { get; init; } = "classify";
    [JsonPropertyName("label_column")] public required string LabelColumn { get; init; }
    [JsonPropertyName("text_column")] public string? TextColumn { get; init; }
    [JsonPropertyName("feature_columns")] public string[]? FeatureColumns { get; init; }
    [JsonPropertyName("has_header")] public bool HasHeader { get; init; } = true;
    [JsonPropertyName("delimiter")] public string Delimiter { get; init; } = ",";
    [JsonPropertyName("classes")] public required string[] Classes { get; init; }
    [JsonPropertyName("tokenizer")] public string Tokenizer { get; init; } = "char";
    [JsonPropertyName("characters")] public string? Characters { get; init; }
    [JsonPropertyName("lower_case")] public bool LowerCase { get; init; } = true;
    [JsonPropertyName("words")] public string[]? Words { get; init; }
    [JsonPropertyName("bpe_symbols")] public string[]? BpeSymbols { get; init; }
    [JsonPropertyName("bpe_merges")] public string[][]? BpeMerges { get; init; }
    [JsonPropertyName("vocabulary_size")] public int VocabularySize { get; init; }

    /// <summary>The tokenizer this state describes (text models only).</summary>
    public ITokenizer CreateTokenizer() => Tokenizers.FromState(Tokenizer, Characters, Words, BpeSymbols, BpeMerges, MaxLength, LowerCase);
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    /// <summary>Numeric sequences grouped by this column: each id's rows (in file order) are one sequence.</summary>
    [JsonPropertyName("id_column")] public string? IdColumn { get; init; }
    [JsonPropertyName("means")] public double[]? Means { get; init; }
    [JsonPropertyName("stds")] public double[]? Stds { get; init; }
    [JsonPropertyName("mean")] public double Mean { get; init; }
    [JsonPropertyName("std")] public double Std { get; init; } = 1;
    [JsonPropertyName("split_seed")] public ulong SplitSeed { get; init; }
    [JsonPropertyName("split")] public string Split { get; init; } = $"stratified by label: {StratifiedSplit.TestFraction} test, {StratifiedSplit.ValidationFraction} validation";
}

/// <summary>
/// <c>--task classify</c>: character-level text (<c>--text-column</c>) or a numeric sequence per row (every column but
/// the label) → one label per row; stratified seeded split; accuracy and macro-F1 beside the majority class.
/// </summary>
public static class ClassifyWorkflow
{
    /// <summary>Rows a sequence grouped by --id-column may have unless --max-length says otherwise (a memory guard; the model takes any length).</summary>
    public const int MaxGroupedRows = 100_000;

    public static TrainedRun Train(TrainConfig config, CsvTable table, TextWriter log, IReadOnlyList<TrainingCallback>? callbacks = null,
        CheckpointSettings? checkpoints = null)
    {
        var pretrained = PretrainedModel.Open(config);
        if (pretrained is not null) config = pretrained.Inherit(config);
        ITokenizer? textTokenizer = null;
        int labelColumn = table.ColumnIndex(config.LabelColumn ?? table.ColumnNames[^1]);
        string? idColumn = config.IdColumn is string id ? table.ColumnNames[table.ColumnIndex(id)] : null;
        if (idColumn is not null && config.TextColumn is not null)
            throw new InvalidInputException("--id-column groups rows of numbers into sequences; it cannot be combined with --text-column.");
        var items = ItemRows(idColumn, table);
        var labelText = ItemLabels(items, table, labelColumn);
        var classes = labelText.Distinct().Order(StringComparer.Ordinal).ToArray();
        if (classes.Length < 2)
            throw new InvalidInputException($"{table.Source}, column '{table.ColumnNames[labelColumn]}': classification needs at least 2 distinct labels; found {classes.Length}.");
        var classIndex = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var labels = labelText.Select(l => classIndex[l]).ToArray();

        ulong seed = config.Seed ?? 42;
        var split = StratifiedSplit.Create(labels, classes.Length, seed);
        if (split.Test.Length == 0 || split.Validation.Length == 0)
            throw new InvalidInputException($"{table.Source}: no label has the 3 rows needed to put one in each of training, validation and test; found {labels.Length} rows over {classes.Length} labels.");
        var rare = classes.Where((_, c) => !split.Test.Any(r => labels[r] == c)).ToList();
        if (rare.Count > 0)
            log.WriteLine($"warning: {rare.Count} label(s) with fewer than 3 rows stay in training only and are not scored: {string.Join(", ", rare.Take(10))}{(rare.Count > 10 ? ", …" : "")}");
        var state = new ClassifyState
        {
            LabelColumn = table.ColumnNames[labelColumn], Classes = classes, HasHeader = !(config.NoHeader ?? false),
            Delimiter = table.Delimiter.ToString(), SplitSeed = seed, IdColumn = idColumn,
        };
        if (config.TextColumn is string textColumnName)
        {
            int textColumn = table.ColumnIndex(textColumnName);
            var texts = table.Text(textColumn, allowEmpty: false);
            var trainTexts = split.Train.Select(r => texts[r]).ToArray();
            string kind = (config.Tokenizer ?? "char").ToLowerInvariant();
            // Default length: the longest training text in tokens, at most 128 (longer texts keep their start).
            int Longest(Func<string, int> tokens) => config.MaxLength ?? Math.Clamp(trainTexts.Max(tokens), 1, 128);
            state = state with { TextColumn = table.ColumnNames[textColumn], Tokenizer = kind };
            ITokenizer tokenizer;
            switch (kind)
            {
                case "char":
                    var characters = PretrainedModel.Characters(pretrained, trainTexts, Longest(t => t.Length), log);
                    (tokenizer, state) = (characters, state with { Characters = characters.Characters });
                    break;
                case "word":
                    var words = PretrainedModel.Words(pretrained, WordTokenizer.Train(trainTexts, Longest(t => WordTokenizer.Split(t, true).Count), minFrequency: config.MinFrequency ?? 2), log);
                    (tokenizer, state) = (words, state with { Words = [.. words.Words] });
                    break;
                case "bpe":
                    var probe = PretrainedModel.Bpe(pretrained, 1, log) ?? BpeTokenizer.Train(trainTexts, config.BpeMerges ?? 1000, 1);
                    var bpe = new BpeTokenizer(probe.Symbols, probe.Merges, Longest(t => probe.Tokenize(t).Count), probe.LowerCase);
                    (tokenizer, state) = (bpe, state with { BpeSymbols = [.. bpe.Symbols], BpeMerges = bpe.Merges.Select(m => new[] { m.Left, m.Right }).ToArray() });
                    break;
                default:
                    throw new InvalidInputException($"--tokenizer: expected char, word or bpe; found '{config.Tokenizer}'.");
            }
            state = state with { MaxLength = tokenizer.MaxLength, VocabularySize = tokenizer.Size, LowerCase = tokenizer is WordTokenizer w ? w.LowerCase : state.LowerCase };
            textTokenizer = tokenizer;
            log.WriteLine($"tokenizer: {kind}, {tokenizer.Size} ids (with padding and unknown), {tokenizer.MaxLength} tokens per text");
        }
        else if (idColumn is not null)
        {
            int idIndex = table.ColumnIndex(idColumn);
            var features = config.Features is { Length: > 0 } f
                ? f.SelectMany(x => x.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).Select(table.ColumnIndex).Distinct().ToArray()
                : Enumerable.Range(0, table.ColumnCount).Where(c => c != labelColumn && c != idIndex).ToArray();
            if (features.Length == 0 || features.Contains(labelColumn) || features.Contains(idIndex))
                throw new InvalidInputException($"{table.Source}: the sequences need numeric feature columns other than the id '{idColumn}' and the label; name them with --features.");
            var values = features.Select(table.Numeric).ToArray();
            var trainRows = split.Train.SelectMany(i => items[i]).ToArray();
            var means = values.Select(v => trainRows.Average(r => v[r])).ToArray();
            var stds = values.Select((v, k) => Math.Sqrt(trainRows.Average(r => (v[r] - means[k]) * (v[r] - means[k])))).Select(x => x > 1e-12 ? x : 1).ToArray();
            int longest = items.Max(rows => rows.Length);
            if (config.MaxLength is int max && longest > max)
            {
                var over = items.First(rows => rows.Length > max);
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(over[0])}: sequence '{table.Cell(over[0], idIndex)}' has {over.Length} rows; the configured maximum is {max} (raise --max-length).");
            }
            state = state with { FeatureColumns = features.Select(c => table.ColumnNames[c]).ToArray(), Means = means, Stds = stds, MaxLength = config.MaxLength ?? MaxGroupedRows };
            log.WriteLine($"sequences: {items.Length} by '{idColumn}', {features.Length} features, {items.Min(r => r.Length)}–{longest} rows each");
        }
        else
        {
            var features = Enumerable.Range(0, table.ColumnCount).Where(c => c != labelColumn).ToArray();
            if (features.Length == 0) throw new InvalidInputException($"{table.Source}: no columns besides the label to read sequences from; give --text-column for text.");
            var values = features.Select(table.Numeric).ToArray();
            var trainValues = split.Train.SelectMany(r => values.Select(column => column[r])).ToArray();
            double mean = trainValues.Average();
            double std = Math.Sqrt(trainValues.Sum(v => (v - mean) * (v - mean)) / trainValues.Length);
            state = state with { FeatureColumns = features.Select(c => table.ColumnNames[c]).ToArray(), Mean = mean, Std = std > 1e-12 ? std : 1 };
        }

        var resolved = config with
        {
            Task = "classify", LabelColumn = state.LabelColumn, TextColumn = state.TextColumn, Seed = seed,
            MaxLength = state.TextColumn is null && idColumn is null ? null : state.MaxLength, IdColumn = idColumn,
            Features = idColumn is null ? null : state.FeatureColumns,
            Tokenizer = state.TextColumn is null ? null : state.Tokenizer,
            Cell = config.Cell ?? "lstm", Layers = config.Layers ?? 1, Hidden = config.Hidden ?? 64,
            Dropout = config.Dropout ?? 0.0, Epochs = config.Epochs ?? 15, BatchSize = config.BatchSize ?? 32,
            Lr = config.Lr ?? 3e-3, Optimizer = config.Optimizer ?? "adam", Clip = config.Clip ?? 1.0,
            EmbeddingSize = state.TextColumn is null ? null : config.EmbeddingSize ?? 32,
        };
        var spec = WorkflowOptions.Stack(new SequenceModelSpec
        {
            Cell = RecurrentLayers.ParseCell(resolved.Cell!), HiddenSize = resolved.Hidden!.Value, Layers = resolved.Layers!.Value,
            Dropout = resolved.Dropout!.Value, OutputSize = classes.Length, InputSize = idColumn is null ? 1 : state.FeatureColumns!.Length,
            VocabularySize = state.TextColumn is null ? 0 : state.VocabularySize, EmbeddingSize = resolved.EmbeddingSize ?? 32,
        }, resolved);
        var (inputs, _) = Encode(state, table, table.Source);
        var model = new SequenceModel(spec, new RecurRandom(seed));
        var transfer = pretrained?.Apply(model, "classify", textTokenizer, classes, log);
        var options = FineTuning.Configure(WorkflowOptions.Create(resolved, callbacks, checkpoints), FineTuning.From(resolved, model, transfer), log);
        var weights = SequenceDataset.ClassWeightsFor(config.ClassWeights, split.Train.Select(r => labels[r]).ToArray(), classes.Length);
        var history = Trainer.Fit(model, inputs(split.Train, labels).WithClassWeights(weights), inputs(split.Validation, labels).WithClassWeights(weights), options, log);
        var report = Score(model, state, inputs(split.Test, labels), labels, split.Train);
        var testData = inputs(split.Test, labels);
        var predicted = Classify(model, testData);
        var csv = new System.Text.StringBuilder("line,actual,predicted\n");
        for (int n = 0; n < split.Test.Length; n++)
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{table.LineNumber(items[split.Test[n]][0])},{Csv.Quote(classes[labels[split.Test[n]]])},{Csv.Quote(classes[predicted[n]])}\n");
        return new TrainedRun(model, resolved, JsonSerializer.Serialize(state), report, history)
        {
            GradientFlow = WorkflowOptions.Monitor(options),
            TestPredictionsCsv = csv.ToString(),
            Transfer = transfer,
        };
    }

    /// <summary>Scores a saved classifier on a file's test part (the same stratified split), or every row.</summary>
    public static TaskReport Evaluate(ModelFile file, CsvTable table, bool all)
    {
        var state = ReadState(file);
        var labels = Labels(state, table);
        var split = StratifiedSplit.Create(labels, state.Classes.Length, state.SplitSeed);
        var (inputs, _) = Encode(state, table, table.Source);
        var rows = all ? Enumerable.Range(0, labels.Length).ToArray() : split.Test;
        if (rows.Length == 0)
            throw new InvalidInputException($"{table.Source}: {labels.Length} sequence(s) leave no test part; score them all with --all.");
        return Score(file.Model, state, inputs(rows, labels), labels, split.Train);
    }

    /// <summary>The predicted label of every row in file order, or with an id column of every sequence as {"id", "label"}.</summary>
    public static JsonArray Predict(ModelFile file, CsvTable table)
    {
        var state = ReadState(file);
        var (inputs, _) = Encode(state, table, table.Source);
        var items = ItemRows(state.IdColumn, table);
        var predicted = Classify(file.Model, inputs(Enumerable.Range(0, items.Length).ToArray(), new int[items.Length]));
        if (state.IdColumn is null) return new JsonArray(predicted.Select(p => (JsonNode?)JsonValue.Create(state.Classes[p])).ToArray());
        int idIndex = table.ColumnIndex(state.IdColumn);
        return new JsonArray(predicted.Select((p, i) => (JsonNode?)new JsonObject { ["id"] = table.Cell(items[i][0], idIndex), ["label"] = state.Classes[p] }).ToArray());
    }

    /// <summary>
    /// The attention weights of every row (or id sequence), in the order of <see cref="Predict"/>: one list per
    /// sequence over its real steps (tokens kept, or rows), summing to 1; null when the model has no attention.
    /// </summary>
    public static JsonArray? Attention(ModelFile file, CsvTable table, int batchSize = 256)
    {
        if (file.Model.Spec.Attention == AttentionKind.None) return null;
        var state = ReadState(file);
        var (inputs, _) = Encode(state, table, table.Source);
        int count = ItemRows(state.IdColumn, table).Length;
        var data = inputs(Enumerable.Range(0, count).ToArray(), new int[count]);
        var result = new JsonArray();
        var rows = Enumerable.Range(0, count).ToArray();
        for (int start = 0; start < count; start += batchSize)
        {
            var batch = data.Inputs(rows.AsSpan(start, Math.Min(batchSize, count - start)));
            var weights = file.Model.AttentionWeights(batch)!.Data;
            for (int b = 0; b < batch.Batch; b++)
            {
                int n = batch.Lengths?[b] ?? batch.Steps;
                result.Add(new JsonArray(weights.AsSpan(b * batch.Steps, n).ToArray().Select(w => (JsonNode?)JsonValue.Create(w)).ToArray()));
            }
        }
        return result;
    }

    /// <summary>The rows of each item: one row each, or with an id column each id's rows (ids in order of first appearance).</summary>
    private static int[][] ItemRows(string? idColumn, CsvTable table)
    {
        if (idColumn is null) return Enumerable.Range(0, table.RowCount).Select(r => new[] { r }).ToArray();
        var ids = table.Text(table.ColumnIndex(idColumn), allowEmpty: false);
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var order = new List<List<int>>();
        for (int r = 0; r < ids.Length; r++)
        {
            if (!groups.TryGetValue(ids[r], out var rows)) { groups[ids[r]] = rows = []; order.Add(rows); }
            rows.Add(r);
        }
        return order.Select(rows => rows.ToArray()).ToArray();
    }

    /// <summary>Each item's label; every row of a sequence must carry the same one.</summary>
    private static string[] ItemLabels(int[][] items, CsvTable table, int labelColumn)
    {
        var text = table.Text(labelColumn, allowEmpty: false);
        return items.Select(rows =>
        {
            foreach (int r in rows)
                if (text[r] != text[rows[0]])
                    throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{table.ColumnNames[labelColumn]}': label '{text[r]}' differs from '{text[rows[0]]}' on line {table.LineNumber(rows[0])} of the same sequence; a sequence has one label.");
            return text[rows[0]];
        }).ToArray();
    }

    public static int[] Classify(SequenceModel model, SequenceDataset data)
    {
        int classes = model.Spec.OutputSize;
        var logits = Trainer.Predict(model, data);
        var result = new int[data.Count];
        for (int n = 0; n < data.Count; n++) result[n] = ClassificationMetrics.ArgMax(logits.AsSpan(n * classes, classes));
        return result;
    }

    private static TaskReport Score(SequenceModel model, ClassifyState state, SequenceDataset test, int[] labels, int[] trainRows) =>
        ClassificationReport.Build("classify", Classify(model, test), test.Labels!, state.Classes, ClassificationReport.Majority(trainRows.Select(r => labels[r])));

    private static int[] Labels(ClassifyState state, CsvTable table)
    {
        int column = table.ColumnIndex(state.LabelColumn);
        var index = state.Classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var items = ItemRows(state.IdColumn, table);
        var text = ItemLabels(items, table, column);
        var labels = new int[text.Length];
        for (int i = 0; i < text.Length; i++)
            labels[i] = index.TryGetValue(text[i], out var c) ? c
                : throw new InvalidInputException($"{table.Source}:{table.LineNumber(items[i][0])}, column '{state.LabelColumn}': label '{text[i]}' is not one the model was trained on ({string.Join(", ", state.Classes.Take(20))}{(state.Classes.Length > 20 ? ", …" : "")}).");
        return labels;
    }

    /// <summary>A function from (rows, labels) to the dataset of those rows, in the model's input encoding.</summary>
    private static (Func<int[], int[], SequenceDataset> inputs, int steps) Encode(ClassifyState state, CsvTable table, string source)
    {
        if (state.TextColumn is string textColumn)
        {
            var texts = table.Text(table.ColumnIndex(textColumn));
            var vocabulary = state.CreateTokenizer();
            return ((rows, labels) =>
            {
                var encoded = vocabulary.Encode(rows.Select(r => texts[r]).ToArray());
                return SequenceDataset.TokenClassification(encoded.Ids, rows.Length, encoded.Steps, rows.Select(r => labels[r]).ToArray(), encoded.Lengths);
            }, state.MaxLength);
        }
        var columns = (state.FeatureColumns ?? throw new InvalidInputException($"{source}: the model file names no input columns."))
            .Select(name => table.Numeric(table.ColumnIndex(name))).ToArray();
        if (state.IdColumn is not null)
        {
            var items = ItemRows(state.IdColumn, table);
            int F = columns.Length;
            return ((chosen, labels) =>
            {
                var lengths = chosen.Select(i => items[i].Length).ToArray();
                foreach (int i in chosen)
                    if (items[i].Length > state.MaxLength)
                        throw new InvalidInputException($"{source}:{table.LineNumber(items[i][0])}: sequence '{table.Cell(items[i][0], table.ColumnIndex(state.IdColumn))}' has {items[i].Length} rows; the model takes at most {state.MaxLength}.");
                int T = Math.Max(1, lengths.DefaultIfEmpty(1).Max());
                var values = new float[chosen.Length * T * F];
                for (int n = 0; n < chosen.Length; n++)
                    for (int t = 0; t < lengths[n]; t++)
                        for (int k = 0; k < F; k++)
                            values[(n * T + t) * F + k] = (float)((columns[k][items[chosen[n]][t]] - state.Means![k]) / state.Stds![k]);
                return SequenceDataset.Classification(values, chosen.Length, T, F, chosen.Select(i => labels[i]).ToArray(), lengths);
            }, state.MaxLength);
        }
        int steps = columns.Length;
        return ((rows, labels) =>
        {
            var values = new float[rows.Length * steps];
            for (int n = 0; n < rows.Length; n++)
                for (int t = 0; t < steps; t++) values[n * steps + t] = (float)((columns[t][rows[n]] - state.Mean) / state.Std);
            return SequenceDataset.Classification(values, rows.Length, steps, 1, rows.Select(r => labels[r]).ToArray());
        }, steps);
    }

    private static ClassifyState ReadState(ModelFile file)
    {
        try
        {
            var state = JsonSerializer.Deserialize<ClassifyState>(file.DataState);
            if (state is null || state.Task != "classify") throw new ModelFileException(file.Path, "is not a classifier.");
            var spec = file.Model.Spec;
            bool text = state.TextColumn is not null;
            if (state.Classes is null || state.Classes.Length != spec.OutputSize
                || (text && (state.VocabularySize != spec.VocabularySize || state.MaxLength < 1 || state.CreateTokenizer().Size != spec.VocabularySize))
                || (!text && state.IdColumn is null && (state.FeatureColumns is not { Length: > 0 } || !(state.Std > 0)))
                || (state.IdColumn is not null && (state.FeatureColumns is not { Length: > 0 } fc || fc.Length != spec.InputSize || state.MaxLength < 1
                    || state.Means?.Length != fc.Length || state.Stds?.Length != fc.Length || !state.Stds.All(x => x > 0))))
                throw new ModelFileException(file.Path, "has a classification state that does not fit its model (classes, vocabulary or input columns).");
            return state;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(file.Path, $"has an unreadable 'recur.data' entry: {e.Message}");
        }
    }
}
