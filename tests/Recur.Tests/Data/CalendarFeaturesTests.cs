using Recur.Data;
using Recur.Tests.Cli;

namespace Recur.Tests.Data;

public class CalendarFeaturesTests
{
    [Fact]
    public void SineCosinePairsPlaceDaysOnACircle()
    {
        DateTime[] times = [new(2024, 1, 7), new(2024, 1, 8), new(2024, 12, 31, 18, 0, 0)]; // Sunday, Monday, Tuesday evening
        Assert.Equal(["calendar.day_of_week_sin", "calendar.day_of_week_cos", "calendar.day_of_year_sin", "calendar.day_of_year_cos",
            "calendar.hour_sin", "calendar.hour_cos"], CalendarFeatures.Names(times));
        var dow = CalendarFeatures.Compute("calendar.day_of_week_cos", times);
        Assert.Equal(1.0, dow[0], 12);                              // Sunday = 0
        Assert.Equal(Math.Cos(2 * Math.PI / 7), dow[1], 12);        // Monday = 1
        Assert.Equal(Math.Sin(2 * Math.PI * 18 / 24), CalendarFeatures.Compute("calendar.hour_sin", times)[2], 12);
        Assert.Equal(4, CalendarFeatures.Names([new(2024, 1, 7)]).Length); // no hours: no hour features
    }

    [Fact]
    public void CalendarInputsFromTheTimeColumnRoundTripThroughTheModelFile()
    {
        using var dir = new TempDirectory();
        var lines = new List<string> { "date,visits" };
        var start = new DateTime(2023, 1, 1);
        for (int d = 0; d < 200; d++)
            lines.Add($"{start.AddDays(d):yyyy-MM-dd},{(start.AddDays(d).DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday ? 50 : 100) + d % 3}");
        File.WriteAllLines(dir.File("visits.csv"), lines);
        var report = CliRunner.Json("train", "--data", dir.File("visits.csv"), "--time-column", "date", "--calendar", "--epochs", "5",
            "--out", dir.File("run"), "--quiet", "--json");
        string model = Path.Combine(dir.File("run"), "model.safetensors");
        Assert.Equal(5, Recur.Serialization.ModelFile.Load(model).Model.Spec.InputSize); // target + 4 calendar inputs
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", dir.File("visits.csv"), "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());

        File.WriteAllLines(dir.File("bad.csv"), lines.Take(60).Append("someday,80").Concat(lines.Skip(60)));
        var (exit, _, stderr) = CliRunner.Run("train", "--data", dir.File("bad.csv"), "--time-column", "date", "--calendar", "--out", dir.File("bad"));
        Assert.Equal(2, exit);
        Assert.Contains("bad.csv:61, column 'date': expected a date", stderr);
    }
}
