using System.Globalization;
using Recur.Models;
using Recur.Randomness;
using Recur.Training;

namespace Recur.Serialization;

/// <summary>
/// A trained model in one safetensors file (DESIGN, "Artifacts"): the weights under their module-qualified names,
/// and string metadata <c>recur.format</c>, <c>recur.config</c> (the resolved training config as JSON),
/// <c>recur.model</c> (the architecture), <c>recur.data</c> (data-preparation state as JSON) and
/// <c>recur.metrics</c>. Nothing executable is stored or read.
/// </summary>
public sealed record ModelFile(SequenceModel Model, TrainConfig Config, string DataState, string Metrics)
{
    /// <summary>Where the model was loaded from (empty for one built in memory).</summary>
    public string Path { get; init; } = "";

    public const string FormatVersion = "1";

    /// <summary>Upper bounds on the sizes a model file may declare, so a corrupt file cannot ask for absurd memory.</summary>
    public const int MaxSize = 1 << 16, MaxLayers = 64;

    public void Save(string path)
    {
        var metadata = new Dictionary<string, string>
        {
            ["recur.format"] = FormatVersion,
            ["recur.config"] = Config.ToJson(),
            ["recur.model"] = SpecToJson(Model.Spec),
            ["recur.data"] = DataState,
            ["recur.metrics"] = Metrics,
        };
        SafeTensors.Write(path, Model.StateDict(), metadata);
    }

