using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Recur.Inference;
using Recur.Serving;
using Recur.Tests.Cli;

namespace Recur.Tests.Serving;

/// <summary><c>recur serve</c> against a real Kestrel instance on 127.0.0.1.</summary>
[Collection(ServingCollection.Name)]
public class ServerTests(ServingFixture models)
{
    private static JsonArray CliPredictions(string model, string data) =>
        CliRunner.Json("predict", "--model", model, "--data", data, "--json")["predictions"]!.AsArray();

    [Fact]
    public async Task ForecastsFromRowsAndCsvEqualRecurPredict()
    {
        await using var server = await RunningServer.StartAsync([new("default", models.Forecaster)]);
        var expected = CliPredictions(models.Forecaster, models.Sunspots);

        var (status, body) = await server.PostAsync("/predict", models.SunspotRowsRequest());
        Assert.Equal(200, status);
        Assert.True(JsonNode.DeepEquals(expected, body["predictions"]), body.ToJsonString());

        var csv = new JsonObject { ["csv"] = File.ReadAllText(models.Sunspots) }.ToJsonString();
        (status, body) = await server.PostAsync("/predict", csv);
        Assert.Equal(200, status);
        Assert.True(JsonNode.DeepEquals(expected, body["predictions"]));

        // A client sending only the last lookback rows gets the forecast beyond the data.
        int lookback = (await server.GetAsync("/model")).Body["schema"]!["lookback"]!.GetValue<int>();
        (status, body) = await server.PostAsync("/predict", models.SunspotRowsRequest(skip: File.ReadLines(models.Sunspots).Count() - 1 - lookback));
        Assert.Equal(200, status);
        Assert.Equal(expected[^1]!["forecast"]!.ToJsonString(), body["predictions"]!.AsArray().Single()!["forecast"]!.ToJsonString());
    }

    [Fact]
    public async Task TextLabelsEqualRecurPredict()
    {
        await using var server = await RunningServer.StartAsync([new("default", models.Classifier)]);
        var expected = CliPredictions(models.Classifier, models.Sentences);
        var texts = models.SentenceTexts();
        var (status, body) = await server.PostAsync("/predict", new JsonObject { ["texts"] = new JsonArray(texts.Select(t => (JsonNode?)t).ToArray()) }.ToJsonString());
        Assert.Equal(200, status);
        Assert.True(JsonNode.DeepEquals(expected, body["predictions"]));

        // Rows naming the text column (column 2 of a file without header) give the same labels.
        var rows = new JsonArray(texts.Take(5).Select(t => (JsonNode?)new JsonObject { ["2"] = t }).ToArray());
        (status, body) = await server.PostAsync("/predict", new JsonObject { ["rows"] = rows }.ToJsonString());
        Assert.Equal(200, status);
        Assert.Equal(expected.Take(5).Select(p => p!.ToString()), body["predictions"]!.AsArray().Select(p => p!.ToString()));
    }

    [Theory]
    [InlineData("{\"rows\": [", "malformed JSON")]
    [InlineData("", "malformed JSON")]
    [InlineData("[1, 2]", "expected a JSON object")]
    [InlineData("{\"rows\": 5}", "request.rows: expected an array")]
    [InlineData("{\"rows\": []}", "the array is empty")]
    [InlineData("{\"rows\": [1, 2]}", "request.rows[0]: expected an object")]
    [InlineData("{\"rows\": [{\"year\": 1}]}", "missing column 'SUNACTIVITY'")]
    [InlineData("{\"rows\": [{\"SUNACTIVITY\": \"NaN\"}]}", "expected a finite number; found NaN")]
    [InlineData("{\"rows\": [{\"SUNACTIVITY\": 1e999}]}", "expected a finite number")]
    [InlineData("{\"rows\": [{\"SUNACTIVITY\": null}]}", "the value is missing")]
    [InlineData("{\"rows\": [{\"SUNACTIVITY\": true}]}", "expected a number; found a boolean")]
    [InlineData("{\"rows\": [{\"SUNACTIVITY\": \"many\"}]}", "expected a number; found \"many\"")]
    [InlineData("{\"rows\": [{\"SUNACTIVITY\": 3}]}", "fewer than the model's lookback")]
    [InlineData("{\"texts\": [\"a\"]}", "takes \"rows\", \"csv\", not \"texts\"")]
    [InlineData("{\"rows\": [], \"csv\": \"\"}", "expected exactly one of")]
    [InlineData("{\"rowz\": []}", "unknown field 'rowz'")]
    [InlineData("{\"csv\": \"YEAR,SUNACTIVITY\\n1700,x\\n\"}", "request.csv:2")]
    public async Task BadRequestsGet400WithTheReasonAndTheServerStaysHealthy(string body, string reason)
    {
        await using var server = await RunningServer.StartAsync([new("default", models.Forecaster)]);
        var (status, answer) = await server.PostAsync("/predict", body);
        Assert.Equal(400, status);
        Assert.Contains(reason, answer["error"]!.GetValue<string>());
        Assert.Equal(200, (await server.GetAsync("/health")).Status);
        Assert.Equal(200, (await server.PostAsync("/predict", models.SunspotRowsRequest(take: 40))).Status);
    }

