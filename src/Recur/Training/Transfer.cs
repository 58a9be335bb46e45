using System.Globalization;
using System.Text.Json.Nodes;
using Recur.Autograd;
using Recur.Data;
using Recur.Models;
using Recur.Optimizers;
using Recur.Serialization;
using Recur.Training.Callbacks;

namespace Recur.Training;

/// <summary>A pretrained tensor that was not loaded, and why.</summary>
public sealed record TransferSkip(string Name, string Reason);

/// <summary>
/// What <c>--init-from</c> did: the new model's parameters loaded from the pretrained file, the pretrained tensors
/// left out (with why) and the new model's parameters that kept their fresh initialisation. Token-indexed tensors
/// (the embedding; a language model's head) are copied row by row by token, not by index: <see cref="TokenRows"/>
/// says how many rows came from the pretrained model and how many are new.
/// </summary>
public sealed record TransferReport(string Source, IReadOnlyList<string> Loaded, IReadOnlyList<TransferSkip> Skipped, IReadOnlyList<string> Initialised)
{
    /// <summary>Row-mapped tensors: name → (rows carried over by token or label, rows newly initialised).</summary>
    public IReadOnlyDictionary<string, (int Carried, int Fresh)> TokenRows { get; init; } = new Dictionary<string, (int, int)>();

    /// <summary>The report.json object <c>transfer</c>.</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["from"] = Source,
            ["loaded"] = new JsonArray(Loaded.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
            ["skipped"] = new JsonArray(Skipped.Select(s => (JsonNode?)new JsonObject { ["name"] = s.Name, ["reason"] = s.Reason }).ToArray()),
            ["initialised"] = new JsonArray(Initialised.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
        };
        if (TokenRows.Count > 0)
            json["rows"] = new JsonObject(TokenRows.Select(kv => KeyValuePair.Create<string, JsonNode?>(kv.Key,
                new JsonObject { ["carried"] = kv.Value.Carried, ["new"] = kv.Value.Fresh })));
        return json;
    }
}

/// <summary>
/// A model file opened for <c>recur train --init-from</c>: its weights, task, tokenizer and output labels, to build
/// a new task's model that starts from it (<see cref="Apply"/>), with its vocabulary carried over and extended.
/// </summary>
public sealed class PretrainedModel
{
    private PretrainedModel(ModelFile file, JsonObject data)
    {
        File = file;
        Data = data;
        Task = data["task"]?.GetValue<string>() ?? "";
        TokenizerKind = Task == "tag" ? (data["format"]?.GetValue<string>() == "tokens" ? "word" : null)
            : file.Model.Spec.VocabularySize > 0 ? data["tokenizer"]?.GetValue<string>() ?? "char" : null;
        Tokens = TokenizerKind switch
        {
            "char" => (data["characters"]?.GetValue<string>() ?? "").Select(c => c.ToString()).ToArray(),
            "word" => Strings(data["words"]),
            "bpe" => Strings(data["bpe_symbols"]),
            _ => null,
        };
        LowerCase = data["lower_case"]?.GetValue<bool>() ?? true;
        OutputLabels = Task switch
        {
            "classify" or "tag" => Strings(data["classes"]),
            "lm" => Tokens is null ? null : ["<pad>", "<unk>", .. Tokens],
            _ => null,
        };
        if (Tokens is not null && Tokens.Length + 2 != file.Model.Spec.VocabularySize)
            throw new ModelFileException(file.Path, $"its vocabulary ({Tokens.Length + 2} ids) does not fit its embedding ({file.Model.Spec.VocabularySize} rows).");
    }

    public ModelFile File { get; }

    /// <summary>The pretrained model's <c>recur.data</c>.</summary>
    public JsonObject Data { get; }

    /// <summary>forecast, classify, tag or lm.</summary>
    public string Task { get; }

    /// <summary>char, word or bpe for a model of tokens; null for numeric input.</summary>
    public string? TokenizerKind { get; }

