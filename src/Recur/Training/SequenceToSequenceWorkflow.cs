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

/// <summary>What a sequence-to-sequence model needs to read and decode a new file the way it read its training file (<c>recur.data</c>).</summary>
public sealed record SequenceToSequenceState
{
    [JsonPropertyName("task")] public string Task { get; init; } = "seq2seq";
    [JsonPropertyName("source_column")] public required string SourceColumn { get; init; }
    [JsonPropertyName("target_column")] public required string TargetColumn { get; init; }
    [JsonPropertyName("has_header")] public bool HasHeader { get; init; } = true;
    [JsonPropertyName("delimiter")] public string Delimiter { get; init; } = ",";
    [JsonPropertyName("source")] public required TokenizerState Source { get; init; }
    [JsonPropertyName("target")] public required TokenizerState Target { get; init; }

    /// <summary>The most target tokens a pair may have; decoding stops after this many steps plus the end token.</summary>
    [JsonPropertyName("max_target_length")] public int MaxTargetLength { get; init; }

    /// <summary>Beam width when decoding (1: greedy).</summary>
    [JsonPropertyName("beam")] public int Beam { get; init; } = 1;
    [JsonPropertyName("split_seed")] public ulong SplitSeed { get; init; }
    [JsonPropertyName("split")] public string Split { get; init; } = $"seeded random split of pairs: {StratifiedSplit.TestFraction} test, {StratifiedSplit.ValidationFraction} validation";
}

/// <summary>
/// <c>--task seq2seq</c>: pairs of texts in two columns of a CSV/TSV (<c>--source-column</c>, <c>--target-column</c>)
/// → an encoder (embedding + recurrent stack) and an attention decoder that writes the target token by token.
/// Source and target have their own tokenizers of one kind (<c>--tokenizer char|word|bpe</c>), learned on the
/// training pairs; the target vocabulary adds start and end tokens. Seeded random split of pairs; the loss is the
/// mean cross-entropy of the real target steps (the end token included), teacher-forced with scheduled sampling
/// (<c>--teacher-forcing</c>); the validation loss is teacher-forced. The test part is decoded greedily or by beam
/// search (<c>--beam K</c>) and scored by exact match, token accuracy, character error rate and BLEU-4 beside two
/// baselines: copying the source, and always writing the most frequent training target.
/// </summary>
public static class SequenceToSequenceWorkflow
{
    /// <summary>Why a bidirectional encoder is refused.</summary>
    public const string BidirectionalRefused =
        "--bidirectional: the seq2seq decoder starts from the encoder's final state, which a bidirectional encoder does not have in the decoder's shape; train without --bidirectional.";

    /// <summary>Rows decoded together by greedy decoding.</summary>
    private const int DecodeBatch = 256;

