using System.Text.Json.Nodes;

namespace Recur.Tests.Cli;

/// <summary><c>recur data</c>: what a file holds, before training; counts must add up, errors exit 2 naming the file.</summary>
public class DataCommandTests
{
    private static string Write(TempDirectory dir, string name, string text)
    {
        File.WriteAllText(dir.File(name), text);
        return dir.File(name);
    }

    private static int Sum(JsonNode? array, string key) => array!.AsArray().Sum(e => e![key]!.GetValue<int>());

    private static int SplitTotal(JsonObject json) =>
        json["splits"]!["train"]!.GetValue<int>() + json["splits"]!["validation"]!.GetValue<int>() + json["splits"]!["test"]!.GetValue<int>();

    [Fact]
    public void SentimentClassesSplitsAndLengthsAddUp()
    {
        var json = CliRunner.Json("data", "--data", CliRunner.DataFile("sentiment-labelled-sentences.tsv"), "--no-header",
            "--text-column", "2", "--label-column", "1", "--task", "classify", "--tokenizer", "word", "--json");
        Assert.Equal("csv", json["kind"]!.GetValue<string>());
        Assert.Equal("classify", json["task"]!.GetValue<string>());
        Assert.Equal(3000, json["rows"]!.GetValue<int>());
        Assert.Equal(3, json["columns"]!.AsArray().Count);
        Assert.Equal("integer", json["columns"]![1]!["type"]!.GetValue<string>());
        Assert.Equal("text", json["columns"]![2]!["type"]!.GetValue<string>());
        var classes = json["classes"]!.AsArray();
        Assert.Equal(2, classes.Count);
        Assert.Equal(3000, Sum(classes, "count"));
        Assert.Equal(3000, SplitTotal(json));
        Assert.Equal(json["splits"]!["test"]!.GetValue<int>(), Sum(classes, "test"));
        Assert.Equal(3000, Sum(json["length_histogram"], "count"));
        Assert.InRange(json["length_histogram"]!.AsArray().Count, 5, 10);
        Assert.Equal("words", json["length"]!["unit"]!.GetValue<string>());
        int vocabulary = json["vocabulary_size"]!.GetValue<int>();
        Assert.InRange(vocabulary, 100, json["distinct_words"]!.GetValue<int>());
        Assert.InRange(json["oov_share"]!.GetValue<double>(), 0.0, 0.5);
        Assert.Equal(1.0, json["imbalance_ratio"]!.GetValue<double>());
    }

    [Fact]
    public void SentimentDefaultsToClassifyWithTheTextColumnGuessed()
    {
        var json = CliRunner.Json("data", "--data", CliRunner.DataFile("sentiment-labelled-sentences.tsv"), "--no-header", "--label-column", "1", "--json");
        Assert.Equal("classify", json["task"]!.GetValue<string>());
        Assert.Equal("2", json["text_column"]!.GetValue<string>());
        Assert.Equal("characters", json["length"]!["unit"]!.GetValue<string>());
        Assert.Contains(json["notes"]!.AsArray(), n => n!.GetValue<string>().Contains("--text-column 2"));
    }

    [Fact]
    public void TaggedFileCountsSentencesTokensAndTheMajorityTag()
    {
        using var dir = new TempDirectory();
        // nn twice in every sentence, every other tag at most once: nn is the majority in any split.
        var lines = Enumerable.Range(0, 10).Select(i => $"The/at dog/nn and/cc cat/nn run/vb{(i % 2 == 0 ? " fast/rb" : "")} ./.");
        var path = Write(dir, "pos.txt", string.Join("\n", lines) + "\n");
        var json = CliRunner.Json("data", "--data", path, "--json");
        Assert.Equal("tagged", json["kind"]!.GetValue<string>());
        Assert.Equal("tag", json["task"]!.GetValue<string>());
        Assert.Equal(10, json["sentences"]!.GetValue<int>());
        Assert.Equal(10 * 6 + 5, json["tokens"]!.GetValue<int>());
        Assert.Equal(6, json["distinct_labels"]!.GetValue<int>());
        Assert.Equal("nn", json["majority_label"]!.GetValue<string>());
        Assert.Equal("nn", json["classes"]![0]!["label"]!.GetValue<string>());
        Assert.Equal(20, json["classes"]![0]!["count"]!.GetValue<int>());
        Assert.Equal(20.0 / 65, json["majority_share"]!.GetValue<double>(), 12);
        Assert.Equal(65, Sum(json["classes"], "count"));
        Assert.Equal(10, SplitTotal(json));
        // Stratified by rarest tag: 5 sentences keyed "rb" and 5 keyed "." each give 1 test, 1 validation, 3 training.
        Assert.Equal(6, json["splits"]!["train"]!.GetValue<int>());
        Assert.Equal(2, json["splits"]!["test"]!.GetValue<int>());
        Assert.Equal(10, Sum(json["length_histogram"], "count"));
        Assert.Equal(6, json["length"]!["min"]!.GetValue<int>());
        Assert.Equal(7, json["length"]!["max"]!.GetValue<int>());
        Assert.Equal(7, json["distinct_words"]!.GetValue<int>()); // the dog and cat run fast .
        Assert.Equal([path], Directory.GetFiles(dir.Path)); // nothing written
    }