    /// <summary>The token of each id from 2 on (id = index + 2); null for numeric input.</summary>
    public string[]? Tokens { get; }

    public bool LowerCase { get; }

    /// <summary>What each output row means: classes (classify, tag) or tokens by id (lm); null for forecasts.</summary>
    public string[]? OutputLabels { get; }

    /// <summary>Opens <c>--init-from</c>: a missing, unreadable or foreign file is bad input (exit 2) naming the file.</summary>
    public static PretrainedModel Open(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new InvalidInputException("--init-from: expected a model file (model.safetensors of an earlier run); found an empty path.");
        if (Directory.Exists(path) && System.IO.File.Exists(Path.Combine(path, "model.safetensors"))) path = Path.Combine(path, "model.safetensors");
        if (!System.IO.File.Exists(path)) throw new InvalidInputException($"--init-from: model file '{path}' does not exist.");
        try
        {
            var file = ModelFile.Load(path);
            var data = JsonNode.Parse(file.DataState) as JsonObject ?? throw new ModelFileException(path, "its 'recur.data' entry is not a JSON object.");
            return new PretrainedModel(file, data);
        }
        catch (InvalidInputException e)
        {
            throw new InvalidInputException($"--init-from: {e.Message}");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new InvalidInputException($"--init-from: '{path}' is not a readable Recur model file: {e.Message}");
        }
    }

    /// <summary>Opens the config's <c>init_from</c>, or null without one.</summary>
    public static PretrainedModel? Open(TrainConfig config) => config.InitFrom is string path ? Open(path) : null;

    /// <summary>
    /// The config with the architecture the pretrained model has wherever the config does not set one (cell, layers,
    /// hidden, embedding size, bidirectional, residual), so the weights fit without repeating every size.
    /// </summary>
    public TrainConfig Inherit(TrainConfig config)
    {
        var spec = File.Model.Spec;
        return config with
        {
            Cell = config.Cell ?? Layers.RecurrentLayers.Name(spec.Cell),
            Layers = config.Layers ?? spec.Layers,
            Hidden = config.Hidden ?? spec.HiddenSize,
            EmbeddingSize = config.EmbeddingSize ?? (spec.VocabularySize > 0 ? spec.EmbeddingSize : null),
            Bidirectional = config.Bidirectional ?? (spec.Bidirectional && config.Task?.ToLowerInvariant() != "lm" ? true : null),
            Residual = config.Residual ?? (spec.Residual ? true : null),
        };
    }

    /// <summary>
    /// Characters of <paramref name="texts"/> with the pretrained model's characters carried over when it reads
    /// characters too (ids are ordinal order; rows follow their characters in <see cref="Apply"/>).
    /// </summary>
    public static CharacterVocabulary Characters(PretrainedModel? pretrained, IEnumerable<string> texts, int maxLength, TextWriter log)
    {
        if (pretrained?.TokenizerKind != "char") return CharacterVocabulary.FromTexts(texts, maxLength);
        var known = pretrained.Tokens!.Select(t => t[0]).ToHashSet();
        var fresh = texts.SelectMany(t => t).Where(c => !known.Contains(c)).Distinct().Count();
        log.WriteLine($"vocabulary: the pretrained model's {known.Count} characters, extended by {fresh} new in this data");
        return new CharacterVocabulary([.. known, .. texts.SelectMany(t => t)], maxLength);
    }

    /// <summary>
    /// A word vocabulary: the pretrained model's words in their order, then the words of <paramref name="trained"/>
    /// (learned from this data by the usual rule) it lacks; <paramref name="trained"/> itself without a word model.
    /// </summary>
    public static WordTokenizer Words(PretrainedModel? pretrained, WordTokenizer trained, TextWriter log)
    {
        if (pretrained?.TokenizerKind != "word") return trained;
        var known = pretrained.Tokens!.ToHashSet(StringComparer.Ordinal);
        var added = trained.Words.Where(w => !known.Contains(w)).ToArray();
        log.WriteLine($"vocabulary: the pretrained model's {known.Count} words, extended by {added.Length} new in this data");
        return new WordTokenizer([.. pretrained.Tokens!, .. added], trained.MaxLength, pretrained.LowerCase);
    }