    public static TrainedRun Train(TrainConfig config, CsvTable table, TextWriter log, IReadOnlyList<TrainingCallback>? callbacks = null,
        CheckpointSettings? checkpoints = null)
    {
        Refuse(config);
        ulong seed = config.Seed ?? 42;
        string sourceColumn = table.ColumnNames[table.ColumnIndex(config.SourceColumn ?? throw new InvalidInputException("--task seq2seq needs --source-column COL (the column of source texts)."))];
        string targetColumn = table.ColumnNames[table.ColumnIndex(config.TargetColumn ?? throw new InvalidInputException("--task seq2seq needs --target-column COL (the column of target texts)."))];
        if (sourceColumn == targetColumn) throw new InvalidInputException($"--source-column and --target-column both name '{sourceColumn}'; a model that copies needs no training.");
        var sources = table.Text(table.ColumnIndex(sourceColumn), allowEmpty: false);
        var targets = table.Text(table.ColumnIndex(targetColumn), allowEmpty: false);
        var split = Split(table.RowCount, seed);
        if (split.Test.Length == 0 || split.Validation.Length == 0)
            throw new InvalidInputException($"{table.Source}: {table.RowCount} pair(s) are too few to put one in each of training, validation and test.");

        string kind = (config.Tokenizer ?? "char").Trim().ToLowerInvariant();
        int minFrequency = config.MinFrequency ?? 1, merges = config.BpeMerges ?? 200;
        var trainSources = split.Train.Select(r => sources[r]).ToArray();
        var trainTargets = split.Train.Select(r => targets[r]).ToArray();
        var sourceProbe = TokenizerState.Train(kind, trainSources, 1, minFrequency, merges);
        var targetProbe = TokenizerState.Train(kind, trainTargets, 1, minFrequency, merges);
        // The longest text in tokens over the whole file (unless given): no pair is cut or refused by default.
        int maxSource = config.MaxLength ?? Math.Max(1, sources.Max(s => sourceProbe.Ids(s).Count));
        int maxTarget = config.MaxTargetLength ?? Math.Max(1, targets.Max(t => targetProbe.Ids(t).Count));
        var state = new SequenceToSequenceState
        {
            SourceColumn = sourceColumn, TargetColumn = targetColumn, HasHeader = !(config.NoHeader ?? false), Delimiter = table.Delimiter.ToString(),
            Source = TokenizerState.Of(sourceProbe) with { MaxLength = maxSource },
            Target = TokenizerState.Of(targetProbe) with { MaxLength = maxTarget },
            MaxTargetLength = maxTarget, Beam = config.Beam ?? 1, SplitSeed = seed,
        };
        var sourceTokenizer = state.Source.Create();
        var targetTokenizer = state.Target.Create();
        var pairs = Pairs(state, table, sourceTokenizer, targetTokenizer, labelled: true);
        log.WriteLine($"seq2seq: {table.RowCount} pairs; {kind} tokens: source {sourceTokenizer.Size} ids, at most {maxSource} per text; target {targetTokenizer.Size} ids + start and end, at most {maxTarget} per text");

        var resolved = config with
        {
            Task = "seq2seq", Seed = seed, SourceColumn = sourceColumn, TargetColumn = targetColumn, Tokenizer = kind,
            MaxLength = maxSource, MaxTargetLength = maxTarget, Beam = state.Beam, MinFrequency = minFrequency, BpeMerges = kind == "bpe" ? merges : null,
            DecoderAttention = AttentionKinds.Name(DecoderAttention(config)),
            Cell = config.Cell ?? "lstm", Layers = config.Layers ?? 1, Hidden = config.Hidden ?? 128,
            Dropout = config.Dropout ?? 0.0, Epochs = config.Epochs ?? 30, BatchSize = config.BatchSize ?? 32,
            Lr = config.Lr ?? 3e-3, Optimizer = config.Optimizer ?? "adam", Clip = config.Clip ?? 1.0,
            EmbeddingSize = config.EmbeddingSize ?? 32, TeacherForcing = config.TeacherForcing ?? 1,
        };
        int targetVocabulary = targetTokenizer.Size + 2;
        var spec = WorkflowOptions.Stack(new SequenceModelSpec
        {
            Cell = RecurrentLayers.ParseCell(resolved.Cell!), HiddenSize = resolved.Hidden!.Value, Layers = resolved.Layers!.Value,
            Dropout = resolved.Dropout!.Value, VocabularySize = sourceTokenizer.Size, EmbeddingSize = resolved.EmbeddingSize!.Value,
            OutputSize = targetVocabulary, TargetVocabularySize = targetVocabulary, DecoderAttention = DecoderAttention(config),
        }, resolved);
        var model = new SequenceModel(spec, new RecurRandom(seed));
        var options = WorkflowOptions.Create(resolved, callbacks, checkpoints) with { MaxTokensPerBatch = config.MaxTokens ?? 0 };
        var history = Trainer.Fit(model, pairs.Dataset(split.Train, targetVocabulary), pairs.Dataset(split.Validation, targetVocabulary), options, log);

        var decoded = Decode(model, state, pairs.Sources(split.Test), sourceTokenizer);
        var report = Score(state, split.Test.Select(r => (sources[r], targets[r])).ToList(), decoded, MostFrequent(trainTargets), targetTokenizer);
        var csv = new StringBuilder("line,source,target,predicted\n");
        for (int i = 0; i < split.Test.Length; i++)
        {
            int r = split.Test[i];
            csv.Append(CultureInfo.InvariantCulture, $"{table.LineNumber(r)},{Csv.Quote(sources[r])},{Csv.Quote(targets[r])},{Csv.Quote(targetTokenizer.Decode(decoded[i].Tokens))}\n");
        }
        return new TrainedRun(model, resolved, JsonSerializer.Serialize(state), report, history)
        {
            GradientFlow = WorkflowOptions.Monitor(options),
            TestPredictionsCsv = csv.ToString(),
        };
    }

