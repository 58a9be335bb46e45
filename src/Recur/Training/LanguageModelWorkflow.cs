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

/// <summary>What a language model needs to read text the way it read its training text (<c>recur.data</c>).</summary>
public sealed record LanguageModelState
{
    [JsonPropertyName("task")] public string Task { get; init; } = "lm";
    [JsonPropertyName("tokenizer")] public string Tokenizer { get; init; } = "char";
    [JsonPropertyName("characters")] public string? Characters { get; init; }
    [JsonPropertyName("words")] public string[]? Words { get; init; }
    [JsonPropertyName("lower_case")] public bool LowerCase { get; init; }
    [JsonPropertyName("bpe_symbols")] public string[]? BpeSymbols { get; init; }
    [JsonPropertyName("bpe_merges")] public string[][]? BpeMerges { get; init; }
    [JsonPropertyName("bptt")] public int Bptt { get; init; }

    /// <summary>Scored statefully: the text as one stream, in windows of <see cref="Bptt"/> with the state carried (absent in older files: false).</summary>
    [JsonPropertyName("stateful")] public bool Stateful { get; init; }

    /// <summary>Training-token frequencies by id, for the unigram baseline.</summary>
    [JsonPropertyName("unigram_counts")] public long[] UnigramCounts { get; init; } = [];
    [JsonPropertyName("split")] public string Split { get; init; } = $"characters in order: first {TextSplit.TrainFraction} train, next {TextSplit.ValidationFraction} validation, last {TextSplit.TestFraction} test";

    public ITokenizer CreateTokenizer() => Tokenizers.FromState(Tokenizer, Characters, Words, BpeSymbols, BpeMerges, Math.Max(1, Bptt), LowerCase);
}

/// <summary>
/// <c>--task lm</c>: text → character, word or BPE tokens → the next token at every step. The text splits by
/// characters in order (first 80% train, next 10% validation, last 10% test). By default training is stateful
/// truncated back-propagation: the training tokens are laid out as batch-size contiguous streams (PyTorch's
/// <c>batchify</c>), batch i holds window i (<c>--bptt</c> steps) of every stream, windows come in order (never
/// shuffled) and the recurrent state carries from one batch to the next, detached, from zeros at each epoch start;
/// validation and test text run as one stream in windows with the state carried, so every token after the first is
/// predicted from everything before it. With <c>--stateful false</c> each part is cut into independent windows of
/// <c>--bptt</c> steps (inputs tokens t … t+k−1, targets t+1 … t+k), trained in shuffled batches, each from a zero
/// state. Scores: cross-entropy per token (nats), perplexity, bits per token and bits per character of the test
/// text, beside an add-one unigram model of the training tokens.
/// </summary>
public static class LanguageModelWorkflow
{
    /// <summary>Why <c>--task lm</c> refuses <c>--bidirectional</c>.</summary>
    public const string BidirectionalRefused =
        "--bidirectional: a language model predicts each next token, and a backward direction would read that token (the future) from its input; train --task lm without --bidirectional.";

    public const int DefaultBptt = 100;