    [Fact]
    public void PlainTextCharactersSplitAndUnigramEntropy()
    {
        using var dir = new TempDirectory();
        // 20 characters: the first 16 ("aab\n" × 4) train; a = 8, b = 4, \n = 4 → entropy 1.5 bits exactly.
        var path = Write(dir, "tiny.txt", "aab\naab\naab\naab\nxyz\n");
        var json = CliRunner.Json("data", "--data", path, "--json");
        Assert.Equal("text", json["kind"]!.GetValue<string>());
        Assert.Equal("lm", json["task"]!.GetValue<string>());
        Assert.Equal(20, json["characters"]!.GetValue<int>());
        Assert.Equal(5, json["lines"]!.GetValue<int>());
        Assert.Equal(6, json["distinct_characters"]!.GetValue<int>());
        Assert.Equal(16, json["splits"]!["train"]!.GetValue<int>());
        Assert.Equal(2, json["splits"]!["validation"]!.GetValue<int>());
        Assert.Equal(2, json["splits"]!["test"]!.GetValue<int>());
        Assert.Equal(20, SplitTotal(json));
        Assert.Equal(1.5, json["unigram_bits_per_char"]!.GetValue<double>(), 12);
        Assert.Equal(3, json["vocabulary_size"]!.GetValue<int>());
        Assert.Equal(0.75, json["oov_share"]!.GetValue<double>(), 12); // x, y, z unseen; the newline seen
        Assert.Equal(5, Sum(json["length_histogram"], "count"));
    }

    [Fact]
    public void UnigramEntropyByHand()
    {
        // p = 3/4, 1/4.
        Assert.Equal(-(0.75 * Math.Log2(0.75) + 0.25 * Math.Log2(0.25)), Recur.Data.DataProfile.Entropy([3, 1]), 15);
        Assert.Equal(0.8112781244591328, Recur.Data.DataProfile.Entropy([6, 2]), 12);
    }

    [Fact]
    public void MissingValueCountAndLine()
    {
        using var dir = new TempDirectory();
        var path = Write(dir, "m.csv", "t,value,name\n1,1.5,a\n2,NA,b\n3,2.5,\n4,3.5,d\n5,,e\n");
        var (exit, stdout, stderr) = CliRunner.Run("data", "--data", path, "--json");
        Assert.True(exit == 0, stderr);
        var json = JsonNode.Parse(stdout)!.AsObject();
        Assert.Equal("forecast", json["task"]!.GetValue<string>());
        var columns = json["columns"]!.AsArray();
        Assert.Equal("integer", columns[0]!["type"]!.GetValue<string>());
        Assert.Equal(0, columns[0]!["missing"]!.GetValue<int>());
        Assert.Equal("numeric", columns[1]!["type"]!.GetValue<string>());
        Assert.Equal(2, columns[1]!["missing"]!.GetValue<int>());
        Assert.Equal(3, columns[1]!["first_missing_line"]!.GetValue<int>());
        Assert.Equal(2.5, columns[1]!["mean"]!.GetValue<double>(), 12);
        Assert.Equal("text", columns[2]!["type"]!.GetValue<string>());
        Assert.Equal(1, columns[2]!["missing"]!.GetValue<int>());
        Assert.Equal(4, columns[2]!["first_missing_line"]!.GetValue<int>());
        Assert.Equal("value", json["target"]!.GetValue<string>());
        Assert.Equal(2, json["target_missing"]!.GetValue<int>());
        Assert.Equal(3, json["target_first_missing_line"]!.GetValue<int>());
        Assert.Contains("m.csv:3", stderr); // the warning names the line
    }

