using System.Text.Json.Nodes;

namespace Recur.Tests.Cli;

/// <summary><c>recur train --init-from</c> end to end: a character LM's weights start a character classifier.</summary>
public class TransferCommandTests
{
    private static void WriteData(TempDirectory dir)
    {
        var random = new Random(3);
        string[] good = ["great", "lovely", "fine", "superb"], bad = ["awful", "poor", "broken", "sad"];
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < 200; i++) text.Append(i % 2 == 0 ? "the ship sailed on the sea. " : "call me ishmael, said he. ");
        File.WriteAllText(dir.File("corpus.txt"), text.ToString());
        var rows = new System.Text.StringBuilder();
        for (int i = 0; i < 60; i++)
        {
            int label = i % 2;
            var words = label == 1 ? good : bad;
            rows.Append($"src\t{label}\tit was {words[random.Next(4)]} and {words[random.Next(4)]}!\n");
        }
        File.WriteAllText(dir.File("sentiment.tsv"), rows.ToString());
    }

    private static string Pretrain(TempDirectory dir)
    {
        var (exit, _, stderr) = CliRunner.Run("train", "--task", "lm", "--data", dir.File("corpus.txt"), "--hidden", "8", "--embedding-size", "4",
            "--epochs", "1", "--bptt", "20", "--batch-size", "4", "--out", dir.File("lm"), "--quiet");
        Assert.True(exit == 0, stderr);
        return Path.Combine(dir.File("lm"), "model.safetensors");
    }

    private static string[] Classify(TempDirectory dir, string outDir, params string[] extra) =>
        ["train", "--task", "classify", "--data", dir.File("sentiment.tsv"), "--no-header", "--text-column", "2", "--label-column", "1",
            "--tokenizer", "char", "--epochs", "2", "--out", dir.File(outDir), "--quiet", .. extra];

    [Fact]
    public void FineTuningACharacterLanguageModelIntoAClassifierReportsTheTransfer()
    {
        using var dir = new TempDirectory();
        WriteData(dir);
        string lm = Pretrain(dir);
        var (exit, stdout, stderr) = CliRunner.Run([.. Classify(dir, "ft", "--init-from", lm, "--freeze", "all-but-head", "--unfreeze-every", "1",
            "--pretrained-lr-factor", "0.5", "--json")]);
        Assert.True(exit == 0, stderr);
        var transfer = JsonNode.Parse(stdout)!["transfer"]!;
        Assert.Equal(["embedding.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0", "encoder.bias_hh_l0"],
            transfer["loaded"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal(["head.weight", "head.bias"], transfer["initialised"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Contains("task lm there and classify here", transfer["skipped"]![0]!["reason"]!.GetValue<string>());
        // The classifier's characters not in the corpus ('!', 'w', ...) are new rows; the corpus's are carried.
        Assert.True(transfer["rows"]!["embedding.weight"]!["new"]!.GetValue<int>() > 0);
        Assert.Contains("epoch 2: unfroze encoder layer 0", stderr);
        var saved = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("ft"), "report.json")))!;
        Assert.Equal(transfer.ToJsonString(), saved["transfer"]!.ToJsonString());
        // The architecture came from the pretrained model without repeating it.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("ft"), "config.json")))!;
        Assert.Equal(8, config["hidden"]!.GetValue<int>());
        Assert.Equal(4, config["embedding_size"]!.GetValue<int>());
    }

    [Fact]
    public void ABadInitFromIsBadInputAndWritesNothing()
    {
        using var dir = new TempDirectory();
        WriteData(dir);
        var (exit, _, stderr) = CliRunner.Run(Classify(dir, "missing", "--init-from", dir.File("nope.safetensors")));
        Assert.Equal(2, exit);
        Assert.Contains("--init-from: model file", stderr);
        Assert.False(Directory.Exists(dir.File("missing")));

        File.WriteAllBytes(dir.File("corrupt.safetensors"), [8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'x']);
        (exit, _, stderr) = CliRunner.Run(Classify(dir, "corrupt", "--init-from", dir.File("corrupt.safetensors")));
        Assert.Equal(2, exit);
        Assert.Contains("--init-from", stderr);
        Assert.False(Directory.Exists(dir.File("corrupt")));

        string lm = Pretrain(dir);
        (exit, _, stderr) = CliRunner.Run(Classify(dir, "gru", "--init-from", lm, "--cell", "gru"));
        Assert.Equal(2, exit);
        Assert.Contains("LSTM model and this run builds a GRU", stderr);
        Assert.False(Directory.Exists(dir.File("gru")));

        (exit, _, stderr) = CliRunner.Run(Classify(dir, "freeze", "--init-from", lm, "--freeze", "decoder"));
        Assert.Equal(2, exit);
        Assert.Contains("--freeze: 'decoder'", stderr);
        (exit, _, stderr) = CliRunner.Run(Classify(dir, "factor", "--pretrained-lr-factor", "0.1"));
        Assert.Equal(2, exit);
        Assert.Contains("only with --init-from", stderr);
    }
}
