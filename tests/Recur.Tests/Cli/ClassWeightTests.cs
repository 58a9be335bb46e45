using System.Globalization;
using Recur.Randomness;
using Recur.Training;

namespace Recur.Tests.Cli;

/// <summary><c>--class-weights balanced</c> for imbalanced labels.</summary>
public class ClassWeightTests
{
    [Fact]
    public void BalancedWeightsGiveEveryClassTheSameTotal()
    {
        var w = SequenceDataset.BalancedWeights([0, 0, 0, 1, 2, 2], 4);
        Assert.Equal(6 / (4.0 * 3), w[0], 6);
        Assert.Equal(6 / (4.0 * 1), w[1], 6);
        Assert.Equal(6 / (4.0 * 2), w[2], 6);
        Assert.Equal(1f, w[3]); // absent class
    }

    /// <summary>95% "flat" sequences, 5% with a faint rising trend: a rare class easy to ignore.</summary>
    private static string Imbalanced(TempDirectory dir)
    {
        var random = new RecurRandom(8);
        var lines = new List<string> { string.Join(",", Enumerable.Range(0, 10).Select(i => $"x{i}")) + ",label" };
        for (int n = 0; n < 1600; n++)
        {
            bool rare = random.NextDouble() < 0.05;
            var values = Enumerable.Range(0, 10).Select(t => (rare ? 0.04 * t : 0) + 0.3 * random.Normal());
            lines.Add(string.Join(",", values.Select(v => v.ToString("F4", CultureInfo.InvariantCulture))) + (rare ? ",rare" : ",common"));
        }
        File.WriteAllLines(dir.File("imbalanced.csv"), lines);
        return dir.File("imbalanced.csv");
    }

    [Fact]
    public void BalancedWeightsRaiseTheRareClassRecall()
    {
        using var dir = new TempDirectory();
        string data = Imbalanced(dir);
        double Recall(string weights)
        {
            var report = CliRunner.Json("train", "--task", "classify", "--data", data, "--class-weights", weights, "--epochs", "8",
                "--out", dir.File(weights), "--quiet", "--json");
            var matrix = report["confusion_matrix"]!.AsArray();
            Assert.Equal(report["test_size"]!.GetValue<int>(), matrix.Sum(row => row!.AsArray().Sum(v => v!.GetValue<int>())));
            return report["per_class"]!["rare"]!["recall"]!.GetValue<double>();
        }
        double plain = Recall("none"), balanced = Recall("balanced");
        Assert.True(balanced >= plain + 0.25, $"rare-class recall: balanced {balanced:F2}, unweighted {plain:F2}");
    }
}
