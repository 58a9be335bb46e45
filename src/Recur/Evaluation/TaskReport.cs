using System.Text.Json.Nodes;

namespace Recur.Evaluation;

/// <summary>
/// Scores of a model on a data part, beside baselines scored with the same metric keys (DESIGN: the shape of
/// <c>recur evaluate --json</c>). Metrics are in the data's original units.
/// </summary>
public sealed record TaskReport(
    string Task,
    IReadOnlyDictionary<string, double> Metrics,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Baselines,
    int TestSize)
{
    /// <summary>Task-specific detail (per-class scores, the chosen normalisation, …) added to the JSON.</summary>
    public JsonObject? Details { get; init; }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["task"] = Task,
            ["metrics"] = Numbers(Metrics),
            ["baselines"] = new JsonObject(Baselines.Select(b => KeyValuePair.Create<string, JsonNode?>(b.Key, Numbers(b.Value)))),
            ["test_size"] = TestSize,
        };
        if (Details is not null)
            foreach (var (key, value) in Details) json[key] = value?.DeepClone();
        return json;
    }

    private static JsonObject Numbers(IReadOnlyDictionary<string, double> values) =>
        new(values.Select(kv => KeyValuePair.Create<string, JsonNode?>(kv.Key, double.IsFinite(kv.Value) ? JsonValue.Create(kv.Value) : null)));
}