    /// <summary>Scores a saved model on a file's test part (the same seeded split), or every pair.</summary>
    public static TaskReport Evaluate(ModelFile file, CsvTable table, bool all)
    {
        var state = ReadState(file);
        var sourceTokenizer = state.Source.Create();
        var targetTokenizer = state.Target.Create();
        var pairs = Pairs(state, table, sourceTokenizer, targetTokenizer, labelled: true);
        var split = Split(table.RowCount, state.SplitSeed);
        var rows = all ? Enumerable.Range(0, table.RowCount).ToArray() : split.Test;
        if (rows.Length == 0)
            throw new InvalidInputException($"{table.Source}: {table.RowCount} pair(s) leave no test part; score them all with --all.");
        var decoded = Decode(file.Model, state, pairs.Sources(rows), sourceTokenizer);
        return Score(state, rows.Select(r => (pairs.SourceTexts[r], pairs.TargetTexts![r])).ToList(), decoded,
            MostFrequent(split.Train.Select(r => pairs.TargetTexts![r])), targetTokenizer);
    }

    /// <summary>
    /// The decoded target of every row in file order (the target column may be absent), and for each row the
    /// attention the decoder paid: the source tokens, the output tokens (the last is &lt;end&gt; when it finished)
    /// and one weight list over the source tokens per output step.
    /// </summary>
    public static (JsonArray Predictions, JsonArray Attention) Predict(ModelFile file, CsvTable table)
    {
        var state = ReadState(file);
        var sourceTokenizer = state.Source.Create();
        var targetTokenizer = state.Target.Create();
        var pairs = Pairs(state, table, sourceTokenizer, targetTokenizer, labelled: false);
        var decoded = Decode(file.Model, state, pairs.Sources(Enumerable.Range(0, table.RowCount).ToArray()), sourceTokenizer);
        var predictions = new JsonArray();
        var attention = new JsonArray();
        for (int r = 0; r < decoded.Length; r++)
        {
            predictions.Add(targetTokenizer.Decode(decoded[r].Tokens));
            var outputs = decoded[r].Tokens.Select(t => targetTokenizer.Decode([t])).ToList();
            if (decoded[r].Attention.Length > outputs.Count) outputs.Add("<end>");
            attention.Add(new JsonObject
            {
                ["source_tokens"] = new JsonArray(sourceTokenizer.Tokenize(pairs.SourceTexts[r]).Take(state.Source.MaxLength).Select(t => (JsonNode?)t).ToArray()),
                ["output_tokens"] = new JsonArray(outputs.Select(t => (JsonNode?)t).ToArray()),
                ["weights"] = new JsonArray(decoded[r].Attention.Select(w => (JsonNode?)new JsonArray(w.Select(x => (JsonNode?)Math.Round(x, 6)).ToArray())).ToArray()),
            });
        }
        return (predictions, attention);
    }