    public static TrainedRun Train(TrainConfig config, string path, TextWriter log, IReadOnlyList<TrainingCallback>? callbacks = null,
        CheckpointSettings? checkpoints = null)
    {
        var pretrained = PretrainedModel.Open(config);
        if (pretrained is not null) config = pretrained.Inherit(config);
        ulong seed = config.Seed ?? 42;
        var (train, validation, test) = TextSplit.Split(TextFile.Read(path), path);
        int bptt = config.Bptt ?? DefaultBptt;
        bool stateful = config.Stateful ?? true;
        string kind = (config.Tokenizer ?? "char").ToLowerInvariant();
        var lines = train.Split('\n');
        var state = new LanguageModelState { Tokenizer = kind, Bptt = bptt, Stateful = stateful };
        ITokenizer tokenizer;
        switch (kind)
        {
            case "char":
                var characters = PretrainedModel.Characters(pretrained, [train], bptt, log);
                (tokenizer, state) = (characters, state with { Characters = characters.Characters });
                break;
            case "word":
                var words = PretrainedModel.Words(pretrained, WordTokenizer.Train(lines, bptt, lowerCase: true, minFrequency: config.MinFrequency ?? 2), log);
                (tokenizer, state) = (words, state with { Words = [.. words.Words], LowerCase = words.LowerCase });
                break;
            case "bpe":
                var bpe = PretrainedModel.Bpe(pretrained, bptt, log) ?? BpeTokenizer.Train(lines, config.BpeMerges ?? 1000, bptt);
                (tokenizer, state) = (bpe, state with { BpeSymbols = [.. bpe.Symbols], BpeMerges = bpe.Merges.Select(m => new[] { m.Left, m.Right }).ToArray(), LowerCase = bpe.LowerCase });
                break;
            default:
                throw new InvalidInputException($"--tokenizer: expected char, word or bpe; found '{config.Tokenizer}'.");
        }
        var trainIds = tokenizer.Ids(train);
        var counts = new long[tokenizer.Size];
        foreach (int id in trainIds) counts[id]++;
        state = state with { UnigramCounts = counts };
        log.WriteLine($"language model: {kind} tokens, {tokenizer.Size} ids (with padding and unknown); {trainIds.Count} training tokens in {(stateful ? "stateful " : "")}windows of {bptt}");

        var resolved = config with
        {
            Task = "lm", Seed = seed, Bptt = bptt, Tokenizer = kind, Stateful = stateful,
            Cell = config.Cell ?? "lstm", Layers = config.Layers ?? 1, Hidden = config.Hidden ?? 256,
            Dropout = config.Dropout ?? 0.0, Epochs = config.Epochs ?? 5, BatchSize = config.BatchSize ?? 32,
            Lr = config.Lr ?? 3e-3, Optimizer = config.Optimizer ?? "adam", Clip = config.Clip ?? 1.0,
            EmbeddingSize = config.EmbeddingSize ?? 64,
        };
        var spec = WorkflowOptions.Stack(new SequenceModelSpec
        {
            Cell = RecurrentLayers.ParseCell(resolved.Cell!), HiddenSize = resolved.Hidden!.Value, Layers = resolved.Layers!.Value,
            Dropout = resolved.Dropout!.Value, OutputSize = tokenizer.Size, PerStep = true, InputSize = 1,
            VocabularySize = tokenizer.Size, EmbeddingSize = resolved.EmbeddingSize!.Value,
        }, resolved, perStepCausal: true);
        var model = new SequenceModel(spec, new RecurRandom(seed));
        var transfer = pretrained?.Apply(model, "lm", tokenizer, ["<pad>", "<unk>", .. PretrainedModel.TokenStrings(tokenizer) ?? []], log);
        var options = FineTuning.Configure(WorkflowOptions.Create(resolved, callbacks, checkpoints) with { MaxTokensPerBatch = config.MaxTokens ?? 0, Stateful = stateful },
            FineTuning.From(resolved, model, transfer), log);
        var trainData = stateful ? Streams(trainIds, resolved.BatchSize!.Value, bptt, path, "training") : Windows(trainIds, bptt, path, "training");
        var validationData = stateful ? Streams(tokenizer.Ids(validation), 1, bptt, path, "validation") : Windows(tokenizer.Ids(validation), bptt, path, "validation");
        var history = Trainer.Fit(model, trainData, validationData, options, log);
        var report = Score(model, state, tokenizer, test, path);
        var prompt = test[..Math.Min(test.Length, 40)];
        report.Details!["sample_prompt"] = prompt;
        report.Details["sample"] = Generate(model, state, prompt, 200, temperature: 0.8, topK: 0, seed);
        return new TrainedRun(model, resolved, JsonSerializer.Serialize(state), report, history)
        {
            GradientFlow = WorkflowOptions.Monitor(options),
            Transfer = transfer,
        };
    }

    /// <summary>Scores a saved language model on a text's last 10% (or the whole text).</summary>
    public static TaskReport Evaluate(ModelFile file, string path, bool all)
    {
        var state = ReadState(file);
        string text = TextFile.Read(path);
        if (!all) text = TextSplit.Split(text, path).Test;
        return Score(file.Model, state, state.CreateTokenizer(), text, path);
    }

