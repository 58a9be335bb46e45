using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Recur.Training;

namespace Recur.Tuning;

/// <summary>How a search parameter is drawn.</summary>
public enum ParameterKind { Float, Int, Categorical, Fixed }

/// <summary>
/// One searched training option. Values are handled in an internal numeric form: the number itself for
/// <see cref="ParameterKind.Float"/> and <see cref="ParameterKind.Int"/>, the index into <see cref="Choices"/> for
/// <see cref="ParameterKind.Categorical"/>, and 0 for <see cref="ParameterKind.Fixed"/>.
/// </summary>
public sealed record SearchParameter
{
    /// <summary>The config key, e.g. <c>"batch_size"</c>.</summary>
    public required string Name { get; init; }
    public required ParameterKind Kind { get; init; }
    public double Low { get; init; }
    public double High { get; init; }
    public bool Log { get; init; }

    /// <summary>Spacing of the values from <see cref="Low"/> (ints: 1 unless given; floats: null = continuous).</summary>
    public double? Step { get; init; }
    public IReadOnlyList<JsonNode?> Choices { get; init; } = [];
    public JsonNode? Value { get; init; }

    /// <summary>The parameter is drawn only when each named parameter is active and takes one of the listed values.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<JsonNode?>> When { get; init; } = new Dictionary<string, IReadOnlyList<JsonNode?>>();

    /// <summary>Points per numeric parameter for the grid sampler (all values when there are fewer).</summary>
    public int GridPoints { get; init; } = 5;

    /// <summary>The JSON value a config gets for an internal value.</summary>
    public JsonNode? ToJson(double internalValue) => Kind switch
    {
        ParameterKind.Float => JsonValue.Create(Snap(internalValue)),
        ParameterKind.Int => JsonValue.Create((long)Math.Round(Snap(internalValue))),
        ParameterKind.Categorical => Choices[(int)internalValue]?.DeepClone(),
        _ => Value?.DeepClone(),
    };

    /// <summary>Text for progress lines and tables.</summary>
    public string Format(double internalValue) => ToJson(internalValue) switch
    {
        null => "null",
        JsonValue v when v.TryGetValue(out double d) && Kind == ParameterKind.Float => d.ToString("G4", CultureInfo.InvariantCulture),
        JsonValue v when v.TryGetValue(out string? s) => s!,
        var n => n.ToJsonString(),
    };

    /// <summary>A numeric value clamped to the range and put on the step (ints round to whole steps).</summary>
    public double Snap(double value)
    {
        if (Kind is ParameterKind.Categorical or ParameterKind.Fixed) return value;
        value = Math.Clamp(value, Low, High);
        if (Step is double step && step > 0)
            value = Math.Min(High, Low + Math.Round((value - Low) / step) * step);
        else if (Kind == ParameterKind.Int) value = Math.Round(value);
        return value;
    }

    /// <summary>Values the grid sampler visits, in internal form.</summary>
    public double[] GridValues()
    {
        switch (Kind)
        {
            case ParameterKind.Fixed: return [0];
            case ParameterKind.Categorical: return Enumerable.Range(0, Choices.Count).Select(i => (double)i).ToArray();
        }
        if (Step is double step && step > 0 && (High - Low) / step + 1 <= GridPoints)
        {
            int count = (int)Math.Round((High - Low) / step) + 1;
            return Enumerable.Range(0, count).Select(i => Snap(Low + i * step)).Distinct().ToArray();
        }
        if (Low == High) return [Low];
        var points = new List<double>();
        for (int i = 0; i < GridPoints; i++)
        {
            double t = GridPoints == 1 ? 0.5 : i / (double)(GridPoints - 1);
            double v = Log ? Math.Exp(Math.Log(Low) + t * (Math.Log(High) - Math.Log(Low))) : Low + t * (High - Low);
            points.Add(Snap(v));
        }
        return points.Distinct().ToArray();
    }
}

