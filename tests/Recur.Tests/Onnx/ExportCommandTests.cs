using Microsoft.ML.OnnxRuntime;
using Recur.Layers;
using Recur.Randomness;
using Recur.Serialization;
using Recur.Tests.Cli;
using Xunit.Abstractions;

namespace Recur.Tests.Onnx;

/// <summary><c>recur export --model FILE --format onnx --out FILE</c>.</summary>
public class ExportCommandTests(ITestOutputHelper output)
{
    [Fact]
    public void ATrainedForecasterExportsAndRunsInOnnxRuntime()
    {
        using var dir = new TempDirectory();
        var (exit, _, stderr) = CliRunner.Run("train", "--data", CliRunner.DataFile("sunspots-yearly.csv"), "--season", "11", "--epochs", "1",
            "--hidden", "8", "--normalize", "relative", "--out", dir.File("run"), "--quiet");
        Assert.True(exit == 0, stderr);
        string model = Path.Combine(dir.File("run"), "model.safetensors");

        (exit, var stdout, stderr) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", dir.File("sunspots.onnx"));
        Assert.True(exit == 0, stderr);
        Assert.Contains("sunspots.onnx", stdout);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));

        var file = ModelFile.Load(model);
        using var session = new InferenceSession(dir.File("sunspots.onnx"));
        var metadata = session.ModelMetadata.CustomMetadataMap;
        Assert.Equal("forecast", metadata["recur.task"]);
        Assert.Equal(file.DataState, metadata["recur.data"]);
        Assert.Contains("\"scaling\"", metadata["recur.data"]);

        var spec = file.Model.Spec;
        var batch = OnnxHarness.RandomBatch(spec, 6, 22, null, new RecurRandom(2));
        double error = OnnxHarness.RelativeError(spec, batch, OnnxHarness.OnnxForward(session, spec, batch, withLengths: true),
            OnnxHarness.RecurForward(file.Model, batch));
        output.WriteLine($"onnx-max-relative-error trained sunspots forecaster ({file.Model}): {error:E3}");
        Assert.True(error <= 1e-5, $"relative error {error:E2}");
    }

    private static string SavedModel(TempDirectory dir)
    {
        var spec = OnnxExportTests.Spec("classify-text", CellKind.Gru, 1);
        return OnnxHarness.SaveAndLoad(OnnxHarness.RandomModel(spec, 4), "classify", dir.Path).Path;
    }

    [Fact]
    public void TheFormatDefaultsToOnnxAndAnExistingFileIsReplaced()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("m.onnx"), "old");
        var (exit, _, stderr) = CliRunner.Run("export", "--model", SavedModel(dir), "--out", dir.File("m.onnx"), "--no-lengths");
        Assert.True(exit == 0, stderr);
        using var session = new InferenceSession(dir.File("m.onnx"));
        Assert.Equal(["input"], session.InputMetadata.Keys.ToArray());
    }

    [Fact]
    public void AnUnknownFormatIsRefused()
    {
        using var dir = new TempDirectory();
        var (exit, stdout, stderr) = CliRunner.Run("export", "--model", SavedModel(dir), "--format", "tflite", "--out", dir.File("m.out"));
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Contains("--format: expected onnx; found 'tflite'", stderr);
        Assert.False(File.Exists(dir.File("m.out")));
    }

    [Fact]
    public void ABadModelFileIsRefused()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("bad.safetensors"), "this is not a model");
        foreach (var model in new[] { dir.File("bad.safetensors"), dir.File("missing.safetensors") })
        {
            var (exit, _, stderr) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", dir.File("m.onnx"));
            Assert.True(exit == 2, $"exit {exit}: {stderr}");
            Assert.Contains(model, stderr);
            Assert.DoesNotContain("   at ", stderr);
            Assert.False(File.Exists(dir.File("m.onnx")));
        }
    }

    [Fact]
    public void AnUnwritableOutputIsRefusedAndNothingIsLeftBehind()
    {
        using var dir = new TempDirectory();
        string model = SavedModel(dir);
        Directory.CreateDirectory(dir.File("adir"));
        foreach (var (outPath, fragment) in new[]
        {
            (dir.File(Path.Combine("no-such-dir", "m.onnx")), "does not exist"),
            (dir.File("adir"), "is a directory"),
            (model, "is the model file itself"),
        })
        {
            var (exit, stdout, stderr) = CliRunner.Run("export", "--model", model, "--format", "onnx", "--out", outPath);
            Assert.True(exit == 2, $"exit {exit}: {stderr}");
            Assert.Equal("", stdout);
            Assert.Contains(fragment, stderr);
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));
        Assert.NotNull(ModelFile.Load(model)); // the model file is untouched
    }
}
