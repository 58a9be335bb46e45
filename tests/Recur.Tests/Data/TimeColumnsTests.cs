using Recur.Data;
using Recur.Tests.Cli;

namespace Recur.Tests.Data;

/// <summary>Time from one column or several (year, month, day; year + period), validated with line numbers.</summary>
public class TimeColumnsTests
{
    [Fact]
    public void YearMonthDayColumnsMakeDates()
    {
        var table = CsvTable.Parse("year,month,day,hour,v\n2023,12,31,0,1\n2024,1,1,0,2\n2024,02,29,13,3\n", "t.csv");
        var time = TimeColumns.Parse(table, "year, month,day");
        Assert.Equal([new DateTime(2023, 12, 31), new DateTime(2024, 1, 1), new DateTime(2024, 2, 29)], time.Times);
        Assert.Equal(["year", "month", "day"], time.Columns);
        Assert.Null(time.PeriodsPerYear);
        Assert.Equal(new DateTime(2024, 2, 29, 13, 0, 0), TimeColumns.Parse(table, "year,month,day,hour").Times[2]);
    }

    [Theory]
    [InlineData("year,qtr\n1990,1\n1990,2\n1990,3\n1990,4\n1991,1\n", "year,qtr", 4, 1, 1991, 1)]           // by name
    [InlineData("year,period\n1990,3\n1990,4\n1991,1\n1991,2\n1991,3\n", "year,period", 4, 7, 1991, 7)]    // by range: quarters
    [InlineData("year,period\n1990,11\n1990,12\n1991,1\n1991,2\n1991,3\n", "year,period", 12, 11, 1991, 3)] // by range: months
    [InlineData("year,month\n1990,1\n1990,2\n1990,3\n1990,4\n1990,4\n", "year,month", 12, 1, 1990, 4)]     // by name, though only 1–4 occur
    public void YearAndPeriodColumnsMakeDatesAndASeason(string text, string columns, int season, int firstMonth, int lastYear, int lastMonth)
    {
        var time = TimeColumns.Parse(CsvTable.Parse(text, "t.csv"), columns);
        Assert.Equal(season, time.PeriodsPerYear);
        Assert.Equal(firstMonth, time.Times[0].Month);
        Assert.Equal(new DateTime(lastYear, lastMonth, 1), time.Times[^1]);
    }

    [Theory]
    [InlineData("year,month,day,v\n2024,1,1,5\n2024,1,2.5,6\n", "year,month,day", "t.csv:3, column 'day'", "whole number", "'2.5'")]
    [InlineData("year,month,day,v\n2024,1,1,5\n2024,x,2,6\n", "year,month,day", "t.csv:3, column 'month'", "whole number", "'x'")]
    [InlineData("year,month,day,v\n2024,13,1,5\n", "year,month,day", "t.csv:2, column 'month'", "month from 1 to 12", "'13'")]
    [InlineData("year,month,day,v\n2024,1,1,5\n2023,2,29,6\n", "year,month,day", "t.csv:3, column 'day'", "from 1 to 28", "'29'")]
    [InlineData("year,quarter,v\n2024,1,5\n2024,5,6\n", "year,quarter", "t.csv:3, column 'quarter'", "quarter from 1 to 4", "'5'")]
    [InlineData("year,v\n2024,5\n", "year,v,year", "--time-column", "named twice", "year,v,year")]
    public void BadTimePartsNameTheLineColumnAndValue(string text, string columns, params string[] fragments)
    {
        var e = Assert.Throws<InvalidInputException>(() => TimeColumns.Parse(CsvTable.Parse(text, "t.csv"), columns));
        foreach (var fragment in fragments) Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void TrainingFromSeveralTimeColumnsRoundTripsAndRejectsRowsOutOfOrder()
    {
        using var dir = new TempDirectory();
        var lines = new List<string> { "year,month,sales" };
        for (int m = 0; m < 96; m++) lines.Add($"{2010 + m / 12},{m % 12 + 1},{100 + 20 * Math.Sin(2 * Math.PI * m / 12) + m:F2}");
        File.WriteAllLines(dir.File("monthly.csv"), lines);
        var (exit, stdout, stderr) = CliRunner.Run("train", "--data", dir.File("monthly.csv"), "--time-column", "year,month", "--calendar",
            "--epochs", "2", "--normalize", "relative", "--hidden", "8", "--out", dir.File("run"), "--quiet", "--json");
        Assert.True(exit == 0, stderr);
        Assert.Contains("season: 12 steps (periods per year of the time columns year,month", stderr);
        var report = System.Text.Json.Nodes.JsonNode.Parse(stdout)!;
        Assert.Equal(12, report["season"]!.GetValue<int>());
        string model = Path.Combine(dir.File("run"), "model.safetensors");
        // sales + day-of-year sine and cosine (monthly times have no weekday or hour worth an input)
        Assert.Equal(3, Recur.Serialization.ModelFile.Load(model).Model.Spec.InputSize);
        var evaluated = CliRunner.Json("evaluate", "--model", model, "--data", dir.File("monthly.csv"), "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());

        // Swap two rows: line 5 now holds 2010-05 and line 6 2010-04, which goes back in time.
        (lines[4], lines[5]) = (lines[5], lines[4]);
        File.WriteAllLines(dir.File("swapped.csv"), lines);
        var (exit2, stdout2, stderr2) = CliRunner.Run("train", "--data", dir.File("swapped.csv"), "--time-column", "year,month", "--out", dir.File("bad"));
        Assert.Equal(2, exit2);
        Assert.Equal("", stdout2);
        Assert.Contains("swapped.csv:6, column 'year,month': expected rows in time order", stderr2);
        Assert.Contains("2010-04-01 comes after 2010-05-01 on line 5", stderr2);
        Assert.False(Directory.Exists(dir.File("bad")));
    }
}