/// <summary>
/// The <c>"search"</c> object of a tuning config: which training options to vary and how. Syntax (one key per
/// config option, the option's name as in the config file):
/// <code>
/// "hidden":   {"type": "int", "low": 16, "high": 256, "log": true}
/// "layers":   {"type": "int", "low": 1, "high": 3}              (optional "step": 2)
/// "lr":       {"type": "float", "low": 1e-4, "high": 1e-2, "log": true}
/// "dropout":  {"type": "float", "low": 0, "high": 0.5, "step": 0.1}
/// "cell":     {"type": "categorical", "choices": ["lstm", "gru"]}
/// "epochs":   20                       (fixed: a plain value, or {"type": "fixed", "value": 20})
/// "clip":     {"type": "float", "low": 0.5, "high": 5, "when": {"optimizer": "sgd"}}
/// </code>
/// <c>"when"</c> makes a parameter conditional: it is drawn only when every named search parameter is itself active
/// and takes the given value (or one of a list of values); otherwise the option keeps the base config's value.
/// <c>"grid_points"</c> sets how many evenly spaced values (log-spaced for log ranges) the grid sampler visits of a
/// numeric range (default 5; every value when the range holds fewer).
/// </summary>
public sealed class SearchSpace
{
    private static readonly string[] ParameterKeys = ["type", "low", "high", "log", "step", "choices", "value", "when", "grid_points"];

    public SearchSpace(IReadOnlyList<SearchParameter> parameters) => Parameters = parameters;

    /// <summary>Parameters in dependency order: a parameter comes after every parameter its <c>when</c> names.</summary>
    public IReadOnlyList<SearchParameter> Parameters { get; }

    public SearchParameter this[string name] => Parameters.First(p => p.Name == name);

    /// <summary>Whether <paramref name="parameter"/> is drawn, given the values chosen so far (internal form).</summary>
    public bool IsActive(SearchParameter parameter, IReadOnlyDictionary<string, double> chosen)
    {
        foreach (var (name, values) in parameter.When)
        {
            if (!chosen.TryGetValue(name, out double v)) return false;
            var json = this[name].ToJson(v);
            if (!values.Any(x => SameValue(x, json))) return false;
        }
        return true;
    }

    private static bool SameValue(JsonNode? a, JsonNode? b)
    {
        if (a is JsonValue va && b is JsonValue vb && va.TryGetValue(out double da) && vb.TryGetValue(out double db)) return da == db;
        if (a is JsonValue sa && b is JsonValue sb && sa.TryGetValue(out string? xa) && sb.TryGetValue(out string? xb))
            return string.Equals(xa, xb, StringComparison.OrdinalIgnoreCase);
        return JsonNode.DeepEquals(a, b);
    }

    /// <summary>The config for one trial: the base config with the chosen values of the active parameters.</summary>
    public TrainConfig Apply(TrainConfig baseConfig, IReadOnlyDictionary<string, double> values)
    {
        var json = JsonSerializer.SerializeToNode(baseConfig, TrainConfig.Json)!.AsObject();
        foreach (var p in Parameters)
            if (values.TryGetValue(p.Name, out double v)) json[p.Name] = p.ToJson(v);
        return TrainConfig.FromJson(json.ToJsonString(), "trial config");
    }

    /// <summary>The chosen values as a JSON object (config keys → values).</summary>
    public JsonObject ToJson(IReadOnlyDictionary<string, double> values)
    {
        var json = new JsonObject();
        foreach (var p in Parameters)
            if (values.TryGetValue(p.Name, out double v)) json[p.Name] = p.ToJson(v);
        return json;
    }