    /// <summary>The pretrained byte-pair tokenizer as it is (merges are not extended), or null if it has none.</summary>
    public static BpeTokenizer? Bpe(PretrainedModel? pretrained, int maxLength, TextWriter log)
    {
        if (pretrained?.TokenizerKind != "bpe") return null;
        var merges = (pretrained.Data["bpe_merges"] as JsonArray ?? []).Select(m => (m![0]!.GetValue<string>(), m[1]!.GetValue<string>())).ToArray();
        log.WriteLine($"vocabulary: the pretrained model's byte-pair tokenizer ({pretrained.Tokens!.Length} symbols, {merges.Length} merges), kept as it is");
        return new BpeTokenizer(pretrained.Tokens!, merges, maxLength, pretrained.LowerCase);
    }

    /// <summary>The token of each id from 2 on, for the tokenizers Recur builds; null for others.</summary>
    public static string[]? TokenStrings(ITokenizer? tokenizer) => tokenizer switch
    {
        CharacterVocabulary c => c.Characters.Select(ch => ch.ToString()).ToArray(),
        WordTokenizer w => [.. w.Words],
        BpeTokenizer b => [.. b.Symbols],
        _ => null,
    };

    /// <summary>
    /// Loads the pretrained tensors into <paramref name="model"/> (freshly initialised) by name and shape; the
    /// embedding row by row by token when both read the same kind of tokens, and the head only when both do the
    /// same task (rows by class or token where they have labels). Writes what it did to <paramref name="log"/>.
    /// Different cell types, or nothing at all to load, are bad input.
    /// </summary>
    /// <param name="model">The new model, freshly initialised; loaded tensors overwrite its parameters.</param>
    /// <param name="task">The new model's task.</param>
    /// <param name="tokenizer">The new model's tokenizer (null: numeric input).</param>
    /// <param name="outputLabels">What each output row of the new model means (classes; tokens by id for lm), or null.</param>
    /// <param name="log">Where the loaded, skipped and initialised tensors are listed.</param>
    public TransferReport Apply(SequenceModel model, string task, ITokenizer? tokenizer, IReadOnlyList<string>? outputLabels, TextWriter log)
    {
        var spec = File.Model.Spec;
        if (spec.Cell != model.Spec.Cell)
            throw new InvalidInputException($"--init-from: '{File.Path}' is a{(spec.Cell == Layers.CellKind.Lstm ? "n" : "")} {Layers.RecurrentLayers.Name(spec.Cell).ToUpperInvariant()} model and this run builds a{(model.Spec.Cell == Layers.CellKind.Lstm ? "n" : "")} {Layers.RecurrentLayers.Name(model.Spec.Cell).ToUpperInvariant()}; recurrent weights do not carry over between cell types (drop --cell or set --cell {Layers.RecurrentLayers.Name(spec.Cell)}).");
        var old = File.Model.StateDict();
        var loaded = new List<string>();
        var skipped = new List<TransferSkip>();
        var initialised = new List<string>();
        var rows = new Dictionary<string, (int, int)>();
        string[]? newTokens = TokenStrings(tokenizer);
        string? newKind = tokenizer?.Kind;

        foreach (var p in model.Parameters)
        {
            if (!old.TryGetValue(p.Name, out var source)) { initialised.Add(p.Name); continue; }
            string? reason = null;
            int[]? map = null;
            if (p.Name == "embedding.weight" && newTokens is not null)
            {
                if (TokenizerKind != newKind) reason = $"the pretrained model reads {TokenizerKind ?? "numbers"}, this one {newKind} tokens";
                else map = RowMap(["<pad>", "<unk>", .. Tokens!], ["<pad>", "<unk>", .. newTokens]);
            }
            else if (p.Name.StartsWith("head.", StringComparison.Ordinal))
            {
                if (Task != task) reason = $"the head predicts for task {Task} there and {task} here";
                else if (OutputLabels is not null && outputLabels is not null)
                {
                    map = RowMap(OutputLabels, outputLabels);
                    if (map.All(m => m < 0)) reason = "no output label in common";
                }
            }
            if (reason is null && map is not null)
            {
                int width = p.Value.Length / p.Value.Shape[0];
                if (source.Length / source.Shape[0] != width || source.Shape.Length != p.Value.Shape.Length)
                    reason = $"shape {source.ShapeText} there, {p.Value.ShapeText} here (rows of different width)";
                else
                {
                    int carried = 0;
                    for (int r = 0; r < map.Length; r++)
                    {
                        if (map[r] < 0) continue;
                        source.Data.AsSpan(map[r] * width, width).CopyTo(p.Value.Data.AsSpan(r * width, width));
                        carried++;
                    }
                    rows[p.Name] = (carried, map.Length - carried);
                    loaded.Add(p.Name);
                    continue;
                }
            }
            if (reason is null && !source.SameShape(p.Value)) reason = $"shape {source.ShapeText} there, {p.Value.ShapeText} here";
            if (reason is not null)
            {
                skipped.Add(new TransferSkip(p.Name, reason));
                initialised.Add(p.Name);
                continue;
            }
            source.Data.CopyTo(p.Value.Data, 0);
            loaded.Add(p.Name);
        }
        var names = model.Parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in old.Keys.Where(n => !names.Contains(n)).Order(StringComparer.Ordinal))
            skipped.Add(new TransferSkip(name, "absent from this model"));
        if (loaded.Count == 0)
            throw new InvalidInputException($"--init-from: nothing in '{File.Path}' fits this model ({string.Join("; ", skipped.Take(4).Select(s => $"{s.Name}: {s.Reason}"))}); give the same --hidden, --layers and --embedding-size as the pretrained model.");
        var report = new TransferReport(File.Path, loaded, skipped, initialised) { TokenRows = rows };
        log.WriteLine($"init-from {File.Path} ({Task} model): loaded {string.Join(", ", loaded.Select(n => rows.TryGetValue(n, out var r) ? $"{n} ({r.Item1} rows by token/label, {r.Item2} new)" : n))}");
        foreach (var s in skipped) log.WriteLine($"  skipped {s.Name}: {s.Reason}");
        if (initialised.Count > 0) log.WriteLine($"  newly initialised: {string.Join(", ", initialised)}");
        return report;
    }

    /// <summary>For each new row, the old row of the same label, or −1.</summary>
    private static int[] RowMap(IReadOnlyList<string> old, IReadOnlyList<string> fresh)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < old.Count; i++) index.TryAdd(old[i], i);
        return fresh.Select(label => index.TryGetValue(label, out var i) ? i : -1).ToArray();
    }

    private static string[]? Strings(JsonNode? node) => node is JsonArray a ? a.Select(x => x!.GetValue<string>()).ToArray() : null;
}