    [Fact]
    public async Task OversizedBodiesGet413AndTooManyRequestsGet429()
    {
        await using var server = await RunningServer.StartAsync([new("default", models.Forecaster)],
            o => o with { MaxBodyBytes = 2000, RateLimitPerSecond = 5 });
        var (status, answer) = await server.PostAsync("/predict", models.SunspotRowsRequest());
        Assert.Equal(413, status);
        Assert.Contains("larger than the limit of 2000 bytes", answer["error"]!.GetValue<string>());

        // Without a Content-Length (chunked), Kestrel stops reading at the limit.
        var content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(models.SunspotRowsRequest())));
        content.Headers.ContentType = new("application/json");
        using (var chunked = new HttpRequestMessage(HttpMethod.Post, "/predict") { Content = content })
        {
            chunked.Headers.TransferEncodingChunked = true;
            using var response = await server.Client.SendAsync(chunked);
            Assert.Equal(413, (int)response.StatusCode);
        }

        var statuses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => server.PostAsync("/predict", models.SunspotRowsRequest(take: 30))));
        Assert.Contains(statuses, s => s.Status == 429 && s.Body["error"]!.GetValue<string>().Contains("rate limit"));
        Assert.All(statuses, s => Assert.Contains(s.Status, new[] { 200, 429 }));
        Assert.Equal(200, (await server.GetAsync("/health")).Status);
    }

    [Fact]
    public async Task TwoNamedModels()
    {
        await using var server = await RunningServer.StartAsync([new("sun", models.Forecaster), new("text", models.Classifier)]);
        var (status, body) = await server.PostAsync("/predict/sun", models.SunspotRowsRequest(take: 40));
        Assert.Equal(200, status);
        Assert.Equal(40 - 22 + 1, body["predictions"]!.AsArray().Count);
        (status, body) = await server.PostAsync("/predict/text", "{\"texts\": [\"Great phone, works well.\", \"Broke after a day.\"]}");
        Assert.Equal(200, status);
        Assert.Equal(2, body["predictions"]!.AsArray().Count);

        (status, body) = await server.PostAsync("/predict", "{\"texts\": [\"a\"]}");
        Assert.Equal(404, status);
        Assert.Contains("name one", body["error"]!.GetValue<string>());
        (status, body) = await server.PostAsync("/predict/nope", "{\"texts\": [\"a\"]}");
        Assert.Equal(404, status);
        Assert.Contains("sun, text", body["error"]!.GetValue<string>());

        var (_, model) = await server.GetAsync("/model/text");
        Assert.Equal("classify", model["task"]!.GetValue<string>());
        Assert.Equal("texts", model["schema"]!["input"]!.GetValue<string>());
        Assert.NotNull(model["metrics"]);
        Assert.NotNull(model["config"]);
        var (_, health) = await server.GetAsync("/health");
        Assert.Equal(2, health["models"]!.AsArray().Count);
    }

    [Fact]
    public async Task AReplacedModelFileIsReloadedWithoutFailingARequest()
    {
        string dir = models.NewDirectory(), path = Path.Combine(dir, "model.safetensors");
        File.Copy(models.Forecaster, path);
        string request = models.SunspotRowsRequest(take: 60);
        string before = Predictor.Load(models.Forecaster).PredictJson(JsonNode.Parse(request)).ToJsonString();
        string after = Predictor.Load(models.OtherForecaster).PredictJson(JsonNode.Parse(request)).ToJsonString();
        Assert.NotEqual(before, after);

        await using var server = await RunningServer.StartAsync([new("default", path)]);
        using var stop = new CancellationTokenSource();
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        async Task Client()
        {
            while (!stop.IsCancellationRequested)
            {
                var (status, body) = await server.PostAsync("/predict", request);
                if (status != 200) failures.Add($"{status}: {body.ToJsonString()}");
                else seen.Add(body["predictions"]!.ToJsonString());
            }
        }
        var clients = Enumerable.Range(0, 8).Select(_ => Task.Run(Client)).ToArray();
        await Task.Delay(300);
        // Replace the file atomically, as a deployment should: write beside it, then rename over it.
        File.Copy(models.OtherForecaster, path + ".tmp");
        File.Move(path + ".tmp", path, overwrite: true);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await server.GetAsync("/model")).Body["version"]!.GetValue<int>() < 2 && DateTime.UtcNow < deadline) await Task.Delay(50);
        int countAtReload = seen.Count;
        while (seen.Count < countAtReload + 20 && DateTime.UtcNow < deadline) await Task.Delay(20);
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        Assert.Empty(failures);
        Assert.Equal(2, (await server.GetAsync("/model")).Body["version"]!.GetValue<int>());
        Assert.All(seen, s => Assert.True(s == before || s == after, "a response came from neither model"));
        Assert.Contains(before, seen);
        Assert.Contains(after, seen);
        // After the swap every new request is answered by the new model.
        for (int i = 0; i < 5; i++) Assert.Equal(after, (await server.PostAsync("/predict", request)).Body["predictions"]!.ToJsonString());
        Assert.Equal(22 - 12, JsonNode.Parse(after)!.AsArray().Count - JsonNode.Parse(before)!.AsArray().Count);
    }

    [Fact]
    public async Task ConcurrentRequestsAreBatchedAndEachGetsItsOwnAnswer()
    {
        await using var server = await RunningServer.StartAsync([new("default", models.Classifier)], o => o with { BatchWait = TimeSpan.FromMilliseconds(20), Workers = 1 });
        var texts = models.SentenceTexts();
        var predictor = Predictor.Load(models.Classifier);
        var requests = Enumerable.Range(0, 24).Select(i => texts.Skip(i * 7).Take(1 + i % 5).ToArray()).ToArray();
        var answers = await Task.WhenAll(requests.Select(t =>
            server.PostAsync("/predict", new JsonObject { ["texts"] = new JsonArray(t.Select(x => (JsonNode?)x).ToArray()) }.ToJsonString())));
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(200, answers[i].Status);
            Assert.Equal(predictor.PredictText(requests[i]).Select(p => p!.ToString()), answers[i].Body["predictions"]!.AsArray().Select(p => p!.ToString()));
        }
        var batching = (await server.GetAsync("/model")).Body["batching"]!;
        Assert.True(batching["batches"]!.GetValue<long>() < batching["requests"]!.GetValue<long>(), batching.ToJsonString());
    }

    [Fact]
    public void BadModelsAndUrlsExit2BeforeListening()
    {
        var (exit, _, stderr) = CliRunner.Run("serve", "--model", "/nonexistent/model.safetensors", "--urls", "http://127.0.0.1:0");
        Assert.Equal(2, exit);
        Assert.Contains("/nonexistent/model.safetensors", stderr);

        (exit, _, stderr) = CliRunner.Run("serve", "--model", models.Forecaster, "--urls", "ftp://127.0.0.1:80");
        Assert.Equal(2, exit);
        Assert.Contains("--urls", stderr);

        (exit, _, stderr) = CliRunner.Run("serve", "--model", models.Forecaster, "--model", models.Classifier);
        Assert.Equal(2, exit);
        Assert.Contains("NAME=FILE", stderr);

        (exit, _, stderr) = CliRunner.Run("serve", "--model", models.Sunspots);
        Assert.Equal(2, exit);

        (exit, _, stderr) = CliRunner.Run("serve", "--model", models.Forecaster, "--rate-limit", "fast");
        Assert.Equal(2, exit);
        Assert.Contains("--rate-limit", stderr);

        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        int port = ((IPEndPoint)busy.LocalEndpoint).Port;
        (exit, _, stderr) = CliRunner.Run("serve", "--model", models.Forecaster, "--urls", $"http://127.0.0.1:{port}");
        Assert.Equal(2, exit);
        Assert.Contains("cannot listen", stderr);
    }
}
