using System.Text.Json;
using System.Text.Json.Serialization;

namespace Recur.Training;

/// <summary>
/// Every training option of <c>recur train</c>. A config file is one JSON object with these keys (flag names with
/// dashes as underscores); flags override it. The resolved config is stored in the model file and the run directory.
/// Null means "not set": the task's default applies.
/// </summary>
public sealed record TrainConfig
{
    public string? Task { get; init; }
    public string? Data { get; init; }
    public string? Out { get; init; }
    public int? Epochs { get; init; }
    public ulong? Seed { get; init; }
    public int? Threads { get; init; }

    // data
    [JsonConverter(typeof(OneOrManyStrings))]
    public string[]? Target { get; init; }

    /// <summary>Forecast: extra input columns read beside the target (comma-separated on the command line).</summary>
    [JsonConverter(typeof(OneOrManyStrings))]
    public string[]? Features { get; init; }
    public int? Lookback { get; init; }
    public int? Horizon { get; init; }
    public int? Stride { get; init; }
    public bool? Calendar { get; init; }
    public int? Season { get; init; }
    public string? PeriodColumn { get; init; }

    /// <summary>Forecast: the time column, or comma-separated integer columns (year,month,day or year,period).</summary>
    public string? TimeColumn { get; init; }

    /// <summary>Forecast: a column naming the series, for a file of several series (one global model); tag from a CSV: which sequence a row belongs to.</summary>
    public string? IdColumn { get; init; }
    public string? TextColumn { get; init; }
    public string? LabelColumn { get; init; }
    public bool? NoHeader { get; init; }
    public string? Normalize { get; init; }
    public string? Missing { get; init; }
    public string? Scaler { get; init; }
    public int? MaxLength { get; init; }

    /// <summary>Cap on padded steps per mini-batch (sequences × longest length); variable-length tasks.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>Language modelling and stateful forecasting: steps per training window (truncated back-propagation length).</summary>
    public int? Bptt { get; init; }

    /// <summary>
    /// Language modelling: stateful truncated back-propagation (default true): the training text as batch-size
    /// contiguous streams, windows in order, state carried between windows; scoring runs the text as one stream.
    /// False: independent shuffled windows, each from a zero state. Forecasting (default false): true trains a
    /// per-step forecaster over each series' whole training part in carried-state windows (<see cref="StatefulForecast"/>).
    /// </summary>
    public bool? Stateful { get; init; }

    // model
    public string? Cell { get; init; }
    public int? Layers { get; init; }
    public int? Hidden { get; init; }
    public double? Dropout { get; init; }

    /// <summary>Variational dropout of h_{t−1} in each recurrent layer's recurrent product, one mask per sequence.</summary>
    public double? RecurrentDropout { get; init; }

    /// <summary>Variational dropout of each recurrent layer's input, one mask per sequence and feature.</summary>
    public double? InputDropout { get; init; }

    /// <summary>Zoneout probability of the recurrent units.</summary>
    public double? Zoneout { get; init; }

    /// <summary>Layer-normalised recurrent cells.</summary>
    public bool? LayerNorm { get; init; }

    /// <summary>A backward direction in every recurrent layer (not for <c>lm</c>: it would read the future).</summary>
    public bool? Bidirectional { get; init; }

    /// <summary>Dropout on each recurrent layer's output but the last, while training; in [0, 1).</summary>
    public double? LayerDropout { get; init; }

    /// <summary>Residual connections between recurrent layers (layer l ≥ 1 adds its input to its output).</summary>
    public bool? Residual { get; init; }

    /// <summary>
    /// Gradient checkpointing of the recurrent time loop: segment length K in steps (0: ⌈√T⌉); only segment
    /// boundary states are kept and each segment is recomputed in the backward pass (bidirectional, residual and layer-dropout stacks layer by layer).
    /// </summary>
    public int? CheckpointTime { get; init; }

    /// <summary>classify, forecast: attention pooling over time instead of the last step: none, additive or dot.</summary>
    public string? Attention { get; init; }

    /// <summary>forecast (one target): <c>attention</c> for an encoder–decoder with attention (scored as <see cref="Attention"/>, dot by default), or none.</summary>
    public string? Decoder { get; init; }

    /// <summary>Encoder–decoder: the teacher-forcing probability of the first epoch (default 1), falling linearly to 0 at the last.</summary>
    public double? TeacherForcing { get; init; }
    public int? EmbeddingSize { get; init; }

    /// <summary>seq2seq: the column of source texts.</summary>
    public string? SourceColumn { get; init; }

    /// <summary>seq2seq: the column of target texts.</summary>
    public string? TargetColumn { get; init; }

    /// <summary>seq2seq: how the decoder scores the encoder's steps: dot (Luong, default) or additive (Bahdanau).</summary>
    public string? DecoderAttention { get; init; }

    /// <summary>seq2seq: beam width when decoding (1, the default: greedy).</summary>
    public int? Beam { get; init; }