/// <summary>
/// Fine-tuning schedule: which parameters are frozen (no update, no weight decay) at each epoch, and the learning
/// rate factor of the pretrained ones. Frozen state is a function of the epoch alone, so a resumed run freezes the
/// same parameters. Groups for gradual unfreezing come from <see cref="SequenceModel.ParameterGroups"/> from the
/// top: head, last recurrent layer, …, first recurrent layer, embedding (parameters in no group go with the head).
/// </summary>
public sealed record FineTuning
{
    /// <summary>Parameter names frozen at epoch 1.</summary>
    public required IReadOnlySet<string> Frozen { get; init; }

    /// <summary>Every this many epochs the next frozen group from the top is unfrozen (ULMFiT); 0: never.</summary>
    public int UnfreezeEvery { get; init; }

    /// <summary>Parameters loaded from a pretrained model train at this factor × the learning rate.</summary>
    public double PretrainedLearningRateFactor { get; init; } = 1;

    /// <summary>Names of the parameters loaded from the pretrained model.</summary>
    public IReadOnlySet<string> Pretrained { get; init; } = new HashSet<string>();

    /// <summary>The unfreezing groups, top first, as parameter names.</summary>
    public required IReadOnlyList<(string Group, IReadOnlyList<string> Names)> Groups { get; init; }