    [Fact]
    public void ForecastSplitMatchesTheTrainer()
    {
        var json = CliRunner.Json("data", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--json");
        Assert.Equal("forecast", json["task"]!.GetValue<string>());
        Assert.Equal(11, json["season"]!.GetValue<int>());
        Assert.Equal(22, json["lookback"]!.GetValue<int>());
        int windows = json["windows"]!.GetValue<int>();
        Assert.Equal(309 - 22 - 1 + 1, windows);
        var w = new Recur.Data.ForecastWindows(new double[309], 22, 1, "s");
        Assert.Equal(w.TrainCount, json["splits"]!["train"]!.GetValue<int>());
        Assert.Equal(w.ValidationCount, json["splits"]!["validation"]!.GetValue<int>());
        Assert.Equal(w.TestCount, json["splits"]!["test"]!.GetValue<int>());
        Assert.Equal(windows, SplitTotal(json));
    }

    [Fact]
    public void TagTableNeedsIdAndLabelAndCountsSequences()
    {
        using var dir = new TempDirectory();
        var rows = Enumerable.Range(0, 12).SelectMany(s => Enumerable.Range(0, 2 + s % 3).Select(t => $"{s},{t * 0.5},{(t == 0 ? "start" : "go")}"));
        var path = Write(dir, "steps.csv", "id,x,state\n" + string.Join("\n", rows) + "\n");
        var (exit, _, stderr) = CliRunner.Run("data", "--data", path, "--task", "tag");
        Assert.Equal(2, exit);
        Assert.Contains("--id-column", stderr);
        var json = CliRunner.Json("data", "--data", path, "--task", "tag", "--id-column", "id", "--label-column", "state", "--json");
        Assert.Equal(12, json["sequences"]!.GetValue<int>());
        int steps = Enumerable.Range(0, 12).Sum(s => 2 + s % 3);
        Assert.Equal(steps, json["steps"]!.GetValue<int>());
        Assert.Equal(steps, Sum(json["classes"], "count"));
        Assert.Equal("go", json["majority_label"]!.GetValue<string>());
        Assert.Equal(12, SplitTotal(json));
        Assert.Equal(12, Sum(json["length_histogram"], "count"));
    }

    [Fact]
    public void PlainOutputShowsTheSections()
    {
        var (exit, stdout, stderr) = CliRunner.Run("data", "--data", CliRunner.DataFile("sentiment-labelled-sentences.tsv"), "--no-header",
            "--text-column", "2", "--label-column", "1");
        Assert.True(exit == 0, stderr);
        Assert.Contains("summary", stdout);
        Assert.Contains("columns", stdout);
        Assert.Contains("labels", stdout);
        Assert.Contains("split (rows)", stdout);
        Assert.Contains("text length (characters)", stdout);
        Assert.Contains("#", stdout);
        Assert.DoesNotContain("\u001b[", stdout); // no terminal escapes when redirected
    }

    private static void AssertRejected(string[] args, params string[] fragments)
    {
        var (exit, stdout, stderr) = CliRunner.Run(args);
        Assert.True(exit == 2, $"expected exit 2, got {exit}; stderr: {stderr}");
        Assert.Equal("", stdout);
        foreach (var fragment in fragments) Assert.Contains(fragment, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void MissingFile()
    {
        using var dir = new TempDirectory();
        AssertRejected(["data", "--data", dir.File("nope.csv")], "nope.csv", "does not exist");
    }

    [Fact]
    public void UnknownColumn()
    {
        AssertRejected(["data", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--target", "births"], "sunspots-yearly.csv", "no column 'births'", "YEAR, SUNACTIVITY");
        AssertRejected(["data", "--data", CliRunner.DataFile("sentiment-labelled-sentences.tsv"), "--no-header", "--label-column", "7"], "no column 7");
    }

    [Theory]
    [InlineData("empty.csv")]
    [InlineData("empty.txt")]
    public void EmptyFile(string name)
    {
        using var dir = new TempDirectory();
        var path = Write(dir, name, "");
        AssertRejected(["data", "--data", path], name);
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void NonUtf8Bytes()
    {
        using var dir = new TempDirectory();
        var path = dir.File("latin1.txt");
        File.WriteAllBytes(path, [(byte)'a', (byte)'\n', (byte)'c', (byte)'a', (byte)'f', 0xE9, (byte)'\n']);
        AssertRejected(["data", "--data", path], "latin1.txt:2", "UTF-8");
    }

    [Theory]
    [InlineData("--task", "dance", "--task", "forecast, classify, tag, lm or seq2seq")]
    [InlineData("--tokenizer", "chars", "--tokenizer", "char, word or bpe")]
    [InlineData("--bogus", null, "--bogus", "recur data --help")]
    [InlineData("--seed", "x", "x", "recur data --help")]
    public void BadFlag(string flag, string? value, string named, string expected)
    {
        string[] args = ["data", "--data", CliRunner.DataFile("sentiment-labelled-sentences.tsv"), "--no-header", "--text-column", "2", "--label-column", "1", flag];
        AssertRejected(value is null ? args : [.. args, value], named, expected);
    }

    [Fact]
    public void TaskThatDoesNotFitTheFile()
    {
        using var dir = new TempDirectory();
        var path = Write(dir, "story.txt", "Call me Ishmael. Some years ago.\n");
        AssertRejected(["data", "--data", path, "--task", "tag"], "--task tag", "story.txt");
        AssertRejected(["data", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--task", "lm"], "--task lm", "sunspots-yearly.csv");
    }
}