    /// <summary>seq2seq: the most target tokens a pair may have (default: the longest in the file); decoding stops one step after it.</summary>
    public int? MaxTargetLength { get; init; }
    public string? ClassWeights { get; init; }
    public string? Tokenizer { get; init; }
    public int? MinFrequency { get; init; }
    public int? BpeMerges { get; init; }

    // optimisation
    public int? BatchSize { get; init; }
    public double? Lr { get; init; }
    public string? Optimizer { get; init; }
    public double? Clip { get; init; }

    /// <summary>Weight decay λ; unset keeps the optimizer's own default (AdamW 0.01, others none).</summary>
    public double? WeightDecay { get; init; }

    /// <summary><c>l2</c> or <c>decoupled</c>; unset: decoupled for adamw, l2 otherwise.</summary>
    public string? Decay { get; init; }

    /// <summary>Cap on the norm of every weight row (each unit's incoming weights) after each step.</summary>
    public double? MaxNorm { get; init; }
    public double? TimeLimit { get; init; }
    public int? Patience { get; init; }
    public int? CheckpointEvery { get; init; }
    public string? Curriculum { get; init; }
    public int? CurriculumEpochs { get; init; }
    public string? LrSchedule { get; init; }

    /// <summary>Training-batch augmentations, e.g. <c>{"jitter": 0.03, "token_dropout": 0.1}</c>; a flag replaces the whole object.</summary>
    public Augmentations.AugmentConfig? Augment { get; init; }

    public string? Device { get; init; }
    public bool? Quiet { get; init; }

    // transfer learning
    /// <summary>A pretrained model file whose tensors (matched by name and shape) start the new model; its vocabulary is carried over and extended.</summary>
    public string? InitFrom { get; init; }

    /// <summary>Parameters kept fixed: <c>all-but-head</c>, <c>none</c> or comma-separated parameter-name prefixes.</summary>
    public string? Freeze { get; init; }

    /// <summary>Gradual unfreezing: every this many epochs the next frozen group from the top (head → … → embedding) trains.</summary>
    public int? UnfreezeEvery { get; init; }

    /// <summary>Parameters loaded by <see cref="InitFrom"/> train at this factor × the learning rate.</summary>
    public double? PretrainedLrFactor { get; init; }

    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
    };

    /// <summary>Reads a config file; unknown keys and wrong value types are errors naming the file and key.</summary>
    public static TrainConfig Load(string path)
    {
        if (Directory.Exists(path)) throw new InvalidInputException($"config file '{path}' is a directory; expected a JSON file.");
        if (!File.Exists(path)) throw new InvalidInputException($"config file '{path}' does not exist.");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"config file '{path}' cannot be read: {e.Message}");
        }
        return FromJson(text, path);
    }

    internal static string Describe(JsonException e)
    {
        string where = e.Path is { Length: > 1 } p ? $" at '{p.TrimStart('$', '.')}'" : "";
        string line = e.LineNumber is long l ? $" (line {l + 1})" : "";
        return e.Message.Contains("could not be mapped", StringComparison.Ordinal)
            ? $"unknown option{where}{line}; options are the flag names with dashes as underscores, e.g. \"batch_size\"."
            : $"expected a JSON object of training options{where}{line}: {ReadableTypes(e.Message.Split(" Path:")[0])}";
    }

    /// <summary>Replaces .NET type names in parser messages with the words a user knows.</summary>
    public static string ReadableTypes(string message) => message
        .Replace("System.Nullable`1[System.Int32]", "an integer").Replace("System.Nullable`1[System.Double]", "a number")
        .Replace("System.Nullable`1[System.UInt64]", "a non-negative integer").Replace("System.Nullable`1[System.Boolean]", "true or false")
        .Replace("System.String[]", "a list of strings").Replace("System.String", "a string")
        .Replace("Recur.Training.TrainConfig", "an object of training options")
        .Replace("Recur.Training.Augmentations.AugmentConfig", "an object of augmentations such as {\"jitter\": 0.03}");

    /// <summary>This config with every non-null value of <paramref name="overrides"/> taking precedence.</summary>
    public TrainConfig With(TrainConfig overrides)
    {
        var merged = this;
        foreach (var property in typeof(TrainConfig).GetProperties().Where(p => p.CanWrite))
        {
            var value = property.GetValue(overrides);
            if (value is not null)
            {
                merged = merged with { };
                property.SetValue(merged, value);
            }
        }
        return merged;
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TrainConfig FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainConfig>(json, Json) ?? throw new InvalidInputException($"{source}: empty training config.");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{source}: {Describe(e)}");
        }
    }
}

/// <summary>Reads <c>"target": "births"</c> as well as <c>"target": ["births", "deaths"]</c>.</summary>
internal sealed class OneOrManyStrings : JsonConverter<string[]>
{
    public override string[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String ? [reader.GetString()!] : JsonSerializer.Deserialize<string[]>(ref reader);

    public override void Write(Utf8JsonWriter writer, string[] value, JsonSerializerOptions options) =>
        JsonSerializer.Serialize(writer, value);
}
