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
    public string[]? Target { get; init; }
    public int? Lookback { get; init; }
    public int? Horizon { get; init; }
    public int? Season { get; init; }
    public string? PeriodColumn { get; init; }
    public string? TimeColumn { get; init; }
    public string? TextColumn { get; init; }
    public string? LabelColumn { get; init; }
    public bool? NoHeader { get; init; }
    public string? Normalize { get; init; }
    public int? MaxLength { get; init; }

    // model
    public string? Cell { get; init; }
    public int? Layers { get; init; }
    public int? Hidden { get; init; }
    public double? Dropout { get; init; }
    public int? EmbeddingSize { get; init; }

    // optimisation
    public int? BatchSize { get; init; }
    public double? Lr { get; init; }
    public string? Optimizer { get; init; }
    public double? Clip { get; init; }
    public double? TimeLimit { get; init; }
    public int? Patience { get; init; }
    public string? LrSchedule { get; init; }
    public string? Device { get; init; }
    public bool? Quiet { get; init; }

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
        if (!File.Exists(path)) throw new InvalidInputException($"config file '{path}' does not exist.");
        try
        {
            return JsonSerializer.Deserialize<TrainConfig>(File.ReadAllText(path), Json)
                ?? throw new InvalidInputException($"{path}: expected a JSON object of training options; found null.");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{path}: {Describe(e)}");
        }
    }

    internal static string Describe(JsonException e)
    {
        string where = e.Path is { Length: > 1 } p ? $" at '{p.TrimStart('$', '.')}'" : "";
        string line = e.LineNumber is long l ? $" (line {l + 1})" : "";
        return e.Message.Contains("could not be mapped", StringComparison.Ordinal)
            ? $"unknown option{where}{line}; options are the flag names with dashes as underscores, e.g. \"batch_size\"."
            : $"expected a JSON object of training options{where}{line}: {e.Message.Split(" Path:")[0]}";
    }

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