    /// <summary>
    /// The schedule a config asks for (<c>freeze</c>, <c>unfreeze_every</c>, <c>pretrained_lr_factor</c>), or null
    /// when every parameter trains at the base rate throughout. <c>freeze</c>: <c>all-but-head</c>, <c>none</c> or
    /// comma-separated parameter-name prefixes (e.g. <c>embedding,encoder.weight_ih_l0</c>); with
    /// <c>unfreeze_every</c> alone, <c>all-but-head</c>.
    /// </summary>
    public static FineTuning? From(TrainConfig config, SequenceModel model, TransferReport? transfer)
    {
        var groups = GroupsOf(model);
        string freeze = config.Freeze ?? (config.UnfreezeEvery is > 0 ? "all-but-head" : "none");
        var names = model.Parameters.Select(p => p.Name).ToList();
        HashSet<string> frozen;
        switch (freeze.Trim().ToLowerInvariant())
        {
            case "none" or "":
                frozen = [];
                break;
            case "all-but-head":
                frozen = groups.Skip(1).SelectMany(g => g.Names).ToHashSet(StringComparer.Ordinal);
                break;
            default:
                frozen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var prefix in freeze.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                {
                    var matched = names.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).ToList();
                    if (matched.Count == 0)
                        throw new InvalidInputException($"--freeze: '{prefix}' is no prefix of a parameter name; expected all-but-head, none or prefixes of {string.Join(", ", names)}.");
                    frozen.UnionWith(matched);
                }
                break;
        }
        if (frozen.Count == names.Count && !(config.UnfreezeEvery > 0))
            throw new InvalidInputException($"--freeze '{freeze}' freezes every parameter and nothing unfreezes them: nothing would train.");
        double factor = config.PretrainedLrFactor ?? 1;
        if (frozen.Count == 0 && factor == 1) return null;
        return new FineTuning
        {
            Frozen = frozen, UnfreezeEvery = config.UnfreezeEvery ?? 0, PretrainedLearningRateFactor = factor,
            Pretrained = (transfer?.Loaded ?? []).ToHashSet(StringComparer.Ordinal), Groups = groups,
        };
    }

    /// <summary>The model's unfreezing groups, top first.</summary>
    public static IReadOnlyList<(string Group, IReadOnlyList<string> Names)> GroupsOf(SequenceModel model)
    {
        var groups = model.ParameterGroups().Reverse().Select(g => (g.Group, Names: g.Parameters.Select(p => p.Name).ToList())).ToList();
        var grouped = groups.SelectMany(g => g.Names).ToHashSet(StringComparer.Ordinal);
        // Parameters in no group (e.g. of modules added later) unfreeze with the head.
        groups[0].Names.AddRange(model.Parameters.Select(p => p.Name).Where(n => !grouped.Contains(n)));
        return groups.Select(g => (g.Group, (IReadOnlyList<string>)g.Names)).ToList();
    }

    /// <summary>The groups (top first) holding a parameter frozen at epoch 1, in unfreezing order.</summary>
    private IEnumerable<(string Group, IReadOnlyList<string> Names)> FrozenGroups => Groups.Where(g => g.Names.Any(Frozen.Contains));

    /// <summary>Whether <paramref name="parameter"/> is frozen during 1-based <paramref name="epoch"/>.</summary>
    public bool IsFrozen(string parameter, int epoch)
    {
        if (!Frozen.Contains(parameter)) return false;
        if (UnfreezeEvery <= 0) return true;
        int unfrozen = (epoch - 1) / UnfreezeEvery;
        return !FrozenGroups.Take(unfrozen).Any(g => g.Names.Contains(parameter));
    }

    /// <summary>The groups that unfreeze at the start of <paramref name="epoch"/> (&gt; 1).</summary>
    public IEnumerable<string> UnfrozenAt(int epoch) =>
        UnfreezeEvery > 0 && epoch > 1 && (epoch - 1) % UnfreezeEvery == 0
            ? FrozenGroups.Skip((epoch - 1) / UnfreezeEvery - 1).Take(1).Select(g => g.Group) : [];

    /// <summary>
    /// The optimizer for this schedule: one inner optimizer of the configured algorithm per (unfreezing group,
    /// frozen at start, pretrained) part, each at the base rate × its factor, switched on and off by epoch.
    /// </summary>
    public ParameterGroupOptimizer CreateOptimizer(SequenceModel model, TrainingOptions options, bool externalWeightDecay = false)
    {
        var groupOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int g = 0; g < Groups.Count; g++) foreach (var n in Groups[g].Names) groupOf[n] = g;
        var parts = model.Parameters
            .GroupBy(p => (groupOf[p.Name], Frozen.Contains(p.Name), Pretrained.Contains(p.Name)))
            .Select(g => ((IReadOnlyList<Parameter>)g.ToList(), g.Key.Item3 ? PretrainedLearningRateFactor : 1.0))
            .ToList();
        return new ParameterGroupOptimizer(parts, (ps, lr) => Trainer.CreateOptimizer(options.Optimizer, ps, lr, externalWeightDecay), options.LearningRate);
    }

    /// <summary>
    /// Options that train under this schedule: <see cref="TrainingOptions.FineTuning"/> set and the callback that
    /// switches groups by epoch appended. Null schedule: the options unchanged.
    /// </summary>
    public static TrainingOptions Configure(TrainingOptions options, FineTuning? schedule, TextWriter log)
    {
        if (schedule is null) return options;
        if (schedule.Frozen.Count > 0)
            log.WriteLine($"frozen at the start: {string.Join(", ", schedule.Frozen)}{(schedule.UnfreezeEvery > 0 ? $"; one more group unfrozen from the top every {schedule.UnfreezeEvery} epoch(s)" : "")}");
        if (schedule.PretrainedLearningRateFactor != 1)
            log.WriteLine($"pretrained parameters train at {schedule.PretrainedLearningRateFactor.ToString("G4", CultureInfo.InvariantCulture)} × the learning rate");
        return options with { FineTuning = schedule, Callbacks = [.. options.Callbacks, new FreezingCallback(schedule)] };
    }

    /// <summary>Sets the groups' on/off state from the epoch before every batch, and keeps frozen gradients out of clipping.</summary>
    private sealed class FreezingCallback(FineTuning schedule) : TrainingCallback
    {
        private List<Parameter> _frozenNow = [];

        public override void OnEpochBegin(TrainingContext context)
        {
            foreach (var group in schedule.UnfrozenAt(context.Epoch)) context.Log.WriteLine($"epoch {context.Epoch}: unfroze {group}");
        }

        public override void OnBatchBegin(TrainingContext context)
        {
            if (context.Optimizer is not ParameterGroupOptimizer optimizer) return;
            _frozenNow = [];
            for (int g = 0; g < optimizer.GroupCount; g++)
            {
                var parameters = optimizer.GroupParameters(g);
                bool frozen = schedule.IsFrozen(parameters[0].Name, context.Epoch);
                optimizer.SetActive(g, !frozen);
                if (frozen) _frozenNow.AddRange(parameters);
            }
        }

        public override void OnAfterBackward(TrainingContext context, double loss)
        {
            foreach (var p in _frozenNow) p.ZeroGrad();
        }
    }
}
