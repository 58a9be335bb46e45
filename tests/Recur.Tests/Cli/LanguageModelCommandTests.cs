namespace Recur.Tests.Cli;

/// <summary><c>recur train --task lm</c> and <c>recur generate</c>.</summary>
public class LanguageModelCommandTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The first 200,000 characters of Moby-Dick: enough for a brief character model.</summary>
    private static string MobyDickStart(TempDirectory dir)
    {
        string text = File.ReadAllText(CliRunner.DataFile("moby-dick.txt"));
        File.WriteAllText(dir.File("moby.txt"), text[..200_000]);
        return dir.File("moby.txt");
    }

    [Fact]
    public void CharacterModelOfMobyDickBeatsTheUnigramByHalfABitPerCharacterAndGeneratesReproducibly()
    {
        using var dir = new TempDirectory();
        string data = MobyDickStart(dir);
        var report = CliRunner.Json("train", "--task", "lm", "--data", data, "--epochs", "1", "--hidden", "96",
            "--out", dir.File("run"), "--quiet", "--json");
        double bits = report["metrics"]!["bits_per_char"]!.GetValue<double>();
        double unigram = report["baselines"]!["unigram"]!["bits_per_char"]!.GetValue<double>();
        Assert.True(bits <= unigram - 0.5, $"model {bits:F3} bits/char vs unigram {unigram:F3}");
        Assert.InRange(unigram, 4.0, 5.0); // English letters, spaces and punctuation
        double crossEntropy = report["metrics"]!["cross_entropy"]!.GetValue<double>();
        Assert.Equal(Math.Exp(crossEntropy), report["metrics"]!["perplexity"]!.GetValue<double>(), 9);
        Assert.Equal(crossEntropy / Math.Log(2), bits, 9); // characters are the tokens
        // Stateful by default: the test text is one stream, so every character after the first is scored.
        Assert.Equal(19_999, report["test_size"]!.GetValue<int>());
        Assert.True(report["workspace_peak_bytes"]!.GetValue<long>() > 0);

        string model = Path.Combine(dir.File("run"), "model.safetensors");
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", data, "--json");
        Assert.Equal(bits, evaluated["metrics"]!["bits_per_char"]!.GetValue<double>(), 12);

        string Generate(params string[] extra)
        {
            var (exit, stdout, stderr) = CliRunner.Run(["generate", "--model", model, "--prompt", "Call me ", "--length", "80", .. extra]);
            Assert.True(exit == 0, stderr);
            return stdout.TrimEnd('\n');
        }
        string a = Generate("--seed", "7"), b = Generate("--seed", "7"), c = Generate("--seed", "8");
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.StartsWith("Call me ", a);
        Assert.Equal("Call me ".Length + 80, a.Length);
        // Greedy decoding ignores the seed, and top-1 sampling is greedy.
        Assert.Equal(Generate("--temperature", "0", "--seed", "1"), Generate("--temperature", "0", "--seed", "2"));
        Assert.Equal(Generate("--temperature", "0"), Generate("--top-k", "1", "--seed", "3"));
    }

    /// <summary>
    /// The same brief training of Moby-Dick's first 200,000 characters, stateful (streams, state carried between
    /// windows) and with independent windows: the stateful model scores lower validation and test bits per character.
    /// </summary>
    [Fact]
    public void StatefulTrainingBeatsIndependentWindowsOnMobyDick()
    {
        using var dir = new TempDirectory();
        string data = MobyDickStart(dir);
        (double Validation, double Test, long Workspace) Train(string stateful)
        {
            string run = dir.File("run-" + stateful);
            var report = CliRunner.Json("train", "--task", "lm", "--data", data, "--epochs", "1", "--hidden", "64", "--stateful", stateful,
                "--out", run, "--quiet", "--json");
            var epoch = File.ReadAllLines(Path.Combine(run, "metrics.csv"))[1].Split(',');
            return (double.Parse(epoch[2], System.Globalization.CultureInfo.InvariantCulture) / Math.Log(2),
                report["metrics"]!["bits_per_char"]!.GetValue<double>(), report["workspace_peak_bytes"]!.GetValue<long>());
        }
        var stateful = Train("true");
        var windows = Train("false");
        output.WriteLine($"bits/char after 1 epoch (hidden 64): stateful validation {stateful.Validation:F4}, test {stateful.Test:F4}; independent windows validation {windows.Validation:F4}, test {windows.Test:F4}; workspace peak {stateful.Workspace} vs {windows.Workspace} bytes");
        Assert.True(stateful.Validation < windows.Validation, $"stateful {stateful.Validation:F4} vs windows {windows.Validation:F4}");
        Assert.True(stateful.Test < windows.Test, $"stateful {stateful.Test:F4} vs windows {windows.Test:F4}");
        Assert.Equal(windows.Workspace, stateful.Workspace); // same window, same batch: same activation memory
    }

    [Fact]
    public void BadLanguageModelInputsAreOneClearError()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("empty.txt"), "  \n");
        var (exit, _, stderr) = CliRunner.Run("train", "--task", "lm", "--data", dir.File("empty.txt"), "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("empty.txt: the text is empty", stderr);
        Assert.False(Directory.Exists(dir.File("run")));

        (exit, _, stderr) = CliRunner.Run("train", "--task", "lm", "--data", dir.File("empty.txt"), "--bptt", "0", "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("--bptt", stderr);

        (exit, _, stderr) = CliRunner.Run("train", "--task", "poetry", "--data", dir.File("empty.txt"), "--out", dir.File("run"), "--quiet");
        Assert.Equal(2, exit);
        Assert.Contains("--task: expected forecast, classify, tag, lm or seq2seq; found 'poetry'", stderr);
    }

    [Fact]
    public void GenerateRefusesAModelThatIsNotALanguageModel()
    {
        using var dir = new TempDirectory();
        CliRunner.Json("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--epochs", "1", "--normalize", "relative",
            "--out", dir.File("run"), "--quiet", "--json");
        var (exit, _, stderr) = CliRunner.Run("generate", "--model", Path.Combine(dir.File("run"), "model.safetensors"));
        Assert.Equal(2, exit);
        Assert.Contains("is a forecast model; recur generate needs a language model", stderr);
    }
}
