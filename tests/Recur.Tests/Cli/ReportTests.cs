using System.Text.RegularExpressions;
using SkiaSharp;

namespace Recur.Tests.Cli;

/// <summary>The run report: <c>recur train</c> writes report/ with PNG plots and report.html; <c>recur report</c> rebuilds it.</summary>
public class ReportTests
{
    [Fact]
    public void ForecastRunHasAReportWithRealPlots()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var (exit, _, stderr) = CliRunner.Run("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--season", "11",
            "--epochs", "3", "--hidden", "8", "--out", run, "--quiet");
        Assert.True(exit == 0, stderr);

        string[] images = CheckReport(run);
        Assert.Contains("loss.png", images);
        Assert.Contains("learning_rate.png", images);
        Assert.Contains("gradient_norms.png", images);
        Assert.Contains("time_gradients.png", images);
        Assert.Contains("forecast.png", images);
        CheckRebuild(run);
    }

    [Fact]
    public void ClassifyRunHasAReportWithAConfusionMatrix()
    {
        using var dir = new TempDirectory();
        var random = new Random(7);
        string[] labels = ["alpha", "beta", "gamma"];
        var lines = Enumerable.Range(0, 200).Select(n =>
        {
            string label = labels[n % 3];
            string text = new string(Enumerable.Range(0, 4 + random.Next(5)).Select(_ => (char)(label[0] + random.Next(3))).ToArray());
            return $"{text}\t{label}";
        });
        File.WriteAllLines(dir.File("words.tsv"), lines);
        string run = dir.File("run");
        var (exit, _, stderr) = CliRunner.Run("train", "--task", "classify", "--data", dir.File("words.tsv"), "--no-header",
            "--text-column", "0", "--label-column", "1", "--epochs", "2", "--hidden", "8", "--out", run, "--quiet");
        Assert.True(exit == 0, stderr);

        string[] images = CheckReport(run);
        Assert.Contains("confusion.png", images);
        Assert.Contains("time_gradients.png", images);
        CheckRebuild(run);

        // A run directory with its report is still a run directory: training into it again replaces it.
        (exit, _, stderr) = CliRunner.Run("train", "--task", "classify", "--data", dir.File("words.tsv"), "--no-header",
            "--text-column", "0", "--label-column", "1", "--epochs", "1", "--hidden", "8", "--out", run, "--quiet");
        Assert.True(exit == 0, stderr);
    }

    [Fact]
    public void ReportOfANonRunDirectoryIsBadInput()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("notes.txt"), "not a run");
        var (exit, _, stderr) = CliRunner.Run("report", dir.Path);
        Assert.Equal(2, exit);
        Assert.Contains("not a Recur run directory", stderr);

        (exit, _, stderr) = CliRunner.Run("report", dir.File("missing"));
        Assert.Equal(2, exit);
        Assert.Contains("does not exist", stderr);
    }

    [Fact]
    public void MissingInputsAreSkippedAndSaidSo()
    {
        using var dir = new TempDirectory();
        string run = dir.File("run");
        var (exit, _, stderr) = CliRunner.Run("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--epochs", "1",
            "--hidden", "4", "--out", run, "--quiet");
        Assert.True(exit == 0, stderr);
        File.Delete(Path.Combine(run, "step_gradients.csv"));
        (exit, _, stderr) = CliRunner.Run("report", run);
        Assert.True(exit == 0, stderr);
        string[] images = CheckReport(run);
        Assert.DoesNotContain("time_gradients.png", images);
        Assert.False(File.Exists(Path.Combine(run, "report", "time_gradients.png")));
        Assert.Contains("no step_gradients.csv", File.ReadAllText(Path.Combine(run, "report", "report.html")));
    }

    /// <summary>report.html exists, names only files that exist, and every PNG decodes to a picture that is not blank.</summary>
    private static string[] CheckReport(string run)
    {
        string folder = Path.Combine(run, "report");
        string page = Path.Combine(folder, "report.html");
        Assert.True(File.Exists(page), $"{page} is missing");
        string html = File.ReadAllText(page);
        string[] sources = Regex.Matches(html, "src=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToArray();
        Assert.NotEmpty(sources);
        foreach (string source in sources) Assert.True(File.Exists(Path.Combine(folder, source)), $"report.html names {source}, which does not exist");
        foreach (string png in Directory.EnumerateFiles(folder, "*.png"))
        {
            using var bitmap = SKBitmap.Decode(png);
            Assert.True(bitmap is not null, $"{png} does not decode");
            var colours = new HashSet<uint>();
            for (int y = 0; y < bitmap.Height; y += 2)
                for (int x = 0; x < bitmap.Width; x += 2)
                    colours.Add((uint)bitmap.GetPixel(x, y));
            Assert.True(colours.Count >= 50, $"{png} has only {colours.Count} colours");
        }
        return sources;
    }

    /// <summary><c>recur report DIR</c> rebuilds the same page and prints its path.</summary>
    private static void CheckRebuild(string run)
    {
        string page = Path.Combine(run, "report", "report.html");
        string before = File.ReadAllText(page);
        File.Delete(page);
        var (exit, stdout, stderr) = CliRunner.Run("report", run);
        Assert.True(exit == 0, stderr);
        Assert.Equal(page, stdout.Trim());
        Assert.Equal(before, File.ReadAllText(page));
        CheckReport(run);
    }
}
