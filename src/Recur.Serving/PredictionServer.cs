using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Recur.Serving;

/// <summary>
/// <c>recur serve</c>: models behind Kestrel. <c>POST /predict</c> (one model) or <c>POST /predict/{name}</c> takes
/// <c>{"rows": [...]}</c>, <c>{"texts": [...]}</c> or <c>{"csv": "..."}</c> and answers <c>{"predictions": [...]}</c>
/// as <c>recur predict --json</c> does; <c>GET /health</c>; <c>GET /model</c> (or <c>/model/{name}</c>): task, input
/// schema, config and metrics. Errors answer <c>{"error": "..."}</c>: 400 (malformed JSON or input that does not
/// fit the schema), 404 (unknown model), 413 (body over the limit), 429 (rate limit), 503 (shutting down).
/// </summary>
public sealed class PredictionServer : IAsyncDisposable
{
    /// <summary>Responses keep quotes and non-ASCII text readable (no \u0027 escapes); still valid JSON.</summary>
    internal static readonly JsonSerializerOptions Json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly WebApplication _app;
    private readonly Dictionary<string, ModelHost> _hosts;
    private readonly ServeOptions _options;
    private readonly TextWriter _log;
    private int _disposed;

    private PredictionServer(WebApplication app, Dictionary<string, ModelHost> hosts, ServeOptions options, TextWriter log)
    {
        _app = app;
        _hosts = hosts;
        _options = options;
        _log = log;
    }

