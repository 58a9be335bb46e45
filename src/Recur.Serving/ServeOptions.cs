using System.Globalization;
using System.Text.RegularExpressions;

namespace Recur.Serving;

/// <summary>A model to serve under a name.</summary>
public sealed record ServedModel(string Name, string Path);

/// <summary>The settings of <c>recur serve</c>.</summary>
public sealed record ServeOptions
{
    public const string DefaultUrls = "http://127.0.0.1:5000";
    public const long DefaultMaxBodyBytes = 4 << 20;

    public required IReadOnlyList<ServedModel> Models { get; init; }

    /// <summary>Where to listen: one or more <c>http://host:port</c> separated by ';' (port 0: any free port).</summary>
    public string Urls { get; init; } = DefaultUrls;

    /// <summary>Largest request body accepted; larger ones get 413.</summary>
    public long MaxBodyBytes { get; init; } = DefaultMaxBodyBytes;

    /// <summary>Prediction requests admitted per second over all clients (token bucket); null: no limit. Others get 429.</summary>
    public int? RateLimitPerSecond { get; init; }

    /// <summary>How long a batch waits for more requests after its first one.</summary>
    public TimeSpan BatchWait { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Most requests in one batch.</summary>
    public int MaxBatch { get; init; } = 64;

    /// <summary>Batches run at once per model.</summary>
    public int Workers { get; init; } = Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>How often the model files' size and time are polled (besides the file watcher).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long shutdown waits for requests in flight.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    private static readonly Regex NamePattern = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", RegexOptions.CultureInvariant);

    /// <summary>
    /// <c>--model</c> values: <c>FILE</c> (only when it is the one model; served as "default") or <c>NAME=FILE</c>
    /// (names of letters, digits, '_', '.', '-').
    /// </summary>
    /// <exception cref="InvalidInputException">A missing or repeated name, or an unnamed model beside others.</exception>
    public static IReadOnlyList<ServedModel> ParseModels(IReadOnlyList<string> values)
    {
        if (values.Count == 0) throw new InvalidInputException("--model: expected at least one model file.");
        var models = new List<ServedModel>();
        foreach (var value in values)
        {
            int eq = value.IndexOf('=');
            if (eq > 0 && NamePattern.IsMatch(value[..eq])) models.Add(new ServedModel(value[..eq], value[(eq + 1)..]));
            else if (eq == 0) throw new InvalidInputException($"--model '{value}': expected NAME=FILE with a name before '='.");
            else if (values.Count > 1) throw new InvalidInputException($"--model '{value}': with several models each needs a name: --model NAME=FILE.");
            else models.Add(new ServedModel("default", value));
        }
        foreach (var m in models)
        {
            if (m.Path.Length == 0) throw new InvalidInputException($"--model {m.Name}=: expected a model file after '='.");
            if (models.Count(o => o.Name == m.Name) > 1) throw new InvalidInputException($"--model: the name '{m.Name}' is given twice.");
        }
        return models;
    }

    /// <summary><c>--rate-limit</c>: <c>N/s</c>, <c>N/min</c> (rounded up to a whole number per second) or <c>N</c> (per second).</summary>
    public static int ParseRateLimit(string text)
    {
        var match = Regex.Match(text.Trim(), @"^(\d+)\s*(?:/\s*(s|sec|second|m|min|minute))?$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);
        if (!match.Success || !int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
            throw new InvalidInputException($"--rate-limit: expected requests per second such as 100/s (or per minute, 600/min); found '{text}'.");
        return match.Groups[2].Value.StartsWith("m", StringComparison.OrdinalIgnoreCase) ? Math.Max(1, (n + 59) / 60) : n;
    }

    /// <summary>Checks <see cref="Urls"/>: http URLs with a host and port and no path.</summary>
    /// <exception cref="InvalidInputException">A URL that Kestrel cannot listen on, named with what was expected.</exception>
    public static string[] CheckUrls(string urls)
    {
        var list = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (list.Length == 0) throw new InvalidInputException("--urls: expected http://HOST:PORT, e.g. http://127.0.0.1:5000.");
        foreach (var url in list)
        {
            string checkable = Regex.Replace(url, @"^(\w+://)[*+](?=[:/]|$)", "${1}localhost");
            if (!Uri.TryCreate(checkable, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
                throw new InvalidInputException($"--urls: expected http://HOST:PORT, e.g. http://127.0.0.1:5000; found '{url}'.");
            if (uri.Scheme == "https")
                throw new InvalidInputException($"--urls '{url}': https is not supported (no certificate is configured); serve http behind a TLS proxy.");
            if (uri.IsDefaultPort && !Regex.IsMatch(url, @":\d+/?$"))
                throw new InvalidInputException($"--urls '{url}': expected an explicit port, e.g. http://127.0.0.1:5000.");
            if (uri.AbsolutePath != "/" || uri.Query.Length > 0)
                throw new InvalidInputException($"--urls '{url}': expected no path; the endpoints are /predict, /health and /model.");
        }
        return list;
    }
}