    /// <summary>
    /// Samples <paramref name="length"/> tokens after <paramref name="prompt"/> and returns the prompt followed by
    /// them. Temperature 0 takes the most likely token; top-k > 0 samples among the k most likely. Padding and the
    /// unknown token are never drawn. Same seed → same text.
    /// </summary>
    public static string Generate(ModelFile file, string prompt, int length, double temperature, int topK, ulong seed) =>
        Generate(file.Model, ReadState(file), prompt, length, temperature, topK, seed);

    private static string Generate(SequenceModel model, LanguageModelState state, string prompt, int length, double temperature, int topK, ulong seed)
    {
        if (length < 0) throw new InvalidInputException($"--length: expected at least 0 tokens; found {length}.");
        if (!(temperature >= 0) || !double.IsFinite(temperature)) throw new InvalidInputException($"--temperature: expected a number ≥ 0; found {temperature}.");
        if (topK < 0) throw new InvalidInputException($"--top-k: expected at least 0 (0: no limit); found {topK}.");
        var tokenizer = state.CreateTokenizer();
        var ids = tokenizer.Ids(prompt).ToList();
        // With no prompt, start from the most frequent training token.
        if (ids.Count == 0) ids.Add(Enumerable.Range(2, Math.Max(0, state.UnigramCounts.Length - 2)).DefaultIfEmpty(1).MaxBy(i => i < state.UnigramCounts.Length ? state.UnigramCounts[i] : 0));
        var random = new RecurRandom(seed);
        var generated = new List<int>();
        var (logits, recurrent) = model.Continue(new SequenceBatch(1, ids.Count, null, [.. ids]), null);
        var probabilities = new double[logits.Length];
        for (int step = 0; step < length; step++)
        {
            int next = Sample(logits, temperature, topK, random, probabilities);
            generated.Add(next);
            (logits, recurrent) = model.Continue(new SequenceBatch(1, 1, null, [next]), recurrent);
        }
        string continuation = tokenizer.Decode(generated);
        if (continuation.Length == 0 || tokenizer.Kind == "char") return prompt + continuation;
        return prompt.Length == 0 || char.IsWhiteSpace(prompt[^1]) ? prompt + continuation : prompt + " " + continuation;
    }

    /// <summary>Draws a token id from logits [V] (ids 0 and 1, padding and unknown, excluded).</summary>
    private static int Sample(float[] logits, double temperature, int topK, RecurRandom random, double[] p)
    {
        int V = logits.Length;
        if (V <= 2) throw new InvalidInputException("the model knows no token to generate.");
        if (temperature == 0) return 2 + ClassificationMetrics.ArgMax(logits.AsSpan(2));
        double threshold = double.NegativeInfinity;
        if (topK > 0 && topK < V - 2)
        {
            var sorted = logits.AsSpan(2).ToArray();
            Array.Sort(sorted);
            threshold = sorted[^topK];
        }
        double max = double.NegativeInfinity;
        for (int v = 2; v < V; v++) if (logits[v] >= threshold) max = Math.Max(max, logits[v]);
        double sum = 0;
        for (int v = 0; v < V; v++)
        {
            p[v] = v >= 2 && logits[v] >= threshold ? Math.Exp((logits[v] - max) / temperature) : 0;
            sum += p[v];
        }
        double u = random.NextDouble() * sum, cumulative = 0;
        for (int v = 2; v < V; v++)
        {
            cumulative += p[v];
            if (u < cumulative) return v;
        }
        return Enumerable.Range(2, V - 2).Last(v => p[v] > 0);
    }

    /// <summary>
    /// Consecutive windows of a token stream: inputs ids[i·k … i·k+k−1], targets one token later; a short stream is
    /// one shorter window. With <paramref name="everyToken"/> (scoring) the remainder is one more, shorter window;
    /// training drops it, keeping every window full.
    /// </summary>
    private static SequenceDataset Windows(IReadOnlyList<int> ids, int bptt, string path, string part, bool everyToken = false)
    {
        if (ids.Count < 2) throw new InvalidInputException($"{path}: the {part} part holds {ids.Count} token(s); a language model needs at least 2.");
        int steps = Math.Min(bptt, ids.Count - 1), predictions = ids.Count - 1;
        int count = everyToken ? (predictions + steps - 1) / steps : predictions / steps;
        var tokens = new int[count * steps];
        var labels = new int[count * steps];
        var lengths = new int[count];
        for (int n = 0; n < count; n++)
        {
            lengths[n] = Math.Min(steps, predictions - n * steps);
            for (int t = 0; t < lengths[n]; t++)
            {
                tokens[n * steps + t] = ids[n * steps + t];
                labels[n * steps + t] = ids[n * steps + t + 1];
            }
        }
        return SequenceDataset.PerStep(null, tokens, count, steps, 0, labels, lengths[^1] == steps ? null : lengths);
    }