    public static ModelFile Load(string path)
    {
        var content = SafeTensors.Read(path);
        string Meta(string key) => content.Metadata.TryGetValue(key, out var v) ? v
            : throw new ModelFileException(path, $"metadata key '{key}' is missing; this is not a model file written by recur train.");
        string format = Meta("recur.format");
        if (format != FormatVersion)
            throw new ModelFileException(path, $"model format version {format} is not supported; this build reads version {FormatVersion}.");
        var spec = SpecFromJson(Meta("recur.model"), path);
        var config = TrainConfig.FromJson(Meta("recur.config"), path);
        SequenceModel model;
        try
        {
            model = new SequenceModel(spec, new RecurRandom(0));
        }
        catch (Exception e) when (e is ArgumentException or OutOfMemoryException)
        {
            throw new ModelFileException(path, $"declares a model too large to build ({e.Message}).");
        }
        model.Load(content.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value), path);
        return new ModelFile(model, config, Meta("recur.data"), content.Metadata.GetValueOrDefault("recur.metrics", "{}")) { Path = path };
    }

    /// <summary>The architecture as stored under <c>recur.model</c> (a JSON object of strings).</summary>
    public static string ArchitectureJson(SequenceModelSpec spec) => SpecToJson(spec);

    /// <summary>
    /// The architecture as string pairs. <c>bidirectional</c>, <c>layer_dropout</c> and <c>residual</c> are always
    /// written; the regularisation keys (<c>input_dropout</c>, <c>recurrent_dropout</c>, <c>zoneout</c>,
    /// <c>layer_norm</c>), <c>stateful</c> and a token decoder's <c>target_vocabulary_size</c> only when set, so a model without them has
    /// the file older builds wrote. Absent keys read as 0 / false.
    /// </summary>
    private static string SpecToJson(SequenceModelSpec spec)
    {
        var d = new Dictionary<string, string>
        {
            ["cell"] = Layers.RecurrentLayers.Name(spec.Cell),
            ["input_size"] = spec.InputSize.ToString(CultureInfo.InvariantCulture),
            ["hidden_size"] = spec.HiddenSize.ToString(CultureInfo.InvariantCulture),
            ["layers"] = spec.Layers.ToString(CultureInfo.InvariantCulture),
            ["dropout"] = spec.Dropout.ToString("R", CultureInfo.InvariantCulture),
            ["output_size"] = spec.OutputSize.ToString(CultureInfo.InvariantCulture),
            ["vocabulary_size"] = spec.VocabularySize.ToString(CultureInfo.InvariantCulture),
            ["embedding_size"] = spec.EmbeddingSize.ToString(CultureInfo.InvariantCulture),
            ["per_step"] = spec.PerStep ? "true" : "false",
            ["bidirectional"] = spec.Bidirectional ? "true" : "false",
            ["layer_dropout"] = spec.LayerDropout.ToString("R", CultureInfo.InvariantCulture),
            ["residual"] = spec.Residual ? "true" : "false",
            ["attention"] = Layers.AttentionKinds.Name(spec.Attention),
            ["decoder_attention"] = Layers.AttentionKinds.Name(spec.DecoderAttention),
        };
        if (spec.InputDropout != 0) d["input_dropout"] = spec.InputDropout.ToString("R", CultureInfo.InvariantCulture);
        if (spec.RecurrentDropout != 0) d["recurrent_dropout"] = spec.RecurrentDropout.ToString("R", CultureInfo.InvariantCulture);
        if (spec.Zoneout != 0) d["zoneout"] = spec.Zoneout.ToString("R", CultureInfo.InvariantCulture);
        if (spec.LayerNorm) d["layer_norm"] = "true";
        if (spec.Stateful) d["stateful"] = "true";
        if (spec.TargetVocabularySize != 0) d["target_vocabulary_size"] = spec.TargetVocabularySize.ToString(CultureInfo.InvariantCulture);
        return System.Text.Json.JsonSerializer.Serialize(d);
    }

    /// <summary>Every key <see cref="SpecToJson"/> may write.</summary>
    private static readonly HashSet<string> ArchitectureKeys =
    [
        "cell", "input_size", "hidden_size", "layers", "dropout", "output_size", "vocabulary_size", "embedding_size", "per_step",
        "bidirectional", "layer_dropout", "residual", "attention", "decoder_attention",
        "input_dropout", "recurrent_dropout", "zoneout", "layer_norm", "stateful", "target_vocabulary_size",
    ];

    private static SequenceModelSpec SpecFromJson(string json, string path)
    {
        try
        {
            var d = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(json)!;
            int Int(string key, int max)
            {
                int value = int.Parse(d[key], CultureInfo.InvariantCulture);
                return value >= 0 && value <= max ? value : throw new FormatException($"{key} = {value} is outside [0, {max}]");
            }
            bool Bool(string key) => d.GetValueOrDefault(key, "false") switch { "true" => true, "false" => false, var v => throw new FormatException($"{key} = '{v}' is not true or false") };
            // A key this build does not know describes an architecture it cannot build: refuse rather than drop it.
            if (d.Keys.FirstOrDefault(k => !ArchitectureKeys.Contains(k)) is string unknown)
                throw new ModelFileException(path, $"describes its architecture with '{unknown}', which this build does not know; it was written by a newer recur.");
            // Files written before bidirectional stacks or the regularisation keys existed lack them: a plain stack.
            var spec = new SequenceModelSpec
            {
                Cell = Layers.RecurrentLayers.ParseCell(d["cell"]),
                InputSize = Int("input_size", MaxSize),
                HiddenSize = Int("hidden_size", MaxSize),
                Layers = Int("layers", MaxLayers),
                Dropout = double.Parse(d["dropout"], CultureInfo.InvariantCulture),
                OutputSize = Int("output_size", MaxSize),
                VocabularySize = Int("vocabulary_size", 1 << 24),
                EmbeddingSize = Int("embedding_size", MaxSize),
                PerStep = Bool("per_step"),
                Bidirectional = Bool("bidirectional"),
                LayerDropout = double.Parse(d.GetValueOrDefault("layer_dropout", "0"), CultureInfo.InvariantCulture),
                Residual = Bool("residual"),
                InputDropout = double.Parse(d.GetValueOrDefault("input_dropout", "0"), CultureInfo.InvariantCulture),
                RecurrentDropout = double.Parse(d.GetValueOrDefault("recurrent_dropout", "0"), CultureInfo.InvariantCulture),
                Zoneout = double.Parse(d.GetValueOrDefault("zoneout", "0"), CultureInfo.InvariantCulture),
                LayerNorm = Bool("layer_norm"),
                Stateful = Bool("stateful"),
                Attention = Layers.AttentionKinds.Parse(d.GetValueOrDefault("attention", "none")), // older files: none
                DecoderAttention = Layers.AttentionKinds.Parse(d.GetValueOrDefault("decoder_attention", "none")),
                TargetVocabularySize = d.ContainsKey("target_vocabulary_size") ? Int("target_vocabulary_size", 1 << 24) : 0,
            };
            if (spec.Stateful && (!spec.PerStep || spec.Bidirectional || spec.VocabularySize > 0))
                throw new FormatException("a stateful model is a one-directional per-step model of numeric input");
            if (spec.Attention != Layers.AttentionKind.None && spec.PerStep) throw new FormatException("attention pools a sequence; a per-step model cannot have it");
            if (spec.InputSize < 1 || spec.HiddenSize < 1 || spec.Layers < 1 || spec.OutputSize < 1 || spec.EmbeddingSize < 1 || !(spec.Dropout is >= 0 and < 1) || !(spec.LayerDropout is >= 0 and < 1))
                throw new FormatException("sizes must be positive and dropout and layer_dropout in [0, 1)");
            if (!(spec.InputDropout is >= 0 and < 1) || !(spec.RecurrentDropout is >= 0 and < 1) || !(spec.Zoneout is >= 0 and < 1))
                throw new FormatException("input_dropout, recurrent_dropout and zoneout must be in [0, 1)");
            return spec;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or FormatException or OverflowException or InvalidInputException or ArgumentException)
        {
            throw new ModelFileException(path, $"metadata 'recur.model' is not a valid architecture description ({e.Message}).");
        }
    }
}
