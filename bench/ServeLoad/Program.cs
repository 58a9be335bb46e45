using System.Diagnostics;
using System.Globalization;
using System.Text;

// dotnet run --project bench/ServeLoad -c Release -- URL BODY_FILE [REQUESTS=10000] [CLIENTS=8]
// Sends REQUESTS POSTs of BODY_FILE to URL from CLIENTS concurrent clients (each waits for its answer before sending
// again) and prints throughput and latency percentiles. A non-200 answer counts as an error.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: ServeLoad URL BODY_FILE [REQUESTS] [CLIENTS]");
    return 2;
}
string url = args[0];
byte[] body = File.ReadAllBytes(args[1]);
int total = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10_000;
int clients = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 8;

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients, PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
async Task<bool> Send()
{
    using var content = new ByteArrayContent(body);
    content.Headers.ContentType = new("application/json");
    using var response = await http.PostAsync(url, content);
    await response.Content.ReadAsByteArrayAsync();
    return response.IsSuccessStatusCode;
}

for (int i = 0; i < Math.Min(200, total); i++) await Send(); // warm-up: JIT, connections

var latencies = new double[total];
int next = -1, errors = 0;
var clock = Stopwatch.StartNew();
await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
{
    for (int i = Interlocked.Increment(ref next); i < total; i = Interlocked.Increment(ref next))
    {
        long start = Stopwatch.GetTimestamp();
        bool ok = await Send();
        latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        if (!ok) Interlocked.Increment(ref errors);
    }
})));
double seconds = clock.Elapsed.TotalSeconds;
Array.Sort(latencies);
double P(double q) => latencies[Math.Min(total - 1, (int)Math.Ceiling(q * total) - 1)];
var report = new StringBuilder();
report.Append(CultureInfo.InvariantCulture, $"requests {total}, clients {clients}, errors {errors}, {seconds:F2} s: ");
report.Append(CultureInfo.InvariantCulture, $"{total / seconds:F0} requests/s, latency p50 {P(0.50):F2} ms, p90 {P(0.90):F2} ms, p99 {P(0.99):F2} ms, max {latencies[^1]:F2} ms");
Console.WriteLine(report);
return errors == 0 ? 0 : 1;
