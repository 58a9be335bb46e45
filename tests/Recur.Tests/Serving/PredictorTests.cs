using System.Text.Json.Nodes;
using Recur.Inference;
using Recur.Tests.Cli;

namespace Recur.Tests.Serving;

/// <summary>The library inference API: schema, in-memory inputs, and many threads at once.</summary>
[Collection(ServingCollection.Name)]
public class PredictorTests(ServingFixture models)
{
    [Fact]
    public void SchemasNameWhatARequestNeeds()
    {
        var forecaster = Predictor.Load(models.Forecaster);
        Assert.Equal("forecast", forecaster.Task);
        Assert.Equal("rows", forecaster.Schema.Input);
        Assert.Equal(["SUNACTIVITY"], forecaster.Schema.Columns.Select(c => c.Name));
        Assert.Equal(22, forecaster.Schema.Lookback);
        var classifier = Predictor.Load(models.Classifier);
        Assert.Equal("texts", classifier.Schema.Input);
        Assert.Equal("2", classifier.Schema.TextColumn);
        Assert.Equal(["0", "1"], classifier.Schema.Classes!.Order());
    }

    [Fact]
    public void InMemoryTablesAndTextsGiveRecurPredictsEntries()
    {
        var forecaster = Predictor.Load(models.Forecaster);
        var expected = CliRunner.Json("predict", "--model", models.Forecaster, "--data", models.Sunspots, "--json")["predictions"]!;
        Assert.True(JsonNode.DeepEquals(expected, forecaster.Predict(Recur.Data.CsvTable.Read(models.Sunspots))));
        Assert.True(JsonNode.DeepEquals(expected, forecaster.PredictCsv(File.ReadAllText(models.Sunspots))));
        var classifier = Predictor.Load(models.Classifier);
        var labels = CliRunner.Json("predict", "--model", models.Classifier, "--data", models.Sentences, "--json")["predictions"]!;
        Assert.True(JsonNode.DeepEquals(labels, classifier.PredictText(models.SentenceTexts())));
    }

    [Fact]
    public void EightThreadsGiveTheSingleThreadedResultsBitForBit()
    {
        var forecaster = Predictor.Load(models.Forecaster);
        var classifier = Predictor.Load(models.Classifier);
        var texts = models.SentenceTexts();
        var work = new List<Func<string>>();
        for (int i = 0; i < 6; i++)
        {
            var request = JsonNode.Parse(models.SunspotRowsRequest(skip: 20 * i, take: 30 + 25 * i));
            work.Add(() => forecaster.PredictJson(request).ToJsonString());
            var some = texts.Skip(40 * i).Take(1 + 13 * i).ToArray();
            work.Add(() => classifier.PredictText(some).ToJsonString());
        }
        var expected = work.Select(w => w()).ToArray();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 8).Select(t => new Thread(() =>
        {
            for (int round = 0; round < 6; round++)
                for (int k = 0; k < work.Count; k++)
                {
                    int j = (k + t * 5 + round) % work.Count;
                    if (work[j]() != expected[j]) failures.Add($"thread {t}, round {round}, job {j}");
                }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(failures);
    }

    [Fact]
    public void PredictManyKeepsEachRequestsErrorToItself()
    {
        var classifier = Predictor.Load(models.Classifier);
        var good = classifier.Prepare(JsonNode.Parse("{\"texts\": [\"Good value.\", \"Awful.\"]}"));
        var alsoGood = classifier.Prepare(JsonNode.Parse("{\"texts\": [\"Fine.\"]}"));
        var outcomes = classifier.PredictMany([good, alsoGood]);
        Assert.Equal(2, outcomes[0].Predictions!.Count);
        Assert.Single(outcomes[1].Predictions!);
        Assert.Equal(classifier.Predict(alsoGood).ToJsonString(), outcomes[1].Predictions!.ToJsonString());
        Assert.Throws<InvalidInputException>(() => classifier.Prepare(JsonNode.Parse("{\"texts\": [3]}")));
    }
}