    /// <summary>The config keys a search may name: every option of <see cref="TrainConfig"/>.</summary>
    public static IReadOnlyList<string> ConfigKeys { get; } = typeof(TrainConfig).GetProperties()
        .Where(p => p.CanWrite).Select(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name)).ToArray();

    /// <summary>Reads and checks a <c>"search"</c> object against <paramref name="baseConfig"/>.</summary>
    public static SearchSpace Parse(JsonObject search, TrainConfig baseConfig, string source)
    {
        var parsed = new List<SearchParameter>();
        foreach (var (name, node) in search)
        {
            string where = $"{source}: search.{name}";
            if (!ConfigKeys.Contains(name))
                throw new InvalidInputException($"{where}: unknown parameter; a search names training options as in the config file (e.g. \"lr\", \"hidden\", \"batch_size\").");
            parsed.Add(ParseParameter(name, node, where));
        }
        if (parsed.Count == 0) throw new InvalidInputException($"{source}: the \"search\" object is empty; name at least one training option to vary.");
        var ordered = Order(parsed, source);
        var space = new SearchSpace(ordered);
        // Every value a parameter can take must make a valid config: a float range on an integer option, or a
        // choice of the wrong type, is caught here rather than in the middle of a study.
        foreach (var p in ordered)
        {
            var probes = p.Kind switch
            {
                ParameterKind.Categorical => Enumerable.Range(0, p.Choices.Count).Select(i => (double)i),
                ParameterKind.Fixed => [0.0],
                _ => [p.Low, p.High],
            };
            foreach (var probe in probes)
            {
                var json = JsonSerializer.SerializeToNode(baseConfig, TrainConfig.Json)!.AsObject();
                json[p.Name] = p.ToJson(probe);
                if (p.Kind == ParameterKind.Float && p.ToJson(probe) is JsonValue fv && fv.TryGetValue(out double d) && d == Math.Floor(d))
                    json[p.Name] = JsonValue.Create(d + 0.5); // a float range must not fit an integer option only by luck
                try
                {
                    TrainConfig.FromJson(json.ToJsonString(), "trial");
                }
                catch (InvalidInputException e)
                {
                    string why = e.Message.Split(": ", 2) is [_, var rest] ? rest : e.Message;
                    throw new InvalidInputException($"{source}: search.{p.Name}: the {KindName(p.Kind)} values do not fit the option: {why}");
                }
            }
        }
        return space;
    }

    private static string KindName(ParameterKind kind) => kind switch
    {
        ParameterKind.Float => "float", ParameterKind.Int => "int", ParameterKind.Categorical => "categorical", _ => "fixed",
    };

    private static SearchParameter ParseParameter(string name, JsonNode? node, string where)
    {
        if (node is not JsonObject o) return new SearchParameter { Name = name, Kind = ParameterKind.Fixed, Value = node?.DeepClone() };
        foreach (var (key, _) in o)
            if (!ParameterKeys.Contains(key))
                throw new InvalidInputException($"{where}: unknown key '{key}'; expected {string.Join(", ", ParameterKeys)}.");
        string type = o["type"] is JsonValue tv && tv.TryGetValue(out string? t) ? t.ToLowerInvariant()
            : throw new InvalidInputException($"{where}: expected \"type\": \"float\", \"int\", \"categorical\" or \"fixed\"; found {o["type"]?.ToJsonString() ?? "none"}.");
        var when = ParseWhen(o["when"], where);
        int gridPoints = o["grid_points"] is null ? 5 : (int)Number(o, "grid_points", where);
        if (gridPoints < 1) throw new InvalidInputException($"{where}: grid_points: expected at least 1; found {gridPoints}.");
        switch (type)
        {
            case "fixed":
                if (!o.ContainsKey("value")) throw new InvalidInputException($"{where}: a fixed parameter needs \"value\".");
                return new SearchParameter { Name = name, Kind = ParameterKind.Fixed, Value = o["value"]?.DeepClone(), When = when };
            case "categorical":
                if (o["choices"] is not JsonArray { Count: > 0 } choices)
                    throw new InvalidInputException($"{where}: a categorical parameter needs \"choices\": a non-empty list of values; found {o["choices"]?.ToJsonString() ?? "none"}.");
                return new SearchParameter { Name = name, Kind = ParameterKind.Categorical, Choices = choices.Select(c => c?.DeepClone()).ToArray(), When = when };
            case "float" or "int":
                double low = Number(o, "low", where), high = Number(o, "high", where);
                bool log = o["log"] is null ? false : o["log"] is JsonValue lv && lv.TryGetValue(out bool b) ? b
                    : throw new InvalidInputException($"{where}: log: expected true or false; found {o["log"]!.ToJsonString()}.");
                double? step = o["step"] is null ? null : Number(o, "step", where);
                var kind = type == "int" ? ParameterKind.Int : ParameterKind.Float;
                string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
                if (low > high) throw new InvalidInputException($"{where}: low ({F(low)}) is greater than high ({F(high)}); expected low <= high.");
                if (log && low <= 0) throw new InvalidInputException($"{where}: a log range needs positive bounds; found low {F(low)}.");
                if (step is double s)
                {
                    if (!(s > 0)) throw new InvalidInputException($"{where}: step: expected a positive number; found {F(s)}.");
                    if (log && s != 1) throw new InvalidInputException($"{where}: step and log cannot be combined (step {F(s)}).");
                    double count = (high - low) / s;
                    if (Math.Abs(count - Math.Round(count)) > 1e-9 * Math.Max(1, count))
                        throw new InvalidInputException($"{where}: the range {F(low)}..{F(high)} is not a whole number of steps of {F(s)}.");
                }
                if (kind == ParameterKind.Int)
                {
                    if (low != Math.Floor(low) || high != Math.Floor(high) || (step is double st && st != Math.Floor(st)))
                        throw new InvalidInputException($"{where}: an int parameter needs whole-number low, high and step; found low {F(low)}, high {F(high)}.");
                    step ??= 1;
                }
                return new SearchParameter { Name = name, Kind = kind, Low = low, High = high, Log = log, Step = log ? null : step, When = when, GridPoints = gridPoints };
            default:
                throw new InvalidInputException($"{where}: type: expected \"float\", \"int\", \"categorical\" or \"fixed\"; found \"{type}\".");
        }
    }

    private static double Number(JsonObject o, string key, string where) =>
        o[key] is JsonValue v && v.TryGetValue(out double d) && double.IsFinite(d) ? d
            : throw new InvalidInputException($"{where}: {key}: expected a number; found {o[key]?.ToJsonString() ?? "none"}.");

    private static Dictionary<string, IReadOnlyList<JsonNode?>> ParseWhen(JsonNode? node, string where)
    {
        var when = new Dictionary<string, IReadOnlyList<JsonNode?>>();
        if (node is null) return when;
        if (node is not JsonObject o || o.Count == 0)
            throw new InvalidInputException($"{where}: when: expected an object naming search parameters and the values they must take, e.g. {{\"optimizer\": \"sgd\"}}; found {node.ToJsonString()}.");
        foreach (var (key, value) in o)
            when[key] = value is JsonArray a ? a.Select(x => x?.DeepClone()).ToArray() : [value?.DeepClone()];
        return when;
    }

    /// <summary>Puts parameters after those their conditions name; unknown names and cycles are errors.</summary>
    private static List<SearchParameter> Order(List<SearchParameter> parameters, string source)
    {
        var byName = parameters.ToDictionary(p => p.Name);
        foreach (var p in parameters)
            foreach (var (name, values) in p.When)
            {
                if (!byName.TryGetValue(name, out var parent))
                    throw new InvalidInputException($"{source}: search.{p.Name}: when: '{name}' is not a search parameter; a condition names another entry of \"search\".");
                if (parent.Kind == ParameterKind.Categorical)
                    foreach (var v in values)
                        if (!parent.Choices.Any(c => SameValue(c, v)))
                            throw new InvalidInputException($"{source}: search.{p.Name}: when: {v?.ToJsonString() ?? "null"} is not one of the choices of '{name}' ({string.Join(", ", parent.Choices.Select(c => c?.ToJsonString()))}).");
            }
        var ordered = new List<SearchParameter>();
        var state = new Dictionary<string, int>(); // 1: visiting, 2: done
        void Visit(SearchParameter p)
        {
            if (state.GetValueOrDefault(p.Name) == 2) return;
            if (state.GetValueOrDefault(p.Name) == 1)
                throw new InvalidInputException($"{source}: search.{p.Name}: its \"when\" conditions form a cycle.");
            state[p.Name] = 1;
            foreach (var name in p.When.Keys) Visit(byName[name]);
            state[p.Name] = 2;
            ordered.Add(p);
        }
        foreach (var p in parameters) Visit(p);
        return ordered;
    }
}

