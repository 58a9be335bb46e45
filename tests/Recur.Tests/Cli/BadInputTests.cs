namespace Recur.Tests.Cli;

/// <summary>Every user mistake: one message naming what was wrong and where, exit code 2, nothing written.</summary>
public class BadInputTests
{
    private static void AssertRejected(TempDirectory dir, string[] args, params string[] fragments)
    {
        var (exit, stdout, stderr) = CliRunner.Run(args);
        Assert.True(exit == 2, $"expected exit 2, got {exit}; stderr: {stderr}");
        Assert.Equal("", stdout);
        foreach (var fragment in fragments) Assert.Contains(fragment, stderr);
        Assert.DoesNotContain("   at ", stderr); // no stack trace
        Assert.False(Directory.Exists(dir.File("run")), "a failed run must not leave a run directory");
        Assert.Empty(Directory.GetDirectories(dir.Path));
    }

    private static string Write(TempDirectory dir, string name, string text)
    {
        File.WriteAllText(dir.File(name), text);
        return dir.File(name);
    }

    private static string Series(int rows) => "t,value\n" + string.Concat(Enumerable.Range(0, rows).Select(i => $"{i},{Math.Sin(i)}\n"));

    [Fact]
    public void MissingDataFile()
    {
        using var dir = new TempDirectory();
        AssertRejected(dir, ["train", "--data", dir.File("nope.csv"), "--out", dir.File("run")], "nope.csv", "does not exist");
    }