    /// <summary>Options that do not apply to pairs of texts, refused with the reason.</summary>
    private static void Refuse(TrainConfig c)
    {
        if (c.Bidirectional == true) throw new InvalidInputException(BidirectionalRefused);
        if (c.Attention is string a && AttentionKinds.Parse(a) != AttentionKind.None)
            throw new InvalidInputException("--attention pools a sequence into one output; for seq2seq choose how the decoder attends with --decoder-attention dot|additive.");
        if (c.Curriculum is not null) throw new InvalidInputException("--curriculum cuts sequences to their last steps, which would cut the source texts of seq2seq pairs; train without it.");
        if (c.Augment is not null) throw new InvalidInputException("--augment has no seq2seq augmentations; train without it.");
        if (c.Stateful == true) throw new InvalidInputException("--stateful carries state between windows of one stream; seq2seq pairs are independent.");
        if (c.Beam is int beam && beam < 1) throw new InvalidInputException($"--beam: expected a width of at least 1; found {beam}.");
        if (c.MaxTargetLength is int m && m < 1) throw new InvalidInputException($"--max-target-length: expected at least 1; found {m}.");
        if (c.TeacherForcing is double p && !(p >= 0 && p <= 1))
            throw new InvalidInputException($"--teacher-forcing: expected a probability in [0, 1]; found {p.ToString(CultureInfo.InvariantCulture)}.");
    }

    private static AttentionKind DecoderAttention(TrainConfig c)
    {
        var kind = c.DecoderAttention is string d ? AttentionKinds.Parse(d) : AttentionKind.Dot;
        return kind != AttentionKind.None ? kind
            : throw new InvalidInputException("--decoder-attention: expected dot or additive; found 'none' (the decoder always attends).");
    }

    private static StratifiedSplit Split(int rows, ulong seed) => StratifiedSplit.Create(new int[rows], 1, seed);

    /// <summary>The pairs of a table as texts and token ids; targets checked against the maximum target length.</summary>
    private sealed record PairTable(string[] SourceTexts, string[]? TargetTexts, EncodedTexts SourceIds, int[][]? TargetIds)
    {
        public SourceTexts Sources(int[] rows) => new(rows.Select(r => SourceTexts[r]).ToArray());

        /// <summary>The rows as a training dataset: target ids then the end token (V − 1).</summary>
        public SequenceDataset Dataset(int[] rows, int targetVocabulary)
        {
            int T = SourceIds.Steps, U = rows.Max(r => TargetIds![r].Length) + 1;
            var source = new int[rows.Length * T];
            var targets = new int[rows.Length * U];
            var targetLengths = new int[rows.Length];
            for (int n = 0; n < rows.Length; n++)
            {
                SourceIds.Ids.AsSpan(rows[n] * T, T).CopyTo(source.AsSpan(n * T));
                var ids = TargetIds![rows[n]];
                ids.CopyTo(targets.AsSpan(n * U));
                targets[n * U + ids.Length] = targetVocabulary - 1;
                targetLengths[n] = ids.Length + 1;
            }
            return SequenceDataset.SequenceToSequence(source, rows.Length, T, rows.Select(r => SourceIds.Lengths[r]).ToArray(), targets, U, targetLengths);
        }
    }

    /// <summary>Source texts to decode.</summary>
    private sealed record SourceTexts(string[] Texts);

    private static PairTable Pairs(SequenceToSequenceState state, CsvTable table, ITokenizer source, ITokenizer target, bool labelled)
    {
        var sources = table.Text(table.ColumnIndex(state.SourceColumn), allowEmpty: false);
        for (int r = 0; r < sources.Length; r++)
        {
            int length = source.Ids(sources[r]).Count;
            if (length > state.Source.MaxLength)
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{state.SourceColumn}': the source has {length} tokens; the maximum is {state.Source.MaxLength} (raise --max-length).");
        }
        if (!labelled) return new PairTable(sources, null, source.Encode(sources), null);
        var targets = table.Text(table.ColumnIndex(state.TargetColumn), allowEmpty: false);
        var ids = new int[targets.Length][];
        for (int r = 0; r < targets.Length; r++)
        {
            ids[r] = [.. target.Ids(targets[r])];
            if (ids[r].Length == 0)
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{state.TargetColumn}': the target has no {state.Target.Kind} token; every pair needs a target.");
            if (ids[r].Length > state.MaxTargetLength)
                throw new InvalidInputException($"{table.Source}:{table.LineNumber(r)}, column '{state.TargetColumn}': the target has {ids[r].Length} tokens; the maximum is {state.MaxTargetLength} (raise --max-target-length).");
        }
        return new PairTable(sources, targets, source.Encode(sources), ids);
    }