    /// <summary>
    /// A token stream as <paramref name="streams"/> contiguous streams in windows of <paramref name="bptt"/> (stateful
    /// training and scoring); with fewer tokens than streams, as many streams as there are token pairs.
    /// </summary>
    private static SequenceDataset Streams(IReadOnlyList<int> ids, int streams, int bptt, string path, string part)
    {
        if (ids.Count < 2) throw new InvalidInputException($"{path}: the {part} part holds {ids.Count} token(s); a language model needs at least 2.");
        return SequenceDataset.TokenStreams(ids, Math.Min(streams, ids.Count / 2), bptt);
    }

    private static TaskReport Score(SequenceModel model, LanguageModelState state, ITokenizer tokenizer, string text, string path)
    {
        var ids = tokenizer.Ids(text);
        // Stateful: one stream, so every token after the first is predicted with all the text before it.
        var data = state.Stateful ? Streams(ids, 1, state.Bptt, path, "scored") : Windows(ids, state.Bptt, path, "scored", everyToken: true);
        int V = model.Spec.OutputSize, T = data.Steps;
        long total = state.UnigramCounts.Sum();
        double modelNats = 0, unigramNats = 0;
        int predicted = 0;
        // Batch by batch: a long text's logits [N·T, V] would not fit in memory at once.
        Trainer.PredictBatches(model, data, (start, inputs, logits) =>
        {
            int L = inputs.Steps;
            for (int b = 0; b < inputs.Batch; b++)
                for (int t = 0; t < (inputs.Lengths?[b] ?? L); t++) // real steps only (a short last window is padded)
                {
                    predicted++;
                    int label = data.StepLabels![(start + b) * T + t];
                    var row = logits.AsSpan((b * L + t) * V, V);
                    double max = double.NegativeInfinity, sum = 0;
                    foreach (var v in row) max = Math.Max(max, v);
                    foreach (var v in row) sum += Math.Exp(v - max);
                    modelNats += max + Math.Log(sum) - row[label];
                    // Add-one smoothing over the ids a text can produce (all but padding).
                    unigramNats -= Math.Log((state.UnigramCounts[label] + 1.0) / (total + V - 1));
                }
        }, batchSize: 64, stateful: state.Stateful);
        // Characters of the text the predicted tokens cover (all of it for characters; proportionally for words).
        double characters = tokenizer.Kind == "char" ? predicted : text.Length * (double)predicted / ids.Count;
        Dictionary<string, double> Metrics(double nats) => new()
        {
            ["cross_entropy"] = nats / predicted,
            ["perplexity"] = Math.Exp(nats / predicted),
            ["bits_per_token"] = nats / predicted / Math.Log(2),
            ["bits_per_char"] = nats / Math.Log(2) / characters,
        };
        return new TaskReport("lm", Metrics(modelNats),
            new Dictionary<string, IReadOnlyDictionary<string, double>> { ["unigram"] = Metrics(unigramNats) }, predicted)
        {
            Details = new JsonObject { ["tokenizer"] = tokenizer.Kind, ["scored_characters"] = Math.Round(characters) },
        };
    }

    private static LanguageModelState ReadState(ModelFile file)
    {
        try
        {
            var state = JsonSerializer.Deserialize<LanguageModelState>(file.DataState);
            if (state is null || state.Task != "lm") throw new ModelFileException(file.Path, "is not a language model.");
            var spec = file.Model.Spec;
            if (!spec.PerStep || state.Bptt < 1 || state.UnigramCounts.Length != spec.OutputSize || spec.VocabularySize != spec.OutputSize
                || state.UnigramCounts.Any(c => c < 0) || state.CreateTokenizer().Size != spec.VocabularySize)
                throw new ModelFileException(file.Path, "has a language-model state that does not fit its model (vocabulary or window).");
            return state;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(file.Path, $"has an unreadable 'recur.data' entry: {e.Message}");
        }
    }
}
