using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Recur.Serving;
using Recur.Tests.Cli;

namespace Recur.Tests.Serving;

/// <summary>Tiny models trained once for the serving tests: two sunspot forecasters (different seeds) and a word-level sentiment classifier.</summary>
public sealed class ServingFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public ServingFixture()
    {
        Sunspots = CliRunner.DataFile("sunspots-yearly.csv");
        Forecaster = Train("sun", "--data", Sunspots, "--seed", "1");
        OtherForecaster = Train("sun2", "--data", Sunspots, "--seed", "2", "--lookback", "12");
        Sentences = _dir.File("sentences.tsv");
        File.WriteAllLines(Sentences, File.ReadLines(CliRunner.DataFile("sentiment-labelled-sentences.tsv")).Take(300));
        Classifier = Train("text", "--task", "classify", "--data", Sentences, "--no-header", "--text-column", "2", "--label-column", "1", "--tokenizer", "word");
    }

    public string Sunspots { get; }
    public string Sentences { get; }
    public string Forecaster { get; }
    public string OtherForecaster { get; }
    public string Classifier { get; }

    /// <summary>A fresh directory for one test's files.</summary>
    public string NewDirectory()
    {
        var path = _dir.File(Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    private string Train(string name, params string[] args)
    {
        string run = _dir.File(name);
        var (exit, _, stderr) = CliRunner.Run(["train", .. args, "--epochs", "1", "--hidden", "8", "--out", run, "--quiet"]);
        Assert.True(exit == 0, $"training {name} failed: {stderr}");
        return Path.Combine(run, "model.safetensors");
    }

    /// <summary>The sunspot file's rows as a request, numbers written exactly as in the file.</summary>
    public string SunspotRowsRequest(int skip = 0, int take = int.MaxValue)
    {
        var lines = File.ReadLines(Sunspots).Skip(1 + skip).Take(take).Select(l => l.Split(',')[1]);
        return "{\"rows\": [" + string.Join(",", lines.Select(v => $"{{\"SUNACTIVITY\": {v}}}")) + "]}";
    }

    /// <summary>The third field (the sentence) of every line of the sentences file.</summary>
    public string[] SentenceTexts() => File.ReadLines(Sentences).Select(l => l.Split('\t')[2]).ToArray();

    public void Dispose() => _dir.Dispose();
}

[CollectionDefinition(Name)]
public sealed class ServingCollection : ICollectionFixture<ServingFixture>
{
    public const string Name = "Serving";
}

/// <summary>A server on 127.0.0.1 at a free port, in process, with an HTTP client; stopped on dispose.</summary>
internal sealed class RunningServer : IAsyncDisposable
{
    private readonly StringWriter _log = new();

    private RunningServer(PredictionServer server, string address)
    {
        Server = server;
        Client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
    }

    public PredictionServer Server { get; }
    public HttpClient Client { get; }
    public string Log => _log.ToString();

    public static async Task<RunningServer> StartAsync(IReadOnlyList<ServedModel> models, Func<ServeOptions, ServeOptions>? configure = null)
    {
        var options = new ServeOptions { Models = models, Urls = "http://127.0.0.1:0", PollInterval = TimeSpan.FromMilliseconds(200) };
        if (configure is not null) options = configure(options);
        var log = new StringWriter();
        var server = PredictionServer.Create(options, log);
        await server.StartAsync();
        var running = new RunningServer(server, server.Addresses.Single());
        return running;
    }

    public async Task<(int Status, JsonObject Body)> PostAsync(string path, string json)
    {
        using var response = await Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonNode.Parse(text)!.AsObject());
    }

    public async Task<(int Status, JsonObject Body)> GetAsync(string path)
    {
        using var response = await Client.GetAsync(path);
        return ((int)response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonObject>())!);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }
}
