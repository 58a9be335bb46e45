using Recur.Data;
using Recur.Tests.Cli;

namespace Recur.Tests.Data;

public class ScalerTests
{
    [Fact]
    public void EachScalerGivesItsCenterAndScale()
    {
        double[] values = [1, 2, 3, 4, 100];
        var (mean, std) = Scaler.Fit("standard", values);
        Assert.Equal(22, mean, 12);
        Assert.Equal(Math.Sqrt((21 * 21 + 20 * 20 + 19 * 19 + 18 * 18 + 78 * 78) / 5.0), std, 12);
        Assert.Equal((1.0, 99.0), Scaler.Fit("minmax", values));
        Assert.Equal((3.0, 2.0), Scaler.Fit("robust", values)); // median 3, quartiles 2 and 4: the outlier does not move them
        Assert.Equal((5.0, 5.0), Scaler.Fit("robust", [5, 5, 5])); // no spread: scale falls back to |center|
        Assert.Contains("--scaler", Assert.Throws<InvalidInputException>(() => Scaler.Check("zscore")).Message);
    }

    [Fact]
    public void RobustGlobalScalingRoundTripsThroughTheModelFile()
    {
        using var dir = new TempDirectory();
        var report = CliRunner.Json("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--season", "11", "--normalize", "global",
            "--scaler", "robust", "--epochs", "5", "--out", dir.File("run"), "--quiet", "--json");
        var evaluated = CliRunner.Json("evaluate", "--model", Path.Combine(dir.File("run"), "model.safetensors"),
            "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--json");
        Assert.Equal(report["metrics"]!.ToJsonString(), evaluated["metrics"]!.ToJsonString());
        Assert.Contains("\"scaler\":\"robust\"", Recur.Serialization.ModelFile.Load(Path.Combine(dir.File("run"), "model.safetensors")).DataState);
    }
}