    [Fact]
    public void UnknownTargetColumn()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        AssertRejected(dir, ["train", "--data", data, "--target", "births", "--out", dir.File("run")], "no column 'births'", "t, value");
    }

    [Fact]
    public void NonNumericCellNamesItsLine()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(50) + "50,abc\n" + Series(50)[8..]);
        AssertRejected(dir, ["train", "--data", data, "--out", dir.File("run")], "s.csv:52", "column 'value'", "expected a number", "'abc'");
    }

    [Fact]
    public void TooFewRowsForTheWindow()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(20));
        AssertRejected(dir, ["train", "--data", data, "--lookback", "15", "--out", dir.File("run")], "20 rows", "lookback 15", "need at least");
    }

    [Fact]
    public void EmptyFile()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", "");
        AssertRejected(dir, ["train", "--data", data, "--out", dir.File("run")], "s.csv");
    }

    [Theory]
    [InlineData("--bogus", "--bogus")]
    [InlineData("--epochs=abc", "abc")]
    public void UnknownOrMalformedFlag(string flag, string named)
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        AssertRejected(dir, ["train", "--data", data, flag, "--out", dir.File("run")], named);
    }

    [Theory]
    [InlineData("--cell", "lstmx", "lstm, gru, rnn")]
    [InlineData("--dropout", "1.5", "[0, 1)")]
    [InlineData("--task", "dance", "forecast, classify, tag, lm or seq2seq")]
    [InlineData("--device", "cuda", "no CUDA backend")]
    public void BadFlagValue(string flag, string value, string expected)
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        AssertRejected(dir, ["train", "--data", data, flag, value, "--out", dir.File("run")], flag, expected);
    }

    [Fact]
    public void UnknownConfigKey()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        var config = Write(dir, "c.json", "{\"epochs\": 2, \"hiden\": 3}");
        AssertRejected(dir, ["train", config, "--data", data, "--out", dir.File("run")], "c.json", "hiden");
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a model at all, just text")]
    public void UnreadableModelFile(string content)
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        var model = Write(dir, "m.safetensors", content);
        AssertRejected(dir, ["evaluate", "--model", model, "--data", data], "m.safetensors");
        AssertRejected(dir, ["predict", "--model", model, "--data", data], "m.safetensors");
    }

    [Fact]
    public void MissingModelFile()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        AssertRejected(dir, ["evaluate", "--model", dir.File("none.safetensors"), "--data", data], "none.safetensors", "does not exist");
    }

    [Fact]
    public void OutDirectoryThatIsNotARunIsNeverReplaced()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        Directory.CreateDirectory(dir.File("mine"));
        File.WriteAllText(Path.Combine(dir.File("mine"), "precious.txt"), "keep me");
        File.WriteAllText(Path.Combine(dir.File("mine"), "model.safetensors"), "looks like a model");
        var (exit, _, stderr) = CliRunner.Run("train", "--data", data, "--out", dir.File("mine"), "--epochs", "1");
        Assert.Equal(2, exit);
        Assert.Contains("not a Recur run directory", stderr);
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(dir.File("mine"), "precious.txt")));

        // A directory holding the data file is refused too.
        var (exit2, _, stderr2) = CliRunner.Run("train", "--data", data, "--out", dir.Path, "--epochs", "1");
        Assert.Equal(2, exit2);
        Assert.Contains("contains the data file", stderr2);
        Assert.True(File.Exists(data));
    }

    [Fact]
    public void AnEarlierRunDirectoryIsReplacedWhole()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        Assert.Equal(0, CliRunner.Run("train", "--data", data, "--out", dir.File("run"), "--epochs", "1", "--quiet").exit);
        Assert.Equal(0, CliRunner.Run("train", "--data", data, "--out", dir.File("run"), "--epochs", "2", "--quiet").exit);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir.File("run"), "metrics.csv")).Length);
        Assert.Single(Directory.GetDirectories(dir.Path));
    }

    [Fact]
    public void UnwritableOutIsReportedBeforeTraining()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        var file = Write(dir, "afile", "x");
        var (exit, _, stderr) = CliRunner.Run("train", "--data", data, "--out", Path.Combine(file, "sub"));
        Assert.Equal(2, exit);
        Assert.Contains("--out", stderr);
        Assert.DoesNotContain("epoch", stderr);
    }

    [Fact]
    public void EmptyLabelCellNamesItsLine()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "c.csv", "a,b,label\n1,2,x\n3,4,\n5,6,y\n");
        AssertRejected(dir, ["train", "--task", "classify", "--data", data, "--out", dir.File("run")], "c.csv:3", "column 'label'", "missing value");
    }

    [Fact]
    public void ClassificationWithTooFewRowsPerLabel()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "c.csv", "a,b,label\n1,2,x\n3,4,x\n5,6,y\n7,8,y\n");
        AssertRejected(dir, ["train", "--task", "classify", "--data", data, "--out", dir.File("run")], "c.csv", "3 rows");
    }

    [Fact]
    public void OverflowingSizesAreRejected()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "s.csv", Series(100));
        AssertRejected(dir, ["train", "--data", data, "--lookback", "2000000000", "--horizon", "20000", "--out", dir.File("run")], "--");
        AssertRejected(dir, ["train", "--data", data, "--hidden", "100000000", "--out", dir.File("run")], "--hidden", "at most");
    }

    [Theory]
    [InlineData("rag.csv", "t,value\n1,2\n2,3,4\n3,4\n", new[] { "rag.csv:3", "expected 2 fields", "found 3" })]
    [InlineData("nan.csv", "t,value\n1,2\n2,NaN\n3,4\n", new[] { "nan.csv:3", "column 'value'", "missing value ('NaN')", "--missing" })]
    public void MalformedTablesNameTheLine(string name, string text, string[] fragments)
    {
        using var dir = new TempDirectory();
        AssertRejected(dir, ["train", "--data", Write(dir, name, text), "--out", dir.File("run")], fragments);
    }

    [Fact]
    public void WrongDelimiterIsNamed()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "pipe.csv", "text|label\nhello|a\nworld|b\n");
        AssertRejected(dir, ["train", "--task", "classify", "--data", data, "--text-column", "text", "--label-column", "label", "--out", dir.File("run")],
            "pipe.csv has no column 'label'", "delimited by '|' rather than ','");
    }

    [Fact]
    public void MissingLabelColumnIsNamed()
    {
        using var dir = new TempDirectory();
        var data = Write(dir, "t.csv", "text,label\nhello,a\nworld,b\n");
        AssertRejected(dir, ["train", "--task", "classify", "--data", data, "--text-column", "text", "--label-column", "sentiment", "--out", dir.File("run")],
            "t.csv has no column 'sentiment'", "columns are: text, label");
    }

    [Fact]
    public void NonUtf8TableNamesLineAndByte()
    {
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("latin1.csv"), [.. "t,value\n1,2\n2,"u8, 0xE9, .. "3\n"u8]);
        AssertRejected(dir, ["train", "--data", dir.File("latin1.csv"), "--out", dir.File("run")], "latin1.csv:3: expected UTF-8 text; found byte 0xE9 at byte 14");
    }
}
