using System.CommandLine;
using Recur.Serving;

namespace Recur.Cli;

/// <summary>
/// <c>recur serve --model FILE [--model NAME=FILE ...] [--urls http://127.0.0.1:PORT]</c>: an HTTP prediction server
/// (Recur.Serving) until SIGTERM or Ctrl-C, which let requests in flight finish. Bad models or URLs exit 2 before
/// anything listens.
/// </summary>
internal static class ServeCommand
{
    private static readonly Option<string[]> Model = new("--model")
    {
        Description = "model file to serve, or NAME=FILE (repeat for several models, each then named: POST /predict/NAME)",
        Required = true,
        Arity = ArgumentArity.OneOrMore,
    };
    private static readonly Option<string> Urls = new("--urls") { Description = $"where to listen (default {ServeOptions.DefaultUrls}; port 0: any free port)", DefaultValueFactory = _ => ServeOptions.DefaultUrls };
    private static readonly Option<long> MaxBody = new("--max-body-bytes") { Description = "largest request body; larger ones get 413", DefaultValueFactory = _ => ServeOptions.DefaultMaxBodyBytes };
    private static readonly Option<string?> RateLimit = new("--rate-limit") { Description = "prediction requests per second over all clients, e.g. 200/s (more get 429); default: no limit" };
    private static readonly Option<double> BatchWait = new("--batch-wait-ms") { Description = "how long a batch waits for more concurrent requests (default 2; 0 batches only what is already queued)", DefaultValueFactory = _ => 2.0 };
    private static readonly Option<int> MaxBatch = new("--max-batch") { Description = "most requests in one batch (default 64)", DefaultValueFactory = _ => 64 };
    private static readonly Option<int?> Workers = new("--workers") { Description = "batches run at once per model (default: half the logical processors)" };

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("serve", "Serve models over HTTP: POST /predict, GET /health, GET /model.")
        {
            Model, Urls, MaxBody, RateLimit, BatchWait, MaxBatch, Workers,
        };
        command.SetAction(parsed => RecurCommand.Guard(stderr, () =>
        {
            string? rate = parsed.GetValue(RateLimit);
            var options = new ServeOptions
            {
                Models = ServeOptions.ParseModels(parsed.GetValue(Model) ?? []),
                Urls = parsed.GetValue(Urls)!,
                MaxBodyBytes = parsed.GetValue(MaxBody),
                RateLimitPerSecond = rate is null ? null : ServeOptions.ParseRateLimit(rate),
                BatchWait = TimeSpan.FromMilliseconds(parsed.GetValue(BatchWait)),
                MaxBatch = parsed.GetValue(MaxBatch),
                Workers = parsed.GetValue(Workers) ?? Math.Max(1, Environment.ProcessorCount / 2),
            };
            var server = PredictionServer.Create(options, stderr);
            try
            {
                server.StartAsync().GetAwaiter().GetResult();
            }
            catch
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
                throw;
            }
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
            return RecurCommand.Success;
        }));
        return command;
    }
}
