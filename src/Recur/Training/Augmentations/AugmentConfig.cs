using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Recur.Training.Augmentations;

/// <summary>
/// The <c>"augment"</c> object of a training config, e.g.
/// <c>{"jitter": 0.03, "scaling": 0.1, "slicing": 0.9, "warping": 0.2, "token_dropout": 0.1}</c>, or on the
/// command line <c>--augment jitter=0.03,scaling=0.1</c> (<c>--augment none</c>: no augmentation). A missing key is
/// off. See <see cref="AugmentationPipeline"/> for what each does.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Skip)]
public sealed record AugmentConfig
{
    /// <summary>σ ≥ 0 of the noise added to numeric inputs (model units).</summary>
    public double? Jitter { get; init; }

    /// <summary>σ ≥ 0 of the per-sequence factor N(1, σ²) (inputs and regression targets).</summary>
    public double? Scaling { get; init; }

    /// <summary>Share r in (0, 1] of the steps a random crop keeps before it is stretched back.</summary>
    public double? Slicing { get; init; }

    /// <summary>Share r in (0, 1] of the steps a random window covers that is sped up or slowed down ×2.</summary>
    public double? Warping { get; init; }

    /// <summary>Probability p in [0, 1) that a real token becomes the unknown id.</summary>
    public double? TokenDropout { get; init; }

    /// <summary>Keys the config file held that are no augmentation (reported by <see cref="Validate"/>; never written).</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Unknown { get; init; }

    /// <summary>The config keys, in the order they are applied.</summary>
    public static readonly string[] Keys = ["slicing", "warping", "scaling", "jitter", "token_dropout"];

    private static string KeyList => "jitter, scaling, slicing, warping or token_dropout";

    /// <summary>Fails on an unknown key or a setting out of range, naming the key.</summary>
    public void Validate(string label = "augment")
    {
        if (Unknown is { Count: > 0 } unknown)
            throw new InvalidInputException($"{label}: unknown augmentation '{unknown.Keys.First()}'; expected {KeyList}.");
        static string Text(double v) => v.ToString(CultureInfo.InvariantCulture);
        void Sigma(string key, double? value)
        {
            if (value is double v && !(v >= 0 && double.IsFinite(v)))
                throw new InvalidInputException($"{label} {key}: expected a standard deviation σ ≥ 0; found {Text(v)}.");
        }
        void Ratio(string key, double? value, string what)
        {
            if (value is double v && !(v > 0 && v <= 1))
                throw new InvalidInputException($"{label} {key}: expected {what}, in (0, 1]; found {Text(v)}.");
        }
        Sigma("jitter", Jitter);
        Sigma("scaling", Scaling);
        Ratio("slicing", Slicing, "the share of steps a crop keeps");
        Ratio("warping", Warping, "the share of steps a warped window covers");
        if (TokenDropout is double p && !(p >= 0 && p < 1))
            throw new InvalidInputException($"{label} token_dropout: expected a probability in [0, 1); found {Text(p)}.");
    }

    /// <summary>
    /// Reads <c>key=value,key=value</c> (keys as in the config file; dashes allowed for underscores) or <c>none</c>.
    /// Every mistake fails naming the flag and the key.
    /// </summary>
    public static AugmentConfig Parse(string text, string flag = "--augment")
    {
        var config = new AugmentConfig();
        if (text.Trim().Equals("none", StringComparison.OrdinalIgnoreCase)) return config;
        var seen = new HashSet<string>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (item.Length == 0) throw new InvalidInputException($"{flag}: expected key=value pairs separated by commas (e.g. jitter=0.03,scaling=0.1); found '{text}'.");
            int eq = item.IndexOf('=');
            if (eq < 0) throw new InvalidInputException($"{flag}: expected key=value, e.g. jitter=0.03; found '{item}'.");
            string key = item[..eq].Trim().ToLowerInvariant().Replace('-', '_');
            string valueText = item[(eq + 1)..].Trim();
            if (!Keys.Contains(key)) throw new InvalidInputException($"{flag}: unknown augmentation '{item[..eq].Trim()}'; expected {KeyList}.");
            if (!seen.Add(key)) throw new InvalidInputException($"{flag}: '{key}' is given more than once.");
            if (!double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                throw new InvalidInputException($"{flag} {key}: expected a number; found '{valueText}'.");
            config = key switch
            {
                "jitter" => config with { Jitter = value },
                "scaling" => config with { Scaling = value },
                "slicing" => config with { Slicing = value },
                "warping" => config with { Warping = value },
                _ => config with { TokenDropout = value },
            };
        }
        config.Validate(flag);
        return config;
    }

    public override string ToString() =>
        string.Join(",", new (string Key, double? Value)[] { ("jitter", Jitter), ("scaling", Scaling), ("slicing", Slicing), ("warping", Warping), ("token_dropout", TokenDropout) }
            .Where(p => p.Value is not null).Select(p => $"{p.Key}={p.Value!.Value.ToString(CultureInfo.InvariantCulture)}")) is { Length: > 0 } s ? s : "none";
}