    /// <summary>Decodes the texts greedily in batches, or by beam search when the state's beam is wider than 1.</summary>
    private static DecodedSequence[] Decode(SequenceModel model, SequenceToSequenceState state, SourceTexts texts, ITokenizer source)
    {
        var result = new List<DecodedSequence>(texts.Texts.Length);
        int maxSteps = state.MaxTargetLength + 1; // the targets, then the end token
        for (int start = 0; start < texts.Texts.Length; start += DecodeBatch)
        {
            var chunk = texts.Texts.Skip(start).Take(DecodeBatch).ToArray();
            var encoded = source.Encode(chunk);
            var batch = new SequenceBatch(chunk.Length, encoded.Steps, null, encoded.Ids) { Lengths = encoded.Lengths };
            result.AddRange(state.Beam > 1 ? TokenDecoding.Beam(model, batch, state.Beam, maxSteps) : TokenDecoding.Greedy(model, batch, maxSteps));
        }
        return [.. result];
    }

    /// <summary>The most frequent text (ties: the first in ordinal order).</summary>
    private static string MostFrequent(IEnumerable<string> texts) =>
        texts.GroupBy(t => t, StringComparer.Ordinal).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key;

    private static TaskReport Score(SequenceToSequenceState state, List<(string Source, string Target)> pairs, DecodedSequence[] decoded,
        string mostFrequent, ITokenizer target)
    {
        var references = pairs.Select(p => target.Tokenize(p.Target)).ToList();
        var referenceTexts = pairs.Select(p => TokenizerState.Canonical(target, p.Target)).ToList();
        Dictionary<string, double> Against(IReadOnlyList<string> hypotheses) =>
            SequenceMetrics.Score(hypotheses.Select(target.Tokenize).ToList(), references, hypotheses.Select(h => TokenizerState.Canonical(target, h)).ToList(), referenceTexts);
        var metrics = Against(decoded.Select(d => target.Decode(d.Tokens)).ToList());
        var baselines = new Dictionary<string, IReadOnlyDictionary<string, double>>
        {
            ["copy_source"] = Against(pairs.Select(p => p.Source).ToList()),
            ["most_frequent_target"] = Against(pairs.Select(_ => mostFrequent).ToList()),
        };
        return new TaskReport("seq2seq", metrics, baselines, pairs.Count)
        {
            Details = new JsonObject
            {
                ["decoding"] = state.Beam > 1 ? $"beam search, width {state.Beam}, length-normalised" : "greedy",
                ["max_target_length"] = state.MaxTargetLength,
            },
        };
    }

    private static SequenceToSequenceState ReadState(ModelFile file)
    {
        try
        {
            var state = JsonSerializer.Deserialize<SequenceToSequenceState>(file.DataState);
            if (state is null || state.Task != "seq2seq") throw new ModelFileException(file.Path, "is not a sequence-to-sequence model.");
            var spec = file.Model.Spec;
            if (state.Source.Create().Size != spec.VocabularySize || state.Target.Create().Size + 2 != spec.TargetVocabularySize
                || state.MaxTargetLength < 1 || state.Beam < 1 || state.Source.MaxLength < 1 || state.Delimiter.Length != 1)
                throw new ModelFileException(file.Path, "has a seq2seq state that does not fit its model (vocabularies, lengths or beam).");
            return state;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(file.Path, $"has an unreadable 'recur.data' entry: {e.Message}");
        }
    }
}
