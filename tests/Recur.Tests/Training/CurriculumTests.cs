using System.Globalization;
using Recur.Tests.Cli;
using Recur.Training;

namespace Recur.Tests.Training;

/// <summary>Curriculum schedules: what each epoch trains on, on a real dataset through the command.</summary>
public class CurriculumTests
{
    [Fact]
    public void LengthScheduleGrowsLinearlyToTheFullLength()
    {
        var c = new Curriculum(CurriculumKind.Length, RampEpochs: 4, StartFraction: 0.25);
        // T = 40: S = 10, then +7.5 per epoch (halves round up), full from epoch 5.
        Assert.Equal([10, 18, 25, 33, 40, 40], Enumerable.Range(1, 6).Select(e => c.Length(e, 40)));
        Assert.Equal(100, c.Samples(1, 100));
    }

    [Fact]
    public void SelfPacedScheduleGrowsTheShareOfSequences()
    {
        var c = new Curriculum(CurriculumKind.SelfPaced, RampEpochs: 2, StartFraction: 0.5);
        Assert.Equal([50, 75, 100, 100], Enumerable.Range(1, 4).Select(e => c.Samples(e, 100)));
        Assert.Equal(40, c.Length(1, 40));
    }

    [Fact]
    public void LengthCurriculumOnSunspotsFollowsTheSchedule()
    {
        using var dir = new TempDirectory();
        var report = CliRunner.Json("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--season", "11",
            "--lookback", "24", "--normalize", "relative", "--epochs", "8", "--curriculum", "length", "--curriculum-epochs", "4",
            "--out", dir.File("run"), "--quiet", "--json");
        var rows = File.ReadAllLines(Path.Combine(dir.File("run"), "metrics.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        var lengths = rows.Select(r => int.Parse(r[7], CultureInfo.InvariantCulture)).ToList();
        var expected = new Curriculum(CurriculumKind.Length, 4, 0.25);
        Assert.Equal(Enumerable.Range(1, 8).Select(e => expected.Length(e, 24)), lengths);
        Assert.Equal([6, 11, 15, 20, 24, 24, 24, 24], lengths);
        Assert.True(report["metrics"]!["rmse"]!.GetValue<double>() < report["baselines"]!["naive"]!["rmse"]!.GetValue<double>());
    }

    [Fact]
    public void SelfPacedCurriculumTrainsOnTheScheduledShare()
    {
        using var dir = new TempDirectory();
        CliRunner.Json("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--normalize", "relative", "--epochs", "5",
            "--curriculum", "self-paced", "--curriculum-epochs", "2", "--out", dir.File("run"), "--quiet", "--json");
        var samples = File.ReadAllLines(Path.Combine(dir.File("run"), "metrics.csv")).Skip(1)
            .Select(l => int.Parse(l.Split(',')[8], CultureInfo.InvariantCulture)).ToList();
        int all = samples[^1];
        var expected = new Curriculum(CurriculumKind.SelfPaced, 2, 0.5);
        Assert.Equal(Enumerable.Range(1, 5).Select(e => expected.Samples(e, all)), samples);
        Assert.True(samples[0] < all);
    }
}