    /// <summary>Loads every model and builds the server (not yet listening).</summary>
    /// <exception cref="InvalidInputException">A bad URL, option or model file; nothing is listening.</exception>
    public static PredictionServer Create(ServeOptions options, TextWriter log)
    {
        log = TextWriter.Synchronized(log);
        var urls = ServeOptions.CheckUrls(options.Urls);
        if (options.MaxBodyBytes < 1) throw new InvalidInputException($"--max-body-bytes: expected a positive size; found {options.MaxBodyBytes}.");
        if (options.MaxBatch < 1) throw new InvalidInputException($"--max-batch: expected at least 1; found {options.MaxBatch}.");
        if (options.Workers < 1) throw new InvalidInputException($"--workers: expected at least 1; found {options.Workers}.");
        if (options.BatchWait < TimeSpan.Zero || options.BatchWait > TimeSpan.FromSeconds(1))
            throw new InvalidInputException($"--batch-wait-ms: expected 0 to 1000; found {options.BatchWait.TotalMilliseconds}.");
        var hosts = new Dictionary<string, ModelHost>(StringComparer.Ordinal);
        try
        {
            foreach (var model in options.Models)
            {
                hosts[model.Name] = ModelHost.Load(model.Name, model.Path, options, log);
            }
        }
        catch
        {
            foreach (var h in hosts.Values) h.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }

        // No configuration files are read or watched; logging goes nowhere (the server writes its own lines to log).
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(urls);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // Kestrel's own cap sits above --max-body-bytes: a body over the limit gets its 413 from ReadBodyAsync,
            // and Kestrel then reads and discards the rest (up to this cap) so the client, still sending, receives
            // the answer instead of a reset connection.
            k.Limits.MaxRequestBodySize = DrainLimit(options.MaxBodyBytes);
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        if (options.RateLimitPerSecond is int perSecond)
        {
            builder.Services.AddRateLimiter(limiter =>
            {
                limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                limiter.OnRejected = async (context, token) =>
                {
                    context.HttpContext.Response.Headers.RetryAfter = "1";
                    await WriteError(context.HttpContext.Response, StatusCodes.Status429TooManyRequests,
                        $"rate limit of {perSecond} prediction requests per second exceeded; retry later", token);
                };
                limiter.AddPolicy("predict", _ => RateLimitPartition.GetTokenBucketLimiter("all", _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = perSecond,
                    TokensPerPeriod = perSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            });
        }

        var app = builder.Build();
        var server = new PredictionServer(app, hosts, options, log);
        if (options.RateLimitPerSecond is not null) app.UseRateLimiter();
        app.MapGet("/health", () => Results.Text(new JsonObject
        {
            ["status"] = "ok",
            ["models"] = new JsonArray(hosts.Values.Select(h => (JsonNode?)new JsonObject { ["name"] = h.Name, ["task"] = h.Current.Predictor.Task, ["version"] = h.Current.Version }).ToArray()),
        }.ToJsonString(Json), "application/json"));
        app.MapGet("/model", (HttpContext context) => server.Describe(context, null));
        app.MapGet("/model/{name}", (HttpContext context, string name) => server.Describe(context, name));
        var predict = app.MapPost("/predict", (HttpContext context) => server.Predict(context, null));
        var predictNamed = app.MapPost("/predict/{name}", (HttpContext context, string name) => server.Predict(context, name));
        if (options.RateLimitPerSecond is not null)
        {
            predict.RequireRateLimiting("predict");
            predictNamed.RequireRateLimiting("predict");
        }
        return server;
    }

    /// <summary>The addresses listened on (with the real port when 0 was asked for); empty before <see cref="StartAsync"/>.</summary>
    public IReadOnlyList<string> Addresses =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];

    /// <summary>The served models by name.</summary>
    internal IReadOnlyDictionary<string, ModelHost> Models => _hosts;

    /// <summary>Starts listening.</summary>
    /// <exception cref="InvalidInputException">The address cannot be listened on (in use, not a local address).</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            await _app.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            throw new InvalidInputException($"--urls {_options.Urls}: cannot listen there ({e.Message}).");
        }
        _log.WriteLine($"recur serve: listening on {string.Join(", ", Addresses)}; models: " +
                       string.Join(", ", _hosts.Values.Select(h => $"{h.Name} ({h.Current.Predictor.Task}, {h.Path})")));
    }

    /// <summary>Waits until the host is asked to stop (SIGTERM, Ctrl-C or <see cref="StopAsync"/>), then stops gracefully.</summary>
    public async Task WaitForShutdownAsync()
    {
        await _app.WaitForShutdownAsync();
        await DisposeAsync();
    }

    /// <summary>Stops listening, lets requests in flight finish, then stops the batchers.</summary>
    public async Task StopAsync()
    {
        await _app.StopAsync();
    }

    private async Task Describe(HttpContext context, string? name)
    {
        if (Find(name) is not { } host)
        {
            await NotFound(context.Response, name);
            return;
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(host.Describe().ToJsonString(Json), context.RequestAborted);
    }

    private ModelHost? Find(string? name) =>
        name is null ? (_hosts.Count == 1 ? _hosts.Values.First() : null) : _hosts.GetValueOrDefault(name);

    private Task NotFound(HttpResponse response, string? name) =>
        name is null
            ? WriteError(response, StatusCodes.Status404NotFound, $"several models are served; name one: /predict/{{name}} or /model/{{name}} with one of {string.Join(", ", _hosts.Keys)}", default)
            : WriteError(response, StatusCodes.Status404NotFound, $"no model named '{name}'; served: {string.Join(", ", _hosts.Keys)}", default);

    private async Task Predict(HttpContext context, string? name)
    {
        var response = context.Response;
        if (Find(name) is not { } host)
        {
            await NotFound(response, name);
            return;
        }
        if (context.Request.ContentLength > _options.MaxBodyBytes)
        {
            await WriteError(response, StatusCodes.Status413PayloadTooLarge, TooLarge(context.Request.ContentLength.Value), default);
            return;
        }
        JsonNode? body;
        try
        {
            if (await ReadBodyAsync(context.Request.Body, _options.MaxBodyBytes, context.RequestAborted) is not { } bytes)
            {
                await WriteError(response, StatusCodes.Status413PayloadTooLarge, TooLarge(null), default);
                return;
            }
            body = await JsonSerializer.DeserializeAsync<JsonNode>(bytes, cancellationToken: context.RequestAborted);
        }
        catch (JsonException e)
        {
            await WriteError(response, StatusCodes.Status400BadRequest, $"malformed JSON: {e.Message}", default);
            return;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteError(response, StatusCodes.Status413PayloadTooLarge, TooLarge(null), default);
            return;
        }
        JsonArray predictions;
        try
        {
            var prepared = host.Current.Predictor.Prepare(body);
            predictions = await host.Batcher.PredictAsync(prepared);
        }
        catch (InvalidInputException e)
        {
            await WriteError(response, StatusCodes.Status400BadRequest, e.Message, default);
            return;
        }
        catch (ServerClosingException e)
        {
            await WriteError(response, StatusCodes.Status503ServiceUnavailable, e.Message, default);
            return;
        }
        catch (Exception e)
        {
            _log.WriteLine($"recur serve: model '{host.Name}': internal error: {e}");
            await WriteError(response, StatusCodes.Status500InternalServerError, $"internal error: {e.Message}", default);
            return;
        }
        response.ContentType = "application/json";
        await response.WriteAsync(new JsonObject { ["predictions"] = predictions }.ToJsonString(Json), context.RequestAborted);
    }

    /// <summary>Kestrel's hard cap on a body: the limit plus room to discard what a client sends past it.</summary>
    internal static long DrainLimit(long maxBodyBytes) => Math.Max(8 * maxBodyBytes, maxBodyBytes + (1 << 20));

    /// <summary>The whole body, or null as soon as it passes <paramref name="limit"/> bytes (the rest left unread).</summary>
    private static async Task<MemoryStream?> ReadBodyAsync(Stream body, long limit, CancellationToken token)
    {
        var bytes = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(chunk, token)) > 0)
        {
            if (bytes.Length + read > limit) return null;
            bytes.Write(chunk, 0, read);
        }
        bytes.Position = 0;
        return bytes;
    }

    private string TooLarge(long? length) =>
        $"request body {(length is long n ? $"of {n} bytes " : "")}is larger than the limit of {_options.MaxBodyBytes} bytes (--max-body-bytes); send fewer rows per request";

    private static async Task WriteError(HttpResponse response, int status, string message, CancellationToken token)
    {
        if (response.HasStarted) return;
        response.StatusCode = status;
        response.ContentType = "application/json";
        await response.WriteAsync(new JsonObject { ["error"] = message }.ToJsonString(Json), token);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await _app.StopAsync();
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
        }
        foreach (var host in _hosts.Values) await host.DisposeAsync();
        await _app.DisposeAsync();
        _log.WriteLine("recur serve: stopped.");
    }
}