/// <summary>A tuning config: the base training options, the search, and the optional <c>"pruner"</c> settings.</summary>
public sealed record TuneConfig(TrainConfig Base, SearchSpace Space, string SearchJson, PrunerSettings? Pruner = null)
{
    public static TuneConfig Load(string path)
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
        return Parse(text, path);
    }

    public static TuneConfig Parse(string text, string source)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(text) as JsonObject ?? throw new InvalidInputException($"{source}: expected a JSON object of training options with a \"search\" object.");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{source}: not valid JSON (line {(e.LineNumber ?? 0) + 1}): {e.Message.Split(" Path:")[0]}");
        }
        if (root["search"] is not JsonObject search)
            throw new InvalidInputException($"{source}: expected a \"search\" object naming the training options to tune, e.g. \"search\": {{\"lr\": {{\"type\": \"float\", \"low\": 1e-4, \"high\": 1e-2, \"log\": true}}}}.");
        root.Remove("search");
        PrunerSettings? pruner = null;
        if (root.ContainsKey("pruner"))
        {
            pruner = PrunerSettings.FromJson(root["pruner"], source);
            root.Remove("pruner");
            try
            {
                pruner = pruner.Validated();
            }
            catch (InvalidInputException e)
            {
                throw new InvalidInputException($"{source}: \"pruner\": {e.Message}");
            }
        }
        var baseConfig = TrainConfig.FromJson(root.ToJsonString(), source);
        var space = SearchSpace.Parse(search, baseConfig, source);
        return new TuneConfig(baseConfig, space, search.ToJsonString(), pruner);
    }
}
